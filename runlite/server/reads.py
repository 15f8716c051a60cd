"""LangSmith's read routes, as its SDKs' ``Client`` calls them: ``/info``, one run, the run
query (``Client.list_runs``, cursor paginated), projects (``/sessions``) and feedback.

Runs are ``RunRecord.to_dict()`` with times as ISO-8601 text, the form LangSmith answers in.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import urllib.parse
import uuid
from typing import Any, NamedTuple

from .. import __version__, errors
from .._ids import is_uuid
from .._validation import LATEST_US, digits, from_us, shown, to_us
from ..query import parse_langsmith
from .http import body, in_thread, json_value

PAGE = 100  # runs a query answers at once; the SDK follows the cursor for more
TENANT = "00000000-0000-0000-0000-000000000000"  # one file, one tenant


def _json(value: Any, status: int = 200):
    from starlette.responses import JSONResponse

    return JSONResponse(value, status_code=status)


async def read_fresh(store, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` in a worker thread, after the runs acknowledged so far are
    written: clients read their own writes."""
    def fresh():
        store.flush()
        return fn(*args, **kwargs)
    return await in_thread(fresh)


def run_json(record, base_url: str, api_key: str | None) -> dict:
    """A run as LangSmith's API answers it: times as ISO-8601 text, and attachments as
    ``s3_urls`` with a URL each that fetches the content (signed when the server has a key,
    since the SDK fetches it without one)."""
    data = record.to_dict(child_runs=False)
    if data.get("run_type") is None:  # an update whose create has not come, or a run of another
        data["run_type"] = "chain"    # kind (an experiment's): the SDK's Run needs one
    # to_dict's epoch milliseconds, as text from the record's own times (not made again from them)
    for key, value in (("start_time", record.start_time), ("end_time", record.ended),
                       ("first_token_time", record.first_token_time)):
        data[key] = None if value is None else value.isoformat()
    data.pop("child_runs", None)
    files = data.pop("attachments")
    data["s3_urls"] = {f"attachment.{name}": {"presigned_url": base_url + attachment_path(record.id, name, api_key),
                                              "mime_type": mime} for name, (mime, _size) in files.items()}
    return data


def attachment_path(run_id: str, name: str, api_key: str | None) -> str:
    """Where an attachment is served; with a key, signed for this run and name only."""
    path = f"/attachments/{run_id}/{urllib.parse.quote(name, safe='')}"
    return path if api_key is None else f"{path}?signature={signature(api_key, run_id, name)}"


def signature(api_key: str, run_id: str, name: str) -> str:
    return hmac.new(api_key.encode(), f"{run_id}/{name}".encode(), hashlib.sha256).hexdigest()


async def get_attachment(request, store, max_body):
    from starlette.responses import Response

    run_id, name = request.path_params["run_id"], request.path_params["name"]
    found = await read_fresh(store, store.attachment, run_id, name)  # NotFoundError when it has none
    data = await read_fresh(store, store.read_attachment, run_id, name)
    # Served as a download in a sandbox: content from a client never runs as this site's page.
    return Response(data, media_type=found.mime_type, headers={
        "Content-Disposition": "attachment", "Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"})


# The LangSmith API level runlite serves, as ``/info`` reports it: LangSmith's SDKs choose what
# to call by this version. At 0.16 the SDK's ``Client.runs`` (the v2 run reads served here) stops
# warning that the server is too old, and from 0.8.10 feedback naming its trace travels with the
# runs (a ``feedback.<id>`` part of /runs/multipart), which runlite stores. Resources of later
# levels that runlite does not serve (``Client.sessions``, 0.18) still get the SDK's warning.
# runlite's own version is ``runlite_version``.
LANGSMITH_API_LEVEL = "0.16.0"


def info(max_body: int) -> dict:
    """What ``GET /info`` answers: the API level and the batch settings LangSmith's SDKs size
    their uploads by."""
    return {
        "version": LANGSMITH_API_LEVEL,
        "runlite_version": __version__,
        "license_expiration_time": None,
        "batch_ingest_config": {
            "use_multipart_endpoint": True, "size_limit": 100, "size_limit_bytes": min(20 << 20, max_body),
            "scale_up_qsize_trigger": 1000, "scale_up_nthreads_limit": 16, "scale_down_nempty_trigger": 4,
        },
        "instance_flags": {"zstd_compression_enabled": True},
    }


async def get_info(request, store, max_body):
    return _json(info(max_body))


async def read_run(request, store, max_body):
    run_id = request.path_params["run_id"]
    record = await read_fresh(store, store.read_run, run_id)
    return _json(run_json(record, _base(request), request.app.state.api_key))


def _ids(value: Any, what: str) -> list[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise errors.ValidationError(f"{what} must be an id or a list of ids, got {shown(value)}")
    return items


def _offset(value: Any, what: str) -> int:
    if value is None:
        return 0
    offset = digits(value, 12)
    if offset is None:
        raise errors.ValidationError(f"{what} must be a whole number from 0 to 999,999,999,999, got {shown(value)}")
    return offset


class PageEnd(NamedTuple):
    """Where a page of runs ends, as ``list_runs(after=...)`` takes it: the next page is read on
    from there in the listing's index, so a page deep in a long listing costs what the first does
    (an offset passed every run before it: the SDK's read of 160,000 runs took 121 s)."""

    start_time: _dt.datetime
    id: str


def page_cursor(record: Any) -> str:
    """The cursor of the page after ``record``, a page's last run (its start time selected)."""
    return f"{to_us(record.start_time)}:{record.id}"


def page_end(cursor: Any) -> PageEnd | None:
    """Where the page before a cursor this server gave ended; None for no cursor."""
    if cursor is None:
        return None
    start, _, run_id = cursor.partition(":") if isinstance(cursor, str) else ("", "", "")
    start_us = digits(start, 18)
    if start_us is None or start_us > LATEST_US or not run_id or not run_id.isprintable():
        raise errors.ValidationError(f"cursor {shown(cursor)} is not one this server gave: pass back a "
                                     "response's cursor unchanged")
    return PageEnd(from_us(start_us), run_id)


def _base(request) -> str:
    return str(request.base_url).rstrip("/")


# Read whatever a query selects: the fields the SDK's Run requires (LangSmith answers them to any
# select), and the start, where a page ends.
_ALWAYS_SELECTED = ("name", "run_type", "start_time", "trace_id")


def query_runs(store, query: dict, base_url: str = "", api_key: str | None = None) -> dict:
    """``POST /runs/query``: ``{"runs": [...], "cursors": {"next": ...}}``, a page at a time. With
    ``select`` (the SDK sends its list of fields), only those are read; the others come back at
    their defaults (``child_run_ids``, which no SDK asks for by default, costs a run's subtree)."""
    if not isinstance(query, dict):
        raise errors.ValidationError(f"a run query must be a JSON object, got {shown(query)}")
    known = {"session", "session_id", "run_type", "filter", "trace_filter", "tree_filter", "is_root", "parent_run",
             "start_time", "error", "id", "trace", "select", "limit", "cursor", "reference_example", "query"}
    unknown = sorted(set(query) - known)
    if unknown:
        raise errors.ValidationError(f"unknown run query fields {unknown}; known are {sorted(known)}")
    if query.get("session") is not None and query.get("session_id") is not None:
        raise errors.ValidationError("give session or session_id (the same filter), not both")
    limit = query.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise errors.ValidationError(f"limit must be an int >= 1, got {shown(limit)}")
    page = min(limit or PAGE, PAGE)
    after = page_end(query.get("cursor"))
    select = query.get("select")
    if isinstance(select, list):
        select = [*select, *_ALWAYS_SELECTED]
    session = query.get("session", query.get("session_id"))
    runs = store.list_runs(
        project_id=_ids(session, "session"), run_type=query.get("run_type"),
        filter=_run_filter(query), trace_filter=query.get("trace_filter"), tree_filter=query.get("tree_filter"),
        is_root=query.get("is_root"), parent_run_id=query.get("parent_run"), start_time=query.get("start_time"),
        error=query.get("error"), id=_ids(query.get("id"), "id"), trace_id=query.get("trace"),
        select=select, limit=page + 1, after=after)
    more = len(runs) > page
    return {"runs": [run_json(r, base_url, api_key) for r in runs[:page]],
            "cursors": {"next": page_cursor(runs[page - 1]) if more else None}}


def _quoted(text: str) -> str:
    """``text`` as a string of the filter language."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _run_filter(query: dict) -> str | None:
    """The query's ``filter``, and with it what its ``query`` (text searched in each run, as
    ``search("text")`` does) and ``reference_example`` (runs of those dataset examples) ask."""
    text, examples = query.get("query"), _ids(query.get("reference_example"), "reference_example")
    given = query.get("filter")
    parts = [] if given is None else [given]
    if text is not None:
        if not isinstance(text, str):
            raise errors.ValidationError(f"query must be a str, got {shown(text)}")
        if text:
            parts.append(f"search({_quoted(text)})")
    if examples is not None:
        for example in examples:
            if not is_uuid(example):
                raise errors.ValidationError(f"reference_example must be example ids (UUIDs), got {shown(example)}")
        parts.append(f"in(reference_example_id, [{', '.join(map(_quoted, examples))}])" if examples else 'eq(id, "")')
    if given is not None and len(parts) > 1:
        parse_langsmith(given)  # a mistake of the client's filter is shown where it is in it
    return parts[0] if len(parts) == 1 else (f"and({', '.join(parts)})" if parts else None)


async def post_query(request, store, max_body):
    query = json_value(await body(request, max_body))
    return _json(await read_fresh(store, query_runs, store, query, _base(request), request.app.state.api_key))


def _project_json(project: dict) -> dict:
    out = dict(project)
    for key in ("start_time", "last_run_start_time", "end_time"):
        if isinstance(out.get(key), _dt.datetime):
            out[key] = out[key].isoformat()
    out["tenant_id"] = out.get("tenant_id") or TENANT  # the SDK requires one
    return out


def _include_stats(params) -> bool:
    """LangSmith's ``include_stats``: the SDK's ``read_project`` sends false, and a project's counts
    then go unread (they walk its runs); without it they are read."""
    given = params.get("include_stats")
    if given is None or given.lower() == "true":
        return True
    if given.lower() == "false":
        return False
    raise errors.ValidationError(f"include_stats must be true or false, got {shown(given)}")


async def list_sessions(request, store, max_body):
    params = request.query_params
    name = params.get("name")
    if name is not None:
        try:
            found = [await read_fresh(store, store.project, name=name, stats=_include_stats(params))]
        except errors.NotFoundError:
            found = []
    else:
        found = await read_fresh(store, store.projects)
    found = [p for p in found if _project_wanted(p, params)]
    offset = _offset(params.get("offset"), "offset")
    limit = params.get("limit")
    end = None if limit is None else offset + _offset(limit, "limit")
    return _json([_project_json(p) for p in found[offset:end]])


def _project_wanted(project: dict, params) -> bool:
    """Whether a project passes the filters of ``Client.list_projects``: ``id`` (any of them),
    ``name_contains`` (case-insensitive), ``reference_free``, ``reference_dataset`` and
    ``metadata``. A project of this file has no dataset and no metadata: it is reference-free,
    and of no dataset's or metadata's."""
    ids = params.getlist("id")
    if ids and str(project["id"]) not in {str(_uuid_param(i, "id")) for i in ids}:
        return False
    contains = params.get("name_contains")
    if contains is not None and contains.casefold() not in project["name"].casefold():
        return False
    free = params.get("reference_free")
    if free is not None and free.lower() not in ("true", "1"):
        return False
    if params.getlist("reference_dataset"):
        return False
    metadata = params.get("metadata")
    return metadata is None or json_value(metadata.encode(), "metadata") in ({}, None)


def _uuid_param(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise errors.ValidationError(f"{what} must be a project id (a UUID), got {shown(value)}") from None


async def read_session(request, store, max_body):
    project = await read_fresh(store, store.project, id=request.path_params["session_id"],
                               stats=_include_stats(request.query_params))
    return _json(_project_json(project))


def feedback_json(item: dict, trace_id: str) -> dict:
    """A feedback record as LangSmith answers it."""
    out = {**item, "trace_id": trace_id}
    if isinstance(out.get("created_at"), _dt.datetime):
        out["created_at"] = out["modified_at"] = out["created_at"].isoformat()
    return out


def feedback_record(store, run_id: str, feedback_id: str) -> dict:
    """One feedback record of a run."""
    for item in store.feedback(run_id):
        if item["id"] == feedback_id:
            return feedback_json(item, store.get_run(run_id).trace_id)
    raise errors.NotFoundError(f"no feedback {shown(feedback_id)} on run {shown(run_id)}")


async def list_feedback(request, store, max_body):
    """``GET /feedback?run=..&key=..&source=..&limit=..&offset=..`` (``Client.list_feedback``):
    any run's feedback, oldest first, by ``Store.list_feedback``."""
    params = request.query_params
    offset = _offset(params.get("offset"), "offset")
    limit = params.get("limit")
    items = await read_fresh(store, store.list_feedback, run_ids=params.getlist("run") or None,
                             feedback_key=params.getlist("key") or None,
                             feedback_source_type=params.getlist("source") or None,
                             limit=None if limit is None else _offset(limit, "limit"), offset=offset)
    return _json([feedback_json(item, item["trace_id"]) for item in items])


ROUTES = (
    ("/info", ["GET"], get_info),
    ("/runs/query", ["POST"], post_query),
    ("/runs/{run_id}", ["GET"], read_run),
    ("/sessions", ["GET"], list_sessions),
    ("/sessions/{session_id}", ["GET"], read_session),
    ("/feedback", ["GET"], list_feedback),
    ("/attachments/{run_id}/{name}", ["GET"], get_attachment),
)


def signed(request, api_key: str) -> bool:
    """Whether the request is an attachment URL this server signed (``run_json``)."""
    params = request.path_params
    if "name" not in params or "run_id" not in params or not request.url.path.rsplit("/", 3)[-3] == "attachments":
        return False
    given = request.query_params.get("signature", "")
    return hmac.compare_digest(given, signature(api_key, params["run_id"], params["name"]))
