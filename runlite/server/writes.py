"""LangSmith's write routes: runs created and updated (one, a batch, or a multipart form) and
feedback. Every run of a request is checked before any is queued, so a bad request is
refused whole (a 4xx) and changes nothing. Checked runs join the store's batch writer, the
one traced spans use (``LiveRuns.remote``): a run is written within a quarter second of
its acknowledgement, at the latest when the server stops.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from .. import errors
from .._ids import is_uuid
from .._validation import shown
from ..langsmith.wire import RemoteRun, remote_run
from ..storage import feedback as feedback_mod
from ..storage.attachments import check_attach_name, check_mime
from . import multipart
from .http import body, hand_over, in_thread, json_value

ACCEPTED = {"status": "accepted"}


def _accepted():
    from starlette.responses import JSONResponse

    return JSONResponse(ACCEPTED, status_code=202)


def _feedback(store, items: list[dict]) -> list[str]:
    """Create feedback records (LangSmith's ``FeedbackCreate`` shape), after the runs waiting
    to be written are, since feedback names its run."""
    if not items:
        return []
    store.flush()
    return [_one_feedback(store, item) for item in items]


def _one_feedback(store, item: Any) -> str:
    """A feedback record created; one sent again (a client retrying a request whose answer it
    lost) is the record stored already, not a second one or an error."""
    run_id, fields = _feedback_fields(item)
    if _stored_feedback(store, run_id, fields):
        return fields["feedback_id"]
    try:
        return store.create_feedback(run_id, **fields)
    except errors.StoreError:  # the same record stored meanwhile by a concurrent request?
        if _stored_feedback(store, run_id, fields):
            return fields["feedback_id"]
        raise


def _stored_feedback(store, run_id: str, fields: dict) -> bool:
    """Whether the file holds this feedback record (by its id) already: ValidationError when
    it holds another one of that id."""
    feedback_id = fields["feedback_id"]
    if feedback_id is None:
        return False
    with store.database.read() as conn:
        found = feedback_mod.find(conn, feedback_id)
    if found is None:
        return False
    key, score, value, comment, source, correction, _ = feedback_mod.checked(**fields)
    if (found["run_id"], found["key"], found["score"], found["value"], found["comment"], found["feedback_source"],
            found["correction"]) != (run_id, key, score, value, comment, source, correction):
        raise errors.ValidationError(f"feedback {feedback_id} exists already, with other values: a feedback id "
                                     "names one record")
    return True


def _feedback_fields(item: Any) -> tuple[str, dict]:
    """``(run id, create_feedback's other arguments)`` of one LangSmith ``FeedbackCreate``."""
    if not isinstance(item, dict):
        raise errors.ValidationError(f"feedback must be a JSON object, got {shown(item)}")
    source = item.get("feedback_source")
    if isinstance(source, dict):
        source = {k: v for k, v in source.items() if v is not None}
        source.setdefault("type", "api")
        for key, kind, name in (("metadata", dict, "an object"), ("user_id", str, "a str"), ("user_name", str, "a str")):
            if key in source and not isinstance(source[key], kind):  # as the SDK's FeedbackSource reads it
                raise errors.ValidationError(f"{key} of a feedback source must be {name}, got {shown(source[key])}")
    run_id = item.get("run_id")
    if not isinstance(run_id, str):
        raise errors.ValidationError(f"feedback needs the run_id of its run, got {shown(run_id)}")
    # What LangSmith's SDKs read back (a record they cannot read fails every listing of its run).
    value, correction = item.get("value"), item.get("correction")
    if value is not None and not isinstance(value, (dict, str, bool, int, float)):
        raise errors.ValidationError(f"a feedback value must be an object, a str, a number or a bool, got {shown(value)}")
    if correction is not None and not isinstance(correction, (dict, str)):
        raise errors.ValidationError(f"a feedback correction must be an object or a str, got {shown(correction)}")
    feedback_id = item.get("id")
    if feedback_id is not None and not is_uuid(feedback_id):
        try:  # LangSmith's SDKs read feedback ids back as UUIDs
            feedback_id = str(uuid.UUID(feedback_id)) if isinstance(feedback_id, str) and len(feedback_id) < 64 else ""
        except ValueError:
            feedback_id = ""
        if not feedback_id:
            raise errors.ValidationError(f"a feedback id must be a UUID, got {shown(item.get('id'))}")
    return run_id, {"key": item.get("key"), "score": item.get("score"), "value": item.get("value"),
                    "comment": item.get("comment"), "source": source, "correction": item.get("correction"),
                    "feedback_id": feedback_id}


def _check_feedback(store, items: list, form_runs: set) -> None:
    """Refuse a form's feedback before any of the form is kept: each record's values, its id
    (not one of another record), and its run, which the form or the file must hold (the
    form's runs are written before it)."""
    ids: dict = {}
    for item in items:
        run_id, fields = _feedback_fields(item)
        feedback_mod.checked(**fields)
        if run_id not in form_runs:
            store.get_run(run_id)  # NotFoundError (404) for a run the file does not hold
        if fields["feedback_id"] is not None:
            if ids.setdefault(fields["feedback_id"], (run_id, fields)) != (run_id, fields):
                raise errors.ValidationError(f"the form holds feedback {fields['feedback_id']} twice, with other values")
            _stored_feedback(store, run_id, fields)


def _run(payload: Any, op: str) -> RemoteRun:
    """A run of a JSON body, its ``attachments`` with it: LangSmith's SDKs send a run's files
    there when they do not batch the run (it has no ``dotted_order``, or batching is off),
    ``{name: [mime, data]}`` or ``{name: {"mime_type" (JS: "mimeType"), "data"}}``, the data
    base64 (Python) or a byte array as JSON writes one (JS: ``{"0": 137, ...}``)."""
    run = remote_run(payload, op)
    files = payload.get("attachments")
    if files is None:
        return run
    if not isinstance(files, dict):
        raise errors.ValidationError(f"attachments of run {run.id} must be an object, got {shown(files)}")
    for name, file in files.items():
        if isinstance(file, dict) and len(file) == 2 and "data" in file and ({"mime_type", "mimeType"} & set(file)):
            file = [file.get("mime_type", file.get("mimeType")), file["data"]]
        data = _file_data(file[1]) if isinstance(file, list) and len(file) == 2 else None
        if data is None:
            raise errors.ValidationError(f"attachment {shown(name)} of run {run.id} must be [mime type, data] or "
                                         "{\"mime_type\": ..., \"data\": ...}, the data base64 or bytes; "
                                         "send other files as multipart parts")
        run.attachments.append((check_attach_name(name), data, check_mime(file[0])))
    return run


def _file_data(data: Any) -> bytes | None:
    """The bytes of an attachment sent in JSON; None when it holds none."""
    if isinstance(data, str):
        try:
            return base64.b64decode(data, validate=True)
        except ValueError:
            return None
    if isinstance(data, dict) and all(isinstance(k, str) and k.isdecimal() for k in data):
        data = [data.get(str(i)) for i in range(len(data))]  # a byte array: keys 0 to n-1
    if isinstance(data, list) and all(type(b) is int and 0 <= b < 256 for b in data):
        return bytes(data)
    return None


async def create_run(request, store, max_body):
    run = _run(json_value(await body(request, max_body)), "post")
    await hand_over(store, [run])
    return _accepted()


async def update_run(request, store, max_body):
    payload = json_value(await body(request, max_body))
    if not isinstance(payload, dict):
        raise errors.ValidationError(f"a run update must be a JSON object, got {shown(payload)}")
    path_id = request.path_params["run_id"]
    if payload.setdefault("id", path_id) != path_id:
        raise errors.ValidationError(f"the body's id {shown(payload['id'])} is not the id in the path")
    await hand_over(store, [_run(payload, "patch")])
    return _accepted()


async def batch(request, store, max_body):
    payload = json_value(await body(request, max_body))
    if not isinstance(payload, dict) or not set(payload) <= {"post", "patch"}:
        raise errors.ValidationError('a batch must be {"post": [runs...], "patch": [runs...]}')
    runs = []
    for op in ("post", "patch"):
        items = payload.get(op) or []
        if not isinstance(items, list):
            raise errors.ValidationError(f'"{op}" of a batch must be a list of runs, got {shown(items)}')
        runs += [_run(item, op) if isinstance(item, dict) else remote_run(item, op) for item in items]
    await hand_over(store, runs)
    return _accepted()


async def multipart_ingest(request, store, max_body):
    data = await body(request, max_body)
    parts = multipart.parse(data, request.headers.get("content-type", ""))
    runs, feedback = _runs_of_form(parts)
    if feedback:
        await in_thread(_check_feedback, store, feedback, {run.id for run in runs})
    await hand_over(store, runs)
    await in_thread(_feedback, store, feedback)
    return _accepted()


def _runs_of_form(parts: list) -> tuple[list[RemoteRun], list[dict]]:
    """The runs and feedback a LangSmith multipart form holds: ``<op>.<id>`` is a run,
    ``<op>.<id>.<field>`` one of its fields, ``attachment.<id>.<name>`` a file of run
    ``<id>``, ``feedback.<id>`` a feedback record."""
    payloads: dict[tuple[str, str], dict] = {}
    fields: list[tuple[str, str, str, Any]] = []
    attached: dict[str, list] = {}
    feedback = []
    for part in parts:
        head, _, rest = part.name.partition(".")
        if head in ("post", "patch"):
            run_id, _, field = rest.partition(".")
            value = json_value(part.data, lambda: f"form part {shown(part.name)}")
            if field:
                fields.append((head, run_id, field, value))
            elif not isinstance(value, dict):
                raise errors.ValidationError(f"form part {shown(part.name)} must be a JSON object")
            else:
                payloads.setdefault((head, run_id), {}).update(value)
        elif head == "attachment":
            run_id, _, name = rest.partition(".")
            attached.setdefault(run_id, []).append((check_attach_name(name), part.data, check_mime(part.content_type)))
        elif head == "feedback":
            feedback.append(json_value(part.data, lambda: f"form part {shown(part.name)}"))
        else:
            raise errors.ValidationError(f"form part {shown(part.name)} is not a run (post.<id>, patch.<id>), "
                                         "an attachment (attachment.<id>.<name>) or feedback (feedback.<id>)")
    for op, run_id, field, value in fields:
        payloads.setdefault((op, run_id), {"id": run_id})[field] = value
    runs = []
    for (op, run_id), payload in payloads.items():
        payload.setdefault("id", run_id)
        if str(payload["id"]) != run_id:
            raise errors.ValidationError(f"form part {op}.{shown(run_id)} holds run {shown(payload['id'])}")
        runs.append(remote_run(payload, op))
    known = {run.id: run for run in runs}
    for run_id, files in attached.items():
        target = known.get(run_id)
        if target is None:  # files of a run sent earlier: an update carrying just them
            target = remote_run({"id": run_id}, "patch")
            runs.append(target)
        target.attachments.extend(files)
    runs.sort(key=lambda r: r.op != "post")  # creates first: an update of a run folds into its create
    return runs, feedback


def _create_feedback(store, item: Any) -> dict:
    from .reads import feedback_record

    feedback_id = _feedback(store, [item])[0]
    return feedback_record(store, item["run_id"], feedback_id)


async def create_feedback(request, store, max_body):
    from starlette.responses import JSONResponse

    item = json_value(await body(request, max_body))
    return JSONResponse(await in_thread(_create_feedback, store, item))


ROUTES = (
    ("/runs", ["POST"], create_run),
    ("/runs/batch", ["POST"], batch),
    ("/runs/multipart", ["POST"], multipart_ingest),
    ("/runs/{run_id}", ["PATCH"], update_run),
    ("/feedback", ["POST"], create_feedback),
)
