"""The viewer's cookbook pages: recipe runs grouped as Sight Machine shows them (docs/RECIPES.md).

``cookbooks_body`` lists the cookbooks the file knows (``/cookbooks``): stored cookbooks and
the cookbook ids of imported recipe runs. ``cookbook_body`` (``/cookbook/<id>``) shows one in
the seed's terms: its constraint groups (the "recipes" of the Sight Machine UI), best score
first, a page of them at a time; per group, the constraint bins that define it, its best runs
ranked by ``_score`` (score, ``_count``, ``_duration_seconds``, ``_earliest``, each outcome's
stored avg/min/max and std = sqrt(var_pop)), linked to their run pages, and each lever's
range: over all the group's runs (computed by SQLite), over its ``topRun`` best runs (pooled
as Sight Machine's ``constraint_group`` row: the recommended range), and the recipe's own bin
when the lever is also a constraint. Bounded: ``TOP_MAX`` runs per group, ``GROUP_PAGE``
groups per page, ``BOOK_PAGE`` cookbooks per page, ``FIELDS`` levers and outcomes.
"""

from __future__ import annotations

import math
import urllib.parse
from typing import Any

from .. import errors
from .._validation import digits
from ..recipes import scores
from .charts import esc, fmt_num

BOOK_PAGE = 100      # cookbooks per page
GROUP_PAGE = 10      # constraint groups per page
TOP_RUNS = 10        # best runs shown per group when the cookbook does not say (Sight Machine's default)
TOP_MAX = 25         # best runs shown per group, whatever the cookbook says
FIELDS = 30          # levers and outcomes shown
MAX_ID = 256


def _num(value: Any) -> str:
    """A stored statistic: a number formatted, anything else (a hostile import) as text."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return "\u2013" if value is None else esc(value, 40)
    return fmt_num(value)


def _std(var_pop: Any) -> str:
    """The standard deviation from a stored population variance (a negative one shows as none)."""
    if isinstance(var_pop, bool) or not isinstance(var_pop, (int, float)):
        return _num(var_pop)
    return fmt_num(math.sqrt(var_pop)) if var_pop >= 0 else "\u2013"


def _duration(seconds: Any) -> str:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return _num(seconds)
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m}m {s}s" if h else f"{m}m {s}s" if m else f"{s} s"


def _offset(params: dict) -> int:
    for name in params:
        if name != "offset":
            raise errors.ValidationError(f"unknown parameter {name[:40]!r}; this page takes offset")
    values = params.get("offset") or ["0"]
    text = values[0]
    offset = digits(text, 12)
    if len(values) > 1 or offset is None:
        raise errors.ValidationError(f"offset must be one whole number >= 0, got {text[:40]!r}")
    return offset


def _pager(path: str, offset: int, size: int, total: int, what: str) -> str:
    if total <= size:
        return ""
    links = []
    if offset > 0:
        links.append(f'<a class="page-prev" href="{esc(path, None)}?offset={max(0, offset - size)}">previous</a>')
    if offset + size < total:
        links.append(f'<a class="page-next" href="{esc(path, None)}?offset={offset + size}">next</a>')
    return (f'<p class="pager">{what} {offset + 1:,}\u2013{min(total, offset + size):,} of {total:,} '
            + " \u00b7 ".join(links) + "</p>")


def _book_link(book_id: str) -> str:
    return "/cookbook/" + urllib.parse.quote(book_id, safe="")


def _run_link(run_id: str, text: str) -> str:
    return f'<a href="{esc("/run/" + urllib.parse.quote(run_id, safe=""), None)}">{text}</a>'


# ---------------------------------------------------------------- /cookbooks


def cookbooks_body(store: Any, params: dict) -> str:
    """The list of cookbooks: id, name, recipe runs, constraint groups, best score."""
    offset = _offset(params)
    total, rows = store.cookbook_index(limit=BOOK_PAGE, offset=offset)
    out = ['<p class="nav"><a href="/">all runs</a></p><h2>Cookbooks</h2>']
    if not total:
        return "".join(out) + '<p class="muted">No cookbooks or recipe runs in this file.</p>'
    if offset >= total:
        raise errors.NotFoundError(f"offset {offset:,} is past the {total:,} cookbooks")
    body = "".join(
        f'<tr><td><a href="{esc(_book_link(book_id), None)}">{esc(book_id, 120)}</a></td>'
        f'<td>{esc(name, 200) if name is not None else "<span class=muted>(imported runs)</span>"}</td>'
        f'<td class="num">{fmt_num(runs)}</td><td class="num">{fmt_num(groups)}</td>'
        f'<td class="num">{_num(best)}</td></tr>' for book_id, name, runs, groups, best in rows)
    out.append('<table class="grid cookbooks" id="cookbooks"><thead><tr><th>cookbook</th><th>name</th>'
               '<th class="num">recipe runs</th><th class="num">constraint groups</th>'
               f'<th class="num">best score</th></tr></thead><tbody>{body}</tbody></table>')
    out.append(_pager("/cookbooks", offset, BOOK_PAGE, total, "cookbooks"))
    return "".join(out)


# ---------------------------------------------------------------- /cookbook/<id>


def _definition(book: Any) -> str:
    """A stored cookbook's levers, outcomes, constraints and settings."""
    def pairs(items: Any) -> str:
        return ", ".join(f"{esc(a, 60)} / {esc(n, 80)}" for a, n in list(items)[:FIELDS]) or "\u2013"

    outcomes = ", ".join(f"{esc(o.asset, 60)} / {esc(o.name, 80)} ({esc(o.optimize)}, weight {fmt_num(o.weight)}"
                         + (f", KPI <code>{esc(o.formula, 200)}</code>" if o.formula else "") + ")"
                         for o in book.outcomes[:FIELDS])
    constraints = "; ".join(f"{esc(c.asset, 60)} / {esc(c.name, 80)}: "
                            + ", ".join(esc(c.label(i), 60) for i in range(min(len(c.bins), FIELDS)))
                            for c in book.constraints[:FIELDS])
    facts = [("name", esc(book.name, 200)), ("levers", pairs(book.levers)), ("outcomes", outcomes or "\u2013"),
             ("constraints", constraints or "\u2013"), ("run boundaries", pairs(book.run_boundaries)),
             ("minimum duration", _duration(book.min_duration) if book.min_duration is not None else "\u2013"),
             ("top runs (topRun)", fmt_num(book.top_runs))]
    return ('<section class="card"><dl class="facts">'
            + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl></section>")


def _fields(run: dict, key: str) -> list[tuple[tuple[str, str], dict]]:
    """``((asset, name), value stats)`` of a run's levers or outcomes (malformed items skipped)."""
    items = run.get(key)
    out = []
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict):
            value = item.get("value")
            out.append(((str(item.get("asset")), str(item.get("name"))), value if isinstance(value, dict) else {}))
    return out


def _pooled(best: list, top: int) -> dict | None:
    """Sight Machine's ``constraint_group`` row of a group's best runs (None when an imported run's
    dict cannot be pooled)."""
    if len(best) == 1:
        return best[0].data
    try:
        return scores.constraint_groups([r.data for r in best], top)[0]
    except (KeyError, TypeError, ValueError, AttributeError, ZeroDivisionError, OverflowError):
        return None


def _kpi_items(run: dict) -> list[tuple[tuple[str, str], Any]]:
    """``((asset, name), kpi)`` of a run's outcomes (``kpi`` None for a field outcome)."""
    items = run.get("outcomes")
    return [((str(x.get("asset")), str(x.get("name"))), x.get("kpi"))
            for x in (items if isinstance(items, list) else ()) if isinstance(x, dict)]


def _constraints(book: Any, run: dict) -> str:
    labels = run.get("constraints")
    labels = labels if isinstance(labels, list) else []
    if not labels:
        return '<span class="muted">no constraints (every record of the recipe group)</span>'
    names = [f"{c.asset} / {c.name}" for c in book.constraints] if book is not None else []
    return ", ".join(f'<span class="tag">{esc(names[i] + " in " if i < len(names) else "", 120)}'
                     f'{esc(label, 80)}</span>' for i, label in enumerate(labels[:FIELDS]))


def _top_table(runs: list, outcomes: list, pooled: dict | None, top: int) -> str:
    kpi_keys = {key for r in runs for key, item in _kpi_items(r.data) if item}
    head = "".join(f'<th colspan="4" class="num">{esc(a, 40)} / {esc(n, 60)}</th>' for a, n in outcomes)
    sub = '<th class="num">avg</th><th class="num">min</th><th class="num">max</th><th class="num">std</th>' * len(outcomes)

    def stats(run: dict) -> str:
        by_key = dict(_fields(run, "outcomes"))
        cells = []
        for key in outcomes:
            v = by_key.get(key, {})
            # a KPI outcome's var_pop carries the KPI value (the seed's convention): no spread to show
            std = '<span title="a KPI: one value per run">\u2013</span>' if key in kpi_keys else _std(v.get("var_pop"))
            cells.append(f'<td class="num">{_num(v.get("avg"))}</td><td class="num">{_num(v.get("min"))}</td>'
                         f'<td class="num">{_num(v.get("max"))}</td><td class="num">{std}</td>')
        return "".join(cells)

    rows = []
    for rank, rec in enumerate(runs, 1):
        d = rec.data
        muted = d.get("_count_muted")
        rows.append(f'<tr class="top-run" data-run-id="{esc(rec.run_id, None)}"><td class="num">{rank}</td>'
                    f'<td>{_run_link(rec.run_id, esc(rec.run_id[-12:], 40))}</td>'
                    f'<td class="num score">{_num(d.get("_score"))}</td>'
                    f'<td class="num">{_num(d.get("_count"))}'
                    + (f' <span class="muted small">({_num(muted)} muted)</span>' if muted else "")
                    + f'</td><td class="num">{_duration(d.get("_duration_seconds"))}</td>'
                    f'<td class="small">{esc(d.get("_earliest"), 40)}</td>{stats(d)}</tr>')
    if pooled is not None and len(runs) > 1:
        rows.append(f'<tr class="pooled"><th colspan="2">top {min(top, len(runs))} pooled</th>'
                    f'<td class="num">{_num(pooled.get("_score"))}</td><td class="num">{_num(pooled.get("_count"))}</td>'
                    f'<td class="num">{_duration(pooled.get("_duration_seconds"))}</td>'
                    f'<td class="small">{esc(pooled.get("_earliest"), 40)}</td>{stats(pooled)}</tr>')
    return ('<div class="scroll"><table class="grid top-runs"><thead><tr><th class="num" rowspan="2">rank</th>'
            '<th rowspan="2">run</th><th class="num" rowspan="2">score</th><th class="num" rowspan="2">records</th>'
            f'<th class="num" rowspan="2">duration</th><th rowspan="2">earliest</th>{head}</tr><tr>{sub}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _lever_table(store: Any, book_key: str, group_id: str, book: Any, best: dict, pooled: dict | None,
                 runs: int, top: int) -> str:
    ranges = store.lever_ranges(book_key, group_id)
    if not ranges:
        return ""
    bins = {}
    labels = best.get("constraints") if isinstance(best.get("constraints"), list) else []
    if book is not None:
        for c, label in zip(book.constraints, labels):
            bins[(c.asset, c.name)] = label
    recommended = dict(_fields(pooled or {}, "levers"))
    rows = []
    for asset, name, low, high, having in ranges[:FIELDS]:
        key = (str(asset), str(name))
        rec = recommended.get(key, {})
        own = bins.get(key)
        rows.append(f'<tr class="lever"><td>{esc(asset, 60)} / {esc(name, 80)}</td>'
                    f'<td class="num range-all">{_num(low)} \u2013 {_num(high)}</td><td class="num">{fmt_num(having)}</td>'
                    f'<td class="num range-top">{_num(rec.get("min"))} \u2013 {_num(rec.get("max"))}</td>'
                    f'<td class="num">{_num(rec.get("avg"))}</td>'
                    f'<td class="range-recipe">{esc(own, 80) if own is not None else chr(8211)}</td></tr>')
    more = f'<p class="note">the first {FIELDS} of {len(ranges)} levers</p>' if len(ranges) > FIELDS else ""
    return ('<div class="scroll"><table class="grid levers"><thead><tr><th>lever</th>'
            f'<th class="num">range over all {runs:,} run{"s" if runs != 1 else ""}</th><th class="num">runs with a value</th>'
            f'<th class="num">range over the top {min(top, runs)}</th><th class="num">top avg</th>'
            f"<th>recipe's bin</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>{more}")


def cookbook_body(store: Any, book_ref: str, params: dict) -> str:
    """One cookbook's constraint groups (a page of them), each with its best runs and lever ranges."""
    if not book_ref or len(book_ref) > MAX_ID or not book_ref.isprintable():
        raise errors.ValidationError(f"a cookbook is given by its id or name (1 to {MAX_ID} printable characters)")
    offset = _offset(params)
    book = None
    try:
        book = store.cookbook(book_ref)
    except errors.NotFoundError:
        pass  # imported runs need no stored cookbook
    key = book.id if book is not None else book_ref
    total, groups = store.constraint_group_index(book if book is not None else key, limit=GROUP_PAGE, offset=offset)
    top = min(TOP_MAX, book.top_runs if book is not None else TOP_RUNS)
    title = book.name if book is not None else key
    path = _book_link(key)
    out = ['<p class="nav"><a href="/">all runs</a> \u00b7 <a href="/cookbooks">all cookbooks</a></p>',
           f'<h2>Cookbook {esc(title, 200)} <span class="muted small">{esc(key, 120)}</span></h2>']
    if book is not None:
        out.append(_definition(book))
    if total and offset >= total:
        raise errors.NotFoundError(f"offset {offset:,} is past the {total:,} constraint groups")
    out.append(f'<p class="count">{total:,} constraint group{"s" if total != 1 else ""}, best score first; '
               f'the {top} best runs of each</p>')
    out.append(_pager(path, offset, GROUP_PAGE, total, "groups"))
    for group_id, runs, best_score in groups:
        best = store.recipe_runs(book if book is not None else key, constraint_group_id=group_id, limit=top)
        if not best:
            continue
        pooled = _pooled(best, top)
        outcomes = list(dict.fromkeys(k for r in best for k, _ in _fields(r.data, "outcomes")))[:FIELDS]
        out.append(f'<section class="card constraint-group" data-group="{esc(group_id, None)}">'
                   f'<h3>constraint group {esc(group_id, 80)} <span class="muted small">{runs:,} run'
                   f'{"s" if runs != 1 else ""} \u00b7 best score {_num(best_score)}</span></h3>'
                   f'<p>{_constraints(book, best[0].data)}</p>'
                   + _top_table(best, outcomes, pooled, top)
                   + _lever_table(store, key, group_id, book, best[0].data, pooled, runs, top) + "</section>")
    out.append(_pager(path, offset, GROUP_PAGE, total, "groups"))
    return "".join(out)
