"""The parameter table of a comparison: which parameters differ between runs, and their metrics.

``params_section`` is the top of a page of several runs (the viewer's ``/runs?id=..`` and the
file report of ``runlite report a b``): one column per run, coloured like its chart lines
(colour = place in the list, as ``charts.PALETTE``), one row per metadata key (nested dicts
flattened to dotted keys), and only the keys whose values differ shown until the reader asks
for all of them. The toggle is a ``<details>`` element with CSS (``assets``), not a script: it
works in a file with no server and no script, and the viewer's live refresh keeps it open (it
restores ``details[open][id]``). Below, one row per metric: last value, min - max.

Every key and value is escaped text; NaN and infinities are written as such.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .charts import PALETTE, esc, fmt_num
from ..frames import flatten

PARAM_ROWS = 500     # parameter rows listed (differing ones first when there are more)
METRIC_ROWS = 100    # metric rows listed
VALUE_CHARS = 120    # characters of a value shown in a cell


def swatch(index: int) -> str:
    """The colour chip of the run at ``index`` (as the charts colour it)."""
    return f'<span class="swatch c{index % len(PALETTE)}"></span>'


def flat_params(record: Any) -> dict:
    """A run's metadata with nested dicts flattened to dotted keys."""
    metadata = record.metadata
    return flatten(metadata) if isinstance(metadata, dict) else {}


def same_key(value: Any) -> str:
    """A value as canonical text: two values are the same parameter value when these are equal
    (so ``1`` and ``1.0`` differ, as their cells show them; NaN equals NaN)."""
    if isinstance(value, str):  # the common cases first: a sweep page asks for thousands
        return "s" + value
    if isinstance(value, (bool, int)) or value is None:
        return "j" + json.dumps(value)
    if isinstance(value, float):
        return "j" + repr(value)
    try:
        return "j" + json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        return repr(value)


def value_text(value: Any) -> str:
    """A parameter value as plain text (strings as they are, anything else as JSON; NaN and
    infinities as NaN, inf, -inf), not escaped."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("inf" if value > 0 else "-inf")
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):  # NaN inside a list, odd keys, deep nesting
        return str(value)


def differing(rows: list[dict]) -> tuple[list[str], set[str]]:
    """Every key of these flat parameter dicts (first-seen order) and those whose values are not
    the same in every run (a key some run lacks differs)."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    missing = object()
    differ = set()
    for key in keys:
        seen = {same_key(row[key]) if key in row else missing for row in rows}
        if len(seen) > 1:
            differ.add(key)
    return keys, differ


def _cell(row: dict, key: str) -> str:
    if key not in row:
        return '<td class="muted">\u2013</td>'
    return f"<td>{esc(value_text(row[key]), VALUE_CHARS)}</td>"


def _head(records: list, labels: dict, first: str, numbers: bool = False) -> str:
    cells = "".join(f'<th class="run-col{" num" if numbers else ""}">{swatch(i)}{esc(labels.get(rec.id, rec.name), 60)}</th>'
                    for i, rec in enumerate(records))
    return f"<thead><tr><th>{first}</th>{cells}</tr></thead>"


def params_table(records: list, labels: dict) -> str:
    """The parameter table of these runs: differing keys shown, the others behind the toggle."""
    rows = [flat_params(rec) for rec in records]
    keys, differ = differing(rows)
    if not keys:
        return '<p class="muted" id="params-none">These runs have no parameters (metadata).</p>'
    kept = keys
    if len(keys) > PARAM_ROWS:  # the differing keys first, then the same, in first-seen order
        chosen = set(([k for k in keys if k in differ] + [k for k in keys if k not in differ])[:PARAM_ROWS])
        kept = [k for k in keys if k in chosen]
    body = "".join(
        f'<tr class="{"differs" if key in differ else "same"}"><th>{esc(key, 80)}</th>'
        + "".join(_cell(row, key) for row in rows) + "</tr>" for key in kept)
    count = (f'<span class="params-count" id="params-count">{len(differ):,} of {len(keys):,} parameter'
             f'{"s" if len(keys) != 1 else ""} differ</span>')
    same = len(keys) - len(differ)
    toggle = (f'<details class="params-toggle" id="params-all"><summary>{count} \u00b7 '
              f'<span class="when-closed">show all {len(keys):,} (the {same:,} that are the same too)</span>'
              '<span class="when-open">show only those that differ</span></summary></details>')
    note = (f'<p class="note">the first {PARAM_ROWS:,} of {len(keys):,} parameters are listed</p>'
            if len(kept) < len(keys) else "")
    return (f'{toggle}<div class="scroll"><table class="grid params-table" id="params">'
            f'{_head(records, labels, "parameter")}<tbody>{body}</tbody></table></div>{note}')


def _metric_cell(stats: Any) -> str:
    if stats is None:
        return '<td class="muted">\u2013</td>'
    if not stats.count:
        return '<td class="muted">no points</td>'
    return (f'<td class="num">{fmt_num(stats.last)}<br><span class="muted small">{fmt_num(stats.min)} \u2013 '
            f'{fmt_num(stats.max)}</span></td>')


def metrics_table(store: Any, records: list, labels: dict) -> str:
    """One row per metric (series without an asset): each run's last value, its min - max below."""
    summaries = store.metric_summaries([rec.id for rec in records])
    names = sorted({name for found in summaries.values() for name in found})
    if not names:
        return ""
    body = "".join(
        f"<tr><th>{esc(name, 80)}</th>"
        + "".join(_metric_cell(summaries.get(rec.id, {}).get(name)) for rec in records) + "</tr>"
        for name in names[:METRIC_ROWS])
    note = (f'<p class="note">the first {METRIC_ROWS} of {len(names):,} metrics are listed</p>'
            if len(names) > METRIC_ROWS else "")
    return (f'<details open id="metric-summaries"><summary>metrics ({len(names):,}): last value, min \u2013 max'
            f'</summary><div class="scroll"><table class="grid params-table" id="metric-table">'
            f'{_head(records, labels, "metric", numbers=True)}<tbody>{body}</tbody></table></div>{note}</details>')


def params_section(store: Any, records: list, labels: dict) -> str:
    """The comparison at the top of a page of several runs: the parameter table, then the
    metrics' summaries (an empty string for fewer than two runs)."""
    if len(records) < 2:
        return ""
    return ('<h2>Compare</h2><section class="card compare" id="compare">'
            f"{params_table(records, labels)}{metrics_table(store, records, labels)}</section>")
