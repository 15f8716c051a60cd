"""LangSmith's v2 run routes, as the SDKs' generated ``runs`` resource calls them (the sync
``langsmith.Langsmith().runs``; ``Client().runs`` and ``AsyncClient().runs``, both async):

- ``POST /api/v2/runs/query`` (``query_v2``, alias ``query``): a page of runs newest first and
  ``next_cursor``, which the SDK's paginator sends back for the next page. With ``Accept:
  text/event-stream`` (``runs.streaming.query_v2``, ``query_v2_items``) the same page comes as
  one JSON Patch event of the whole page.
- ``GET /api/v2/runs/{run_id}`` (``retrieve_v2``, alias ``retrieve``): one run of a project.
- ``GET /api/v2/runs/{run_id}/url`` (``get_url``): the run's page in this server's viewer.

A query is answered by the one listing path, ``Store.list_runs`` and its LangSmith filter
language: ``filter``, ``trace_filter`` and ``tree_filter`` are passed on as they are, and what
v2 asks beside them (``ids``, ``reference_examples``, the upper time bound) is added to the
filter as text of that language, from values checked first (UUIDs, times this module writes).
As LangSmith does, ``min_start_time`` defaults to a day before the first page and
``max_start_time`` to the first page's time; the cursor carries that time, so the pages of one
query keep one window while runs are written.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from .. import errors
from .._validation import LATEST_US, digits, from_us, now_us, shown, to_us
from ..query import parse_langsmith
from .http import body, error_response, json_value
from .reads import PageEnd, page_cursor, page_end, read_fresh
from .run_v2 import check_selects, record_fields, run_v2

PAGE, MAX_PAGE = 100, 1000  # LangSmith's default and largest page_size
DAY_US = 86_400 * 10**6
MAX_IDS = 10_000  # as Store.list_runs takes at most
RUN_TYPES = ("TOOL", "CHAIN", "LLM", "RETRIEVER", "EMBEDDING", "PROMPT", "PARSER")

# The body of a query: each field LangSmith's RunQueryV2Params has, by the JSON type it takes.
_TEXT = ("filter", "trace_filter", "tree_filter", "cursor", "run_type", "trace_id", "reference_dataset_id",
         "ai_search", "sem_filter")
_FLAGS = ("has_error", "is_root", "include_subtree_usage")
_LISTS = ("ids", "project_ids", "reference_examples", "selects")
_TIMES = ("min_start_time", "max_start_time", "min_feedback_modified_at", "max_feedback_modified_at")
_KNOWN = frozenset((*_TEXT, *_FLAGS, *_LISTS, *_TIMES, "page_size"))
# What LangSmith's API has and runlite does not do: answered 501 (the request is valid, the
# server does not implement it), not ignored, which would answer runs the request excludes.
_UNSERVED = {
    "ai_search": "natural-language search (ai_search)", "sem_filter": "semantic filters (sem_filter)",
    "include_subtree_usage": "subtree usage totals (include_subtree_usage)",
    "min_feedback_modified_at": "feedback time bounds (min_feedback_modified_at)",
    "max_feedback_modified_at": "feedback time bounds (max_feedback_modified_at)",
}


def _uuid(value: Any, what: str) -> str:
    """``value`` as a canonical UUID string; ValidationError when it is not one."""
    if value is None:
        raise errors.ValidationError(f"{what} is required (a UUID)")
    try:
        if isinstance(value, str) and len(value) <= 64:
            return str(uuid.UUID(value))
    except ValueError:
        pass
    raise errors.ValidationError(f"{what} must be a UUID, got {shown(value)}")


def _uuids(value: list, what: str) -> list[str]:
    if len(value) > MAX_IDS:
        raise errors.LimitError(f"{what} lists {len(value):,} ids; at most {MAX_IDS:,} are taken")
    return [_uuid(v, what) for v in value]


def _checked(query: Any) -> dict:
    """The body's fields with a value (JSON null is left out, as the SDK leaves out what is
    not given), each of its type; ValidationError for an unknown field or a wrong type."""
    if not isinstance(query, dict):
        raise errors.ValidationError(f"a run query must be a JSON object, got {shown(query)}")
    unknown = sorted(set(query) - _KNOWN)
    if unknown:
        raise errors.ValidationError(f"unknown run query fields {shown(unknown)}; known are {sorted(_KNOWN)}")
    out = {k: v for k, v in query.items() if v is not None}
    for key, value in out.items():
        wrong = ((key in _TEXT or key in _TIMES) and not isinstance(value, str)
                 or key in _FLAGS and not isinstance(value, bool)
                 or key in _LISTS and not isinstance(value, list)
                 or key == "page_size" and (isinstance(value, bool) or not isinstance(value, int)))
        if wrong:
            kind = ("a string" if key in _TEXT else "an RFC 3339 time" if key in _TIMES else "true or false"
                    if key in _FLAGS else "a list" if key in _LISTS else "an int")
            raise errors.ValidationError(f"{key} must be {kind}, got {shown(value)}")
    return out


def unserved(query: dict) -> str | None:
    """What of a (checked) query runlite does not do, if anything."""
    asked = [what for key, what in _UNSERVED.items() if query.get(key) not in (None, False)]
    return f"runlite serve does not do {' or '.join(asked)}" if asked else None


def encode_cursor(last: Any, now: int) -> str:
    """The cursor of the page after ``last`` (a page's last run) of a query first asked at ``now``."""
    return f"{now}.{page_cursor(last)}"


def decode_cursor(cursor: str | None) -> tuple[PageEnd | None, int | None]:
    """``(where the page before ended, the first page's time)`` of a cursor this server gave;
    ``(None, None)`` for none."""
    if cursor is None:
        return None, None
    now, _, end = cursor.partition(".")
    now = digits(now, 18)
    if now is None or not DAY_US <= now <= LATEST_US:  # a time this server could give
        raise errors.ValidationError(f"cursor {shown(cursor)} is not one this server gave: pass back a "
                                     "response's next_cursor unchanged")
    return page_end(end), now


def _filter(query: dict, max_us: int) -> str:
    """The filter the query asks beyond its plain arguments, in the filter language: its own
    ``filter``, and its ``ids``, ``reference_examples`` and upper time bound."""
    given = query.get("filter")
    parts = [] if given is None else [given]
    if given is not None:
        parse_langsmith(given)  # alone, so that a mistake is shown where it is in the client's text
    for key, field in (("ids", "id"), ("reference_examples", "reference_example_id")):
        if query.get(key):  # an empty list limits nothing, as one not given
            parts.append(f"in({field}, [{', '.join(json.dumps(v) for v in _uuids(query[key], key))}])")
    parts.append(f'lte(start_time, "{from_us(max_us).isoformat()}")')
    return parts[0] if len(parts) == 1 else f"and({', '.join(parts)})"


def list_args(query: dict, now: int) -> dict:
    """``Store.list_runs`` arguments of a checked query (no cursor, no page), ``now`` being
    when its first page was asked."""
    projects, dataset = query.get("project_ids"), query.get("reference_dataset_id")
    if bool(projects) == (dataset is not None):
        raise errors.ValidationError("give project_ids (the projects' UUIDs, as GET /sessions lists them) "
                                     "or reference_dataset_id: one of them")
    if dataset is not None:
        raise errors.NotFoundError(f"no dataset {shown(_uuid(dataset, 'reference_dataset_id'))}: "
                                   "a runlite file holds no datasets")
    bounds = [to_us(query[k], k) if k in query else None for k in ("min_start_time", "max_start_time")]
    min_us = now - DAY_US if bounds[0] is None else bounds[0]
    max_us = now if bounds[1] is None else bounds[1]
    if min_us > max_us:
        raise errors.ValidationError(f"min_start_time {from_us(min_us).isoformat()} is after "
                                     f"max_start_time {from_us(max_us).isoformat()}")
    run_type = query.get("run_type")
    if run_type is not None and run_type.upper() not in RUN_TYPES:
        raise errors.ValidationError(f"run_type must be one of {', '.join(RUN_TYPES)}, got {shown(run_type)}")
    return {
        "project_id": _uuids(projects, "project_ids"), "filter": _filter(query, max_us),
        "trace_filter": query.get("trace_filter"), "tree_filter": query.get("tree_filter"),
        "run_type": None if run_type is None else run_type.lower(), "is_root": query.get("is_root"),
        "error": query.get("has_error"), "start_time": from_us(min_us),
        "trace_id": _uuid(query["trace_id"], "trace_id") if "trace_id" in query else None,
    }


def query_page(store, query: dict, base_url: str, api_key: str | None) -> dict:
    """``POST /api/v2/runs/query``: ``{"items": [...], "next_cursor": ...}`` of a checked query."""
    after, now = decode_cursor(query.get("cursor"))
    now = now_us() if now is None else now
    size = query.get("page_size", PAGE)
    if not 1 <= size <= MAX_PAGE:
        raise errors.ValidationError(f"page_size must be from 1 to {MAX_PAGE}, got {size}")
    selects = check_selects(query.get("selects"))
    runs = store.list_runs(**list_args(query, now), select=[*record_fields(selects), "start_time"],  # a page's end
                           limit=size + 1, after=after)
    return {"items": [run_v2(r, selects, base_url, api_key) for r in runs[:size]],
            "next_cursor": encode_cursor(runs[size - 1], now) if len(runs) > size else None}


def _base(request) -> str:
    return str(request.base_url).rstrip("/")


def _json(value: Any):
    from starlette.responses import JSONResponse

    return JSONResponse(value)


async def post_query(request, store, max_body):
    query = _checked(json_value(await body(request, max_body)))
    refused = unserved(query)
    if refused:
        return error_response(501, refused)
    page = await read_fresh(store, query_page, store, query, _base(request), request.app.state.api_key)
    if "text/event-stream" not in request.headers.get("accept", ""):
        return _json(page)
    from starlette.responses import Response

    # the whole page as one JSON Patch of the root document, then the end of the stream
    patch = json.dumps([{"op": "add", "path": "", "value": page}])
    return Response(f"event: data\ndata: {patch}\n\nevent: end\ndata: {{}}\n\n", media_type="text/event-stream")


def _params(request, known: tuple[str, ...]) -> None:
    """Refuse a query parameter a route does not take (``api_key`` is the server's own)."""
    unknown = sorted(set(request.query_params) - {*known, "api_key"})
    if unknown:
        raise errors.ValidationError(f"unknown query parameters {shown(unknown)}; known are {list(known)}")


def _run_of(store, run_id: str, project_id: str, trace_id: str | None = None):
    """The run ``run_id`` of that project (and trace); NotFoundError when it is not there."""
    record = store.read_run(run_id)
    if record.session_id != project_id or trace_id is not None and record.trace_id != trace_id:
        raise errors.NotFoundError(f"no run {run_id} in project {project_id}"
                                   + ("" if trace_id is None else f" and trace {trace_id}"))
    return record


def _common(request) -> tuple[str, str]:
    """The run id and project id of a request about one run (its start time checked, unused:
    the id finds the run at once)."""
    params = request.query_params
    start = params.get("start_time")
    if start is not None:
        to_us(start, "start_time")
    return _uuid(request.path_params["run_id"], "run_id"), _uuid(params.get("project_id"), "project_id")


async def retrieve(request, store, max_body):
    _params(request, ("project_id", "selects", "start_time"))
    run_id, project_id = _common(request)
    selects = check_selects(request.query_params.getlist("selects") or None)
    base, key = _base(request), request.app.state.api_key
    return _json(await read_fresh(store, lambda: run_v2(_run_of(store, run_id, project_id), selects, base, key)))


async def get_url(request, store, max_body):
    """The run's page in the viewer: its trace, the run selected."""
    _params(request, ("project_id", "trace_id", "start_time"))
    run_id, project_id = _common(request)
    trace_id = _uuid(request.query_params.get("trace_id"), "trace_id")
    await read_fresh(store, _run_of, store, run_id, project_id, trace_id)
    if not request.app.state.viewer:
        return error_response(501, "this runlite serve serves no viewer pages, so a run has no URL here")
    return _json({"url": f"{_base(request)}/trace/{run_id}"})


ROUTES = (
    ("/api/v2/runs/query", ["POST"], post_query),
    ("/api/v2/runs/{run_id}", ["GET"], retrieve),
    ("/api/v2/runs/{run_id}/url", ["GET"], get_url),
)
