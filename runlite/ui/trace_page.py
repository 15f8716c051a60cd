"""The viewer's trace pages: a trace's span tree beside its waterfall, span details, the trace list.

- ``tree_data``: a trace (or a subtree) as compact JSON rows (``Store.span_tree``: one indexed
  range scan, no record built), what ``static/trace.js`` draws: a collapsible tree whose rows
  carry their waterfall bar, subtrees collapsed beyond a depth or a row budget.
- ``span_detail``: one span's inputs, outputs, chat messages, metadata, tags, tokens and cost,
  latency and time to first token, events, attachments (small images as ``data:`` URIs),
  feedback and error, every value bounded (``bounded``: long strings cut with their length).
- ``trace_body`` and ``list_body``: the bodies of ``/trace/<id>`` and ``/traces``.
- ``report_section``: the Traces section of run pages and file reports: the waterfall, a link
  to the trace page when served, and in a file the interactive tree with every span's details
  inline for small traces (no server needed).

Token totals follow ``storage/trace_reads.py``: llm spans' tokens summed (LangSmith's count),
other spans' only when no llm span has any; an llm span's usage is read from its outputs when
its token columns are empty.
"""

from __future__ import annotations

import base64
import datetime as _dt
import math
import urllib.parse
from typing import Any

from . import api, charts
from .charts import esc, fmt_num
from .. import errors

TREE_LIMIT = 20_000      # spans of one tree read (a bigger trace shows its first ones, noted)
PAGE_SIZE = 50           # traces per list page
MAX_PAGE = 10_000        # list pages (offset bound)
TEXT_MAX = 4_000         # characters of one string in span details
MESSAGE_MAX = 20_000     # characters of one chat message's text
ERROR_MAX = 50_000       # characters of an error / traceback
ITEMS_MAX = 200          # items of one list or keys of one object in span details
DEPTH_MAX = 20           # nesting kept in span details
EVENTS_MAX = 200
FEEDBACK_MAX = 100
IMAGE_MAX = 256 * 1024   # an image attachment larger than this is listed, not shown
IMAGE_BUDGET = 1024 * 1024
REPORT_TREE = 500        # a file report draws the interactive tree of traces up to this many spans
REPORT_DETAILS = 60      # ... and carries every span's details for traces up to this many
WATERFALL_SPANS = 300    # bars of the SVG waterfall of a run page or report
SORTS = {"start": "start", "latency": "latency", "tokens": "tokens", "cost": "cost"}
IMAGE_TYPES = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",),
               "image/gif": (b"GIF87a", b"GIF89a"), "image/webp": (b"RIFF",)}
FIELDS = ("id", "parent", "depth", "name", "type", "status", "start", "end", "error", "prompt", "completion",
          "tokens", "cost", "ttft")
CSS = """
.trace-head h2{margin:0 0 6px}.trace-facts{display:flex;flex-wrap:wrap;align-items:baseline;gap:2px 6px}
.trace-facts dd{margin:0 22px 0 0;font-weight:600}
.trace-view{display:grid;grid-template-columns:minmax(0,1fr) minmax(320px,42%);gap:12px;align-items:start}
.trace-rows{background:#fff;border:1px solid #e2e8f0;border-radius:8px;overflow:hidden;font-size:13px}
.span-row{display:grid;grid-template-columns:minmax(180px,44%) 150px minmax(80px,1fr);align-items:center;
border-bottom:1px solid #f1f5f9;min-height:26px;cursor:pointer}.span-row:hover{background:#f8fafc}
.span-row.selected{background:#eff6ff;box-shadow:inset 3px 0 #2563eb}.span-row:focus{outline:2px solid #93c5fd}
.span-name{display:flex;align-items:center;gap:4px;min-width:0;white-space:nowrap;overflow:hidden}
.span-name .label{overflow:hidden;text-overflow:ellipsis}.span-name .err-mark{color:#b91c1c;font-weight:700}
.toggle{font:inherit;font-size:11px;width:18px;height:18px;border:0;background:none;cursor:pointer;padding:0;
color:#475569;flex:none}.toggle.leaf{visibility:hidden}
.type{flex:none;font-size:10px;font-weight:700;border-radius:3px;padding:0 4px;background:#e2e8f0;color:#334155}
.type-llm{background:#ede9fe;color:#6d28d9}.type-chain{background:#dbeafe;color:#1d4ed8}
.type-tool{background:#fef3c7;color:#92400e}.type-retriever{background:#dcfce7;color:#15803d}
.type-embedding{background:#cffafe;color:#0e7490}.type-prompt,.type-parser{background:#fce7f3;color:#be185d}
.span-meta{font-size:12px;color:#475569;text-align:right;padding-right:8px;white-space:nowrap;overflow:hidden;
text-overflow:ellipsis;
font-variant-numeric:tabular-nums}.span-track{position:relative;height:14px;margin-right:8px}
.span-bar{position:absolute;top:2px;height:10px;border-radius:2px;background:#60a5fa;min-width:2px}
.span-bar.t-llm{background:#a78bfa}.span-bar.t-tool{background:#fbbf24}.span-bar.t-retriever{background:#4ade80}
.span-bar.failed{background:#f87171}.span-bar.running{background:repeating-linear-gradient(45deg,#93c5fd 0 4px,#dbeafe 4px 8px)}
.span-row.match .label{background:#fef08a}.trace-find{display:block;font-size:12px;color:#475569;margin:0 0 6px}
.trace-find input{font:inherit;padding:1px 6px;min-width:200px}.more-row{padding:3px 8px;font-size:12px}.more-row button{font:inherit;font-size:12px;cursor:pointer}
.span-detail{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:10px 14px;position:sticky;top:8px;
max-height:calc(100vh - 16px);overflow:auto;font-size:13px}.span-detail h3{margin-top:0}
.span-detail h4{font-size:13px;margin:12px 0 4px}
pre.traceback{background:#fef2f2;border:1px solid #fecaca;border-radius:6px;padding:6px 8px;overflow:auto;
max-height:360px;font-size:12px;margin:0}.tb-line{display:block;white-space:pre}
.chat{display:flex;flex-direction:column;gap:6px}.msg{border-radius:8px;padding:6px 10px;background:#f1f5f9;
white-space:pre-wrap;overflow-wrap:anywhere}.msg .role{display:block;font-size:11px;font-weight:700;
text-transform:uppercase;color:#64748b}.msg.role-user,.msg.role-human{background:#eff6ff}
.msg.role-assistant,.msg.role-ai{background:#f0fdf4}.msg.role-system{background:#fefce8}
.msg.role-tool,.msg.role-function{background:#faf5ff}.chat-out{border-top:1px dashed #cbd5e1;padding-top:6px}
.json{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;overflow-wrap:anywhere}
.json details{margin-left:12px}.json summary{color:#475569}.json .leaf{margin-left:12px}
.json .k{color:#7c3aed}.json .s{color:#047857;white-space:pre-wrap}.json .n{color:#1d4ed8}.json .z{color:#64748b}
table.trace-list td{white-space:nowrap}table.trace-list td.name{white-space:normal}
.pager{display:flex;gap:12px;align-items:center;margin:8px 0}.fb{font-size:12px;margin-right:6px}
@media (max-width:900px){.trace-view{grid-template-columns:1fr}.span-detail{position:static;max-height:none}}
"""


# ---------------------------------------------------------------- data


def _ms(us: int | None, base: int) -> float | None:
    return None if us is None else round((us - base) / 1000, 3)


def _rollup(rows: list[tuple], index: int) -> Any:
    """A column summed as a trace counts it: llm spans' values, else (none has one) every span's."""
    llm = [r[index] for r in rows if r[3] == "llm" and r[index] is not None]
    every = llm or [r[index] for r in rows if r[index] is not None]
    return sum(every) if every else None


def tree_data(store: Any, run: Any, *, limit: int = TREE_LIMIT) -> dict:
    """The compact tree under a run (id or name) for ``trace.js``: ``spans`` are rows of
    ``FIELDS`` (``parent`` the parent's row index, -1 for the top; ``start``/``end``/``ttft`` in
    ms from ``start_ms``), at most ``limit`` of ``count``; ``totals`` of the whole subtree."""
    rows, count = store.span_tree(run, limit=limit)
    root = rows[0]
    base = root[6]
    index = {row[0]: i for i, row in enumerate(rows)}
    last = max((t for row in rows for t in (row[6], row[7]) if t is not None), default=base)
    spans = []
    for rid, parent, name, run_type, kind, status, started, ended, error, depth, prompt, completion, total, cost, \
            first in rows:
        spans.append([rid, index.get(parent, -1), depth, name, run_type or kind, status, _ms(started, base),
                      _ms(ended, base), 0 if error is None else 1, prompt, completion, total,
                      None if cost is None or not math.isfinite(cost) else cost,
                      None if first is None or started is None else round((first - started) / 1000, 3)])
    if root[1] is None and count > len(rows):  # a truncated trace: its totals from SQL, over every span
        found = store.trace_totals([root[0]]).get(root[0], {})
        totals = {k: found.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens", "total_cost")}
        totals["errors"] = found.get("errors", 0)
    else:
        totals = {"prompt_tokens": _rollup(rows, 10), "completion_tokens": _rollup(rows, 11),
                  "total_tokens": _rollup(rows, 12), "total_cost": _rollup(rows, 13),
                  "errors": sum(1 for row in rows if row[8] is not None)}
    totals = {key: bounded(value) for key, value in totals.items()}  # strict JSON: no inf or NaN
    totals["spans"] = count
    totals["latency"] = None if root[7] is None else round((root[7] - root[6]) / 1e6, 6)
    return {"root": root[0], "name": root[2], "status": root[5], "count": count, "shown": len(spans),
            "start_ms": base / 1000, "span_ms": max(0.001, (last - base) / 1000), "fields": list(FIELDS),
            "spans": spans, "totals": totals}


def bounded(value: Any, limit: int = TEXT_MAX, depth: int = 0) -> Any:
    """A JSON value cut to size: strings past ``limit`` characters end with a note of their
    length, lists and objects keep ``ITEMS_MAX`` items (a note says how many more), nesting
    stops at ``DEPTH_MAX``; non-finite numbers become text (JSON has none)."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + f"\u2026 [cut: {len(value):,} characters]"
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= DEPTH_MAX:
        return "\u2026 [nested deeper]"
    if isinstance(value, dict):
        items = list(value.items())
        out = {str(k)[:200]: bounded(v, limit, depth + 1) for k, v in items[:ITEMS_MAX]}
        if len(items) > ITEMS_MAX:
            out["\u2026"] = f"{len(items) - ITEMS_MAX:,} more keys"
        return out
    if isinstance(value, (list, tuple)):
        out = [bounded(v, limit, depth + 1) for v in value[:ITEMS_MAX]]
        if len(value) > ITEMS_MAX:
            out.append(f"\u2026 {len(value) - ITEMS_MAX:,} more items")
        return out
    return bounded(str(value), limit, depth)


def _text(content: Any) -> str:
    """A message's content as text: OpenAI/Anthropic content parts joined, others as JSON-ish."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content[:ITEMS_MAX]:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, dict):
                parts.append(f"[{str(part.get('type', 'part'))[:40]}]")
        return "\n".join(parts)
    return "" if content is None else api.to_json(bounded(content, 500))


ROLES = {"human": "user", "humanmessage": "user", "ai": "assistant", "aimessage": "assistant",
         "systemmessage": "system", "toolmessage": "tool", "functionmessage": "function",
         "aimessagechunk": "assistant"}


def _message(m: Any) -> dict | None:
    """One chat message (OpenAI ``{role, content}``, LangChain serialized or ``{type, data}``) as
    ``{role, content, name?, tool_calls?}``, or None when it is not one."""
    if not isinstance(m, dict):
        return None
    if m.get("lc") == 1 and isinstance(m.get("kwargs"), dict):  # LangChain's serialized message
        ident = m.get("id")
        kind = ident[-1] if isinstance(ident, list) and ident and isinstance(ident[-1], str) else ""
        m = {**m["kwargs"], "role": m["kwargs"].get("role") or m["kwargs"].get("type") or kind}
    elif "role" not in m and isinstance(m.get("data"), dict) and "type" in m:
        m = {**m["data"], "role": m["type"]}
    role = m.get("role", m.get("type"))
    if not isinstance(role, str) or not ("content" in m or "tool_calls" in m):
        return None
    out = {"role": ROLES.get(role.lower(), role.lower())[:40], "content": bounded(_text(m.get("content")), MESSAGE_MAX)}
    if isinstance(m.get("name"), str):
        out["name"] = m["name"][:200]
    more = m.get("additional_kwargs")
    calls = m.get("tool_calls") or (more.get("tool_calls") if isinstance(more, dict) else None)
    if isinstance(calls, list) and calls:
        out["tool_calls"] = bounded(calls, TEXT_MAX)
    return out


def _messages(items: Any) -> list[dict]:
    if isinstance(items, list) and len(items) == 1 and isinstance(items[0], list):  # LangChain: a batch of one
        items = items[0]
    if not isinstance(items, list):
        return []
    found = [_message(m) for m in items[:ITEMS_MAX]]
    return [m for m in found if m is not None] if any(found) else []


def conversation(inputs: Any, outputs: Any) -> dict | None:
    """The chat messages of a span: ``{"input": [...], "output": [...]}`` from ``inputs.messages``
    and from outputs as OpenAI (``choices[].message``), LangChain (``generations``) or a bare
    message give them; None when neither side has any."""
    got_in = _messages(inputs.get("messages")) if isinstance(inputs, dict) else _messages(inputs)
    got_out: list = []
    if isinstance(outputs, dict):
        if isinstance(outputs.get("choices"), list):
            got_out = _messages([c.get("message") for c in outputs["choices"] if isinstance(c, dict)])
        elif isinstance(outputs.get("generations"), list):
            gens = outputs["generations"]
            gens = gens[0] if gens and isinstance(gens[0], list) else gens
            for g in gens[:ITEMS_MAX] if isinstance(gens, list) else ():
                if isinstance(g, dict):
                    m = _message(g.get("message")) if g.get("message") else None
                    if m is None and isinstance(g.get("text"), str):
                        m = {"role": "assistant", "content": bounded(g["text"], MESSAGE_MAX)}
                    if m is not None:
                        got_out.append(m)
        elif isinstance(outputs.get("messages"), list):
            got_out = _messages(outputs["messages"])
        elif isinstance(outputs.get("message"), dict):
            got_out = _messages([outputs["message"]])
        else:
            got_out = _messages([outputs])
    if not got_in and not got_out:
        return None
    return {"input": got_in, "output": got_out}


def _iso(value: _dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _image(store: Any, run_id: str, item: Any, budget: list) -> str | None:
    """A ``data:`` URI of a small raster image attachment whose bytes match its type."""
    magic = IMAGE_TYPES.get(item.mime_type)
    if magic is None or item.size > IMAGE_MAX or item.size > budget[0]:
        return None
    data = store.read_attachment(run_id, item.name, max_size=IMAGE_MAX)
    if not data.startswith(magic) or (item.mime_type == "image/webp" and data[8:12] != b"WEBP"):
        return None
    budget[0] -= len(data)
    return f"data:{item.mime_type};base64," + base64.b64encode(data).decode("ascii")


def span_detail(store: Any, span_id: str) -> dict:
    """One span's details, every value bounded (see the module's docstring)."""
    rec = store.read_run(span_id)
    own = store.span_tree(rec.id, limit=1)[0][0]  # the same token reading as the tree's
    first = rec.first_token_time
    events = list(rec.events)
    if first is None:
        for event in events:
            if isinstance(event, dict) and event.get("name") == "new_token" and isinstance(event.get("time"), str):
                try:
                    first = _dt.datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
                except ValueError:
                    continue
                if first.tzinfo is None:  # runlite writes UTC; an imported naive time is taken as UTC
                    first = first.replace(tzinfo=_dt.timezone.utc)
                break
    start, end = rec.start_time, rec.ended
    budget = [IMAGE_BUDGET]
    attachments = [{"name": a.name[:300], "mime_type": a.mime_type[:100], "size": a.size,
                    "data_uri": _image(store, rec.id, a, budget)} for a in store.attachments(rec.id)[:ITEMS_MAX]]
    feedback = [{"key": f["key"][:200], "score": bounded(f["score"]), "value": bounded(f["value"], 500),
                 "comment": bounded(f["comment"], 1000),
                 "source": (f["feedback_source"] or {}).get("type") if isinstance(f["feedback_source"], dict) else None,
                 "created": _iso(f["created_at"])} for f in store.feedback(rec.id)[:FEEDBACK_MAX]]
    error = rec.error
    return {
        "id": rec.id, "name": rec.name, "run_type": rec.run_type or rec.kind, "status": rec.status,
        "trace_id": rec.trace_id, "parent_run_id": rec.parent_run_id,
        "start_time": _iso(start), "end_time": _iso(end),
        "latency": None if start is None or end is None else (end - start).total_seconds(),
        "first_token_time": _iso(first),
        "time_to_first_token": None if first is None or start is None else (first - start).total_seconds(),
        "prompt_tokens": own[10], "completion_tokens": own[11], "total_tokens": own[12],
        "prompt_cost": bounded(rec.prompt_cost), "completion_cost": bounded(rec.completion_cost),
        "total_cost": bounded(own[13]),
        "inputs": bounded(rec.inputs), "outputs": bounded(rec.outputs),
        "messages": conversation(rec.inputs, rec.outputs),
        "metadata": bounded(rec.metadata), "tags": bounded(list(rec.tags)),
        "events": bounded(events[:EVENTS_MAX]), "events_total": len(events),
        "attachments": attachments, "feedback": feedback,
        "error": None if error is None else bounded(error, ERROR_MAX),
        "error_lines": None if error is None else bounded(error, ERROR_MAX).splitlines(),
    }


# ---------------------------------------------------------------- HTML


def _duration(seconds: Any) -> str:
    if seconds is None or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return "\u2013"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def _cost(value: Any) -> str:
    return "\u2013" if value is None else f"${value:,.4f}" if value < 100 else f"${value:,.2f}"


def _tokens(totals: dict) -> str:
    total = totals.get("total_tokens")
    if total is None:
        return "\u2013"
    parts = [f"{p:,} {w}" for p, w in ((totals.get("prompt_tokens"), "in"), (totals.get("completion_tokens"), "out"))
             if p is not None]
    return f"{total:,}" + (f' <span class="muted small">({", ".join(parts)})</span>' if parts else "")


def _link(path: str, ref: str) -> str:
    return esc(path + urllib.parse.quote(ref, safe=""), None)


def trace_view(data: dict, details: dict | None = None, select: str | None = None) -> str:
    """The tree-and-detail block ``trace.js`` fills from the inline tree JSON (``details``: every
    span's details, for a page with no server)."""
    extra = api.inline_json(details, "trace-span-data") if details is not None else ""
    chosen = f' data-select="{esc(select, None)}"' if select else ""
    note = ""
    if data["count"] > data["shown"]:
        note = (f'<p class="note">the first {data["shown"]:,} of {data["count"]:,} spans (in execution order) '
                "are in the tree</p>")
    return (f'<div class="trace-view" data-root="{esc(data["root"], None)}"{chosen}>'
            '<div class="trace-left"><label class="trace-find">find span <input type="search" '
            'aria-label="find spans by name" placeholder="name"> <output></output></label>'
            '<div class="trace-rows" role="tree" aria-label="spans"></div></div>'
            '<aside class="span-detail" aria-live="polite"><p class="muted">Click a span to see its inputs, '
            f'outputs and details.</p></aside>{api.inline_json(data, "trace-tree-data")}{extra}</div>{note}')


def _facts(data: dict) -> str:
    t = data["totals"]
    facts = [("spans", f'{t["spans"]:,}'), ("tokens", _tokens(t)), ("cost", _cost(t["total_cost"])),
             ("errors", f'<span class="{"err" if t["errors"] else ""}">{t["errors"]:,}</span>'),
             ("latency", _duration(t["latency"])),
             ("started", esc(_dt.datetime.fromtimestamp(data["start_ms"] / 1000, _dt.timezone.utc)
                             .strftime("%Y-%m-%d %H:%M:%S UTC")))]
    return ('<dl class="facts trace-facts">' + "".join(f'<dt>{k}</dt><dd data-fact="{k}">{v}</dd>' for k, v in facts)
            + "</dl>")


def trace_body(store: Any, ref: str) -> tuple[str, str]:
    """``(title, body)`` of ``/trace/<ref>``: the trace holding run ``ref`` (that span selected
    when it is not the root)."""
    rec = store.get_run(ref)
    root_id = rec.trace_id if rec.parent_run_id else rec.id
    data = tree_data(store, root_id)
    head = (f'<p class="nav"><a href="/traces">all traces</a> \u00b7 <a href="{_link("/run/", root_id)}">run page</a>'
            f' \u00b7 <a href="{_link("/api/trace/", root_id)}">tree JSON</a></p>'
            f'<section class="card trace-head"><h2>{esc(data["name"], 300)} <span class="status status-'
            f'{esc(data["status"], 20)}">{esc(data["status"], 20)}</span></h2>{_facts(data)}</section>')
    body = f"<style>{CSS}</style>{head}{trace_view(data, select=rec.id if rec.id != root_id else None)}"
    return data["name"], body


def _feedback_cell(stats: Any) -> str:
    if not isinstance(stats, dict):
        return ""
    out = []
    for key, s in list(stats.items())[:8]:
        avg = s.get("avg") if isinstance(s, dict) else None
        out.append(f'<span class="fb"><span class="tag">{esc(key, 40)}</span>'
                   f'{fmt_num(avg) if avg is not None else ""} <span class="muted">n={fmt_num(s.get("n") if isinstance(s, dict) else None)}</span></span>')
    return "".join(out)


def mark_errors(count: int, failed: bool) -> str:
    """The list's error cell: the trace's failed spans (the root's own error counts)."""
    return f"{max(count, 1):,} \u2716" if failed else ""


def list_body(store: Any, text: str, order: str, descending: bool, page: int) -> tuple[str, str]:
    """``(problem, body)`` of ``/traces``: one page of root runs (``PAGE_SIZE``) matching the
    LangSmith filter ``text``; ``problem`` is the filter's error (then no table)."""
    def href(**change: Any) -> str:
        params = {"q": text, "sort": order, "dir": "desc" if descending else "asc", "page": page, **change}
        return esc("/traces?" + urllib.parse.urlencode({k: v for k, v in params.items() if v not in ("", None)}), None)

    form = ('<form class="search" method="get" action="/traces" role="search">'
            f'<input type="search" name="q" id="q" size="70" maxlength="4096" value="{esc(text, None)}" '
            "aria-label=\"LangSmith filter\" placeholder='and(eq(status, \"error\"), gt(latency, 2))'>"
            f'<input type="hidden" name="sort" value="{esc(order, 20)}">'
            f'<input type="hidden" name="dir" value="{"desc" if descending else "asc"}">'
            '<button type="submit">Filter</button></form>')
    try:
        records = store.trace_page(filter=text or None, order=order, descending=descending, limit=PAGE_SIZE + 1,
                                   offset=(page - 1) * PAGE_SIZE)
    except errors.FilterError as exc:
        return str(exc), f'<style>{CSS}</style>{form}<pre class="error" id="filter-error">{esc(exc, 2000)}</pre>'
    more, records = len(records) > PAGE_SIZE, records[:PAGE_SIZE]
    totals = store.trace_totals([r.trace_id for r in records])
    # The feedback stats alone: a record's first use of what other tables hold reads all of it
    # for its listing (so the records outlive the store), every span id of each trace among it.
    feedback = {r.id: r.feedback_stats for r in store.list_runs(run_ids=[r.id for r in records],
                                                                   select=["feedback_stats"])} if records else {}
    heads = []
    for label, key in (("start", "start"), ("latency", "latency"), ("tokens", "tokens"), ("cost", "cost")):
        mark = (" \u25bc" if descending else " \u25b2") if key == order else ""
        flip = not descending if key == order else True
        heads.append(f'<th class="num"><a href="{href(sort=key, dir="desc" if flip else "asc", page=1)}" '
                     f'data-sort="{key}">{label}{mark}</a></th>')
    rows = []
    for rec in records:
        t = totals.get(rec.trace_id, {})
        latency = (rec.ended - rec.start_time).total_seconds() if rec.ended and rec.start_time else None
        failed = bool(rec.error) or t.get("errors", 0) > 0
        rows.append(
            f'<tr data-trace="{esc(rec.id, None)}"><td class="name"><a href="{_link("/trace/", rec.id)}">'
            f'{esc(rec.name, 200)}</a></td>'
            f'<td class="num small">{esc(rec.start_time.strftime("%Y-%m-%d %H:%M:%S") if rec.start_time else "")}</td>'
            f'<td class="num">{_duration(latency)}</td><td class="num">{fmt_num(t.get("total_tokens"))}</td>'
            f'<td class="num">{_cost(t.get("total_cost"))}</td><td class="num">{fmt_num(t.get("spans"))}</td>'
            f'<td><span class="status status-{esc(rec.status, 20)}">{esc(rec.status, 20)}</span></td>'
            f'<td class="{"err" if failed else ""}">{mark_errors(t.get("errors", 0), failed)}</td>'
            f"<td>{_feedback_cell(feedback.get(rec.id))}</td></tr>")
    first = (page - 1) * PAGE_SIZE
    count = (f'<p class="count" id="count">traces {first + 1:,}\u2013{first + len(records):,}'
             f'{" (more on the next page)" if more else ""}</p>' if records else
             '<p class="count" id="count">no traces on this page</p>')
    pager = ['<nav class="pager">']
    if page > 1:
        pager.append(f'<a href="{href(page=page - 1)}" rel="prev">\u2190 newer page</a>' if order == "start" and
                     descending else f'<a href="{href(page=page - 1)}" rel="prev">\u2190 previous page</a>')
    pager.append(f"<span>page {page:,}</span>")
    if more:
        pager.append(f'<a href="{href(page=page + 1)}" rel="next">next page \u2192</a>')
    pager.append("</nav>")
    table = ('<table class="grid trace-list" id="traces"><thead><tr><th>name</th>' + heads[0] + heads[1] + heads[2]
             + heads[3] + '<th class="num">spans</th><th>status</th><th>errors</th><th>feedback (avg)</th></tr></thead>'
             f'<tbody>{"".join(rows)}</tbody></table>')
    return "", f'<style>{CSS}</style>{form}{count}{table}{"".join(pager)}'


def report_section(store: Any, records: list, labels: dict, *, served: bool) -> str:
    """The Traces section of run pages and file reports (see the module's docstring)."""
    out = []
    for index, rec in enumerate(records):
        if not rec.child_run_ids and rec.kind != "trace":
            continue
        data = tree_data(store, rec.id, limit=max(REPORT_TREE, WATERFALL_SPANS) + 1)
        errors_of = {row[0]: row[8] for row in store.span_tree(rec.id, limit=WATERFALL_SPANS)[0]}
        rows = data["spans"][:WATERFALL_SPANS]
        base = data["start_ms"] / 1000
        bars = [charts.Bar(label=r[3], depth=r[2], start=base + r[6] / 1000,
                           end=None if r[7] is None else base + r[7] / 1000, kind=r[4] or "",
                           error=errors_of.get(r[0]), tokens=r[11], key=r[0]) for r in rows]
        t = data["totals"]
        note = (f'<p class="note">the first {WATERFALL_SPANS} of {data["count"]:,} spans are drawn</p>'
                if data["count"] > WATERFALL_SPANS else "")
        link, tree = "", ""
        if served:
            link = f' <a class="small" href="{_link("/trace/", rec.id)}">open the trace (span tree and details)</a>'
        elif data["count"] <= REPORT_TREE:
            details = ({r[0]: span_detail(store, r[0]) for r in data["spans"]}
                       if data["count"] <= REPORT_DETAILS else None)
            tree = f"<style>{CSS}</style>{trace_view(data, details)}"
        out.append(f'<section class="card trace"><h3><span class="swatch c{index % len(charts.PALETTE)}"></span>'
                   f'{esc(labels[rec.id], 120)}{link}</h3>'
                   f'<p class="muted small">{data["count"]:,} spans \u00b7 {t["total_tokens"] or 0:,} tokens \u00b7 '
                   f'<span class="{"err" if t["errors"] else ""}">{t["errors"]} with errors</span></p>'
                   f"{charts.waterfall_svg(bars)}{note}{tree}</section>")
    return ("<h2>Traces</h2>" + "".join(out)) if out else ""
