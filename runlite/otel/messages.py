"""A span's inputs and outputs under the OTel conventions (``docs/OTEL.md``): JSON attributes
(``gen_ai.prompt``, ``input.value``, ``traceloop.entity.input``, ``gen_ai.input.messages``...),
indexed attributes (``gen_ai.prompt.0.role``, ``llm.input_messages.0.message.content``),
OpenInference's retrieved documents and GenAI's message events. The first form present is
used; the others are kept in ``extra.otel.attributes``. Pure."""

from __future__ import annotations

import re
from typing import Any

from .values import from_json, plain

_NUMBERED = re.compile(r"\.[0-9]+\.")  # an indexed attribute: gen_ai.prompt.0.role

INPUT_JSON = ("gen_ai.prompt", "input.value", "traceloop.entity.input", "gen_ai.input.messages",
              "gen_ai.tool.call.arguments", "gen_ai.retrieval.query.text")
OUTPUT_JSON = ("gen_ai.completion", "output.value", "traceloop.entity.output", "gen_ai.output.messages",
               "gen_ai.tool.call.result", "gen_ai.retrieval.documents")
ALWAYS_JSON = ("traceloop.entity.input", "traceloop.entity.output", "gen_ai.input.messages",
               "gen_ai.output.messages", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result",
               "gen_ai.retrieval.documents")
INPUT_INDEXED = ("gen_ai.prompt", "llm.input_messages")
OUTPUT_INDEXED = ("gen_ai.completion", "llm.output_messages")
DOCUMENTS_INDEXED = "retrieval.documents"
_WRAP = {"gen_ai.input.messages": "messages", "gen_ai.output.messages": "messages",
         "gen_ai.tool.call.arguments": "input", "gen_ai.tool.call.result": "output",
         "gen_ai.retrieval.query.text": "query", "gen_ai.retrieval.documents": "documents"}
MESSAGE_EVENTS = {"gen_ai.system.message": "system", "gen_ai.user.message": "user",
                  "gen_ai.assistant.message": "assistant", "gen_ai.tool.message": "tool"}
CHOICE_EVENT = "gen_ai.choice"
CONTENT_EVENTS = {"gen_ai.content.prompt": "gen_ai.prompt", "gen_ai.content.completion": "gen_ai.completion"}
DETAILS_EVENT = "gen_ai.client.inference.operation.details"


def inputs_outputs(attrs: dict, used: set, kept: dict, events: tuple) -> tuple[dict, Any]:
    """A span's inputs (``{}`` when it has none) and outputs (None when it has none): the first
    form present of each, the other forms kept in ``kept`` (``extra.otel.attributes``); the
    attributes read are added to ``used``."""
    numbered = {k: v for k, v in attrs.items() if _NUMBERED.search(k)}
    # (Most spans have no indexed attribute: their forms are not looked for.)
    inputs = _io(attrs, used, kept, INPUT_JSON, INPUT_INDEXED if numbered else (), "input", numbered)
    outputs = _io(attrs, used, kept, OUTPUT_JSON, OUTPUT_INDEXED if numbered else (), "output", numbered)
    documents = _documents(numbered, used) if numbered else None
    if outputs is None:
        outputs = documents
    elif documents is not None:
        kept[DOCUMENTS_INDEXED] = documents["documents"]
    ev_inputs, ev_outputs = _event_messages(events)
    return (inputs if inputs is not None else (ev_inputs or {}),
            outputs if outputs is not None else ev_outputs)


def _indexed(attrs: dict, prefix: str) -> tuple[list, list[str]]:
    """``{prefix}.{n}.{path}`` attributes as a list of nested dicts in order of ``n`` (a
    ``message.`` level, OpenInference's and LangSmith's alternative form, is taken off)."""
    items: dict[int, dict] = {}
    keys = []
    start = prefix + "."
    for key, value in attrs.items():
        if not key.startswith(start) or not _NUMBERED.search(key):
            continue
        path = key[len(start):].split(".")
        if not 2 <= len(path) <= 32 or not (path[0].isascii() and path[0].isdigit() and len(path[0]) < 10):
            continue
        keys.append(key)
        _put(items.setdefault(int(path[0]), {}), path[1:], value)
    out = []
    for n in sorted(items):
        item = _listify(items[n])
        if isinstance(item, dict) and len(item) == 1 and next(iter(item)) in ("message", "document"):
            item = next(iter(item.values())) if isinstance(next(iter(item.values())), dict) else item
        out.append(item)
    return out, keys


def _put(node: dict, path: list[str], value: Any) -> None:
    for i, part in enumerate(path[:-1]):
        key: Any = int(part) if part.isascii() and part.isdigit() and len(part) < 10 else part
        child = node.get(key)
        if not isinstance(child, dict):
            if child is not None:  # a value and a deeper path under one name: keep both
                node[".".join(path[i:])] = value
                return
            child = node[key] = {}
        node = child
    last = path[-1]
    key = int(last) if last.isascii() and last.isdigit() and len(last) < 10 else last
    if isinstance(node.get(key), dict):
        node[last + "."] = value
    else:
        node[key] = value


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(k, int) for k in node):
        return [_listify(node[k]) for k in sorted(node)]
    return {str(k): _listify(v) for k, v in node.items()}


def _io(attrs: dict, used: set, kept: dict, json_keys: tuple, indexed: tuple, side: str,
        numbered: dict | None = None) -> Any:
    """Inputs or outputs: the first form present, the other forms kept in extra."""
    chosen = None
    for key in json_keys:
        if key not in attrs:
            continue
        used.add(key)
        value = attrs[key]
        if chosen is not None:
            kept[key] = value
            continue
        mime = attrs.get(f"{side}.mime_type") if key in ("input.value", "output.value") else None
        if mime == "text/plain":
            decoded = value
        else:  # JSON by definition, or JSON text of an object or array
            decoded = from_json(value, containers_only=mime is None and key not in ALWAYS_JSON)[1]
        if key in _WRAP:
            chosen = {_WRAP[key]: decoded}
        elif isinstance(decoded, dict):
            chosen = decoded
        elif isinstance(decoded, list) and key in ("gen_ai.prompt", "gen_ai.completion"):
            chosen = {"messages": decoded}
        else:
            chosen = {side: decoded}
        if side == "input" and key == "gen_ai.input.messages" and "gen_ai.system_instructions" in attrs:
            chosen["system_instructions"] = from_json(attrs["gen_ai.system_instructions"], True)[1]
            used.add("gen_ai.system_instructions")
    for prefix in indexed:
        items, keys = _indexed(attrs if numbered is None else numbered, prefix)
        if not items:
            continue
        used.update(keys)
        if chosen is None:
            chosen = {"messages": items}
        else:
            kept[prefix] = items
    return chosen


def _documents(attrs: dict, used: set) -> Any:
    """OpenInference's retrieved documents as LangSmith's retriever outputs."""
    items, keys = _indexed(attrs, DOCUMENTS_INDEXED)
    if not items:
        return None
    used.update(keys)
    docs = []
    for item in items:
        if not isinstance(item, dict):
            docs.append({"page_content": item, "type": "Document", "metadata": {}})
            continue
        item = dict(item)
        meta = from_json(item.pop("metadata", {}), containers_only=True)[1]
        doc = {"page_content": item.pop("content", ""), "type": "Document",
               "metadata": meta if isinstance(meta, dict) else {"metadata": meta}}
        doc.update(item)  # id, score ...
        docs.append(doc)
    return {"documents": docs}


def _event_messages(events: tuple) -> tuple[dict | None, dict | None]:
    """GenAI's event forms of inputs and outputs: ``gen_ai.{system,user,assistant,tool}.message``
    and ``gen_ai.choice`` (earlier), ``gen_ai.content.prompt``/``completion`` (earliest) and
    ``gen_ai.client.inference.operation.details`` (current)."""
    if not events:
        return None, None
    inputs: list = []
    outputs: list = []
    found: dict[str, Any] = {}
    for ev_name, _when, ev_attrs in events:
        ev_attrs = {str(k): plain(v, k) for k, v in (ev_attrs or {}).items()}
        if ev_name in MESSAGE_EVENTS:
            message = {"role": ev_attrs.get("role", MESSAGE_EVENTS[ev_name])}
            message.update({k: from_json(v, True)[1] for k, v in ev_attrs.items() if k not in ("role", "gen_ai.system")})
            inputs.append(message)
        elif ev_name == CHOICE_EVENT:
            outputs.append({k: from_json(v, True)[1] for k, v in ev_attrs.items() if k != "gen_ai.system"})
        elif ev_name in CONTENT_EVENTS and CONTENT_EVENTS[ev_name] in ev_attrs:
            found.setdefault(CONTENT_EVENTS[ev_name], ev_attrs[CONTENT_EVENTS[ev_name]])
        elif ev_name == DETAILS_EVENT:
            for key in ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"):
                if key in ev_attrs:
                    found.setdefault(key, ev_attrs[key])
    scratch: set = set()
    ins = _io(found, scratch, {}, INPUT_JSON, (), "input") if not inputs else {"messages": inputs}
    outs = _io(found, scratch, {}, OUTPUT_JSON, (), "output") if not outputs else {"messages": outputs}
    return ins, outs
