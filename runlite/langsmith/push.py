"""Sending stored traces to a LangSmith server (or anything speaking its API, such as another
``runlite serve``) through the SDK's own ``langsmith.Client``, so an offline machine ships its
traces later: ``push(store)``, ``runlite push --langsmith`` (and the command's options, ``--otlp``
handed to ``otel/push.py``).

What goes: every trace a chosen run belongs to (a run is chosen when it is a LangSmith-style
run, ``kind`` trace or with a ``run_type``, matching the filter), whole, runs in
``dotted_order`` order so parents go before their children; not a placeholder (a parent the
file never received, traced by another process: the server gets it from that process's file,
and sent from here it would rename it). Each run keeps its id, trace,
``dotted_order``, times (microseconds), inputs, outputs, error, tags, metadata, events, tokens
and costs, and its attachments (bytes, through the SDK's multipart upload).

What is already there stays: before sending, the server is asked which of the runs it holds
(``Client.list_runs(run_ids=...)``, a hundred ids a query) and how they stand (name, ended or
not, failed or not). A run it holds as stored here is skipped; one it holds differently (it
was pushed while still running, or is a parent the server only knows from a child) is sent
again as an update; the others are created. Nothing is recorded in the file, so a push never
writes to it, works with a read-only file, and is right for whichever server it is aimed at
(a new server gets everything; one that lost runs gets them again). A second push sends none.

Errors: the SDK logs and swallows a refused upload, so ``push`` makes its own client with a
``tracing_error_callback`` and raises ``PushError`` when the server refused a batch; with a
client of yours, and in every case, it then asks the server for the runs it sent and raises
``PushError`` naming those the server does not hold (``confirm_within`` seconds allowed for a
server that ingests asynchronously, as LangSmith's does). ``PushError.result`` says what was
done before; pushing again resumes.

The SDK's own rules still apply on the way: it drops attachments whose name holds a ``.``
(counted in ``attachments_skipped``), the ``kwargs`` of ``new_token`` events, and
``serialized`` of runs other than ``llm`` and ``prompt``; ``LANGSMITH_HIDE_INPUTS`` (and
``_OUTPUTS``, ``_METADATA``) hide what they say.
"""

from __future__ import annotations

import datetime as _dt
import json
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from .. import errors
from .._urls import check_http_url
from .._validation import check_name, shown
from .traces import chosen_traces, trace_runs
from .wire import DEFAULT_PROJECT

EXTRA = "pip install 'runlite[langsmith]'"
ID_CHUNK = 100             # run ids per question to the server (one page of its answer)
TRACE_CHUNK = 200          # traces read from the store at a time
BATCH_RUNS = 100           # runs per upload when the server's /info says nothing
BATCH_BYTES = 20 << 20     # bytes per upload when the server's /info says nothing
CONFIRM_WITHIN = 30.0      # seconds a server may take to show the runs it accepted
_CHECKED = ["id", "name", "run_type", "start_time", "end_time", "status"]  # asked of the server (the SDK needs 4)
_TOKENS = ("prompt_tokens", "completion_tokens", "total_tokens", "prompt_cost", "completion_cost", "total_cost")
_AS_STORED = ("reference_example_id", "app_path", "in_dataset", "manifest_id", "inputs_s3_urls", "outputs_s3_urls",
              "serialized")


class PushError(errors.RunliteError):
    """The server could not be reached, refused runs, or does not hold runs it was sent.
    ``result`` is ``push``'s result up to the failure (the runs sent before it stay sent)."""

    result: dict | None = None


def _sdk():
    """``(Client, LangSmithError)`` of the installed SDK; ImportError naming the extra."""
    try:
        from langsmith import Client
        from langsmith.utils import LangSmithError
    except ImportError as exc:
        raise ImportError(f"pushing to LangSmith needs the langsmith package: {EXTRA}") from exc
    return Client, LangSmithError


def _check(project, filter, client, endpoint, api_key, confirm_within) -> str | None:
    """The arguments checked (ValidationError), before anything is read or sent."""
    if project is not None:
        project = check_name(project, "project")
    if filter is not None and not isinstance(filter, str):
        raise errors.ValidationError(f"filter must be a LangSmith filter str or None, got {shown(filter)}")
    if client is not None:
        if endpoint is not None or api_key is not None:
            raise errors.ValidationError("give a client, or an endpoint and API key for push to make one; not both")
        if not all(callable(getattr(client, name, None)) for name in ("multipart_ingest", "list_runs")):
            raise errors.ValidationError(f"client must be a langsmith.Client, got {shown(client)}")
    if endpoint is not None:
        check_http_url(endpoint, "endpoint")
    if api_key is not None and (not isinstance(api_key, str) or not api_key or not api_key.isprintable()
                                or len(api_key) > 4096):
        raise errors.ValidationError("api_key must be printable text of 1 to 4096 characters")
    if confirm_within is not None and (isinstance(confirm_within, bool) or not isinstance(confirm_within, (int, float))
                                       or not 0 <= confirm_within <= 86400):
        raise errors.ValidationError(f"confirm_within must be None or seconds from 0 to 86400, "
                                     f"got {shown(confirm_within)}")
    return project


def push(store, *, project: str | None = None, filter: str | None = None, client: Any = None,
         endpoint: str | None = None, api_key: str | None = None, confirm_within: float | None = CONFIRM_WITHIN,
         progress: Callable[[int, int], None] | None = None) -> dict:
    """Send the traces of ``store`` to a LangSmith server; returns what was done.

    Args:
        project: the project of every run sent; by default each run's own (``session_name``),
            else ``"default"``.
        filter: a LangSmith filter (as ``Store.list_runs(filter=...)``); the traces of the
            runs matching it go, whole. Default: every trace.
        client: a ``langsmith.Client`` to send with; by default one is made for ``endpoint``
            and ``api_key`` (default: the SDK's ``LANGSMITH_ENDPOINT``, ``LANGSMITH_API_KEY``).
        confirm_within: seconds the server may take to show the runs sent before ``PushError``
            says which it lacks; None sends without checking.
        progress: called as ``progress(traces_done, traces)``.

    Returns ``{"endpoint", "traces", "runs", "sent", "created", "updated", "skipped",
    "placeholders", "attachments", "attachments_skipped", "seconds"}``: ``sent`` = ``created`` +
    ``updated``; ``skipped`` runs the server held already; ``placeholders`` not sent (parents
    this file never received: they would rename the runs they stand for); ``attachments_skipped``
    those the SDK cannot send (names with a ``.``).

    Raises ValidationError (a bad argument or filter), ImportError (no ``langsmith``
    package), PushError (the server unreachable, refusing runs, or lacking runs it was sent).
    """
    project = _check(project, filter, client, endpoint, api_key, confirm_within)
    began = time.monotonic()
    traces = chosen_traces(store, filter)  # a bad filter is refused before the SDK is loaded
    client_class, sdk_error = _sdk()
    refused: list = []
    if client is None:
        client = _client(client_class, sdk_error, endpoint, api_key, refused)
    url = str(getattr(client, "api_url", endpoint) or "")
    done = {"endpoint": url, "traces": len(traces), "runs": 0, "sent": 0, "created": 0, "updated": 0,
            "skipped": 0, "placeholders": 0, "attachments": 0, "attachments_skipped": 0, "seconds": 0.0}
    try:
        with _sdk_errors(sdk_error, url):
            _push(store, client, traces, project, confirm_within, progress, done, refused, url)
    except PushError as exc:
        exc.result = done
        raise
    finally:
        done["seconds"] = round(time.monotonic() - began, 3)
    return done


def _push(store, client, traces: list, project, confirm_within, progress, done: dict, refused: list, url: str) -> None:
    """``push`` once its client is made: each chunk of traces asked about, then sent."""
    wanted: dict[str, tuple] = {}
    max_runs, max_bytes = _limits(client)
    for start in range(0, len(traces), TRACE_CHUNK):
        runs = trace_runs(store, traces[start:start + TRACE_CHUNK])
        held = _held(client, [rec.id for rec in runs])
        todo = []
        for rec in runs:
            if rec.kind == "placeholder":  # not a run: its children name their parent, which the
                done["placeholders"] += 1  # server gets from the file of the process that traced it
                continue
            mine = _state(rec)
            if _same(held.get(rec.id), mine):
                done["skipped"] += 1
            else:
                todo.append((rec, rec.id in held, _payload(rec, project)))
                wanted[rec.id] = mine
        done["runs"] += len(runs) - sum(rec.kind == "placeholder" for rec in runs)
        for batch in _batches(todo, max_runs, max_bytes):
            _send(client, store, batch, done, refused, url)
        if progress is not None:
            progress(min(start + TRACE_CHUNK, len(traces)), len(traces))
    if wanted and confirm_within is not None:
        _confirm(client, wanted, confirm_within, url)


def summary(done: dict) -> str:
    """One line saying what ``push`` did."""
    traces = f"{done['traces']} trace" + ("" if done["traces"] == 1 else "s")
    text = (f"pushed {done['sent']} runs ({done['created']} new, {done['updated']} updated) of {traces} "
            f"to {done['endpoint']}; {done['skipped']} already there; {done['attachments']} attachments sent")
    if done["placeholders"]:
        text += f"; {done['placeholders']} placeholders of parents traced elsewhere not sent"
    if done["attachments_skipped"]:
        text += f", {done['attachments_skipped']} not sent (the SDK refuses attachment names with a '.')"
    return text


def add_arguments(parser) -> None:
    """The options of ``runlite push`` (``cli.py`` makes the command): ``--langsmith`` here,
    ``--otlp URL`` in ``otel/push.py``."""
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--langsmith", action="store_true",
                       help="send to LangSmith's API: LangSmith itself, or anything speaking it (runlite serve)")
    where.add_argument("--otlp", metavar="URL",
                       help="send OpenTelemetry spans to an OTLP/HTTP endpoint (a Collector, Jaeger, Tempo, Phoenix, "
                            "runlite serve): a base URL (/v1/traces is added) or the traces URL; needs runlite[otel]")
    parser.add_argument("filter", nargs="?", metavar="FILTER",
                        help="a LangSmith filter: the whole traces of the runs matching it go (default: every trace)")
    parser.add_argument("--project", help="the project of every run sent (default: each run's own, else \"default\")")
    parser.add_argument("--endpoint", help="with --langsmith: the server's URL (default: $LANGSMITH_ENDPOINT, "
                                           "else LangSmith's)")
    parser.add_argument("--api-key", help="with --langsmith: the server's API key (default: $LANGSMITH_API_KEY, "
                                          "which ps cannot show)")
    parser.add_argument("--header", action="append", metavar="NAME=VALUE",
                        help="with --otlp: a header of every request, repeatable (besides those of "
                             "$OTEL_EXPORTER_OTLP_HEADERS)")


def command(store, args, progress: Callable[[int, int], None] | None = None) -> int:
    """``runlite push``: push, then print what was done (JSON with ``--json``)."""
    if getattr(args, "otlp", None) is not None:
        from ..otel import push as otlp

        return otlp.command(store, args, progress)
    if getattr(args, "header", None):
        raise errors.ValidationError("--header goes with --otlp; --langsmith takes --api-key")
    done = push(store, project=args.project, filter=args.filter, endpoint=args.endpoint, api_key=args.api_key,
                progress=progress)
    print(json.dumps(done, indent=2) if getattr(args, "json", False) else summary(done))
    return 0


# ---------------------------------------------------------------- what goes


def _state(rec) -> tuple:
    """How a run stands, as a server answers it: ``(name, status, end time)``."""
    status = "pending" if rec.ended is None else ("error" if rec.error is not None else "success")
    return rec.name, status, rec.ended


def _same(held: tuple | None, mine: tuple) -> bool:
    """Whether the server holds a run as it stands here (end times within a millisecond: a
    server may answer them through float seconds or milliseconds)."""
    if held is None or held[:2] != mine[:2] or (held[2] is None) != (mine[2] is None):
        return False
    return held[2] is None or abs((held[2] - mine[2]).total_seconds()) <= 0.001


def _payload(rec, project: str | None) -> dict:
    """The run as the SDK's ``multipart_ingest`` takes it (None fields left out)."""
    extra = dict(rec.extra or {})
    extra["metadata"] = dict(rec.metadata or {})
    payload = {
        "id": rec.id, "name": rec.name, "run_type": rec.run_type or "chain", "trace_id": rec.trace_id,
        "dotted_order": rec.dotted_order, "parent_run_id": rec.parent_run_id, "start_time": rec.start_time,
        "end_time": rec.ended, "inputs": rec.inputs, "outputs": rec.outputs, "error": rec.error,
        "tags": list(rec.tags), "extra": extra, "events": [dict(e) for e in rec.events] or None,
        "session_name": project or rec.session_name or DEFAULT_PROJECT, "first_token_time": rec.first_token_time,
        **{key: getattr(rec, key) for key in _TOKENS + _AS_STORED},
    }
    return {key: value for key, value in payload.items() if value is not None}


def _size(rec, payload: dict) -> int:
    """About how many bytes a run takes in an upload (its JSON parts and attachments)."""
    parts = (payload.get(key) for key in ("inputs", "outputs", "events", "extra", "error", "serialized"))
    return (1024 + sum(len(json.dumps(part, default=str)) for part in parts if part is not None)
            + sum(size for _, size in (rec.attachments or {}).values()))


def _batches(todo: list, max_runs: int, max_bytes: int) -> Iterator[list]:
    """``todo`` (in order) cut into uploads of at most ``max_runs`` runs and about
    ``max_bytes`` bytes (a run larger than that goes alone)."""
    batch: list = []
    size = 0
    for item in todo:
        cost = _size(item[0], item[2])
        if batch and (len(batch) >= max_runs or size + cost > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += cost
    if batch:
        yield batch


# ---------------------------------------------------------------- the server


def _client(client_class, sdk_error, endpoint, api_key, refused: list):
    """A client that sends exactly what it is given: no runtime or environment metadata, no
    sampling, no background thread; refused uploads land in ``refused``."""
    try:
        return client_class(api_url=endpoint, api_key=api_key, auto_batch_tracing=False,
                            omit_traced_runtime_info=True, tracing_sampling_rate=1.0,
                            tracing_error_callback=refused.append)
    except (sdk_error, ValueError) as exc:
        raise errors.ValidationError(f"cannot make a LangSmith client: {_said(exc)}") from None


class _sdk_errors:
    """The SDK's errors (and the network's) as ``PushError`` naming the server."""

    def __init__(self, sdk_error, url: str):
        self.sdk_error, self.url = sdk_error, url

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is None or isinstance(exc, errors.RunliteError) or not isinstance(exc, (self.sdk_error, OSError)):
            return False
        raise PushError(f"the LangSmith server at {self.url} failed: {_said(exc)}") from exc


def _said(exc: BaseException) -> str:
    """An exception's message on one line, cut."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 500 else text[:497] + "..."


def _limits(client) -> tuple[int, int]:
    """Runs and bytes per upload, as the server's ``/info`` asks."""
    info = getattr(client, "info", None)
    config = getattr(info, "batch_ingest_config", None) or {}
    if not isinstance(config, dict):
        config = {}
    runs, size = config.get("size_limit"), config.get("size_limit_bytes")
    return (runs if _count(runs, 10_000) else BATCH_RUNS), (size if _count(size, 1 << 34) else BATCH_BYTES)


def _count(value: Any, top: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= top


def _held(client, run_ids: list[str]) -> dict[str, tuple]:
    """``{run id: (name, status, end time)}`` of the runs among ``run_ids`` the server holds."""
    held: dict[str, tuple] = {}
    for start in range(0, len(run_ids), ID_CHUNK):
        chunk = run_ids[start:start + ID_CHUNK]
        with warnings.catch_warnings():  # list_runs: deprecated for runs.query, which needs a LangSmith >= 0.16
            warnings.simplefilter("ignore", DeprecationWarning)
            found = list(client.list_runs(run_ids=chunk, select=_CHECKED, limit=len(chunk)))
        for run in found:
            held[str(run.id)] = (run.name, run.status, _aware(run.end_time))
    return held


def _aware(when: Any) -> Any:
    if isinstance(when, _dt.datetime) and when.tzinfo is None:
        return when.replace(tzinfo=_dt.timezone.utc)  # LangSmith answers UTC without an offset
    return when


def _send(client, store, batch: list, done: dict, refused: list, url: str) -> None:
    """One upload: new runs as creates, runs the server holds differently as updates."""
    create, update = [], []
    for rec, held, payload in batch:
        files = {}
        for name, (mime, _size_) in sorted((rec.attachments or {}).items()):
            if "." in name:  # the SDK drops these with a warning: counted instead
                done["attachments_skipped"] += 1
                continue
            with store.open_attachment(rec.id, name) as f:
                files[name] = (mime, f.read())
        if files:
            payload["attachments"] = files
            done["attachments"] += len(files)
        (update if held else create).append(payload)
    before = len(refused)
    client.multipart_ingest(create=create, update=update)
    if len(refused) > before:
        first = batch[0][0].id
        raise PushError(f"the LangSmith server at {url} refused {len(batch)} runs (from run {first}): "
                        f"{_said(refused[before])}")
    done["created"] += len(create)
    done["updated"] += len(update)
    done["sent"] += len(batch)


def _confirm(client, wanted: dict[str, tuple], within: float, url: str) -> None:
    """Wait (at most ``within`` seconds) until the server holds every run sent as sent."""
    deadline = time.monotonic() + within
    pause = 0.1
    while True:
        held = _held(client, list(wanted))
        wanted = {run_id: state for run_id, state in wanted.items() if not _same(held.get(run_id), state)}
        left = deadline - time.monotonic()
        if not wanted:
            return
        if left <= 0:
            break
        time.sleep(min(pause, left))
        pause = min(pause * 2, 5.0)
    missing = sorted(wanted)
    raise PushError(f"the LangSmith server at {url} does not hold {len(missing)} of the runs sent "
                    f"(after {within:g} s), e.g. {', '.join(missing[:3])}; push again to resend them")
