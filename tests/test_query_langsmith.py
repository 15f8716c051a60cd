"""LangSmith's filter language as its docs write it: negated keys, quoted field names,
thread_id, execution_order, the project, nested input/output key paths, like on values.

Every query goes through ``World.names`` (``tests/test_query.py``), which checks the compiled
SQL against the Python oracle (``tests/oracles/query_eval.py``) before returning names.
"""

import json

import pytest
from hypothesis import given, settings, strategies as st

import runlite
from runlite import query
from runlite.errors import FilterError, ValidationError
from runlite.query import And, Compare, KeyValue, Not, compile_where, parse_langsmith
from runlite.query.ast import MAX_PATH_DOTS, THREAD_KEYS
from runlite._validation import now_us
from tests.test_query import World, _feedback, _sql

from .plans import read_steps

A = ["a-llm", "a-parse", "a-tool", "chat-a"]  # trace A, as names sort
B = ["b-llm", "chat-b"]
ROOTS = ["chat-a", "chat-b", "chat-c", "chat-d"]
EXPERIMENTS = ["50%_off", "50x_off", "a_b", "a\\b", "plain"]
ALL = sorted(A + B + ["chat-c", "chat-d"] + EXPERIMENTS)


def but(*names):
    return sorted(set(ALL) - set(names))


@pytest.fixture(scope="module")
def world():
    store = runlite.open(":memory:")
    a = store.init("chat-a", run_type="chain", tags=["t"],
                   metadata={"thread_id": "t1", "env": "prod", "n": 10},
                   inputs={"a": {"b": 1, "c": "x"}, "messages": [{"content": "hi", "role": "user"}, {"content": "yo"}],
                           "w.x": 5, "p": {"q.r": "deep"}})
    llm = a.child("a-llm", run_type="llm", inputs={"prompt": "hi"})
    llm.child("a-parse", run_type="parser", inputs={"nested": [[{"k": "v"}]]}).end()
    llm.end(outputs={"text": "Hello World"})
    a.child("a-tool", run_type="tool").end(error="TimeoutError: too slow")
    a.end(outputs={"answer": {"text": "Hello"}})
    b = store.init("chat-b", run_type="chain", metadata={"session_id": "t1", "env": "dev"}, inputs={"a": {"b": "x"}})
    b.child("b-llm", run_type="llm").end()
    b.end()
    # thread_id 7 is not a string: the thread is conversation_id's
    store.init("chat-c", run_type="chain", metadata={"conversation_id": "t2", "thread_id": 7},
               inputs={"q": 1}).end()
    store.init("chat-d", run_type="chain", metadata={"thread_id": "t3", "session_id": "t1"}, inputs={"q": 2}).end()
    for name in EXPERIMENTS:
        store.init(name).close()
    _feedback(store, a.id, "user_score", 1.0, "good")
    _feedback(store, llm.id, "correct", 0.0)
    _sql(store, "UPDATE runs SET session_id = 'p1', session_name = 'proj' WHERE trace_id = ?", (a.id,))
    w = World(store)
    yield w
    store.close()


# ---------------------------------------------------------------- neq on keys: "runs without"


@pytest.mark.parametrize("text, expected", [
    # LangSmith's "negative filtering on key-value pairs", verbatim
    ("and(neq(metadata_key, 'thread_id'))", but("chat-a", "chat-c", "chat-d")),
    ("and(eq(metadata_key, 'thread_id'), neq(metadata_value, 't1'))", ["chat-c", "chat-d"]),
    ("and(neq(metadata_key, 'thread_id'), neq(metadata_value, 't1'))", but("chat-a", "chat-b", "chat-c", "chat-d")),
    ("and(neq(metadata_key, 'thread_id'), eq(metadata_value, 't1'))", ["chat-b"]),
    ('neq(metadata_key, "thread_id")', but("chat-a", "chat-c", "chat-d")),
    ('not(neq(metadata_key, "env"))', ["chat-a", "chat-b"]),
    ('or(neq(metadata_key, "env"), eq(name, "chat-a"))', but("chat-b")),
    ('neq(metadata_value, "t1")', but("chat-a", "chat-b", "chat-d")),
    ('and(eq(metadata_key, "env"), neq(metadata_value, "prod"), neq(metadata_value, "x"))', ["chat-b"]),
    ('and(eq(metadata_key, "env"), neq(metadata_key, "thread_id"))', ["chat-b"]),
    ('and(eq(metadata_value, "t1"), neq(metadata_value, "prod"))', ["chat-b", "chat-d"]),  # no key: two tests
    ('neq(input_key, "a")', but("chat-a", "chat-b")),
    ('neq(input_key, "a.b")', but("chat-a", "chat-b")),
    ('and(eq(input_key, "a.b"), neq(input_value, 1))', ["chat-b"]),
    ('neq(output_key, "answer")', but("chat-a")),
    ('neq(feedback_key, "user_score")', but("chat-a")),
    ('and(neq(feedback_key, "user_score"), neq(feedback_key, "correct"))', but("chat-a", "a-llm")),
    ('and(eq(feedback_key, "user_score"), neq(feedback_score, 1))', []),
    ('and(eq(feedback_key, "correct"), neq(feedback_value, "good"))', ["a-llm"]),
    ('neq(feedback_value, "good")', but("chat-a")),
    ('neq(feedback_score, 0)', but("a-llm")),
])
def test_neq_on_keys_means_absent(world, text, expected):
    assert world.names(text) == expected


def test_neq_key_nodes():
    """Positions are those of the field names."""
    absent = Not(KeyValue("metadata", [Compare("key", "eq", "k", 8)], 8))
    assert parse_langsmith("and(neq(metadata_key, 'k'))") == And([absent])
    assert parse_langsmith("neq(metadata_key, 'k')") == Not(KeyValue("metadata", [Compare("key", "eq", "k", 4)], 4))
    assert parse_langsmith("and(eq(metadata_key, 'k'), neq(metadata_value, 'v'))") == And([
        KeyValue("metadata", [Compare("key", "eq", "k", 7), Compare("value", "neq", "v", 31)], 7)])
    # without a key named, a neq value is its own "no such value" test
    assert parse_langsmith("and(neq(metadata_key, 'k'), neq(metadata_value, 'v'))") == And([
        absent, Not(KeyValue("metadata", [Compare("value", "eq", "v", 32)], 32))])


# ---------------------------------------------------------------- quoted field names


@pytest.mark.parametrize("quoted, bare", [
    ('eq("run_type", "llm")', 'eq(run_type, "llm")'),
    ("eq('run_type', 'llm')", 'eq(run_type, "llm")'),
    ('has("metadata", \'{"env": "prod"}\')', 'has(metadata, \'{"env": "prod"}\')'),
    ('has("tags", "t")', 'has(tags, "t")'),
    ('search("name", "CHAT")', 'search(name, "CHAT")'),
    ('exists("metadata", "env")', 'exists(metadata, "env")'),
    ('exists("error")', "exists(error)"),
    ('in("name", ["plain", "a_b"])', 'in(name, ["plain", "a_b"])'),
    ('and(eq("metadata_key", "env"), eq("metadata_value", "dev"))', 'and(eq(metadata_key, "env"), eq(metadata_value, "dev"))'),
    ('like("name", "50%")', 'like(name, "50%")'),
    ('gt("execution_order", 1)', "gt(execution_order, 1)"),
    ('eq("input_key", "a.b")', 'eq(input_key, "a.b")'),
])
def test_quoted_field_names(world, quoted, bare):
    assert world.names(quoted) == world.names(bare)
    assert world.names(quoted)  # each finds something


def test_search_with_one_string_is_full_text(world):
    assert world.names('search("CHAT")') == ROOTS
    assert world.names('search("name")') == []  # a field's name alone is text to look for
    assert world.names("search('name', 'a_')") == ["a_b"]


# ---------------------------------------------------------------- thread_id, project


@pytest.mark.parametrize("text, expected", [
    ('eq(thread_id, "t1")', ["chat-a", "chat-b"]),  # thread_id, then session_id
    ('eq(thread_id, "t2")', ["chat-c"]),  # a non-string thread_id is skipped
    ('eq(thread_id, "t3")', ["chat-d"]),  # thread_id wins over session_id
    ('exists(thread_id)', ROOTS),
    ('eq(thread_id, null)', but(*ROOTS)),
    ('like(thread_id, "T_")', ROOTS),
    ('in(thread_id, ["t2", "t3"])', ["chat-c", "chat-d"]),
    ('neq(thread_id, "t1")', but("chat-a", "chat-b")),
    ('search(thread_id, "3")', ["chat-d"]),
    ('eq(session_id, "p1")', A),
    ('eq(project_name, "proj")', A),
    ('eq(session_name, "proj")', A),
    ('eq(project_name, null)', but(*A)),
])
def test_thread_and_project(world, text, expected):
    assert world.names(text) == expected


def test_thread_keys_are_langsmiths():
    assert set(THREAD_KEYS) == {"thread_id", "session_id", "conversation_id"}


# ---------------------------------------------------------------- execution_order


@pytest.mark.parametrize("text, expected", [
    ("eq(execution_order, 1)", sorted(ROOTS + EXPERIMENTS)),
    ("eq(execution_order, 2)", ["a-llm", "b-llm"]),
    ("eq(execution_order, 3)", ["a-parse"]),  # a-llm's child comes before its later sibling
    ("eq(execution_order, 4)", ["a-tool"]),
    ("gt(execution_order, 1)", ["a-llm", "a-parse", "a-tool", "b-llm"]),
    ("neq(execution_order, 1)", ["a-llm", "a-parse", "a-tool", "b-llm"]),
    ("gte(execution_order, 3)", ["a-parse", "a-tool"]),
    ("gte(execution_order, 2.5)", ["a-parse", "a-tool"]),
    ("lt(execution_order, 3)", but("a-parse", "a-tool")),
    ("lt(execution_order, 1.5)", sorted(ROOTS + EXPERIMENTS)),
    ("lte(execution_order, 0)", []),
    ("gt(execution_order, -5)", ALL),
    ("eq(execution_order, 2.5)", []),
    ("gt(execution_order, 1e18)", []),
    ("in(execution_order, [3, 4, 99])", ["a-parse", "a-tool"]),
    ("in(execution_order, [2, null])", ["a-llm", "b-llm"]),
    ("eq(execution_order, null)", []),
    ("exists(execution_order)", ALL),
    ('and(eq(execution_order, 1), eq(run_type, "chain"))', ROOTS),
])
def test_execution_order(world, text, expected):
    assert world.names(text) == expected


def test_execution_order_is_the_place_by_dotted_order(world):
    by_trace = {}
    for rec in sorted(world.records, key=lambda r: r["dotted_order"]):
        by_trace.setdefault(rec["trace_id"], []).append(rec["name"])
    for names in by_trace.values():
        for place, name in enumerate(names, 1):
            assert name in world.names(f"eq(execution_order, {place})")


def _one_trace(path, spans: int):
    with runlite.open(str(path)) as store:
        root = store.init("root", run_type="chain")
        for i in range(spans):
            root.child(f"s{i}", run_type="tool").end(outputs={"i": i})
        root.close()
    return runlite.open(str(path), read_only=True)


def _vm_steps(store, **listing) -> int:
    """SQLite's virtual-machine steps (in thousands) of a listing: the work it does, whatever the
    machine's speed."""
    return read_steps(store, lambda: store.list_runs(select=["id"], **listing))


def test_execution_order_past_the_counted_places_agrees_with_the_places(tmp_path):
    with _one_trace(tmp_path / "t.db", 99) as store:
        place = {r.name: i for i, r in enumerate(sorted(store.runs(), key=lambda r: r.dotted_order), 1)}
        for text, wanted in (("eq(execution_order, 33)", lambda n: n == 33), ("gt(execution_order, 90)", lambda n: n > 90),
                             ("lte(execution_order, 40)", lambda n: n <= 40), ("neq(execution_order, 50)", lambda n: n != 50),
                             ("in(execution_order, [2, 64, 100, 101])", lambda n: n in (2, 64, 100))):
            got = sorted(r.name for r in store.list_runs(filter=text, select=["id", "name"]))
            assert got == sorted(name for name, n in place.items() if wanted(n)), text


@pytest.mark.parametrize("listing", [{"tree_filter": 'eq(name, "no such span")'},
                                     {"tree_filter": 'has(metadata, \'{"k": 3}\')'},
                                     {"filter": "gt(execution_order, 1000)"},
                                     {"tree_filter": "eq(execution_order, 1500)"}])
def test_filters_over_one_large_trace_do_work_in_proportion_to_it(tmp_path, listing):
    """Asked for each listed run, such filters read the whole trace again each time: a 10,001-span
    trace took 49 s. Four times the spans may cost four times the work, with room, not sixteen."""
    with _one_trace(tmp_path / "small.db", 1000) as small, _one_trace(tmp_path / "large.db", 4000) as large:
        assert _vm_steps(large, **listing) <= 8 * max(1, _vm_steps(small, **listing)), listing


def test_a_page_deep_into_a_large_trace_reads_the_page_not_the_trace(tmp_path):
    """LangSmith's SDKs read a trace back newest first, a page of 100 at a time
    (``list_runs(trace_id=...)``). Each page comes in order from the (trace, start) index: a page
    of a trace four times larger does about the same work, where sorting the whole trace for each
    page did four times as much. The pages put together are the whole listing, in its order."""
    with _one_trace(tmp_path / "small.db", 1000) as small, _one_trace(tmp_path / "large.db", 4000) as large:
        pages = []
        for store in (small, large):
            trace_id = store.list_runs(is_root=True)[0].trace_id
            pages.append(_vm_steps(store, trace_id=trace_id, limit=100, offset=900))
        assert pages[1] <= 2 * max(1, pages[0]), pages
        whole = [r.id for r in large.list_runs(trace_id=trace_id)]
        paged = [r.id for offset in range(0, 4001, 100) for r in large.list_runs(trace_id=trace_id, limit=100,
                                                                                  offset=offset)]
        assert paged == whole and len(set(whole)) == 4001
        assert whole == [r.id for r in sorted(large.runs(), key=lambda r: (r.start_time, r.id), reverse=True)]


def test_execution_order_one_is_an_index_probe(world):
    """eq(execution_order, 1) counts at most one earlier run, through the (trace_id, dotted_order) index."""
    sql, params = compile_where(parse_langsmith("eq(execution_order, 1)"), now_us=now_us())
    assert "LIMIT 1)" in sql
    with world.store.database.read() as conn:
        plan = " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN SELECT runs.id FROM runs WHERE {sql}",
                                                         params))
    assert "SEARCH eo USING COVERING INDEX runs_trace" in plan, plan


# ---------------------------------------------------------------- nested input/output keys


@pytest.mark.parametrize("text, expected", [
    ('eq(input_key, "a.b")', ["chat-a", "chat-b"]),
    ('and(eq(input_key, "a.b"), eq(input_value, 1))', ["chat-a"]),
    ('and(eq(input_key, "a.b"), eq(input_value, "x"))', ["chat-b"]),  # chat-a's "x" is under a.c
    ('and(eq(input_key, "a.c"), eq(input_value, "x"))', ["chat-a"]),
    ('eq(input_key, "a")', ["chat-a", "chat-b"]),
    ('eq(input_key, "b")', []),  # b is not a top-level key
    ('eq(input_key, "a.b.c")', []),
    ('eq(input_key, "messages")', ["chat-a"]),
    ('eq(input_key, "messages.content")', ["chat-a"]),  # through the list of messages
    ('eq(input_key, "messages.0.content")', []),  # list positions are not part of paths
    ('and(eq(input_key, "messages.content"), eq(input_value, "yo"))', ["chat-a"]),
    ('and(eq(input_key, "messages.role"), eq(input_value, "yo"))', []),
    ('eq(input_key, "nested.k")', ["a-parse"]),  # lists in lists
    ('eq(input_key, "w.x")', ["chat-a"]),  # a key holding a dot
    ('and(eq(input_key, "p.q.r"), eq(input_value, "deep"))', ["chat-a"]),
    ('eq(input_key, "p.q")', []),
    ('in(input_key, ["a.c", "nope"])', ["chat-a"]),
    ('and(in(input_key, ["a.b", "a.c"]), eq(input_value, "x"))', ["chat-a", "chat-b"]),
    ('and(eq(input_key, "a.b"), eq(input_key, "a.c"))', []),  # one member has one key
    ('and(eq(input_key, "a.b"), gt(input_value, 0))', ["chat-a"]),
    ('eq(input_value, "hi")', ["a-llm", "chat-a"]),  # values at any depth
    ('eq(input_value, "x")', ["chat-a", "chat-b"]),
    ('exists(inputs, "a.b")', ["chat-a", "chat-b"]),
    ('eq(output_key, "answer.text")', ["chat-a"]),
    ('and(eq(output_key, "answer.text"), like(output_value, "Hel%"))', ["chat-a"]),
    ('and(eq(output_key, "text"), eq(output_value, "Hello"))', []),  # a-llm's text is "Hello World"
    ('or(eq(input_key, "nested.k"), eq(output_key, "answer.text"))', ["a-parse", "chat-a"]),
    ('not(eq(input_key, "a.b"))', but("chat-a", "chat-b")),
])
def test_nested_key_paths(world, text, expected):
    assert world.names(text) == expected


def test_long_key_paths(world):
    deep = ".".join(["k"] * (MAX_PATH_DOTS + 1))
    assert world.names(f'and(eq(input_key, "{deep}"), eq(input_value, 1))') == []
    assert world.names(f'or(eq(input_key, "{deep}"), eq(output_key, "{deep}"))') == []
    assert world.names(parse_langsmith(f'eq(input_key, "{deep}")'), sql_of=query.tree_filter_sql) == []
    with pytest.raises(FilterError, match=f"at most {MAX_PATH_DOTS} dots"):
        parse_langsmith(f'eq(input_key, "{deep}.k")')
    # a path's SQL grows faster than its text: the parameter budget stops a long list early
    many = "in(input_key, [" + ", ".join(f'"{deep}{i}"' for i in range(400)) + "])"
    with pytest.raises(FilterError, match="parameters"):
        compile_where(parse_langsmith(many), now_us=0)


def test_damaged_json_matches_nothing(mem):
    good, bad = mem.init("good", metadata={"thread_id": "t"}, inputs={"a": {"b": 1}}), mem.init("bad")
    for column in ("metadata", "inputs", "outputs"):
        _sql(mem, f"UPDATE runs SET {column} = '{{not json' WHERE id = ?", (bad.id,))
    world = World.__new__(World)
    world.store = mem
    for text, expected in (('eq(thread_id, "t")', [good.id]), ('eq(thread_id, null)', [bad.id]),
                           ('eq(input_key, "a.b")', [good.id]), ('eq(input_value, 1)', [good.id]),
                           ('neq(output_key, "a.b")', [bad.id, good.id]), ('like(input_value, "%")', [])):
        sql, params = compile_where(parse_langsmith(text), now_us=now_us())
        assert sorted(world.ids(sql, params)) == sorted(expected), text


# ---------------------------------------------------------------- like


@pytest.mark.parametrize("text, expected", [
    ('and(eq(metadata_key, "env"), like(metadata_value, "pr%"))', ["chat-a"]),
    ('like(metadata_value, "%ev")', ["chat-b"]),
    ('like(metadata_value, "T_")', ROOTS),  # t1, t2, t3: ASCII case-insensitive
    ('and(eq(metadata_key, "n"), like(metadata_value, "1%"))', []),  # 10 is a number: like reads strings
    ('like(metadata_key, "thread%")', ["chat-a", "chat-c", "chat-d"]),
    ('like(input_value, "h_")', ["a-llm", "chat-a"]),
    ('and(eq(input_key, "messages.content"), like(input_value, "Y%"))', ["chat-a"]),
    ('like(output_value, "%ell%")', ["a-llm", "chat-a"]),
    ('like(feedback_value, "go%")', ["chat-a"]),
    ('and(eq(feedback_key, "user_score"), like(feedback_value, "%OO%"))', ["chat-a"]),
    ('like(feedback_key, "user\\_%")', ["chat-a"]),
    # plain text fields: %, _, escapes
    ('like(name, "50%")', ["50%_off", "50x_off"]),
    ('like(name, "50\\%%")', ["50%_off"]),  # \% is a literal percent sign
    ('like(name, "50_\\_off")', ["50%_off", "50x_off"]),  # \_ a literal underscore
    ('like(name, "a_b")', sorted(["a_b", "a\\b"])),
    ('like(name, "a\\_b")', ["a_b"]),
    (r'like(name, "a\\\\b")', ["a\\b"]),  # \\ in the string is \, and \\ in the pattern a backslash
    ('like(name, "A%")', sorted(["a-llm", "a-parse", "a-tool", "a_b", "a\\b"])),
    ('like(name, "%")', ALL),
    ('like(error, "%slow")', ["a-tool"]),
    ('like(inputs, "%deep%")', ["chat-a"]),
])
def test_like(world, text, expected):
    assert world.names(text) == expected


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("text, position, words", [
    ('like(total_tokens, "1%")', 0, "like() cannot be used on total_tokens; on total_tokens use: eq"),
    ('like(feedback_score, "1")', 0, "cannot be used on feedback_score"),
    ('like(start_time, "2024%")', 0, "cannot be used on start_time"),
    ('like(execution_order, "1")', 0, "cannot be used on execution_order"),
    ('gt(input_key, "a")', 0, "gt() cannot be used on input_key; on input_key use: eq, neq, in"),
    ('like(output_key, "a%")', 0, "cannot be used on output_key"),
    ('eq("nope", 1)', 3, "unknown field 'nope'; valid fields: id, name"),
    ('eq("runs.name", "x")', 3, "unknown field 'runs.name'"),
    ("has('name', 'x')", 0, "has() cannot be used on name"),
    ('search("nope", "x")', 7, "unknown field 'nope'"),
    ('eq(execution_order, "1")', 20, "execution_order compares with a number"),
    ('eq(thread_id, 5)', 14, "thread_id compares with a string"),
    ('like(metadata_value, 5)', 21, "quoted string"),
    ('like(input_value, "x\\\\")', 18, "lone"),
    ('eq(input_key, 1)', 14, "quoted string"),
])
def test_errors(text, position, words):
    with pytest.raises(FilterError) as info:
        parse_langsmith(text)
    assert words in str(info.value)
    assert info.value.position == position, str(info.value)
    assert isinstance(info.value, ValidationError)


@pytest.mark.parametrize("node, words", [
    (KeyValue("inputs", [Compare("key", "gt", "a")]), "dotted paths compared with eq or in"),
    (KeyValue("inputs", [Compare("key", "eq", 5)]), "dotted paths"),
    (KeyValue("outputs", [Compare("key", "in", ("a", None))]), "dotted paths"),
    (KeyValue("inputs", [Compare("key", "eq", "a"), Compare("score", "eq", 1)]), "key or value"),
    (KeyValue("inputs", [Compare("key", "eq", "a." * (MAX_PATH_DOTS + 1))]), "dots"),
    (Compare("execution_order", "like", "1"), "like needs a text field"),
    (Compare("execution_order", "eq", True), "cannot compare"),
])
def test_compile_refuses(node, words):
    with pytest.raises(FilterError, match=words.replace("(", r"\(")):
        compile_where(node, now_us=0)


# ---------------------------------------------------------------- through Store.list_runs


def test_docs_filters_through_list_runs(world):
    store = world.store

    def names(**kwargs):
        return sorted(r.name for r in store.list_runs(**kwargs))

    assert names(filter="and(neq(metadata_key, 'thread_id'))") == but("chat-a", "chat-c", "chat-d")
    assert names(filter='eq("run_type", "llm")',
                 trace_filter="and(eq(feedback_key, 'user_score'), eq(feedback_score, 1))") == ["a-llm"]
    assert names(filter="eq(execution_order, 1)", tree_filter='eq(run_type, "tool")') == ["chat-a"]
    assert names(trace_filter='eq(thread_id, "t1")') == sorted(A + B)
    assert names(filter="eq(input_key, 'messages.content')") == ["chat-a"]
    assert names(filter='and(eq(metadata_key, "env"), like(metadata_value, "d%"))') == ["chat-b"]
    assert names(tree_filter='and(eq(input_key, "nested.k"), eq(input_value, "v"))', is_root=True) == ["chat-a"]


DOCS_FILTERS = [  # from LangSmith's docs and SDK, unchanged
    'and(eq(run_type, "chain"), gt(latency, 10), gt(total_tokens, 5000))',
    'gt(start_time, "2023-07-15T12:34:56Z")', 'search("substring")', 'has(tags, "2aa1cf4")',
    'neq(status, "error")', 'eq(status, "success")',
    ('and(gt(start_time, "2023-07-15T12:34:56Z"), or(neq(status, "error"), and(eq(feedback_key, "Correctness"),'
     ' eq(feedback_score, 0.0))))'),
    'and(or(has(tags, "experimental"), has(tags, "beta")), gt(latency, 2))',
    "eq(metadata_key, 'user_id')",
    "and(eq(metadata_key, 'user_id'), eq(metadata_value, '4070f233-f61e-44eb-bff1-da3c163895a3'))",
    "and(eq(metadata_key, 'environment'), eq(metadata_value, 'production'))",
    "and(neq(metadata_key, 'thread_id'))",
    "and(eq(metadata_key, 'thread_id'), neq(metadata_value, 'a1b2c3d4-e5f6-7890'))",
    "and(neq(metadata_key, 'thread_id'), neq(metadata_value, 'a1b2c3d4-e5f6-7890'))",
    "and(neq(metadata_key, 'thread_id'), eq(metadata_value, 'a1b2c3d4-e5f6-7890'))",
    "and(eq(name, 'ChatOpenAI'), eq(metadata_key, 'thread_id'), eq(metadata_value, '69b12c91-b1e2-46ce-91de-794c077e8151'))",
    'and(in(metadata_key, ["session_id","conversation_id","thread_id"]), eq(metadata_value, "t1"))',
    ('and(eq(run_type, "llm"), eq(name, "ChatOpenAI"), eq(input_key, "messages.content"),'
     ' like(input_value, "%messages.content%"))'),
    'eq(thread_id, "t1")', 'and(eq(run_type, "tool"), eq(name, "<tool_name>"))', 'eq(name, "ExpandQuery")',
    # the SDK's docstrings (langsmith 0.15: Client.list_runs, list_examples, read_thread)
    'eq(name, "extractor")', 'and(eq(feedback_key, "user_score"), eq(feedback_score, 1))',
    ('and(gt(start_time, "2023-07-15T12:34:56Z"), or(neq(error, null), and(eq(feedback_key, "Correctness"),'
     ' eq(feedback_score, 0.0))))'),
    'and(not(has(metadata, \'{"foo": "bar"}\')), exists(metadata, "tenant_id"))',
    'and(eq(thread_id, "t1"), eq(is_root, true))',
]


@pytest.mark.parametrize("text", DOCS_FILTERS)
def test_docs_filters_parse_and_agree(world, text):
    world.names(text)  # SQL and the oracle agree
    world.store.list_runs(filter=text, trace_filter=text, tree_filter=text)


# ---------------------------------------------------------------- random stores and filters

KEYS = ["a", "b", "m", "w.x", "w", "x"]
PATHS = ["a", "a.b", "a.b.a", "m", "m.a", "m.b", "w.x", "w", "w.x.a", "x", "a.m.a"]
SCALARS = st.one_of(st.sampled_from([0, 1, 2, 1.5, "x", "X", "xy", "", True, None]))
DOCS = st.recursive(SCALARS, lambda inner: st.one_of(
    st.dictionaries(st.sampled_from(KEYS), inner, max_size=3), st.lists(inner, max_size=2)), max_leaves=6)
META_KEYS = list(THREAD_KEYS) + ["env"]

specs = st.lists(st.fixed_dictionaries({
    "name": st.sampled_from(["r", "s_t", "50%", "a\\b"]),
    "parent": st.one_of(st.none(), st.integers(0, 6)),
    "metadata": st.dictionaries(st.sampled_from(META_KEYS), st.sampled_from(["t1", "t2", "x", 1, None]), max_size=3),
    "inputs": st.one_of(st.none(), st.dictionaries(st.sampled_from(KEYS), DOCS, min_size=1, max_size=3)),
    "outputs": st.one_of(st.none(), st.dictionaries(st.sampled_from(KEYS), DOCS, min_size=1, max_size=2)),
    "feedback": st.lists(st.tuples(st.sampled_from(["k1", "k2"]), st.sampled_from([None, 0.0, 1.0]),
                                   st.sampled_from([None, "x", "xy", 1])), max_size=2),
}), min_size=1, max_size=7)


def _build(specs):
    store = runlite.open(":memory:")
    runs = []
    for spec in specs:
        parent = runs[spec["parent"]] if spec["parent"] is not None and spec["parent"] < len(runs) else None
        kwargs = {"metadata": spec["metadata"], "inputs": spec["inputs"]}
        run = parent.child(spec["name"], **kwargs) if parent is not None else store.init(spec["name"], **kwargs)
        runs.append(run)
        for key, score, value in spec["feedback"]:
            _feedback(store, run.id, key, score, value)
    for run, spec in reversed(list(zip(runs, specs))):
        run.end(outputs=spec["outputs"])
    return World(store)


def _leaf():
    s = st.sampled_from
    lit = s(["0", "1", "2", "1.5", '"x"', '"X"', '"xy"', '""', "true", "null"])
    ordered = s(["0", "1", "1.5", '"x"', '"X"', '""'])  # what gt, lt... take
    ops = s(["eq", "neq", "gt", "gte", "lt", "lte"])
    pair = s(["input", "output"])
    return st.one_of(
        st.builds(lambda o, k: f"{o}(metadata_key, {json.dumps(k)})", s(["eq", "neq"]), s(META_KEYS)),
        st.builds(lambda k, o, v: f"and({k}(metadata_key, \"thread_id\"), {o}(metadata_value, {v}))",
                  s(["eq", "neq"]), s(["eq", "neq"]), s(['"t1"', '"x"', "1"])),
        st.builds(lambda o, v: f"{o}(thread_id, {v})", s(["eq", "neq", "gt"]), s(['"t1"', '"t2"', '"x"'])),
        st.builds(lambda v: f"like(thread_id, {json.dumps(v)})", s(["t%", "T_", "%1"])),
        st.builds(lambda o, v: f"{o}(execution_order, {v})", ops, s(["0", "1", "1.5", "2", "3", "-1"])),
        st.builds(lambda v: f"in(execution_order, [{v}])", s(["1", "2, 3", "1, null"])),
        st.builds(lambda p, o, k: f"{o}({p}_key, {json.dumps(k)})", pair, s(["eq", "neq"]), s(PATHS)),
        st.builds(lambda p, ks: f"in({p}_key, {json.dumps(ks)})", pair, st.lists(s(PATHS), max_size=3)),
        st.builds(lambda p, k, o, v: f"and(eq({p}_key, {json.dumps(k)}), {o}({p}_value, {v}))",
                  pair, s(PATHS), s(["eq", "neq"]), lit),
        st.builds(lambda p, k, o, v: f"and(eq({p}_key, {json.dumps(k)}), {o}({p}_value, {v}))",
                  pair, s(PATHS), ops, ordered),
        st.builds(lambda p, o, v: f"{o}({p}_value, {v})", pair, s(["eq", "neq"]), lit),
        st.builds(lambda p, v: f"like({p}_value, {json.dumps(v)})", pair, s(["x%", "%Y", "_", "%"])),
        st.builds(lambda p, k, v: f"and(eq({p}_key, {json.dumps(k)}), like({p}_value, {json.dumps(v)}))",
                  pair, s(PATHS), s(["x%", "_"])),
        st.builds(lambda v: f"like(metadata_value, {json.dumps(v)})", s(["t%", "%1", "_"])),
        st.builds(lambda o, k: f"{o}(feedback_key, {json.dumps(k)})", s(["eq", "neq"]), s(["k1", "k2"])),
        st.builds(lambda k, v: f"and(eq(feedback_key, {json.dumps(k)}), neq(feedback_value, {v}))",
                  s(["k1", "k2"]), s(['"x"', "1", "null"])),
        st.builds(lambda v: f'like("name", {json.dumps(v)})', s(["50\\%", "a\\\\\\\\b", "s\\_t", "%_%", "R"])),
        st.builds(lambda f: f'exists("{f}")', s(["thread_id", "error", "outputs"])),
    )


def _filters():
    return st.recursive(_leaf(), lambda inner: st.one_of(
        st.builds(lambda xs: f"and({', '.join(xs)})", st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: f"or({', '.join(xs)})", st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: f"not({x})", inner)), max_leaves=5)


@settings(max_examples=20)
@given(specs=specs, data=st.data())
def test_random_stores_sql_equals_oracle(specs, data):
    world = _build(specs)
    try:
        for _ in range(8):
            world.names(data.draw(_filters()))
    finally:
        world.store.close()
