"""A run as LangSmith's v2 API answers it, the ``Run`` its SDKs' ``client.runs.query_v2`` and
``retrieve_v2`` parse: only the fields the request ``selects`` (``RunSelectField`` names,
``ID`` alone when it selects none), each under its name in lower case.

Each field is made from a ``RunRecord`` and its ``to_dict()``, so the v2 answer holds what the
v1 one (``reads.run_json``) does, in v2's shapes: times RFC 3339, ``run_type`` and ``status``
upper case, token details as ``{"raw": {...}}``. A field the file has no source for (sharing,
annotation queues, datasets, prices) is null: runlite keeps none of them.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from .. import errors
from .._validation import shown
from ..records.times import iso
from ..query import THREAD_KEYS
from .reads import attachment_path

PREVIEW = 250  # characters of the *_preview fields (LangSmith does not document its length)


def _preview(value: Any) -> str | None:
    """The first ``PREVIEW`` characters of a value: text as it is, anything else as its JSON."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text[:PREVIEW]


def _raw(details: Any) -> dict | None:
    return {"raw": details} if details else None


def _thread(metadata: Any) -> str | None:
    """LangSmith's thread: the first of the metadata keys naming one that holds a string (as
    the filter language's ``thread_id`` reads it)."""
    if not isinstance(metadata, dict):
        return None
    return next((metadata[k] for k in THREAD_KEYS if isinstance(metadata.get(k), str)), None)


def _events(events: list) -> list:
    # ``seq`` is runlite's order number: the list's order already says it
    return [{k: v for k, v in event.items() if k != "seq"} for event in events]


class Made:
    """What a field is made from besides the record: its ``to_dict()``, and where the
    attachments are served (``base_url``; signed with ``api_key`` when the server has one)."""

    def __init__(self, record, base_url: str, api_key: str | None):
        self.record, self.data = record, record.to_dict(child_runs=False)
        self.base_url, self.api_key = base_url, api_key

    def attachments(self) -> dict:
        rid = self.record.id
        return {name: self.base_url + attachment_path(rid, name, self.api_key) for name in self.data["attachments"]}


def _plain(key: str) -> Callable[[Made], Any]:
    return lambda m: m.data[key]


def _none(m: Made) -> None:
    return None


# Each field: the ``to_dict()`` fields a listing reads for it (``Store.list_runs(select=)``),
# and how it is made.
FIELDS: dict[str, tuple[tuple[str, ...], Callable[[Made], Any]]] = {
    "ID": ((), lambda m: m.record.id),
    "NAME": (("name",), _plain("name")),
    # a run of another kind (an experiment's) has no run type; v1 answers it "chain" too
    "RUN_TYPE": (("run_type",), lambda m: (m.data["run_type"] or "chain").upper()),
    "STATUS": (("status",), lambda m: m.data["status"].upper() if m.data["status"] else None),
    "START_TIME": (("start_time",), lambda m: iso(m.record.start_time)),
    "END_TIME": (("end_time",), lambda m: iso(m.record.end_time)),
    "LATENCY_SECONDS": (("start_time", "end_time"), lambda m: m.record.latency),
    "FIRST_TOKEN_TIME": (("first_token_time",), lambda m: iso(m.record.first_token_time)),
    "ERROR": (("error",), _plain("error")),
    "ERROR_PREVIEW": (("error",), lambda m: _preview(m.data["error"])),
    "EXTRA": (("extra",), _plain("extra")),
    "METADATA": (("metadata",), _plain("metadata")),
    "EVENTS": (("events",), lambda m: _events(m.data["events"])),
    "INPUTS": (("inputs",), _plain("inputs")),
    "INPUTS_PREVIEW": (("inputs",), lambda m: _preview(m.data["inputs"])),
    "OUTPUTS": (("outputs",), _plain("outputs")),
    "OUTPUTS_PREVIEW": (("outputs",), lambda m: _preview(m.data["outputs"])),
    "MANIFEST": (("serialized",), _plain("serialized")),  # v1's name for the component's config
    "PARENT_RUN_IDS": (("parent_run_ids",), _plain("parent_run_ids")),
    "PROJECT_ID": (("session_id",), _plain("session_id")),
    "TRACE_ID": (("trace_id",), _plain("trace_id")),
    "THREAD_ID": (("metadata",), lambda m: _thread(m.data["metadata"])),
    "DOTTED_ORDER": (("dotted_order",), _plain("dotted_order")),
    "IS_ROOT": (("parent_run_id",), lambda m: m.data["parent_run_id"] is None),
    "REFERENCE_EXAMPLE_ID": (("reference_example_id",), _plain("reference_example_id")),
    "REFERENCE_DATASET_ID": ((), _none),
    "TOTAL_TOKENS": (("total_tokens",), _plain("total_tokens")),
    "PROMPT_TOKENS": (("prompt_tokens",), _plain("prompt_tokens")),
    "COMPLETION_TOKENS": (("completion_tokens",), _plain("completion_tokens")),
    "TOTAL_COST": (("total_cost",), _plain("total_cost")),
    "PROMPT_COST": (("prompt_cost",), _plain("prompt_cost")),
    "COMPLETION_COST": (("completion_cost",), _plain("completion_cost")),
    "PROMPT_TOKEN_DETAILS": (("prompt_token_details",), lambda m: _raw(m.data["prompt_token_details"])),
    "COMPLETION_TOKEN_DETAILS": (("completion_token_details",), lambda m: _raw(m.data["completion_token_details"])),
    "PROMPT_COST_DETAILS": ((), _none),
    "COMPLETION_COST_DETAILS": ((), _none),
    "PRICE_MODEL_ID": ((), _none),
    "TAGS": (("tags",), _plain("tags")),
    "APP_PATH": (("app_path",), _plain("app_path")),
    "ATTACHMENTS": (("attachments",), Made.attachments),
    "THREAD_EVALUATION_TIME": ((), _none),
    "IS_IN_DATASET": (("in_dataset",), lambda m: bool(m.data["in_dataset"])),
    "LAST_QUEUED_AT": ((), _none),
    "SHARE_URL": ((), _none),
    "FEEDBACK_STATS": (("feedback_stats",), _plain("feedback_stats")),
    "LS_USER_ID": ((), _none),
}
MAX_SELECTS = 2 * len(FIELDS)  # a list naming each field twice is still a mistake, not an attack


def check_selects(selects: Any) -> tuple[str, ...]:
    """The fields a request selects, in its order without repeats (``ID`` for none given);
    ValidationError naming the known ones for anything else."""
    if selects is None:
        return ("ID",)
    if not isinstance(selects, list):
        raise errors.ValidationError(f"selects must be a list of RunSelectField names, got {shown(selects)}")
    if len(selects) > MAX_SELECTS:
        raise errors.LimitError(f"selects lists {len(selects):,} fields; there are {len(FIELDS)}")
    for name in selects:
        if not isinstance(name, str) or name not in FIELDS:
            raise errors.ValidationError(f"selects: {shown(name)} is not a RunSelectField; known are "
                                         f"{', '.join(FIELDS)}")
    return tuple(dict.fromkeys(selects)) or ("ID",)


def record_fields(selects: tuple[str, ...]) -> list[str]:
    """The ``to_dict()`` fields a listing reads for ``selects`` (only those are decoded)."""
    return sorted({field for name in selects for field in FIELDS[name][0]})


def run_v2(record, selects: tuple[str, ...], base_url: str, api_key: str | None) -> dict:
    """``record`` as a v2 ``Run``: the selected fields only."""
    made = Made(record, base_url, api_key)
    return {name.lower(): FIELDS[name][1](made) for name in selects}
