"""The viewer's ``/compare`` page: a sweep's parameters against a metric, over many runs.

The runs are a search, as on the run list (``q`` in either filter grammar, ``grammar``), at most
``MAX_RUNS`` of them (the newest; the page says when the search matched more). The page shows

- parallel coordinates: one axis per chosen parameter (``axis=``, metadata keys, nested keys
  dotted), then the chosen metric summary (``metric=``, ``stat=`` last, min, max or mean), one
  polyline per run coloured by that summary;
- a scatter of one parameter (``x=``) against the summary, a point per run.

Hover shows a run's name and values, a click opens the run. Defaults: the keys whose values
vary (up to ``DEFAULT_AXES``, leaving out text keys where every run has its own value, such as
output folders) and the first metric (not a ``system/`` one when there are others).

Reads are bounded by ``MAX_RUNS``: one listing for the runs and their metadata, one query for
the metric names (``Store.metric_name_counts``) and one for the summaries of the chosen metric
(``Store.metric_summaries``). Runs whose summary is NaN, infinite or absent are left out of the
plots and listed with their value. Bad parameters raise ``ValidationError`` (a 400 page).
"""

from __future__ import annotations

import html
import math
import urllib.parse
from typing import Any

from .. import errors
from .._validation import digits
from . import sweep_svg
from .charts import esc, fmt_num
from .compare import flat_params, same_key, value_text
from .run_table import GRAMMARS  # the run list's search, offered the same way here

MAX_RUNS = 2000       # runs on the page
MAX_AXES = 16         # parameter axes
DEFAULT_AXES = 8
KEY_CHOICES = 300     # parameter keys offered as axes
METRIC_CHOICES = 1000  # metric names offered
LEFT_OUT_ROWS = 50    # runs listed as left out of the plots
MAX_FILTER = 4096
STATS = {"last": "last", "min": "min", "max": "max", "mean": "avg"}  # stat -> Stats field
PARAMS = ("q", "grammar", "axis", "metric", "stat", "x", "limit")


def compare_url(text: str, grammar: str = "auto") -> str:
    """The ``/compare`` address of the runs matching a search."""
    query = [("q", text)] + ([("grammar", grammar)] if grammar != "auto" else [])
    return "/compare?" + urllib.parse.urlencode(query)


def links_for(records: list) -> str:
    """Links from a page of runs to ``/compare``: these runs, and their folder's runs when they share one."""
    ids = ", ".join(_quoted(rec.id) for rec in records)
    out = [f'<a href="{esc(compare_url(f"in(id, [{ids}])", "langsmith"), None)}" id="compare-these">'
           "parameters vs metric of these runs</a>"]
    folders = {rec.folder for rec in records}
    if len(folders) == 1:
        folder = folders.pop()
        out.append(f'<a href="{esc(compare_url(f"eq(folder, {_quoted(folder)})", "langsmith"), None)}" '
                   f'id="compare-folder">of every run in {esc(folder, 80)}</a>')
    return " \u00b7 ".join(out)


def _quoted(text: str) -> str:
    """A LangSmith filter string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _one(params: dict, name: str, default: str | None = None) -> str | None:
    values = params.get(name)
    if not values:
        return default
    if len(values) > 1:
        raise errors.ValidationError(f"give the parameter {name!r} once")
    return values[0]


def _limit(params: dict) -> int:
    text = _one(params, "limit", "") or ""
    if not text:
        return MAX_RUNS
    limit = digits(text, 9)
    if limit is None or limit < 1:
        raise errors.ValidationError(f"limit must be a whole number of runs from 1 to {MAX_RUNS}, got {text[:40]!r}")
    if limit > MAX_RUNS:
        raise errors.ValidationError(f"too many runs: this page compares at most {MAX_RUNS:,} (limit={limit:,})")
    return limit


def find_runs(store: Any, text: str, grammar: str, limit: int) -> tuple[list, str]:
    """Up to ``limit + 1`` runs matching ``text`` (newest first) and the grammar used: what the
    run list shows for the same search (no search: the top-level runs)."""
    if not text:
        return store.list_runs(is_root=True, limit=limit + 1), ""
    if grammar == "auto":
        grammar = "langsmith" if "(" in text else "simvue"
    if grammar == "langsmith":
        return store.list_runs(filter=text, limit=limit + 1), grammar
    return store.get_runs([text], limit=limit + 1), grammar


def _kinds(keys: list[str], rows: list[dict]) -> tuple[list[str], set[str]]:
    """The keys whose values vary (not the same in every run), but text keys where every run (of
    more than ten) has a value of its own: an output folder or a host name is no parameter axis;
    and the keys with one value in every run."""
    varying, same = [], set()
    for key in keys:
        values = [row.get(key, sweep_svg.MISSING) for row in rows]
        distinct = {same_key(v) if v is not sweep_svg.MISSING else None for v in values}
        if len(distinct) < 2:
            same.add(key)
            continue
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
                      if v is not sweep_svg.MISSING)
        if not numeric and len(rows) > 10 and len(distinct) == len(rows):
            continue
        varying.append(key)
    return varying, same


def _form(text: str, grammar: str, keys: list[str], varying: set, same: set, axes: list[str], names: dict,
          metric: str | None, stat: str, x: str | None) -> str:
    def options(items, chosen) -> str:
        return "".join(f'<option value="{esc(v, None)}"{" selected" if v == chosen else ""}>{esc(label, 120)}</option>'
                       for v, label in items)

    offered = list(dict.fromkeys([k for k in keys if k in varying] + keys))[:KEY_CHOICES]
    offered += [k for k in axes if k not in offered]
    boxes = "".join(f'<label><input type="checkbox" name="axis" value="{esc(k, None)}"'
                    f'{" checked" if k in axes else ""}>{esc(k, 60)}{" (same)" if k in same else ""}</label>'
                    for k in offered)
    metric_items = [(n, f"{n} ({c:,} run{'s' if c != 1 else ''})") for n, c in list(names.items())[:METRIC_CHOICES]]
    if metric is not None and metric not in dict(metric_items):
        metric_items.append((metric, metric))
    parts = ['<form class="sweep" method="get" action="/compare" id="sweep-form" role="search">',
             f'<label>search <input type="search" name="q" id="q" size="40" maxlength="{MAX_FILTER}" '
             f'value="{html.escape(text)}" placeholder="metadata.lr &gt; 0.01"></label>',
             f'<label>grammar <select name="grammar" id="grammar">{options(GRAMMARS.items(), grammar)}</select></label>']
    if names:
        parts.append(f'<label>metric <select name="metric" id="metric">{options(metric_items, metric)}</select></label>'
                     f'<label>summary <select name="stat" id="stat">{options(((s, s) for s in STATS), stat)}'
                     '</select></label>')
    if keys:
        parts.append(f'<label>scatter x <select name="x" id="x-key">{options(((k, k) for k in offered), x)}'
                     '</select></label>')
    parts.append('<button type="submit">Apply</button>')
    if keys:
        parts.append(f'<fieldset class="axes" id="axes"><legend>axes (up to {MAX_AXES})</legend>{boxes}</fieldset>')
    parts.append("</form>")
    return "".join(parts)


def _choices(params: dict, keys: list[str], varying: list[str], names: dict) -> tuple[list, str | None, str, str | None]:
    """The axes, metric, stat and scatter x asked for (checked) or the defaults."""
    known = set(keys)
    axes = list(dict.fromkeys(params.get("axis", [])))
    if len(axes) > MAX_AXES:
        raise errors.ValidationError(f"choose at most {MAX_AXES} axes, got {len(axes)}")
    for key in axes:
        if key not in known:
            raise errors.ValidationError(f"no run here has the parameter {key[:200]!r} (axis=); the page lists "
                                         "the keys it can draw")
    if not axes:
        axes = varying[:DEFAULT_AXES] or keys[:DEFAULT_AXES]
    metric = _one(params, "metric")
    if metric is not None and metric not in names:
        raise errors.ValidationError(f"none of these runs has a metric {metric[:200]!r} (logged without an asset)")
    if metric is None and names:
        metric = next((n for n in names if not n.startswith("system/")), next(iter(names)))
    stat = _one(params, "stat", "last")
    if stat not in STATS:
        raise errors.ValidationError(f"stat must be one of {', '.join(STATS)}, got {stat[:40]!r}")
    x = _one(params, "x")
    if x is not None and x not in known:
        raise errors.ValidationError(f"no run here has the parameter {x[:200]!r} (x=)")
    if x is None and axes:
        x = axes[0]
    return axes, metric, stat, x


def _summary_of(stats: Any, stat: str) -> float | None:
    if stats is None or not stats.count:
        return None
    return getattr(stats, STATS[stat])


def _tip(rec: Any, row: dict, axes: list[str], metric_label: str | None, value: float | None) -> str:
    lines = [f"{rec.name} (\u2026{rec.id[-8:]})"]
    lines += [f"{k} = {value_text(row[k])[:60] if k in row else '(none)'}" for k in axes]
    if metric_label is not None:
        lines.append(f"{metric_label} = {fmt_num(value)}")
    return "\n".join(lines)


def compare_page(store: Any, params: dict) -> tuple[int, str]:
    """The ``/compare`` page's status and body for these query parameters (``parse_qs`` form)."""
    for name in params:
        if name not in PARAMS:
            raise errors.ValidationError(f"unknown parameter {name[:40]!r}; this page takes {', '.join(PARAMS)}")
    text = (_one(params, "q", "") or "").strip()
    grammar = _one(params, "grammar", "auto")
    if grammar not in GRAMMARS:
        raise errors.ValidationError(f"grammar must be one of {', '.join(GRAMMARS)}, got {grammar[:40]!r}")
    if len(text) > MAX_FILTER:
        raise errors.ValidationError(f"the search is longer than {MAX_FILTER} characters")
    limit = _limit(params)
    nav = '<p class="nav"><a href="/">all runs</a></p>'
    try:
        runs, used = find_runs(store, text, grammar, limit)
    except errors.FilterError as exc:
        return 400, (nav + _form(text, grammar, [], set(), set(), [], {}, None, "last", None)
                     + f'<pre class="error" id="filter-error">{html.escape(str(exc))}</pre>')
    cut = len(runs) > limit
    runs = runs[:limit]
    rows = [flat_params(rec) for rec in runs]
    keys = list(dict.fromkeys(k for row in rows for k in row))
    varying, same = _kinds(keys, rows)
    names = store.metric_name_counts([rec.id for rec in runs]) if runs else {}
    axes, metric, stat, x = _choices(params, keys, varying, names)
    out = [nav, _form(text, grammar, keys, set(varying), same, axes, names, metric, stat, x)]
    what = f"{len(runs):,} run{'s' if len(runs) != 1 else ''}"
    if cut:
        what = f"the newest {limit:,} runs (the search matches more: narrow it to compare others)"
    elif not text:
        what += " (top-level; search to choose others)"
    else:
        what += f" matching ({GRAMMARS[used]})"
    out.append(f'<p class="count" id="count">{html.escape(what)}</p>')
    if not runs:
        return 200, "".join(out)
    out.append(_plots(store, runs, rows, axes, metric, stat, x))
    return 200, "".join(out)


def _plots(store: Any, runs: list, rows: list[dict], axes: list[str], metric: str | None, stat: str,
           x: str | None) -> str:
    """The parallel coordinates, the scatter and the list of runs left out of them."""
    out = []
    label = f"{metric}.{stat}" if metric is not None else None
    values: list = [None] * len(runs)
    if metric is not None:
        found = store.metric_summaries([rec.id for rec in runs], [metric])
        values = [_summary_of(found.get(rec.id, {}).get(metric), stat) for rec in runs]
    drawn = [i for i, v in enumerate(values) if metric is None or (v is not None and math.isfinite(v))]
    plotted = set(drawn)
    left_out = [i for i in range(len(runs)) if i not in plotted]
    scale = None
    if metric is not None and drawn:
        finite = [values[i] for i in drawn]
        scale = sweep_svg.ColorScale(label, min(finite), max(finite))
    marks = [sweep_svg.Mark("/run/" + urllib.parse.quote(runs[i].id, safe=""),
                            _tip(runs[i], rows[i], axes, label, values[i]),
                            scale.color(values[i]) if scale else "#2563eb") for i in drawn]
    if metric is not None:  # the best colours drawn last, over the others
        order = sorted(range(len(drawn)), key=lambda j: values[drawn[j]])
        drawn, marks = [drawn[j] for j in order], [marks[j] for j in order]
    if not axes:
        out.append('<p class="muted" id="no-params">These runs have no parameters (metadata) to draw.</p>')
    elif not drawn:
        out.append(f'<p class="muted" id="nothing-drawn">No run has a finite {esc(label, 200)}.</p>')
    else:
        columns = [[rows[i].get(k, sweep_svg.MISSING) for k in axes] for i in drawn]
        scales = [sweep_svg.axis_of(k, [c[j] for c in columns]) for j, k in enumerate(axes)]
        if metric is not None:
            scales.append(sweep_svg.axis_of(label, [values[i] for i in drawn], allow_log=False))
            columns = [c + [values[i]] for c, i in zip(columns, drawn)]
        out.append('<h2>Parallel coordinates</h2><section class="card" id="parallel">'
                   + sweep_svg.parallel_svg(scales, columns, marks, scale)
                   + '<p class="note">hover a line for its run, click to open it</p></section>')
        if metric is not None and x is not None:
            xs = [rows[i].get(x, sweep_svg.MISSING) for i in drawn]
            x_axis = sweep_svg.axis_of(x, xs)
            y_axis = sweep_svg.axis_of(label, [values[i] for i in drawn], allow_log=False)
            without = sum(1 for v in xs if x_axis.place(v) is None)
            note = (f'<p class="note" id="scatter-note">{without:,} run{"s" if without != 1 else ""} without a value'
                    f' of {esc(x, 80)} not drawn</p>' if without else "")
            out.append(f'<h2>{esc(label, 120)} against {esc(x, 120)}</h2><section class="card" id="scatter">'
                       + sweep_svg.scatter_svg(x_axis, y_axis, xs, [values[i] for i in drawn], marks, scale,
                                                 tips=False)
                       + note + "</section>")
    if left_out and metric is not None:
        listed = "".join(f'<tr><td><a href="{esc("/run/" + urllib.parse.quote(runs[i].id, safe=""), None)}">'
                         f'{esc(runs[i].name, 80)}</a></td><td class="num">'
                         f'{"no such metric" if values[i] is None else fmt_num(values[i])}</td></tr>'
                         for i in left_out[:LEFT_OUT_ROWS])
        more = (f'<p class="note">and {len(left_out) - LEFT_OUT_ROWS:,} more</p>'
                if len(left_out) > LEFT_OUT_ROWS else "")
        out.append(f'<details id="left-out"><summary>{len(left_out):,} run{"s" if len(left_out) != 1 else ""} not '
                   f'drawn: {esc(label, 120)} is NaN, infinite or missing</summary><table class="grid">'
                   f'<tr><th>run</th><th class="num">{esc(label, 120)}</th></tr>{listed}</table>{more}</details>')
    return "".join(out)
