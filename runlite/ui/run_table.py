"""The viewer's run table (the ``/`` page): search, columns, server-side sort, paging, groups,
selection for comparing.

A page reads one ``Store.run_page`` (the page's runs, the list's total and its groups' counts),
one ``Store.run_columns`` (the metadata keys and metric names a sample of the list has: the
column chooser) and one ``Store.metric_summaries`` (every metric cell of the page): work
bounded by the page size, whatever the number of runs. Everything the page shows is escaped;
the address holds the whole view (``q``, ``grammar``, ``col``, ``sort``, ``group``, ``per``,
``page``) so a link shares it; ``static/run_table.js`` remembers the chosen columns, collapses
groups and selects runs. The checks of each parameter are here (``check_*``, raising
``ValueError`` with the message to show); ``viewer.py`` routes and answers 400 with it.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
import urllib.parse
from typing import Any

import attrs

from .. import errors
from ..query import METRIC_STATS
from .charts import esc, fmt_num

PAGE_SIZES = (50, 100, 200)
MAX_COLUMNS = 20         # chosen columns on one page
MAX_KEY = 256            # characters of a metadata key or metric name in a column
CHOOSER_SAMPLE = 1000    # newest runs the column chooser reads keys and names from
CHOOSER_CAP = 200        # keys (and metric names) it lists at most
STATS = ("last", "min", "max")  # metric summary columns (kept at ingest: no point read)
GRAMMARS = {"auto": "either grammar", "langsmith": "LangSmith filter", "simvue": "Simvue filter"}
DEFAULT_SORT = ("created", True)
MAX_COMPARE = 20

# The columns every table shows: (heading, sort field).
BASE_COLUMNS = (("name", "name"), ("status", "status"), ("type", "run_type"), ("folder", "folder"),
                ("tags", "tags"), ("created", "created"), ("duration", "duration"))
_BASE_SORTS = {field for _, field in BASE_COLUMNS}


@attrs.frozen
class TableView:
    """What one run table page shows, checked (``viewer`` builds it from the address)."""
    q: str = ""
    grammar: str = "auto"
    columns: tuple = ()                 # "metadata.<key>" and "metric.<name>.<stat>"
    sort: tuple = DEFAULT_SORT          # (field, descending)
    group: str | None = None            # "folder" or "metadata.<key>"
    per: int = PAGE_SIZES[0]
    page: int = 1

    def url(self, **changes: Any) -> str:
        """The address of this view with ``changes`` (defaults left out, so links stay short)."""
        view = attrs.evolve(self, **changes)
        params: list[tuple[str, str]] = []
        if view.q:
            params.append(("q", view.q))
        if view.grammar != "auto":
            params.append(("grammar", view.grammar))
        params += [("col", c) for c in view.columns]
        if view.sort != DEFAULT_SORT:
            params.append(("sort", ("-" if view.sort[1] else "") + view.sort[0]))
        if view.group:
            params.append(("group", view.group))
        if view.per != PAGE_SIZES[0]:
            params.append(("per", str(view.per)))
        if view.page != 1:
            params.append(("page", str(view.page)))
        return "/?" + urllib.parse.urlencode(params) if params else "/"


# -- parameter checks (ValueError: the message the 400 page shows)

def _check_key(key: str, what: str) -> str:
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise ValueError(f"{what} must be 1 to {MAX_KEY} printable characters")
    return key


def check_column(text: str) -> str:
    """``metadata.<key>`` or ``metric.<name>.<stat>`` (stat last, min or max)."""
    if text.startswith("metadata."):
        _check_key(text[9:], "a metadata key")
        return text
    if text.startswith("metric."):
        name, _, stat = text[7:].rpartition(".")
        if stat in STATS:
            _check_key(name, "a metric name")
            return text
    raise ValueError(f"a column is metadata.<key> or metric.<name>.last|min|max, got {text[:60]!r}")


def check_sort(text: str) -> tuple[str, bool]:
    """``[-]field``: a base column, a chosen column's spelling, or any metric statistic."""
    field, descending = text.lstrip("-"), text.startswith("-")
    if field in _BASE_SORTS:
        return field, descending
    if field.startswith("metric."):
        name, _, stat = field[7:].rpartition(".")
        if stat in METRIC_STATS:
            _check_key(name, "a metric name")
            return field, descending
    try:
        return check_column(field), descending
    except ValueError:
        raise ValueError(f"sort by one of {', '.join(sorted(_BASE_SORTS))}, metadata.<key> or "
                         f"metric.<name>.<stat> ('-' first for descending), got {text[:60]!r}") from None


def check_group(text: str) -> str:
    """``folder`` or ``metadata.<key>``."""
    if text == "folder" or (text.startswith("metadata.") and _check_key(text[9:], "a metadata key")):
        return text
    raise ValueError(f"group by folder or metadata.<key>, got {text[:60]!r}")


# -- cells

def fmt_time(value: _dt.datetime | None) -> str:
    """A UTC time to the second, "-" for none."""
    return value.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def fmt_duration(run: Any) -> str:
    """How long a run ran (so far, while running); "-" when it never started or ended."""
    if run.started is None:
        return "-"
    end = run.ended or (_dt.datetime.now(_dt.timezone.utc) if run.status == "running" else None)
    if end is None:
        return "-"
    seconds = max(0.0, (end - run.started).total_seconds())
    if seconds < 1:
        text = f"{seconds * 1000:.0f} ms"
    elif seconds < 60:
        text = f"{seconds:.1f} s"
    elif seconds < 3600:
        text = f"{int(seconds // 60)} min {int(seconds % 60)} s"
    else:
        text = f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"
    return text + (" so far" if run.ended is None else "")


def _scalar(value: Any) -> Any:
    """A metadata value as the table sorts and groups it: numbers and strings; others None."""
    return value if isinstance(value, (int, float, str)) and not isinstance(value, bool) else None


def _metadata_cell(value: Any) -> tuple[str, str]:
    """(class, escaped text) of a metadata cell."""
    if value is None:
        return "muted", "\u2013"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "num", fmt_num(value)
    if isinstance(value, str):
        return "", esc(value, 120)
    return "", esc(json.dumps(value, sort_keys=True, default=str), 120)  # objects, arrays, true/false


def _group_label(group: str, value: Any) -> str:
    if value is None:
        return f"no {esc(group[9:] if group.startswith('metadata.') else group, 80)}"
    return esc(fmt_num(value) if isinstance(value, (int, float)) else value, 160)


# -- the page

def _heading(view: TableView, label: str, field: str, numeric: bool = False) -> str:
    """A sortable column heading: a link to the view sorted by it (the other way when it is
    the sort already; new sorts start ascending, times and metrics newest/largest first)."""
    on, descending = view.sort[0] == field, view.sort[1]
    if on:
        target = (field, not descending)
    else:
        target = (field, field in ("created", "duration"))
    arrow = (" \u25bc" if descending else " \u25b2") if on else ""
    aria = (' aria-sort="descending"' if descending else ' aria-sort="ascending"') if on else ""
    cls = ' class="num"' if numeric else ""
    return (f'<th{cls}{aria} data-col="{esc(field, None)}"><a class="sort" href="{esc(view.url(sort=target, page=1), None)}"'
            f' title="sort by {esc(label, 80)}">{esc(label, 80)}{arrow}</a></th>')


def _nav(view: TableView) -> str:
    """Links to the other views: traces, the sweep view of this search, cookbooks."""
    search = urllib.parse.urlencode([("q", view.q)] + ([("grammar", view.grammar)] if view.grammar != "auto" else []))
    sweep = "/compare" + ("?" + search if view.q else "")
    return (f'<p class="nav" id="views"><a href="/traces">traces</a> \u00b7 <a href="{esc(sweep, None)}">'
            'parameters vs metric of these runs</a> \u00b7 <a href="/cookbooks">cookbooks</a></p>')


def _search_form(view: TableView) -> str:
    options = "".join(f'<option value="{k}"{" selected" if k == view.grammar else ""}>{esc(v)}</option>'
                      for k, v in GRAMMARS.items())
    keep = "".join(f'<input type="hidden" name="{n}" value="{esc(v, None)}">' for n, v in
                   [("col", c) for c in view.columns]
                   + ([("sort", ("-" if view.sort[1] else "") + view.sort[0])] if view.sort != DEFAULT_SORT else [])
                   + ([("group", view.group)] if view.group else [])
                   + ([("per", str(view.per))] if view.per != PAGE_SIZES[0] else []))
    return ('<form class="search" method="get" action="/" role="search">'
            f'<input type="search" name="q" id="q" size="60" maxlength="4096" value="{esc(view.q, None)}" '
            'aria-label="filter" placeholder=\'metadata.lr &gt; 0.01   or   and(eq(status, "completed"), '
            'has(tags, "best"))\'>'
            f'<select name="grammar" id="grammar" aria-label="filter grammar">{options}</select>'
            f'{keep}<button type="submit">Search</button></form>')


def _chooser(view: TableView, keys: list[str], metrics: list[str]) -> str:
    """The column chooser: a GET form of checkboxes (works without the script, which also
    remembers the choice), every key and metric of the sample plus those chosen already."""
    chosen = set(view.columns)
    keys = list(dict.fromkeys(keys + [c[9:] for c in view.columns if c.startswith("metadata.")]))
    metrics = list(dict.fromkeys(metrics + [c[7:].rpartition(".")[0] for c in view.columns
                                            if c.startswith("metric.")]))

    def box(col: str, label: str) -> str:
        return (f'<label><input type="checkbox" name="col" value="{esc(col, None)}"'
                f'{" checked" if col in chosen else ""}> {esc(label, 80)}</label>')

    out = ['<details class="chooser" id="columns"><summary>Columns</summary>',
           '<form method="get" action="/" id="column-form">']
    for name, value in (("q", view.q), ("grammar", view.grammar if view.grammar != "auto" else ""),
                        ("sort", ("-" if view.sort[1] else "") + view.sort[0] if view.sort != DEFAULT_SORT else ""),
                        ("group", view.group or ""), ("per", str(view.per) if view.per != PAGE_SIZES[0] else "")):
        if value:
            out.append(f'<input type="hidden" name="{name}" value="{esc(value, None)}">')
    out.append('<div class="chooser-lists"><fieldset><legend>metadata</legend>')
    out += [box("metadata." + k, k) for k in keys] or ['<p class="muted small">no metadata keys</p>']
    out.append('</fieldset><fieldset><legend>metrics (last, min, max)</legend>')
    for name in metrics:
        out.append(f'<div class="metric-choice"><span>{esc(name, 80)}</span>'
                   + "".join(box(f"metric.{name}.{stat}", stat) for stat in STATS) + "</div>")
    if not metrics:
        out.append('<p class="muted small">no metrics</p>')
    out.append(f'</fieldset></div><p class="small muted">At most {MAX_COLUMNS} columns; keys and metrics of the '
               f'newest {CHOOSER_SAMPLE:,} runs listed (up to {CHOOSER_CAP} of each).</p>'
               '<button type="submit">Apply</button> <button type="button" id="columns-reset">Reset</button>'
               '</form></details>')
    return "".join(out)


def _toolbar(view: TableView, total: int, shown: int, keys: list[str], used: str) -> str:
    first = (view.page - 1) * view.per + 1
    last = first + shown - 1 if shown else 0
    what = f"runs {first:,}\u2013{last:,} of {total:,}" if shown else f"no runs of {total:,}"
    what += f" matching ({GRAMMARS[used]})" if used else " (top-level; search to include trace spans)"
    pages = max(1, math.ceil(total / view.per))
    nav = []
    for label, page, rel in (("\u2190 prev", view.page - 1, "prev"), ("next \u2192", view.page + 1, "next")):
        if 1 <= page <= pages:
            nav.append(f'<a class="page-link" rel="{rel}" id="page-{rel}" href="{esc(view.url(page=page), None)}">'
                       f"{label}</a>")
        else:
            nav.append(f'<span class="page-link muted">{label}</span>')
    sizes = " ".join(f'<b>{n}</b>' if n == view.per else
                     f'<a class="per" href="{esc(view.url(per=n, page=1), None)}">{n}</a>' for n in PAGE_SIZES)
    groups = [("", "no grouping"), ("folder", "folder")] + [("metadata." + k, k) for k in keys]
    if view.group and all(g != view.group for g, _ in groups):
        groups.append((view.group, view.group[9:]))
    options = "".join(f'<option value="{esc(g, None)}"{" selected" if g == (view.group or "") else ""}>'
                      f"{esc(label, 80)}</option>" for g, label in groups)
    keep = "".join(f'<input type="hidden" name="{n}" value="{esc(v, None)}">' for n, v in
                   ([("q", view.q)] if view.q else []) + ([("grammar", view.grammar)] if view.grammar != "auto" else [])
                   + [("col", c) for c in view.columns]
                   + ([("sort", ("-" if view.sort[1] else "") + view.sort[0])] if view.sort != DEFAULT_SORT else [])
                   + ([("per", str(view.per))] if view.per != PAGE_SIZES[0] else []))
    return ('<div class="table-tools">'
            f'<span class="count" id="count">{esc(what, None)}</span>'
            f'<span class="pager">{" ".join(nav)} <span class="muted">page {view.page:,} of {pages:,}</span></span>'
            f'<span class="sizes">per page: {sizes}</span>'
            f'<form method="get" action="/" class="grouping">{keep}<label>group by '
            f'<select name="group" id="group" aria-label="group by">{options}</select></label>'
            '<button type="submit">Group</button></form></div>')


def _rows(view: TableView, page: Any, cells: dict) -> list[str]:
    """The body rows, a header row (value, run count, collapse button) before each group's."""
    counts = {value: n for value, n in page.groups}
    width = 1 + len(BASE_COLUMNS) + len(view.columns)
    out: list[str] = []
    current, index = None, -1
    for run in page.runs:
        if view.group:
            value = run.folder if view.group == "folder" else _scalar(run.metadata.get(view.group[9:]))
            if index < 0 or value != current:  # a new group (runs come ordered by group)
                current, index = value, index + 1
                n = counts.get(value)
                count = f"{n:,} run{'s' if n != 1 else ''}" if n is not None else "runs"
                out.append(f'<tr class="group-row" data-group="{index}"><td colspan="{width}">'
                           f'<button type="button" class="group-toggle" aria-expanded="true" '
                           f'data-group="{index}">\u25be</button> <span class="group-value">'
                           f'{_group_label(view.group, value)}</span> <span class="muted group-count">'
                           f'{count}</span></td></tr>')
        # html.escape for the short fields: charts.esc's clipping and XML clean-up cost ~5 us a
        # cell, a third of a 50-row page's rendering
        rid, name, status = html.escape(run.id), esc(run.name), html.escape(run.status)
        link = "/run/" + urllib.parse.quote(run.id, safe="")  # %-escaped: no HTML-special character left
        row = [f'<td><input type="checkbox" name="id" value="{rid}" aria-label="select {name}"></td>',
               f'<td><a href="{link}">{name}</a></td>',
               f'<td><span class="status status-{status}">{status}</span></td>',
               f"<td>{html.escape(run.run_type or run.kind)}</td>", f"<td>{esc(run.folder)}</td>",
               "<td>" + "".join(f'<span class="tag">{esc(t, 80)}</span>' for t in run.tags[:20]) + "</td>",
               f'<td class="num">{fmt_time(run.created)}</td>', f'<td class="num">{fmt_duration(run)}</td>']
        for col in view.columns:
            if col.startswith("metadata."):
                cls, text = _metadata_cell(run.metadata.get(col[9:]))
            else:
                name, _, stat = col[7:].rpartition(".")
                summary = cells.get(run.id, {}).get(name)
                value = getattr(summary, stat) if summary is not None else None
                cls, text = ("num", fmt_num(value)) if value is not None else ("num muted", "\u2013")
            row.append(f'<td class="{cls}">{text}</td>' if cls else f"<td>{text}</td>")
        group = f' data-group="{index}"' if view.group else ""
        out.append(f'<tr data-run-id="{rid}"{group}>' + "".join(row) + "</tr>")
    return out


def _page(store: Any, view: TableView) -> Any:
    """The view's page of runs; a page past the end shows the last one."""
    page = store.run_page(view.q or None, grammar=view.grammar, sort_by=[view.sort], group_by=view.group,
                          limit=view.per, offset=(view.page - 1) * view.per)
    last = max(1, math.ceil(page.total / view.per))
    if view.page > last:
        return attrs.evolve(view, page=last), None
    return view, page


def body(store: Any, view: TableView) -> tuple[int, str]:
    """``(status, body HTML)`` of the run table: 200, or 400 with the filter's error shown
    under the search box."""
    try:
        checked, page = _page(store, view)
        if page is None:  # asked past the end: the last page
            view = checked
            checked, page = _page(store, view)
        keys, metrics = store.run_columns(view.q or None, grammar=view.grammar, sample=CHOOSER_SAMPLE,
                                          cap=CHOOSER_CAP)
    except errors.FilterError as exc:
        return 400, (_nav(view) + _search_form(view) + f'<pre class="error" id="filter-error">{esc(str(exc), None)}</pre>')
    names = sorted({c[7:].rpartition(".")[0] for c in view.columns if c.startswith("metric.")})
    cells = store.metric_summaries([r.id for r in page.runs], names) if names and page.runs else {}
    rows = _rows(view, page, cells)
    heads = ['<th><input type="checkbox" id="select-all" aria-label="select every run of this page"></th>']
    heads += [_heading(view, label, field, field in ("created", "duration")) for label, field in BASE_COLUMNS]
    for col in view.columns:
        label = col[9:] if col.startswith("metadata.") else col[7:]
        heads.append(_heading(view, label, col, col.startswith("metric.")))
    out = [_nav(view), _search_form(view), _chooser(view, keys, metrics), _toolbar(view, page.total, len(page.runs), keys,
                                                                        page.grammar),
           f'<form method="get" action="/runs" id="compare-form" data-max="{MAX_COMPARE}">'
           f'<div class="scroll"><table class="grid run-list" id="runs" data-columns="{esc(json.dumps(view.columns), None)}">'
           f'<thead><tr>{"".join(heads)}</tr></thead><tbody>', *rows, "</tbody></table></div>"]
    if not page.runs:
        out.append('<p class="muted" id="empty">no runs to show</p>')
    else:
        out.append(f'<p class="compare"><button type="submit" id="compare">Compare checked runs</button> '
                   f'<span id="selected" class="muted">(up to {MAX_COMPARE})</span></p>')
    out.append("</form>")
    return 200, "\n".join(out)
