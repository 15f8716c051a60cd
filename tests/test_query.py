"""Filters: both grammars, the one compiler, trace/tree filters, sorting, injection, errors.

Every query here runs twice: as compiled SQL on a real store and through ``query.evaluate``;
``World.names`` asserts both give the same runs before returning their names.
"""

import ast as pyast
import json
import math
import pathlib
import platform

import pytest
from hypothesis import given, settings, strategies as st

import runlite
from runlite.storage import policy
from runlite import query
from runlite.errors import FilterError
from tests.oracles.query_eval import evaluate
from runlite.query import (
    And, Compare, KeyValue, Not, Or, compile_where, order_by_sql, parse_langsmith, parse_simvue, sort_sql,
    trace_filter_sql, tree_filter_sql,
)
from runlite.query.ast import FIELDS
from runlite.query.sort import LANGSMITH_ORDER_BY, SIMVUE_SORT_BY, SORT_COLUMNS, TABLE_SORT_BY
from runlite._host import THIS_HOST
from runlite._validation import now_us, to_us

LATER = 120_000_000  # now_us offset (2 minutes): runs with heartbeat_timeout=60 then read as lost


class World:
    """A store plus what ``evaluate`` needs to check every compiled query against it."""

    def __init__(self, store):
        self.store = store
        self.refresh()

    def refresh(self):
        with self.store.database.read() as conn:
            self.tables = {
                "feedback": [dict(zip(("run_id", "key", "score", "value"), r)) for r in
                             conn.execute("SELECT run_id, key, score, value FROM feedback")],
                "series": [dict(zip(("run_id", "name", "asset", "count", "nan_count", "min", "max", "mean",
                                     "m2", "first", "last"), r)) for r in conn.execute(
                    "SELECT run_id, name, asset, count, nan_count, min, max, mean, m2, first, last FROM series")],
                "alerts": [dict(zip(("run_id", "name", "status"), r)) for r in conn.execute(
                    "SELECT ra.run_id, al.name, ra.state FROM run_alerts AS ra"
                    " JOIN alerts AS al ON al.id = ra.alert_id")],
                "events": [dict(zip(("run_id", "message"), r)) for r in
                           conn.execute("SELECT run_id, message FROM events")],
            }
        self.records = [r.to_dict() for r in self.store.runs()]
        self.by_id = {r["id"]: r for r in self.records}

    def ids(self, sql, params, order=""):
        with self.store.database.read() as conn:
            policy.connection_read_only_authorizer(conn)  # a compiled filter can only read
            try:
                return [r[0] for r in conn.execute(f"SELECT runs.id FROM runs WHERE {sql} {order}", params)]
            finally:
                conn.authorizer = None

    def names(self, node, *, now=None, sql_of=compile_where):
        """Names of the matching runs (sorted), after checking SQL == evaluate()."""
        now = now_us() + LATER if now is None else now
        if isinstance(node, str):
            node = parse_langsmith(node)
        elif isinstance(node, list):
            node = parse_simvue(node)
        sql, params = sql_of(node, now_us=now)
        got = set(self.ids(sql, params))
        if sql_of is compile_where:
            expected = {r["id"] for r in self.records
                        if evaluate(node, r, now_us=now, runs=self.records, **self.tables)}
            assert got == expected, (node, sql, params)
        return sorted(self.by_id[i]["name"] for i in got)


def _sql(store, statement, params=()):
    with store.database.write() as conn:
        conn.execute(statement, params)


def _feedback(store, run_id, key, score=None, value=None):
    _sql(store, "INSERT INTO feedback (id, run_id, trace_id, key, score, value, created, modified)"
                " VALUES (lower(hex(randomblob(8))), ?, ?, ?, ?, ?, 0, 0)",
         (run_id, run_id, key, score, None if value is None else json.dumps(value)))


@pytest.fixture(scope="module")
def world():
    """Experiments, a trace, feedback, metrics, events and alerts with known answers."""
    store = runlite.open(":memory:")
    a = store.init("exp-alpha", metadata={"lr": 0.01, "model": "resnet", "layers": 3, "flag": True,
                                          "obj": {"a": 1}, "note": None, "w.x": "dotted"},
                   tags=["best", "gpu"], folder="/proj/a", description="first run")
    a.log_metrics({"loss": 3.0, "train/acc.top1": 0.5})
    a.log_metrics({"loss": 1.0, "train/acc.top1": 0.75})
    a.log_event("boom happened")
    a.create_user_alert("watch")
    a.log_alert(name="watch", state="critical")
    a.close()
    b = store.init("exp-beta", metadata={"lr": 0.1, "model": "ViT", "layers": "3"}, tags=["gpu"],
                   folder="/proj/b", heartbeat_timeout=60)
    b.log_metrics({"loss": float("nan")})
    b.log_metrics({"loss": 2.0})
    b.create_user_alert("watch")
    b.create_user_alert("other")
    b.log_alert(name="other", state="critical")
    b.log_event("all fine")
    b.flush()
    store.init("queued", running=False, metadata={"lr": 0.01})
    root = store.init("agent", run_type="chain", inputs={"question": "What is Up?"}, tags=["prod"],
                      metadata={"user": "ann"})
    llm = root.child("llm-call", run_type="llm", inputs={"prompt": "hi"})
    llm.end(outputs={"text": "Hello World"})
    tool = root.child("search-tool", run_type="tool")
    tool.end(error="TimeoutError: too slow")
    root.end(outputs={"answer": 42})
    store.init("stopped", heartbeat_timeout=None).set_status("terminated")
    store.init("failed_exp").set_status("failed")
    # Fixed times and token counts the API does not set directly.
    _sql(store, "UPDATE runs SET ended = coalesce(started, created) + 5000000 WHERE name = 'exp-alpha'")
    _sql(store, "UPDATE runs SET ended = coalesce(started, created) + 250000, total_tokens = 120,"
                " prompt_tokens = 100, completion_tokens = 20, total_cost = 0.002, first_token_time = started + 1000"
                " WHERE name = 'llm-call'")
    _feedback(store, root.id, "user_score", 1.0, "good")
    _feedback(store, root.id, "correct", 0.0, {"why": "wrong"})
    _feedback(store, llm.id, "user_score", 0.5)
    w = World(store)
    w.ids_of = {r["name"]: r["id"] for r in w.records}
    yield w
    store.close()


EXPERIMENTS = ["exp-alpha", "exp-beta", "failed_exp", "queued", "stopped"]
TRACE = ["agent", "llm-call", "search-tool"]
ALL = sorted(EXPERIMENTS + TRACE)


# ---------------------------------------------------------------- LangSmith: fields and operators


@pytest.mark.parametrize("text, expected", [
    ('eq(name, "agent")', ["agent"]),
    ('neq(name, "agent")', sorted(set(ALL) - {"agent"})),
    ('gt(name, "q")', ["queued", "search-tool", "stopped"]),
    ('gte(name, "queued")', ["queued", "search-tool", "stopped"]),
    ('lt(name, "exp-beta")', ["agent", "exp-alpha"]),
    ('lte(name, "exp-beta")', ["agent", "exp-alpha", "exp-beta"]),
    ('in(name, ["agent", "queued", "nobody"])', ["agent", "queued"]),
    ('in(name, [])', []),
    ('like(name, "exp-%")', ["exp-alpha", "exp-beta"]),
    ('like(name, "EXP-_ETA")', ["exp-beta"]),  # SQLite LIKE: ASCII case-insensitive
    ('like(name, "failed\\_exp")', ["failed_exp"]),  # \_ is a literal underscore
    ('like(name, "%\\%%")', []),
    ('search(name, "ALPHA")', ["exp-alpha"]),
    ('eq(run_type, "llm")', ["llm-call"]),
    ('neq(run_type, "llm")', sorted(set(ALL) - {"llm-call"})),  # NULL run_type differs too
    ('in(run_type, ["tool", null])', sorted(EXPERIMENTS + ["search-tool"])),
    ('eq(kind, "trace")', TRACE),
    ('eq(folder, "/proj/a")', ["exp-alpha"]),
    ('eq(error, null)', sorted(set(ALL) - {"search-tool"})),
    ('neq(error, null)', ["search-tool"]),
    ('search(error, "timeout")', ["search-tool"]),
    ('exists(error)', ["search-tool"]),
    ('eq(is_root, true)', sorted(EXPERIMENTS + ["agent"])),
    ('eq(is_root, false)', ["llm-call", "search-tool"]),
    ('neq(is_root, true)', ["llm-call", "search-tool"]),
    ('gt(total_tokens, 100)', ["llm-call"]),
    ('not(gt(total_tokens, 100))', sorted(set(ALL) - {"llm-call"})),  # NULL tokens are not > 100
    ('not(lte(total_tokens, 100))', ALL),  # 120 is not <= 100, and NULL is not either
    ('eq(total_tokens, 120.0)', ["llm-call"]),
    ('lte(prompt_tokens, 100)', ["llm-call"]),
    ('eq(completion_tokens, null)', sorted(set(ALL) - {"llm-call"})),
    ('in(completion_tokens, [1, 20])', ["llm-call"]),
    ('gt(total_cost, 1e-3)', ["llm-call"]),
    ('exists(total_cost)', ["llm-call"]),
    ('eq(prompt_cost, null)', ALL),
    ('neq(completion_cost, null)', []),
    ('gt(latency, 2)', ["exp-alpha"]),
    ('gt(latency, "2s")', ["exp-alpha"]),
    ('gte(latency, "250ms")', ["exp-alpha", "llm-call"]),
    ('and(gt(latency, "0.1s"), lt(latency, "1m"))', ["exp-alpha", "llm-call"]),
    ('lt(latency, "0.001h")', sorted(set(ALL) - {"exp-alpha", "exp-beta", "queued"})),
    ('eq(latency, null)', ["exp-beta", "queued"]),  # not ended
    ('exists(first_token_time)', ["llm-call"]),
    ('eq(end_time, null)', ["exp-beta", "queued"]),
    ('exists(inputs)', ["agent", "llm-call"]),
    ('exists(outputs)', ["agent", "llm-call"]),
    ('search(inputs, "what is up")', ["agent"]),
    ('search(outputs, "hello")', ["llm-call"]),
    ('like(outputs, "%42%")', ["agent"]),
    ('search(metadata, "resnet")', ["exp-alpha"]),
    ('has(tags, "gpu")', ["exp-alpha", "exp-beta"]),
    ('search(tags, "PR")', ["agent"]),
    ('and(or(has(tags, "best"), has(tags, "prod")), eq(is_root, true))', ["agent", "exp-alpha"]),
    ('eq(id, "nope")', []),
    ('not(eq(name, "agent"))', sorted(set(ALL) - {"agent"})),
    ('or(eq(name, "agent"))', ["agent"]),
])
def test_langsmith_fields(world, text, expected):
    assert world.names(text) == expected


def test_langsmith_ids_and_times(world):
    rec = {r["name"]: r for r in world.records}
    assert world.names(f'eq(id, "{rec["agent"]["id"]}")') == ["agent"]
    assert world.names(f'eq(trace_id, "{rec["agent"]["id"]}")') == TRACE
    assert world.names(f'eq(parent_run_id, "{rec["agent"]["id"]}")') == ["llm-call", "search-tool"]
    start = rec["agent"]["started"]
    assert world.names(f'gte(start_time, "{start}")') == ["agent", "failed_exp", "llm-call", "search-tool", "stopped"]
    seconds = to_us(start) / 1e6
    assert world.names(f"gte(start_time, {seconds!r})") == world.names(f'gte(start_time, "{start}")')
    # a created run starts when it was created
    queued = rec["queued"]["created"]
    assert "queued" in world.names(f'eq(start_time, "{queued}")')
    assert world.names('gt(start_time, "2000-01-01T00:00:00Z")') == ALL
    assert world.names('lt(end_time, "2000-01-01")') == []
    assert world.names(f'gt(first_token_time, "{rec["llm-call"]["started"]}")') == ["llm-call"]
    # the same in Simvue's grammar
    assert world.names([f"id == {rec['agent']['id']}"]) == ["agent"]
    assert world.names([f"trace_id == {rec['agent']['id']}"]) == TRACE
    assert world.names([f"parent_run_id == {rec['agent']['id']}", "run_type != llm"]) == ["search-tool"]
    assert world.names(["parent_run_id not exists", "kind == trace"]) == ["agent"]


def test_status_both_spellings(world):
    later = now_us() + LATER
    assert world.names('eq(status, "success")', now=later) == ["agent", "exp-alpha", "llm-call"]
    assert world.names('eq(status, "completed")', now=later) == ["agent", "exp-alpha", "llm-call"]
    # LangSmith's "error" is what to_dict() words so: failed, terminated and lost runs
    assert world.names('eq(status, "error")', now=later) == ["exp-beta", "failed_exp", "search-tool", "stopped"]
    assert world.names('eq(status, "failed")', now=later) == ["failed_exp", "search-tool"]
    assert world.names('eq(status, "terminated")', now=later) == ["stopped"]
    # exp-beta's heartbeat is older than its 60 s timeout at `later`: lost, not running or pending
    assert world.names('eq(status, "lost")', now=later) == ["exp-beta"]
    assert world.names('eq(status, "running")', now=later) == []
    assert world.names('eq(status, "pending")', now=later) == ["queued"]
    # ... and at the real now it is still running
    assert world.names('eq(status, "running")', now=now_us()) == ["exp-beta"]
    assert world.names('eq(status, "pending")', now=now_us()) == ["exp-beta", "queued"]
    assert world.names('in(status, ["lost", "created"])', now=later) == ["exp-beta", "queued"]
    assert world.names('neq(status, "success")', now=later) == ["exp-beta", "failed_exp", "queued",
                                                                   "search-tool", "stopped"]


# ---------------------------------------------------------------- key/value pairs


@pytest.mark.parametrize("text, expected", [
    ('eq(metadata_key, "lr")', ["exp-alpha", "exp-beta", "queued"]),
    ('eq(metadata_value, "resnet")', ["exp-alpha"]),
    ('eq(metadata_value, 3)', ["exp-alpha"]),  # the number 3; exp-beta's "3" is a string
    ('eq(metadata_value, "3")', ["exp-beta"]),
    ('eq(metadata_value, true)', ["exp-alpha"]),
    ('eq(metadata_value, null)', ["exp-alpha"]),
    ('and(eq(metadata_key, "lr"), eq(metadata_value, 0.01))', ["exp-alpha", "queued"]),
    ('and(eq(metadata_key, "lr"), gt(metadata_value, 0.05))', ["exp-beta"]),
    ('and(eq(metadata_key, "model"), gt(metadata_value, "S"))', ["exp-alpha", "exp-beta"]),  # binary order
    ('gt(metadata_value, "S")', ["agent", "exp-alpha", "exp-beta"]),  # "ann", "resnet", "ViT"; not "3"
    ('lt(metadata_value, 0.05)', ["exp-alpha", "queued"]),  # numbers only: not "3", not true
    # the same pair: no run has layers == "resnet", although one has both
    ('and(eq(metadata_key, "layers"), eq(metadata_value, "resnet"))', []),
    # two separate and()s are two pairs
    ('and(and(eq(metadata_key, "layers"), eq(metadata_value, 3)),'
     ' and(eq(metadata_key, "model"), eq(metadata_value, "resnet")))', ["exp-alpha"]),
    ('in(metadata_key, ["user", "nope"])', ["agent"]),
    ('and(in(metadata_key, ["lr", "layers"]), in(metadata_value, [3, 0.1]))', ["exp-alpha", "exp-beta"]),
    # neq on a key: runs without that key (LangSmith's docs)
    ('neq(metadata_key, "lr")', sorted(set(ALL) - {"exp-alpha", "exp-beta", "queued"})),
    ('and(eq(metadata_key, "lr"), neq(metadata_value, 0.01))', ["exp-beta"]),
    ('not(and(eq(metadata_key, "lr"), eq(metadata_value, 0.01)))', sorted(set(ALL) - {"exp-alpha", "queued"})),
    ('exists(metadata, "obj")', ["exp-alpha"]),
    ('has(metadata, \'{"lr": 0.01, "model": "resnet"}\')', ["exp-alpha"]),
    ('has(metadata, \'{"lr": 0.01}\')', ["exp-alpha", "queued"]),
    ('has(metadata, \'{"obj": {"a": 1}}\')', ["exp-alpha"]),
    ('has(metadata, \'{"obj": {"a": 2}}\')', []),
    ('has(metadata, \'{}\')', ALL),
    ('eq(input_key, "question")', ["agent"]),
    ('and(eq(input_key, "prompt"), eq(input_value, "hi"))', ["llm-call"]),
    ('exists(inputs, "prompt")', ["llm-call"]),
    ('and(eq(output_key, "answer"), gte(output_value, 42))', ["agent"]),
    ('eq(output_value, "Hello World")', ["llm-call"]),
    ('and(eq(feedback_key, "user_score"), eq(feedback_score, 1))', ["agent"]),
    ('and(eq(feedback_key, "user_score"), gt(feedback_score, 0.1))', ["agent", "llm-call"]),
    ('and(eq(feedback_key, "correct"), eq(feedback_score, 1))', []),  # same feedback row
    ('eq(feedback_value, "good")', ["agent"]),
    ('eq(feedback_value, null)', ["llm-call"]),
    ('and(eq(feedback_key, "user_score"), neq(feedback_value, "good"))', ["llm-call"]),
    ('in(feedback_key, ["correct"])', ["agent"]),
    ('or(eq(metadata_key, "user"), eq(input_key, "prompt"))', ["agent", "llm-call"]),
])
def test_key_value_pairs(world, text, expected):
    assert world.names(text) == expected


def test_objects_and_arrays_compare_by_value(mem):
    """A nested object or array equals another member by member: an object's keys in any
    order, numbers by value (1 is 1.0), ``true`` only ``true``; an array's members in order.
    Compared as JSON text, ``{"a": 1, "b": 2}`` missed a run holding ``{"b": 2, "a": 1}``."""
    metadata = {
        "ba": {"cfg": {"b": 2, "a": 1}}, "ab": {"cfg": {"a": 1, "b": 2}}, "floats": {"cfg": {"a": 1.0, "b": 2.0}},
        "more": {"cfg": {"a": 1, "b": 2, "c": 3}}, "fewer": {"cfg": {"a": 1}}, "true": {"cfg": {"a": True, "b": 2}},
        "text": {"cfg": {"a": "1", "b": 2}}, "empty": {"cfg": {}}, "list": {"cfg": []},
        "nested": {"arr": [{"y": 2, "x": 1}, [1, 2.0], None]}, "reordered": {"arr": [[1, 2], {"x": 1, "y": 2}, None]},
        "inner order": {"arr": [{"x": 1, "y": 2}, [2, 1], None]}, "longer": {"arr": [{"x": 1, "y": 2}, [1, 2], None, 4]},
    }
    ids = {name: mem.init(name, metadata=md, inputs=md).id for name, md in metadata.items()}
    _feedback(mem, ids["ba"], "why", value={"why": "wrong", "n": 1})
    _feedback(mem, ids["ab"], "why", value={"n": 2, "why": "wrong"})
    world = World(mem)
    same_cfg = ["ab", "ba", "floats"]
    for text, expected in (
            ('has(metadata, \'{"cfg": {"a": 1, "b": 2}}\')', same_cfg),
            ('has(metadata, \'{"cfg": {"b": 2.0, "a": 1.0}}\')', same_cfg),
            ('has(metadata, \'{"cfg": {"a": true, "b": 2}}\')', ["true"]),
            ('has(metadata, \'{"cfg": {"a": "1", "b": 2}}\')', ["text"]),
            ('has(metadata, \'{"cfg": {}}\')', ["empty"]),
            ('has(metadata, \'{"cfg": []}\')', ["list"]),
            ('has(metadata, \'{"arr": [{"x": 1, "y": 2}, [1.0, 2], null]}\')', ["nested"]),
            ('not(has(metadata, \'{"cfg": {"b": 2, "a": 1}}\'))', sorted(set(metadata) - set(same_cfg)))):
        assert world.names(text) == expected, text
    for source in ("metadata", "inputs"):  # a member named by its key (inputs: a dotted path)
        node = KeyValue(source, [Compare("key", "eq", "cfg"), Compare("value", "eq", {"b": 2, "a": 1})])
        assert world.names(node) == same_cfg, source
        node = KeyValue(source, [Compare("key", "eq", "cfg"), Compare("value", "neq", {"b": 2, "a": 1})])
        assert world.names(node) == sorted({"more", "fewer", "true", "text", "empty", "list"}), source
        node = KeyValue(source, [Compare("value", "in", ({"a": 1}, [], 5))])
        assert world.names(node) == ["fewer", "list"], source
    node = KeyValue("feedback", [Compare("value", "eq", {"n": 1.0, "why": "wrong"})])
    assert world.names(node) == ["ba"]


def test_objects_compare_by_value_on_every_connection(tmp_path):
    """The comparison runs on the writer, on a reader and on a reader of a file from someone else."""
    path = str(tmp_path / "runs.db")
    text = 'has(metadata, \'{"cfg": {"a": 1, "b": [2, {"d": 4, "c": 3}]}}\')'
    with runlite.open(path) as store:
        run = store.init("hit", metadata={"cfg": {"b": [2.0, {"c": 3, "d": 4}], "a": 1}})
        store.init("miss", metadata={"cfg": {"b": [{"c": 3, "d": 4}, 2], "a": 1}})
        sql, params = compile_where(parse_langsmith(text), now_us=0)
        with store.database.write() as conn:  # the writer
            assert [r[0] for r in conn.execute(f"SELECT runs.id FROM runs WHERE {sql}", params)] == [run.id]
        assert [r.name for r in store.list_runs(filter=text)] == ["hit"]
    for flags in ({"read_only": True}, {"read_only": True, "untrusted": True}):
        with runlite.open(path, **flags) as store:
            assert [r.name for r in store.list_runs(filter=text)] == ["hit"], flags


def test_pairs_are_grouped_per_and():
    node = parse_langsmith('and(eq(metadata_key, "a"), eq(name, "n"), eq(metadata_value, 1), eq(feedback_key, "k"))')
    assert node == And([KeyValue("metadata", [Compare("key", "eq", "a", 7), Compare("value", "eq", 1, 45)], 7),
                        Compare("name", "eq", "n", 30), KeyValue("feedback", [Compare("key", "eq", "k", 68)], 68)])
    assert parse_langsmith('eq(metadata_value, 1)') == KeyValue("metadata", [Compare("value", "eq", 1, 3)], 3)
    assert parse_langsmith('not(eq(metadata_key, "a"))') == Not(KeyValue("metadata", [Compare("key", "eq", "a", 7)], 7))


def test_values_and_escapes():
    assert parse_langsmith("eq(name, 'it\\'s')").value == "it's"
    assert parse_langsmith('eq(name, "say \\"hi\\"")').value == 'say "hi"'
    assert parse_langsmith('eq(name, "a\\\\b")').value == "a\\b"
    assert parse_langsmith('like(name, "100\\%")').value == "100\\%"  # unknown escapes kept for LIKE
    assert parse_langsmith('gt(total_tokens, -1.5e3)').value == -1500.0
    assert parse_langsmith(' \n and ( eq ( name , "x" ) ) \t').children[0].value == "x"
    assert parse_langsmith('eq(name, "%s")' % ("x" * query.MAX_STRING)).value == "x" * query.MAX_STRING


# ---------------------------------------------------------------- Simvue


@pytest.mark.parametrize("filters, expected", [
    (["name == agent"], ["agent"]),
    (["name != agent"], sorted(set(ALL) - {"agent"})),
    (["name contains exp"], ["exp-alpha", "exp-beta", "failed_exp"]),
    (["name contains EXP"], []),  # case-sensitive
    (["name not contains exp-"], sorted(set(ALL) - {"exp-alpha", "exp-beta"})),
    (["name > r"], ["search-tool", "stopped"]),
    (["name <= exp-alpha"], ["agent", "exp-alpha"]),
    (["name == 'exp-alpha'"], ["exp-alpha"]),
    (["description == first run"], ["exp-alpha"]),
    (["description exists"], ["exp-alpha"]),
    (["description not exists"], sorted(set(ALL) - {"exp-alpha"})),
    (["status == completed"], ["agent", "exp-alpha", "llm-call"]),
    (["status != completed"], ["exp-beta", "failed_exp", "queued", "search-tool", "stopped"]),
    (["status == lost"], ["exp-beta"]),
    (["run_type == llm"], ["llm-call"]),
    (["kind == experiment"], EXPERIMENTS),
    (["folder.path == /proj/a"], ["exp-alpha"]),
    (["folder.path contains /proj"], ["exp-alpha", "exp-beta"]),
    (["has tag.gpu"], ["exp-alpha", "exp-beta"]),
    (["not has tag.gpu"], sorted(set(ALL) - {"exp-alpha", "exp-beta"})),
    (["tag == best"], ["exp-alpha"]),
    (["tag != best"], sorted(set(ALL) - {"exp-alpha"})),
    (["tag contains pu"], ["exp-alpha", "exp-beta"]),
    (["tag not contains pu"], sorted(set(ALL) - {"exp-alpha", "exp-beta"})),
    (["metadata.lr > 0.05"], ["exp-beta"]),
    (["metadata.lr == 0.01"], ["exp-alpha", "queued"]),
    (["metadata.lr != 0.01"], sorted(set(ALL) - {"exp-alpha", "queued"})),  # NOT of ==
    (["metadata.lr <= 0.1", "metadata.lr >= 0.1"], ["exp-beta"]),
    (["metadata.layers == 3"], ["exp-alpha"]),
    (["metadata.layers == '3'"], ["exp-alpha"]),  # quotes are stripped; the value still reads as a number
    (["metadata.model == ViT"], ["exp-beta"]),
    (["metadata.model > S"], ["exp-alpha", "exp-beta"]),
    (["metadata.model > s"], []),
    (["metadata.model contains net"], ["exp-alpha"]),
    (["metadata.model not contains net"], sorted(set(ALL) - {"exp-alpha"})),
    (["metadata.flag == true"], ["exp-alpha"]),
    (["metadata.note == null"], ["exp-alpha"]),
    (["metadata.w.x == dotted"], ["exp-alpha"]),
    (["metadata.w.x exists"], ["exp-alpha"]),
    (["metadata.obj exists"], ["exp-alpha"]),
    (["metadata.obj not exists"], sorted(set(ALL) - {"exp-alpha"})),
    (["metadata.user exists", "run_type == chain"], ["agent"]),
    ([f"system.hostname == {THIS_HOST}"], ["agent", "exp-alpha", "exp-beta", "failed_exp", "llm-call",
                                           "search-tool", "stopped"]),
    (["system.cwd exists"], sorted(set(ALL) - {"queued"})),
    # issue 17: Simvue's other spellings
    (["has not tag.gpu"], sorted(set(ALL) - {"exp-alpha", "exp-beta"})),
    (["not has not tag.gpu"], ["exp-alpha", "exp-beta"]),
    (["starred"], []),  # a starred run is one tagged "starred": none here
    (["not starred"], ALL),
    ([f"system.cpu.arch == {platform.machine()}"], ["agent", "exp-alpha", "exp-beta", "failed_exp", "llm-call",
                                                    "search-tool", "stopped"]),  # nested system keys
    (["system.cpu exists"], sorted(set(ALL) - {"queued"})),
    (["system.cpu.arch != nosuch"], ALL),
    (["user == self"], ALL),  # no run records a user: each belongs to whoever reads the file
    (["user != self"], []),
    (["user == somebody-else-entirely"], []),
    (["alert.name == watch"], ["exp-alpha", "exp-beta"]),
    (["alert.name != watch"], sorted(set(ALL) - {"exp-alpha", "exp-beta"})),
    (["alert.name contains oth"], ["exp-beta"]),
    (["alert.status == critical"], ["exp-alpha", "exp-beta"]),
    (["alert.status != critical"], sorted(set(ALL) - {"exp-alpha", "exp-beta"})),
    # name and status of one alert: exp-beta's "watch" is ok, its "other" is critical
    (["alert.name == watch", "alert.status == critical"], ["exp-alpha"]),
    (["alert.name == watch", "alert.status == ok"], ["exp-beta"]),
    (["event.message contains boom"], ["exp-alpha"]),
    (["event.message contains BOOM"], []),
    (["event.message not contains boom"], sorted(set(ALL) - {"exp-alpha"})),
    (["event.message == all fine"], ["exp-beta"]),
    (["metric.loss.min < 1.5"], ["exp-alpha"]),
    (["metric.loss.min <= 2"], ["exp-alpha", "exp-beta"]),
    (["metric.loss.max > 2.5"], ["exp-alpha"]),
    (["metric.loss.avg == 2"], ["exp-alpha", "exp-beta"]),
    (["metric.loss.mean == 2"], ["exp-alpha", "exp-beta"]),
    (["metric.loss.last == 2"], ["exp-beta"]),
    (["metric.loss.first == 3"], ["exp-alpha"]),
    (["metric.loss.first != 3"], sorted(set(ALL) - {"exp-alpha"})),  # exp-beta's first is NaN
    (["metric.loss.count == 2"], ["exp-alpha", "exp-beta"]),
    (["metric.loss.nan_count >= 1"], ["exp-beta"]),
    (["metric.loss.var > 0.5"], ["exp-alpha"]),  # population variance of 3, 1 = 1
    (["metric.loss.var == 0"], ["exp-beta"]),
    (["metric.train/acc.top1.max == 0.75"], ["exp-alpha"]),  # name with '/' and '.'
    (["metrics.loss.count > 0"], ["exp-alpha", "exp-beta"]),
    (["created < 1h"], ALL),
    (["created > 1h"], []),
    (["started < 1d"], sorted(set(ALL) - {"queued"})),  # never started
    (["ended exists"], sorted(set(ALL) - {"exp-beta", "queued"})),
    (["modified >= 1w"], []),
    (["created > 2000-01-01T00:00:00Z"], ALL),
    (["created < 946684800"], []),
    ("name == agent", ["agent"]),
    ([], ALL),
])
def test_simvue_fields(world, filters, expected):
    assert world.names(filters if isinstance(filters, list) else [filters]) == expected


def test_simvue_relative_times_use_now(world):
    rec = {r["name"]: r for r in world.records}
    created = to_us(rec["agent"]["created"])
    # one hour after `agent` was created it is no longer "created within the last 30 minutes"
    assert "agent" not in world.names(["created < 30m"], now=created + 3_600_000_000)
    assert "agent" in world.names(["created > 30m"], now=created + 3_600_000_000)
    assert "agent" in world.names(["created <= 2h"], now=created + 3_600_000_000)
    assert world.names([f"created >= {rec['agent']['created']}", "kind == trace"]) == TRACE


def test_grammars_agree(world):
    pairs = [
        (["metadata.lr > 0.05"], 'and(eq(metadata_key, "lr"), gt(metadata_value, 0.05))'),
        (["has tag.gpu", "name contains alpha"], 'and(has(tags, "gpu"), like(name, "%alpha%"))'),
        (["status == failed"], 'eq(status, "failed")'),
        (["folder.path == /proj/b"], 'eq(folder, "/proj/b")'),
        (["metadata.obj exists"], 'exists(metadata, "obj")'),
    ]
    for simvue, langsmith in pairs:
        assert world.names(simvue) == world.names(langsmith)


# ---------------------------------------------------------------- trace and tree filters


def test_trace_filter(world):
    # runs whose root has feedback user_score == 1 (the seed's example)
    node = parse_langsmith('and(eq(feedback_key, "user_score"), eq(feedback_score, 1))')
    assert world.names(node, sql_of=trace_filter_sql) == TRACE
    assert world.names(parse_langsmith('eq(name, "llm-call")'), sql_of=trace_filter_sql) == []
    assert world.names(parse_simvue(["has tag.gpu"]), sql_of=trace_filter_sql) == ["exp-alpha", "exp-beta"]


def test_tree_filter(world):
    node = parse_langsmith('eq(run_type, "llm")')
    assert world.names(node, sql_of=tree_filter_sql) == TRACE
    sql, params = tree_filter_sql(node, now_us=now_us())
    roots = world.ids(f"runs.parent_run_id IS NULL AND {sql}", params)
    assert [world.by_id[i]["name"] for i in roots] == ["agent"]
    # a run's own tree includes itself
    assert world.names(parse_langsmith('eq(name, "queued")'), sql_of=tree_filter_sql) == ["queued"]
    # combined with a filter and a trace filter
    where, p1 = compile_where(parse_langsmith('neq(error, null)'), now_us=now_us())
    trace, p2 = trace_filter_sql(parse_langsmith('has(tags, "prod")'), now_us=now_us())
    assert [world.by_id[i]["name"] for i in world.ids(f"{where} AND {trace}", p1 + p2)] == ["search-tool"]


@pytest.mark.parametrize("text", ['eq(run_type, "llm")', 'and(eq(name, "agent"), eq(status, "success"))',
                                  'and(eq(run_type, "tool"), gt(total_tokens, 5))'])
def test_tree_filter_finds_the_matching_traces_once(world, text):
    """The traces holding a match are found by one pass (by an index where the filter has one),
    never for each run listed: per run, walking every run of a type made a 100,000-span file
    hang, and walking its trace made one 10,001-span trace take 49 s."""
    sql, params = tree_filter_sql(parse_langsmith(text), now_us=now_us())
    with world.store.database.read() as conn:
        plan = " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN SELECT runs.id FROM runs WHERE {sql}",
                                                         params))
    assert "LIST SUBQUERY" in plan and "CORRELATED" not in plan and "SEARCH t USING INDEX" in plan, plan


# ---------------------------------------------------------------- sorting


def test_sort(world):
    order, params = sort_sql(["created"])
    by_created = sorted(world.records, key=lambda r: (to_us(r["created"]), r["id"]))
    assert world.ids("1", params, order + ", runs.id") == [r["id"] for r in by_created]
    order, params = sort_sql(["-metric.loss.min"])
    assert params == ["loss"]
    rows = world.ids("1", params, order + ", runs.name")
    assert [world.by_id[i]["name"] for i in rows][:2] == ["exp-beta", "exp-alpha"]  # NULLs last
    order, params = sort_sql([("metadata.lr", True), "name"])
    rows = [world.by_id[i]["name"] for i in world.ids("1", params, order)]
    assert rows[:3] == ["exp-beta", "exp-alpha", "queued"]
    order, params = sort_sql("metadata.lr asc")
    rows = [world.by_id[i]["name"] for i in world.ids("1", params, order + ", runs.name")]
    assert rows[:3] == ["exp-alpha", "queued", "exp-beta"]
    rows = [world.by_id[i]["name"] for i in world.ids("1", [], sort_sql(["name desc"])[0])]
    assert rows == sorted(ALL, reverse=True)
    rows = [world.by_id[i]["name"] for i in world.ids("1", [], sort_sql(["-latency", "name"])[0])]
    assert rows[:2] == ["exp-alpha", "llm-call"] and set(rows[-2:]) == {"exp-beta", "queued"}
    for key in ("started", "ended", "endtime", "modified", "status", "start_time", "end_time", "id",
                "metric.train/acc.top1.last", "metadata.w.x"):
        order, params = sort_sql([key])
        assert len(world.ids("1", params, order)) == len(ALL)
    assert sort_sql([]) == ("", [])
    for bad in (["nope"], ["metric.loss"], ["metric.loss.median"], [("name", "yes")], [42], ["metadata."]):
        with pytest.raises(FilterError):
            sort_sql(bad)
    with pytest.raises(FilterError):
        sort_sql(["name"], alias="x; DROP TABLE runs")
    with pytest.raises(FilterError, match="cannot sort by 'dotted_order'"):
        sort_sql(["dotted_order"])  # a LangSmith order_by name: each API keeps its own names


def test_order_by(world):
    """LangSmith ``order_by``: its own names, "-"/"+" prefixes, over the columns ``sort_by`` uses."""
    rows = [world.by_id[i]["name"] for i in world.ids("1", [], order_by_sql(["-name"])[0])]
    assert rows == sorted(ALL, reverse=True)
    rows = [world.by_id[i]["name"] for i in world.ids("1", [], order_by_sql(["+run_type", "name"])[0])]
    by_type = sorted(world.records, key=lambda r: (r["run_type"] is None, r["run_type"] or "", r["name"]))
    assert rows == [r["name"] for r in by_type]  # NULLs last
    for field in LANGSMITH_ORDER_BY:
        order, params = order_by_sql("-" + field)
        assert params == [] and len(world.ids("1", params, order)) == len(ALL)
    for field in set(LANGSMITH_ORDER_BY) & set(SIMVUE_SORT_BY):  # one column, one SQL, either API
        assert order_by_sql(["-" + field, field]) == sort_sql(["-" + field, field])
    assert order_by_sql(None) == order_by_sql([]) == ("", [])
    for bad, words in ((["started"], "cannot order by 'started'; use one of created, dotted_order"),
                       (["metadata.lr"], "cannot order by"), ([42], "field names like '-start_time'"),
                       (42, "a field name or a list of them")):
        with pytest.raises(FilterError, match=words):
            order_by_sql(bad)
    with pytest.raises(FilterError):
        order_by_sql(["name"], alias="x; DROP TABLE runs")


def test_one_sort_whitelist():
    """Both APIs and the viewer's run table name columns of SORT_COLUMNS, and filter fields sort
    by their filter SQL."""
    assert set(LANGSMITH_ORDER_BY.values()) | set(SIMVUE_SORT_BY.values()) | set(TABLE_SORT_BY.values()) \
        == set(SORT_COLUMNS)
    for column, sql in SORT_COLUMNS.items():
        assert column not in FIELDS or FIELDS[column].sql == sql


def test_query_package_layout():
    """ast <- parse and ast <- compile <- sort: parse never imports the compiler, imports are at
    module level (no cycle to dodge), no module takes another's _private names, and each module
    stays under 600 lines."""
    folder = pathlib.Path(query.__file__).parent
    for path in folder.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert text.count("\n") < 600, path.name
        tree = pyast.parse(text)
        top = {id(n) for n in tree.body}
        for node in pyast.walk(tree):
            if isinstance(node, (pyast.Import, pyast.ImportFrom)):
                assert id(node) in top, f"{path.name}:{node.lineno}: a lazy import"
            if isinstance(node, pyast.ImportFrom):
                assert not [a.name for a in node.names if a.name.startswith("_") and a.name != "__future__"], \
                    f"{path.name}:{node.lineno} imports a private name"
                if path.name == "parse.py" and node.level == 1:
                    assert node.module == "ast", f"parse.py imports .{node.module}"
    oracle = pyast.parse(pathlib.Path(evaluate.__code__.co_filename).read_text(encoding="utf-8"))
    for node in pyast.walk(oracle):
        if isinstance(node, pyast.ImportFrom) and (node.module or "").startswith("runlite.query"):
            assert not [a.name for a in node.names if a.name.startswith("_")]


# ---------------------------------------------------------------- errors and their positions


@pytest.mark.parametrize("text, position, words", [
    ('eq(nme, "x")', 3, "valid fields: id, name"),
    ('eqq(name, "x")', 0, "unknown function"),
    ('eq(name, "x") junk', 14, "after the end"),
    ('eq(name, "x"))', 13, "after the end"),
    ('and(eq(name, "x")', 3, "never closed"),
    ('eq(name, "x"', 2, "never closed"),
    ('eq(name, "x)', 9, "unterminated string"),
    ("eq(name, 'x", 9, "unterminated string"),
    ('eq(name)', 7, "too few arguments"),
    ('eq(name, "a", "b")', 12, "too many arguments"),
    ('not(eq(name, "a"), eq(name, "b"))', 17, "too many arguments"),
    ('gt(total_tokens, "many")', 17, "compares with a number"),
    ('eq(name, 5)', 9, "compares with a string"),
    ('gt(status, "success")', 0, "cannot be used on status"),
    ('eq(status, "happy")', 11, "status is one of"),
    ('has(name, "x")', 0, "cannot be used on name"),
    ('eq(is_root, "yes")', 12, "true or false"),
    ('gt(latency, "soon")', 12, "latency compares with seconds"),
    ('gt(start_time, "yesterday")', 15, "ISO-8601"),
    ('in(name, "x")', 9, "[list]"),
    ('eq(name, ["x"])', 9, "not a list"),
    ('in(name, [["x"]])', 10, "nested"),
    ('in(name, ["x"', 9, "this [ is never closed"),
    ('in(name, ["x" "y"])', 14, "expected ','"),
    ('has(inputs, "x")', 0, "on inputs use: search, like, exists"),
    ('has(tags, 1)', 10, "quoted string"),
    ('search(name, 1)', 13, "quoted string"),
    ('has(metadata, "{not json")', 14, "JSON object"),
    ('has(metadata, "[1]")', 14, "JSON object"),
    ('exists(metadata)', 7, "needs a key"),
    ('exists(name, "k")', 13, "metadata, inputs or outputs"),
    ('like(name, "abc\\\\")', 11, "lone"),
    ('eq(name, "%s")' % ("x" * (query.MAX_STRING + 1)), 9, "longer than"),
    ('eq(name, "a\x00b")', 11, "NUL"),
    ('eq(name, @)', 9, "unexpected character"),
    ('eq(total_tokens, 1e999)', 17, "finite"),
    ('eq(total_tokens, 99999999999999999999)', 17, "64 bits"),
    ('', 0, "expected a function"),
    ('"x"', 0, "expected a function"),
    ('eq("nme", "x")', 3, "unknown field 'nme'; valid fields: id, name"),
    ('eq(1, "x")', 3, "expected a field name"),
    ('eq(name, )', 9, "expected a value"),
    ('gt(metadata_value, true)', 19, "compares with a string or a number"),
    ('eq(metadata_key, 1)', 17, "quoted string"),
    ('eq(feedback_score, "x")', 19, "number"),
    ('and(' * 64 + 'eq(name, "x")' + ')' * 64, 256, "deeper than 64"),
])
def test_langsmith_error_positions(text, position, words):
    with pytest.raises(FilterError) as info:
        parse_langsmith(text)
    assert info.value.position == position, str(info.value)
    assert words in str(info.value)
    assert info.value.text or not text


def test_nesting_limit_is_inclusive():
    text = 'and(' * 63 + 'eq(name, "x")' + ')' * 63
    sql, params = compile_where(parse_langsmith(text), now_us=0)
    assert params == ["x"]
    assert str(FilterError("msg", text="abc", position=2)).endswith("abc\n    ^")


@pytest.mark.parametrize("text, position, words", [
    ("name ~ x", 5, "expected an operator"),
    ("name ==", 7, "needs a value"),
    ("namecontains x", 13, "expected an operator"),
    ("status == happy", 10, "status takes"),
    ("status > running", 0, "status takes"),
    ("created == 2h", 11, "relative time"),
    ("created < soon", 10, "compares with a time"),
    ("created contains 2", 0, "created takes"),
    ("metadata.x exists now", 18, "takes no value"),
    ("metric.loss.median < 1", 0, "stat one of"),
    ("metric.loss.min < low", 18, "with a number"),
    ("metric.loss.min contains 1", 0, "with a number"),
    ("alert.kind == x", 0, "unknown field"),
    ("alert.status == bad", 16, "ok or critical"),
    ("alert.status contains c", 0, "==, !="),
    ("tag > x", 0, "tag takes"),
    ("folder.name == x", 0, "folder.path"),
    ("metadata. == 1", 0, "needs a key"),
    ("metadata.flag > true", 16, "cannot be ordered"),
    # a number no int64 or finite float holds compared as text: 5 was not < 1e400, "1abc" was
    ("metadata.x < 9223372036854775808", 13, "int within 64 bits"),
    ("metadata.x > 1e400", 13, "finite float"),
    ("has tag.", 8, "needs a tag"),
    # a misspelt field or namespace is refused, never an empty result; metadata keys are metadata.<key>
    ("nmae == x", 0, "unknown field 'nmae' (did you mean name?)"),
    ("lr < 1", 0, "a metadata key is written metadata.lr"),
    ("metadta.lr > 0.005", 0, "unknown namespace 'metadta' in 'metadta.lr' (did you mean metadata.lr?)"),
    ("sytem.cwd == /", 0, "namespaces: metadata.<key>, system.<key>, metric.<name>"),
    ("  metadata.lr >>> 1", 14, "unknown operator '>>>'"),
    ("metadata.lr <> 1", 12, "unknown operator '<>'"),
    ("name <== x", 5, "unknown operator '<=='"),
    ("   ", 3, "expected '<field> <op> <value>'"),
])
def test_simvue_error_positions(text, position, words):
    with pytest.raises(FilterError) as info:
        parse_simvue([text])
    assert info.value.position == position, str(info.value)
    assert words in str(info.value)


def test_bad_arguments():
    for bad in (None, 42, [1], ["ok == 1", None]):
        with pytest.raises(FilterError):
            parse_simvue(bad)
    with pytest.raises(FilterError):
        parse_langsmith(None)
    with pytest.raises(FilterError):
        parse_simvue(["name == " + "x" * (query.MAX_STRING + 1)])
    with pytest.raises(FilterError, match="surrogate"):
        parse_simvue(["name == \ud800"])
    node = Compare("name", "eq", "x")
    for kwargs in ({"alias": "runs; DROP TABLE runs"}, {"alias": "r"}):
        with pytest.raises(FilterError, match="alias"):
            compile_where(node, now_us=0, **kwargs)
    with pytest.raises(FilterError, match="now_us"):
        compile_where(node, now_us=1.5)


@pytest.mark.parametrize("node", [
    Compare("name; DROP TABLE runs", "eq", "x"),
    Compare("name", "eq); DROP TABLE runs; --", "x"),
    Compare("name", "eq", object()),
    Compare("name", "eq", 1 << 70),
    Compare("name", "eq", float("nan")),
    Compare("name", "gt", True),
    Compare("name", "eq", "\udfff"),
    Compare("name", "like", "x" * query.MAX_LIKE_BYTES),
    Compare("name", "like", "é" * (query.MAX_LIKE_BYTES // 2)),
    Compare("name", "like", "a\x00"),
    Compare("total_tokens", "search", 5),
    Compare("status", "gt", "running"),
    Compare("status", "eq", "happy"),
    Compare("is_root", "eq", "yes"),
    Compare("name", "in", "abc"),
    KeyValue("runs WHERE 1=1; --", [Compare("key", "eq", "x")]),
    KeyValue("metadata", [Compare("kv.key) OR 1=1 --", "eq", "x")]),
    KeyValue("metadata", [Compare("value", "gt", None)]),
    KeyValue("metadata", [Compare("value", "gt", {"a": 1})]),
    KeyValue("metadata", [Compare("value", "eq", {"a": float("nan")})]),
    KeyValue("metadata", [Compare("value", "eq", {"a": object()})]),
    KeyValue("metadata", [Compare("value", "gt", [object()])]),
    KeyValue("feedback", [Compare("value", "in", ([1.5, float("inf")],))]),
    KeyValue("metadata", ["key"]),
    "eq(name, 'x')",
    Not(Not(None)),
    Or([Compare("name", "in", tuple(f"n{i}" for i in range(query.MAX_PARAMS + 1)))]),
])
def test_compile_refuses_bad_nodes(node):
    with pytest.raises(FilterError):
        compile_where(node, now_us=0)


def test_compile_depth_limit():
    node = Compare("name", "eq", "x")
    for _ in range(query.MAX_DEPTH + 1):
        node = Not(node)
    with pytest.raises(FilterError, match="deeper"):
        compile_where(node, now_us=0)


def test_many_conditions_stay_within_sqlite_limits(world):
    # 5,000 children of one and(): grouped so SQLite's expression depth (1000) is never reached
    text = "or(" + ", ".join(f'eq(name, "n{i}")' for i in range(5000)) + ', eq(name, "agent"))'
    assert world.names(text) == ["agent"]
    text = "and(" + ", ".join('neq(metadata_value, "zz")' for _ in range(3000)) + ")"
    assert world.names(text) == ALL  # no run has a metadata value "zz"
    big = 'in(name, [%s])' % ", ".join(f'"n{i}"' for i in range(query.MAX_PARAMS + 1))
    with pytest.raises(FilterError, match="parameters"):
        compile_where(parse_langsmith(big), now_us=0)


def test_damaged_json_matches_nothing(mem):
    """A row whose JSON columns are not valid JSON is skipped by JSON tests, not an error."""
    good, bad = mem.init("good", metadata={"k": 1}, tags=["t"]), mem.init("bad")
    _feedback(mem, bad.id, "f", 1.0)
    # tags are not damaged here: writing bad JSON to runs.tags fails in the run_tags trigger
    for column in ("metadata", "inputs", "outputs", "system"):
        _sql(mem, f"UPDATE runs SET {column} = '{{not json' WHERE id = ?", (bad.id,))
    _sql(mem, "UPDATE feedback SET value = '[' WHERE run_id = ?", (bad.id,))
    world = World.__new__(World)
    world.store = mem
    for text, expected in (('exists(metadata, "k")', [good.id]), ('has(tags, "t")', [good.id]),
                           ('eq(input_value, 1)', []), ('eq(feedback_value, "x")', []),
                           ('and(eq(feedback_key, "f"), neq(feedback_value, "x"))', [bad.id]),
                           ('search(metadata, "not")', [bad.id])):
        sql, params = compile_where(parse_langsmith(text), now_us=now_us())
        assert world.ids(sql, params) == expected, text
    sql, params = compile_where(parse_simvue(["system.cwd exists"]), now_us=now_us())
    assert world.ids(sql, params) == [good.id]
    order, params = sort_sql(["metadata.k"])
    assert len(world.ids("1", params, order)) == 2


def test_search_finds_text_json_escapes_in_documents(mem):
    """A document is searched as its JSON text, where a quote is \\" and a newline \\n: text
    holding them (most prompts) was never found."""
    prompt = {"prompt": 'say "hi"', "path": "C:\\tmp", "multi": "line1\nline2\ttab"}
    hit = mem.init("hit", inputs=prompt, metadata={"note": 'a "quoted" word'})
    mem.init("miss", inputs={"prompt": "say hi"})
    world = World.__new__(World)
    world.store = mem
    for text in ('search("say \\"hi\\"")', 'search(inputs, "SAY \\"HI")', 'search("C:\\\\tmp")',
                 'search("line1\\nline2\\t")', 'search(metadata, "a \\"quoted\\"")'):
        sql, params = compile_where(parse_langsmith(text), now_us=now_us())
        assert world.ids(sql, params) == [hit.id], text
        assert [r.id for r in mem.list_runs(filter=text)] == [hit.id], text


# ---------------------------------------------------------------- injection


NASTY = [
    "'", '"', "x'; DROP TABLE runs; --", "1=1; DROP TABLE runs", "a) OR 1=1 --", "/* comment */",
    "*/", "--", ";", ")", "(", "\\", "%", "_", "' OR '1'='1", "\" OR \"\"=\"", "é😀\u202e", "\u2028",
    "x" * 9_000, "runs.id", "?", ":now", "@x", "$1", "NULL", "1 OR 1", "\t\n", "a\x00b", "\x00",
    "x" * 20_000,
]


def _schema(store):
    with store.database.read() as conn:
        return conn.execute("SELECT type, name, sql FROM sqlite_schema ORDER BY name").fetchall()


@pytest.mark.parametrize("value", NASTY)
def test_injection_in_values_is_a_plain_value(world, value):
    before = _schema(world.store)
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    for text in (f'eq(name, "{escaped}")', f'search("{escaped}")', f'and(eq(metadata_key, "{escaped}"),'
                 f' eq(metadata_value, "{escaped}"))', f'has(tags, "{escaped}")', f'in(error, ["{escaped}", null])',
                 f'like(name, "{escaped}")'):
        try:
            node = parse_langsmith(text)
        except FilterError:
            continue  # e.g. a like pattern ending with a lone backslash
        if text.startswith("eq("):
            assert world.names(node) == []
        else:
            world.names(node)  # whatever matches, SQL and evaluate() agree on it
    one_line = value.strip() or "x"
    for filters in ([f"name == {one_line}"], [f"metadata.{one_line.split()[0]} == {one_line}"],
                    [f"has tag.{one_line}"], [f"event.message contains {one_line}"],
                    [f"metric.{one_line.split()[0]}.min > 1"], [f"{one_line.split()[0]} exists"]):
        try:
            node = parse_simvue(filters)
        except FilterError:
            continue
        assert world.names(node) == []
    assert _schema(world.store) == before


@pytest.mark.parametrize("field", ["name; DROP TABLE runs", "runs.name", "name)--", "'nme'", "na\x00me",
                                   "1=1", "sqlite_schema", "*"])
def test_injection_in_field_positions(world, field):
    before = _schema(world.store)
    with pytest.raises(FilterError):
        parse_langsmith(f"eq({field}, 'x')")
    try:
        node = parse_simvue([f"{field} == x"])  # unknown names are metadata keys: bound, never SQL
    except FilterError:
        pass
    else:
        assert world.names(node) == []
    for key in (field, "x' || (SELECT sql FROM sqlite_schema) || '"):
        with pytest.raises(FilterError):
            sort_sql([key])
        order, params = sort_sql([f"metadata.{key}"])
        # bound: as the key (json_each) or as a quoted JSON path label of it, twice
        assert params in ([key], [f'$."{key}"'] * 2) and key not in order
        assert len(world.ids("1", params, order)) == len(ALL)
    assert _schema(world.store) == before


# ---------------------------------------------------------------- random stores and filters


NAMES = ["alpha", "Alpha", "beta", "b_ta", "gamma-1", "ünï", "10"]
TAGS = ["a", "b", "C"]
KEYS = ["lr", "model", "n", "flag", "obj"]
SCALARS = st.one_of(st.integers(-2, 3), st.sampled_from([0.5, -1.5, 2.0, 1e3]),
                    st.sampled_from(["x", "y", "X", "10", ""]), st.booleans(), st.none())
VALUES = st.one_of(SCALARS, st.sampled_from([[1, 2], [2, 1.0], {"a": 1}, {"a": 1.0}, {"a": True}, [],
                                             {"a": 1, "b": [1, 2]}, {"b": [1.0, 2], "a": 1}, {}]))
STATUS_ACTIONS = ["running", "created", "completed", "failed", "terminated", "error", "outputs"]

run_specs = st.lists(st.fixed_dictionaries({
    "name": st.sampled_from(NAMES),
    "metadata": st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=3),
    "tags": st.lists(st.sampled_from(TAGS), unique=True, max_size=2),
    "folder": st.sampled_from(["/", "/a", "/a/b"]),
    "description": st.sampled_from([None, "about alpha", "X"]),
    "action": st.sampled_from(STATUS_ACTIONS),
    "parent": st.one_of(st.none(), st.integers(0, 5)),
    "inputs": st.one_of(st.none(), st.dictionaries(st.sampled_from(KEYS), SCALARS, min_size=1, max_size=2)),
    "metrics": st.lists(st.sampled_from([1.0, 2.0, -1.0, math.nan]), max_size=3),
    "event": st.sampled_from([None, "boom", "Boom x"]),
    "alert": st.sampled_from([None, "ok", "critical"]),
    "feedback": st.lists(st.tuples(st.sampled_from(["k1", "k2"]), st.sampled_from([None, 0.0, 1.0, 0.5]),
                                   SCALARS), max_size=2),
    "timeout": st.sampled_from([None, 30, 1000]),  # 30 s: lost at now + LATER, running at now
}), min_size=1, max_size=6)


def _build(specs):
    store = runlite.open(":memory:")
    runs = []
    for spec in specs:
        parent = runs[spec["parent"]] if spec["parent"] is not None and spec["parent"] < len(runs) else None
        created = spec["action"] == "created" and parent is None
        kwargs = dict(metadata=spec["metadata"], tags=spec["tags"], folder=spec["folder"],
                      description=spec["description"], heartbeat_timeout=spec["timeout"], inputs=spec["inputs"])
        run = store.init(spec["name"], running=not created, parent=parent,
                         run_type="llm" if parent is not None else None, **kwargs)
        runs.append(run)
        if created:
            continue
        if spec["metrics"]:
            for value in spec["metrics"]:
                run.log_metrics({"loss": value})
        if spec["event"]:
            run.log_event(spec["event"])
        if spec["alert"]:
            run.create_user_alert("al")
            run.log_alert(name="al", state=spec["alert"])
        run.flush()
        for key, score, value in spec["feedback"]:
            _feedback(store, run.id, key, score, value)
    for run, spec in zip(runs, specs):
        action = spec["action"]
        if run.status != "running" or action == "running":
            continue
        if action == "error":
            run.end(error="Bad thing")
        elif action == "outputs":
            run.end(outputs={"out": spec["name"]})
        elif action != "created":
            run.set_status(action)
    return World(store)


def _langsmith_leaf(times):
    s = st.sampled_from
    text = s(NAMES + ["a", "ph", "%", ""])
    ops = s(["eq", "neq", "gt", "gte", "lt", "lte"])
    scalar_lit = SCALARS.map(json.dumps)  # JSON literals are LangSmith literals (true, null, "x", 1.5)
    return st.one_of(
        st.builds(lambda o, v: f"{o}(name, {json.dumps(v)})", ops, text),
        st.builds(lambda v: f"search({json.dumps(v)})", text),
        st.builds(lambda f, v: f"search({f}, {json.dumps(v)})",
                  s(["name", "metadata", "inputs", "outputs", "tags", "error"]), text),
        st.builds(lambda v: f"like(name, {json.dumps(v)})", s(["%a%", "_lpha", "A%", "%\\_%", "%1_", "b%a"])),
        st.builds(lambda v: f"eq(status, {json.dumps(v)})", s(list(query.STATUSES) + ["success", "error", "pending"])),
        st.builds(lambda v: f"in(status, {json.dumps(v)})", st.lists(s(["lost", "created", "error"]), max_size=2)),
        st.builds(lambda v: f"has(tags, {json.dumps(v)})", s(TAGS)),
        st.builds(lambda k: f"eq(metadata_key, {json.dumps(k)})", s(KEYS)),
        st.builds(lambda k: f"neq(metadata_key, {json.dumps(k)})", s(KEYS)),
        st.builds(lambda o, v: f"{o}(metadata_value, {v})", s(["eq", "neq"]), scalar_lit),
        st.builds(lambda o, v: f"{o}(metadata_value, {json.dumps(v)})", ops,
                  st.one_of(st.integers(-2, 3), s(["x", "Y", "10"]))),
        st.builds(lambda k, o, v: f"and(eq(metadata_key, {json.dumps(k)}), {o}(metadata_value, {v}))",
                  s(KEYS), s(["eq", "neq"]), scalar_lit),
        st.builds(lambda k: f"exists(metadata, {json.dumps(k)})", s(KEYS)),
        st.builds(lambda d: "has(metadata, %s)" % json.dumps(json.dumps(d)),
                  st.dictionaries(s(KEYS), VALUES, max_size=2)),
        st.builds(lambda v: f"in(metadata_value, [{', '.join(v)}])", st.lists(scalar_lit, max_size=3)),
        st.builds(lambda k: f"eq(input_key, {json.dumps(k)})", s(KEYS)),
        st.builds(lambda v: f"eq(input_value, {v})", scalar_lit),
        st.builds(lambda v: f"eq(output_value, {json.dumps(v)})", text),
        st.builds(lambda k, o, v: f"and(eq(feedback_key, {json.dumps(k)}), {o}(feedback_score, {v}))",
                  s(["k1", "k2"]), ops, s(["0", "0.5", "1"])),
        st.builds(lambda o: f"{o}(feedback_score, null)", s(["eq", "neq"])),
        st.builds(lambda v: f"eq(feedback_value, {v})", scalar_lit),
        st.builds(lambda o: f"{o}(error, null)", s(["eq", "neq"])),
        st.builds(lambda v: f"eq(is_root, {v})", s(["true", "false"])),
        st.builds(lambda o, v: f"{o}(latency, {v})", ops, s(["0", "0.000001", '"1s"', '"0ms"'])),
        st.builds(lambda o: f"{o}(latency, null)", s(["eq", "neq"])),
        st.builds(lambda o, t: f"{o}(start_time, {json.dumps(t)})", ops, s(times)),
        st.builds(lambda o, t: f"{o}(end_time, {json.dumps(t)})", ops, s(times)),
        st.builds(lambda v: f"in(run_type, {v})", s(['["llm"]', '[null]', '["llm", null]', "[]"])),
        st.builds(lambda v: f"eq(folder, {json.dumps(v)})", s(["/", "/a", "/a/b"])),
    )


def _langsmith_filters(times):
    return st.recursive(
        _langsmith_leaf(times),
        lambda inner: st.one_of(
            st.builds(lambda xs: f"and({', '.join(xs)})", st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda xs: f"or({', '.join(xs)})", st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda x: f"not({x})", inner)),
        max_leaves=6)


def _simvue_filter(times):
    s = st.sampled_from
    ops = s(["==", "!=", "<", ">", "<=", ">="])
    return st.one_of(
        st.builds(lambda o, v: f"name {o} {v}", s(["==", "!=", "<", ">", "contains", "not contains"]),
                  s(NAMES + ["a", "ph"])),
        st.builds(lambda v: f"status == {v}", s(list(query.STATUSES) + ["success", "pending"])),
        st.builds(lambda n, t: f"{n}has tag.{t}", s(["", "not "]), s(TAGS)),
        st.builds(lambda o, t: f"tag {o} {t}", s(["==", "!=", "contains", "not contains"]), s(TAGS + ["c"])),
        st.builds(lambda k, o, v: f"metadata.{k} {o} {v}", s(KEYS), ops,
                  s(["1", "0.5", "-2", "x", "X", "10", "'10'", "3"])),
        st.builds(lambda k, o, v: f"metadata.{k} {o} {v}", s(KEYS), s(["==", "!="]), s(["true", "false", "null"])),
        st.builds(lambda k, o: f"metadata.{k} {o}", s(KEYS), s(["exists", "not exists"])),
        st.builds(lambda k, o, v: f"metadata.{k} {o} {v}", s(KEYS), s(["contains", "not contains"]), s(["x", "1"])),
        st.builds(lambda f, o, v: f"{f} {o} {v}", s(["created", "started", "ended", "modified"]),
                  s(["<", ">", "<=", ">="]), st.one_of(s(["1h", "5s", "1d"]), s(times))),
        st.builds(lambda f, o: f"{f} {o}", s(["ended", "started", "description"]), s(["exists", "not exists"])),
        st.builds(lambda f, o, v: f"metric.loss.{f} {o} {v}",
                  s(["min", "max", "avg", "mean", "last", "count", "nan_count", "var", "first"]), ops,
                  s(["0", "1", "1.5", "-1", "2"])),
        st.builds(lambda o, v: f"alert.name {o} {v}", s(["==", "!="]), s(["al", "x"])),
        st.builds(lambda o, v: f"alert.status {o} {v}", s(["==", "!="]), s(["ok", "critical"])),
        st.builds(lambda o, v: f"event.message {o} {v}", s(["contains", "not contains", "=="]),
                  s(["boom", "Boom", "x"])),
        st.builds(lambda o, v: f"folder.path {o} {v}", s(["==", "!=", "contains"]), s(["/", "/a", "/a/b"])),
        st.builds(lambda v: f"description contains {v}", s(["alpha", "X"])),
    )


@settings(max_examples=25)
@given(specs=run_specs, data=st.data())
def test_random_stores_sql_equals_evaluate(specs, data):
    """On random stores, SQL and evaluate() agree for random filters of both grammars."""
    world = _build(specs)
    try:
        times = sorted({t for r in world.records for t in (r["created"], r["started"], r["endtime"]) if t})
        now = now_us() + data.draw(st.sampled_from([0, LATER]))
        for _ in range(6):
            world.names(data.draw(_langsmith_filters(times)), now=now)
            world.names(data.draw(st.lists(_simvue_filter(times), min_size=1, max_size=3)), now=now)
    finally:
        world.store.close()


@settings(max_examples=40)
@given(text=st.text(alphabet='()[],"\'\\ aeqnmdtrxs01-.:%_', max_size=40))
def test_random_text_parses_or_raises_filter_error(text):
    """Garbage never escapes as anything but FilterError, and what parses compiles."""
    for parse in (parse_langsmith, lambda t: parse_simvue([t])):
        try:
            node = parse(text)
        except FilterError as exc:
            assert 0 <= exc.position <= len(text)
            continue
        compile_where(node, now_us=0)


def test_simvue_user_and_nested_system(mem, monkeypatch):
    """``user == self``: runs recording ``system.user`` match by it; runs recording no user
    belong to whoever reads the file. ``system.<a>.<b>`` reads nested system keys."""
    monkeypatch.setattr("getpass.getuser", lambda: "me")
    runs = {name: mem.init(name) for name in ("alice", "mine", "nobody")}
    for name, system in (("alice", {"user": "alice", "cpu": {"arch": "arm64"}}), ("mine", {"user": "me"}),
                         ("nobody", {"cpu.arch": "flat"})):
        _sql(mem, "UPDATE runs SET system = ? WHERE id = ?", (json.dumps(system), runs[name].id))
    world = World(mem)
    assert world.names(["user == self"]) == ["mine", "nobody"]
    assert world.names(["user == me"]) == ["mine", "nobody"]
    assert world.names(["user != self"]) == ["alice"]
    assert world.names(["user == alice"]) == ["alice"]
    assert world.names(["system.cpu.arch == arm64"]) == ["alice"]
    assert world.names(["system.cpu.arch == flat"]) == ["nobody"]  # a key holding a dot matches too
    assert world.names(["system.cpu.arch exists"]) == ["alice", "nobody"]
    assert world.names(["system.cpu.arch not exists"]) == ["mine"]
    for bad in ("user > self", "user contains me"):
        with pytest.raises(FilterError, match="user takes"):
            parse_simvue([bad])
