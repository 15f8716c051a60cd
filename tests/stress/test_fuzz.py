"""Hostile-input fuzzing of every public input, with Hypothesis.

The promise, per input: the call succeeds and the value reads back exactly (floats bit for bit:
NaN payloads, signs, -0.0), or it raises a ``RunliteError`` whose message says what was wrong;
never another exception type; and a refused call leaves the file as it was (a digest of every
table, read on a separate connection, is compared before and after). Filters must also agree
with the Python oracle ``runlite.query_eval`` and never touch the schema; KPI formulas must
finish in bounded time (their latency is reported, not asserted). Counts: the ``ci`` profile
(50 examples each, derandomized); ``--full`` loads the ``full`` profile (1,000).
"""

from __future__ import annotations

import contextlib
import fractions
import hashlib
import io
import math
import struct
import time

import apsw
import pytest
from hypothesis import given, strategies as st

import runlite
import runlite._validation
from runlite import cli
from runlite.live import registry as live_registry
from runlite.recipes import kpi
from runlite.live import metric_log
from runlite.storage import metric_buffer
from runlite import query
from runlite.errors import FilterError, KpiError, RunliteError
from tests.oracles.query_eval import evaluate
from runlite.query.parse import parse_langsmith, parse_number, parse_simvue
from tests import strategies as S
from tests.stress.conftest import check_file, percentiles
from tests.test_query import World

# ---------------------------------------------------------------- machinery


class Tally:
    """Examples tried, examples where the promise broke, the time each took, and how many of the
    inputs were accepted or refused (a fuzzer that only ever hits one side proves little)."""

    def __init__(self):
        self.rounds, self.failures, self.times = 0, 0, []
        self.accepted = self.refused = 0

    def outcome(self, ok: bool) -> None:
        if ok:
            self.accepted += 1
        else:
            self.refused += 1

    @contextlib.contextmanager
    def example(self):
        self.rounds += 1
        start = time.perf_counter()
        try:
            yield
        except BaseException:
            self.failures += 1
            raise
        finally:
            self.times.append(time.perf_counter() - start)


@contextlib.contextmanager
def family(guarantee, scenario: str, note: str):
    """One row of the guarantees table, recorded even when an example fails (then re-raised)."""
    tally = Tally()
    try:
        yield tally
    finally:
        guarantee(scenario, rounds=tally.rounds, failures=tally.failures, latency=percentiles(tally.times),
                  note=f"{note}; {tally.accepted} accepted, {tally.refused} refused")
    assert tally.accepted and tally.refused, "the fuzzer only reached one side of the promise"


def digest(path) -> str:
    """SHA-256 of the schema and of every table's rows, read on a separate read-only connection."""
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        h = hashlib.sha256()
        schema = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name").fetchall()
        h.update(repr(schema).encode())
        for kind, name, _, _ in schema:
            if kind == "table":  # names come from the file's own schema, quoted as identifiers
                rows = conn.execute('SELECT * FROM "%s"' % name.replace('"', '""')).fetchall()
                h.update(name.encode() + repr(sorted(map(repr, rows))).encode())
        return h.hexdigest()
    finally:
        conn.close()


def attempt(call, *, allowed=RunliteError):
    """``(True, result)``, or ``(False, error)`` for a RunliteError with a message; anything else raises."""
    try:
        return True, call()
    except allowed as exc:
        message = str(exc).strip()
        assert message and message != type(exc).__name__, f"{type(exc).__name__} without a message"
        return False, exc


def bits(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def same(a, b) -> bool:
    """Equal, with the same types, floats compared bit for bit (NaN payloads, -0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return bits(a) == bits(b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.fixture
def quiet(monkeypatch):
    """No heartbeat writes during a test: the digest before and after a call must only see the call."""
    monkeypatch.setattr(live_registry, "HEARTBEAT_INTERVAL", 1e9)


@pytest.fixture
def filled(tmp_path, quiet):
    """A store with experiments, a trace, feedback, metrics, events and alerts (no heartbeat timeouts)."""
    path = tmp_path / "fuzz.db"
    store = runlite.open(str(path))
    a = store.init("alpha", metadata={"lr": 0.01, "k": "x", "deep": {"a": [1, 2]}}, tags=["best", "gpu"],
                   folder="/p/a", heartbeat_timeout=None)
    a.log_metrics({"loss": 1.0})
    a.log_metrics({"loss": float("nan")})
    a.log_event("boom; DROP TABLE runs")
    a.create_user_alert("watch")
    a.log_alert(name="watch", state="critical")
    a.close()
    store.init("beta", metadata={"lr": 1, "k": "'"}, tags=["x"], running=False, heartbeat_timeout=None)
    root = store.init("agent", run_type="chain", inputs={"q": "1=1"}, heartbeat_timeout=None)
    llm = root.child("llm", run_type="llm", heartbeat_timeout=None)
    llm.end(outputs={"text": "hi"})
    root.child("tool", run_type="tool", heartbeat_timeout=None).end(error="bad")
    store.create_feedback(root.id, "score", score=0.5)
    root.end(outputs={"a": 1})
    yield store, path
    store.close()


# ---------------------------------------------------------------- filters


def query_now() -> int:
    """Now for the oracle (runs here have no heartbeat timeout, so only Simvue's relative times use it)."""
    return runlite._validation.now_us()


def _oracle(world, node, now):
    return {r["id"] for r in world.records if evaluate(node, r, now_us=now, **world.tables)}


def test_fuzz_langsmith_filters(filled, guarantee):
    """list_runs(filter=, trace_filter=, tree_filter=): runs or FilterError; SQL == oracle; no schema change."""
    store, path = filled
    world = World(store)
    by_id = {r["id"]: r for r in world.records}
    before = digest(path)

    @given(text=S.langsmith_text, which=st.sampled_from(["filter", "trace_filter", "tree_filter"]))
    def prop(text, which):
        with tally.example():
            ok, got = attempt(lambda: store.list_runs(**{which: text}), allowed=FilterError)
            tally.outcome(ok)
            if ok:
                matched = _oracle(world, parse_langsmith(text), query_now())
                if which == "trace_filter":
                    matched = {i for i, r in by_id.items() if r["trace_id"] in matched}
                elif which == "tree_filter":
                    traces = {by_id[i]["trace_id"] for i in matched}
                    matched = {i for i, r in by_id.items() if r["trace_id"] in traces}
                assert {r.id for r in got} == matched, text
            assert digest(path) == before

    with family(guarantee, "fuzz: LangSmith filter strings", "runs equal to the oracle, or FilterError") as tally:
        prop()
    check_file(path)


def test_fuzz_simvue_filters(filled, guarantee):
    """get_runs(filters): runs or FilterError; SQL == oracle (where now cannot change the answer)."""
    store, path = filled
    world = World(store)
    before = digest(path)

    @given(filters=S.simvue_filters)
    def prop(filters):
        with tally.example():
            start = query_now()
            ok, got = attempt(lambda: store.get_runs(filters), allowed=FilterError)
            end = query_now()
            tally.outcome(ok)
            if ok and filters:  # an empty list or string is no filter
                node = parse_simvue(filters)
                at_start, at_end = _oracle(world, node, start), _oracle(world, node, end)
                if at_start == at_end:  # a relative time ("created < 1s") could straddle the call
                    assert {r.id for r in got} == at_start, filters
            assert digest(path) == before

    with family(guarantee, "fuzz: Simvue filter strings", "runs equal to the oracle, or FilterError") as tally:
        prop()
    check_file(path)


# ---------------------------------------------------------------- KPI formulas


def test_fuzz_kpi_formulas(tmp_path, guarantee, quiet):
    """compile/evaluate/create_cookbook: a float or None, or KpiError/ValidationError; bounded time."""
    path = tmp_path / "kpi.db"
    store = runlite.open(str(path))

    @given(text=S.kpi_text, values=st.lists(S.kpi_values, min_size=3, max_size=3))
    def prop(text, values):
        with tally.example():
            compiled, formula = attempt(lambda: kpi.compile_formula(text), allowed=KpiError)
            tally.outcome(compiled)
            if compiled:
                env = dict(zip(("a", "b", "c"), values))
                ok, value = attempt(lambda: kpi.evaluate(formula, {n: env.get(n, 1.0) for n in formula.names}),
                                    allowed=KpiError)
                assert not ok or value is None or type(value) is float, (text, value)
            deps = sorted(formula.names) if compiled and formula.names else ["a"]
            before = digest(path)
            ok, book = attempt(lambda: store.create_cookbook(
                f"book-{tally.rounds}", levers=[("m", "speed")],
                outcomes=[{"asset": "m", "name": "kpi", "formula": text,
                           "aggregates": {d: "sum" for d in deps}}]))
            if ok:
                assert store.cookbook(book.id).outcomes[0].formula == text
            else:
                assert isinstance(book, (KpiError, runlite.ValidationError)), book
                assert digest(path) == before

    try:
        with family(guarantee, "fuzz: KPI formulas", "value/None or KpiError; latency = compile+eval+store") as tally:
            prop()
    finally:
        store.close()
    check_file(path)


@pytest.mark.parametrize("text", ["9**9**9", "10**10**10", "2.0**1024", "(" * 99 + "a" + ")" * 99,
                                  "-" * 9_999 + "a", "not " * 2_499 + "a", "a" + "+a" * 4_999,
                                  "max(" + ", ".join(["a"] * 3_000) + ")", "a" + " ** a" * 2_000])
def test_kpi_worst_cases_are_refused_or_computed(text):
    """Deep nesting and huge exponents: refused (KpiError) or computed, never a hang or a crash."""
    ok, formula = attempt(lambda: kpi.compile_formula(text), allowed=KpiError)
    if ok:
        ok, value = attempt(lambda: kpi.evaluate(formula, {"a": 1.5}), allowed=KpiError)
        assert not ok or value is None or type(value) is float
    else:
        assert "KPI formula" in str(formula), str(formula)


# ---------------------------------------------------------------- names and values


def _refused_leaves_file(path, before, exc, *words):
    """A refused write: the message names the input, and the file is as it was."""
    assert any(w in str(exc) for w in words), (str(exc), words)
    assert digest(path) == before


def _names_test(tmp_path, guarantee, scenario, write, read_back, words):
    """The shared shape of the name families: write(store, run, value) then read_back must match."""
    path = tmp_path / "names.db"
    store = runlite.open(str(path))
    run = store.init("host", heartbeat_timeout=None)

    @given(value=S.hostile_names)
    def prop(value):
        with tally.example():
            run.flush()
            before = digest(path)
            ok, result = attempt(lambda: write(store, run, value))
            run.flush()
            tally.outcome(ok)
            if ok:
                assert read_back(store, run, value, result), repr(value)
            else:
                _refused_leaves_file(path, before, result, *words)

    try:
        with family(guarantee, scenario, "read back exactly, or a RunliteError naming it") as tally:
            prop()
    finally:
        store.close()
    check_file(path)


def _folder(value):
    """The folder a fuzzed segment names: ``/<value>`` for text (other types go in as they are)."""
    return "/" + value if isinstance(value, str) else value


# kind -> (write(store, run, value), read_back(store, run, value, result) -> bool, words the refusal names)
NAME_FAMILIES = {
    "run names": (lambda s, r, v: s.init(v, running=False),
                  lambda s, r, v, new: s.get_run(new.id).name == (new.name if v is None else v), ("run name",)),
    "metric names": (lambda s, r, v: r.log_metrics({v: 1.5}),
                     lambda s, r, v, _: s.metric_values(r.id, v).values[-1] == 1.5, ("metric",)),
    "tag names": (lambda s, r, v: r.set_tags([v]), lambda s, r, v, _: list(s.get_run(r.id).tags) == [v], ("tag",)),
    "metadata keys": (lambda s, r, v: r.update_metadata({v: 1}),
                      lambda s, r, v, _: same(s.get_run(r.id).metadata.get(v), 1), ("metadata",)),
    "folder names": (lambda s, r, v: s.init("f", folder=_folder(v), running=False),
                     lambda s, r, v, new: s.get_run(new.id).folder == (_folder(v).rstrip("/") or "/"),
                     ("folder",)),
    "event messages": (lambda s, r, v: r.log_event(v),
                       lambda s, r, v, _: s.events(r.id)[-1].message == v, ("message",)),
    "alert names": (lambda s, r, v: r.create_user_alert(v),
                    lambda s, r, v, _: v in [a.name for a in s.alerts(r.id)], ("name",)),
    "attachment names": (lambda s, r, v: r.attach(v, b"payload"),
                         lambda s, r, v, _: s.read_attachment(r.id, v) == b"payload", ("attachment name",)),
    "saved object names": (lambda s, r, v: r.save_object({"x": 1}, "output", name=v),
                           lambda s, r, v, _: s.read_attachment(r.id, v) == b'{"x":1}' if v is not None else
                           any(a.name.startswith("dict_") for a in s.attachments(r.id)), ("attachment name",)),
}


@pytest.mark.parametrize("kind", list(NAME_FAMILIES))
def test_fuzz_names(kind, tmp_path, guarantee, quiet):
    write, read_back, words = NAME_FAMILIES[kind]
    _names_test(tmp_path, guarantee, f"fuzz: {kind}", write, read_back, words)


def _as_float(value) -> float:
    return value if type(value) is float else float(value)


def test_fuzz_metric_values(tmp_path, guarantee, quiet):
    """Special floats read back bit for bit; ints within 2**53, bools, numpy scalars exactly; others refused."""
    path = tmp_path / "values.db"
    store = runlite.open(str(path))
    run = store.init("values", heartbeat_timeout=None)

    @given(value=S.metric_values)
    def prop(value):
        with tally.example():
            step = tally.rounds
            before = digest(path)
            ok, exc = attempt(lambda: run.log_metrics({"v": value}, step=step))
            run.flush()
            tally.outcome(ok)
            if ok:
                series = store.metric_values(run.id, "v")
                assert series.steps[-1] == step
                assert bits(series.values[-1]) == bits(_as_float(value)), (value, series.values[-1])
            else:
                _refused_leaves_file(path, before, exc, "metric 'v'")

    try:
        with family(guarantee, "fuzz: metric values", "bit-exact (NaN payload, -0.0), or ValidationError") as tally:
            prop()
    finally:
        store.close()
    check_file(path)


def test_fuzz_metadata_values(tmp_path, guarantee, quiet):
    """Nested JSON at the edges: read back with the same types and float bits, or refused."""
    path = tmp_path / "meta.db"
    store = runlite.open(str(path))
    run = store.init("meta", heartbeat_timeout=None)

    @given(value=S.hostile_json)
    def prop(value):
        with tally.example():
            before = digest(path)
            ok, exc = attempt(lambda: run.update_metadata({"v": value}))
            tally.outcome(ok)
            if ok:
                assert same(store.get_run(run.id).metadata["v"], value), value
            else:
                _refused_leaves_file(path, before, exc, "metadata")

    try:
        with family(guarantee, "fuzz: metadata values", "same types and float bits, or a RunliteError") as tally:
            prop()
    finally:
        store.close()
    check_file(path)


# ---------------------------------------------------------------- recipe runs


_BOOK = {"levers": [("press", "temp")],
         "outcomes": [{"asset": "press", "name": "temp", "optimize": "minimize"},
                      {"asset": "press", "name": "quality", "formula": "good / (good + scrap) * 100",
                       "aggregates": {"good": "sum", "scrap": "avg"}}],
         "constraints": [{"asset": "press", "name": "speed", "type": "continuous",
                          "bins": [{"from": None, "to": 340}, {"from": 340, "to": None}]}]}


def _finite_statistics(value: dict) -> None:
    """A stored statistic: finite numbers (or None), the mean between the extremes."""
    for key, x in value.items():
        assert x is None or (type(x) is float and math.isfinite(x)), (key, value)
    if value["avg"] is not None and value["count"] > 0:
        assert value["min"] <= value["avg"] <= value["max"] and value["var_pop"] >= 0, value


def test_fuzz_recipe_runs(tmp_path, guarantee, quiet):
    """Machine data at the float range's edges: recipe runs whose statistics are finite (means
    between the extremes), or a ValidationError that leaves the file as it was; their top
    results are read too."""
    path = tmp_path / "recipes.db"
    store = runlite.open(str(path))
    book = store.create_cookbook("press-book", **_BOOK)
    edge = st.one_of(S.special_floats, st.sampled_from([1e200, -1e200, 1.7976931348623157e308]))

    @given(rows=st.lists(st.tuples(st.sampled_from([100.0, 400.0]), edge, edge, edge), min_size=1, max_size=8))
    def prop(rows):
        with tally.example():
            with store.init(f"line-{tally.rounds}", heartbeat_timeout=None) as source:
                for minute, (speed, temp, good, scrap) in enumerate(rows):
                    source.log_metrics({"speed": speed, "temp": temp, "good": good, "scrap": scrap},
                                       asset="press", timestamp=1_700_000_000 + 60 * minute)
            before = digest(path)
            ok, got = attempt(lambda: store.compute_recipe_runs(book, sources=[source]))
            tally.outcome(ok)
            if not ok:
                _refused_leaves_file(path, before, got, "finite")
                return
            for run in got:
                data = run.to_dict()
                for part in data["levers"] + data["outcomes"]:
                    value = {k: v for k, v in part["value"].items() if k != "normal"}
                    if part.get("kpi"):  # the seed format repeats a KPI's value in every statistic
                        assert len(set(value.values())) == 1, value
                    _finite_statistics(value)
                assert data["_score"] is None or 0.0 <= data["_score"] <= 1.0, data["_score"]
            attempt(lambda: store.top_results(book.id))

    try:
        with family(guarantee, "fuzz: recipe runs", "finite statistics, or a ValidationError") as tally:
            prop()
    finally:
        store.close()
    check_file(path)


# ---------------------------------------------------------------- the command line


_CLI_COMMANDS = [["ls", "--folder"], ["ls", "--status"], ["show"], ["show", "--json"], ["metrics", "alpha"],
                 ["events", "alpha", "--contains"], ["events", "alpha", "--level"], ["files", "alpha", "--cat"],
                 ["alerts"], ["trace"], ["query", "--filter"], ["query"], ["sql"], ["ls", "--limit"], []]
# Arguments some command takes, so the fuzzer also walks the paths that print results.
_CLI_VALID = ["alpha", "loss", "/p/a", "completed", "info", "boom", 'eq(name, "alpha")', "name == alpha",
              "SELECT name FROM runs", "3", "ls", "agent"]


def test_fuzz_cli_argv(filled, guarantee):
    """runlite.cli.main with surrogateescape and hostile argv: exit 0, 1 or 2 with a message, no traceback."""
    store, path = filled
    before = digest(path)

    @given(command=st.sampled_from(_CLI_COMMANDS), arg=st.one_of(S.hostile_text, st.sampled_from(_CLI_VALID)))
    def prop(command, arg):
        argv = [*command, arg, "--db", str(path)] if command else [arg]
        with tally.example():
            out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)  # strict, as stdout
            err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace", write_through=True)
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    code = cli.main(argv)
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code
            message = err.buffer.getvalue().decode("utf-8")
            tally.outcome(code == 0)
            assert code in (0, 1, 2), (argv, code)
            assert "Traceback" not in message
            if code:  # "runlite: error: ..." or argparse's "runlite ls: error: ..."
                assert ": error:" in message, (argv, message)
            assert digest(path) == before

    with family(guarantee, "fuzz: CLI argv", "exit 0/1/2 with one error line, never a traceback") as tally:
        prop()
    check_file(path)


# ---------------------------------------------------------------- regressions (bugs these tests found)


HUGE = 10 ** 5000  # over 4300 digits: int -> str raises ValueError; beyond float range too


@pytest.mark.parametrize("call", [
    lambda s, r: r.log_metrics({"m": HUGE}),
    lambda s, r: r.log_metrics({"m": fractions.Fraction(10 ** 400, 7)}),
    lambda s, r: r.log_metrics({"m": 1.0}, step=HUGE),
    lambda s, r: r.log_metrics({"m": 1.0}, time=HUGE),
    lambda s, r: r.log_metrics({"m": 1.0}, timestamp=HUGE),
    lambda s, r: r.update_metadata({"k": [HUGE]}),
    lambda s, r: r.log_event("x", timestamp=HUGE),
    lambda s, r: s.init("x", heartbeat_timeout=HUGE),
    lambda s, r: s.list_runs(limit=HUGE),
    lambda s, r: s.runs(limit=HUGE),
    lambda s, r: s.create_feedback(r.id, "k", score=HUGE),
    lambda s, r: s.get_run("\udcff"),
    lambda s, r: s.alerts("\udcff"),
    lambda s, r: kpi.evaluate("a", {"a": HUGE}),
    lambda s, r: runlite.open(":memory:", timeout=HUGE),
], ids=["metric-int", "metric-fraction", "step", "time", "timestamp", "metadata", "event-time", "heartbeat",
        "list-limit", "runs-limit", "feedback-score", "get-run-surrogate", "alerts-surrogate", "kpi-value",
        "open-timeout"])
def test_out_of_range_inputs_are_runlite_errors(call, mem):
    run = mem.init("r")
    with pytest.raises(RunliteError) as info:
        call(mem, run)
    assert str(info.value)


def test_inputs_that_used_to_escape_as_other_exceptions():
    """Found by the fuzzers above: each was a ValueError, OverflowError or RecursionError."""
    for text in ["eq(total_tokens, " + "9" * 5000 + ")", "in(name, " + "[" * 3000 + ")",
                 """has(metadata, '{"a": [NaN]}')""", """has(metadata, '{"a": 1e999}')"""]:
        with pytest.raises(FilterError):
            query.compile_where(parse_langsmith(text), now_us=0)
    # a value with too many digits for an int64 compares as a string
    query.compile_where(parse_simvue(["metadata.x == " + "1" * 5000]), now_us=0)
    for filters in (["created < 1" + "0" * 300 + "y"], ["created > " + "1" * 50 + "h"]):
        with pytest.raises(FilterError, match="relative time"):
            parse_simvue(filters)


def test_long_digit_runs_parse_in_linear_time():
    """``parse_number`` used a regex that backtracked quadratically: 10,000 digits took ~2 s."""
    text = "1" * 9_999 + "x"
    assert parse_number(text) is None
    assert parse_number("-" + "0" * 5000 + "12") == -12
    assert parse_number("9223372036854775807") == (1 << 63) - 1 and parse_number("9223372036854775808") is None


def test_root_folder_spelled_with_extra_slashes():
    """``//`` normalized to an empty folder name, which then failed a foreign key (a StoreError)."""
    with runlite.open(":memory:") as store:
        run = store.init("r", folder="//", running=False)
        assert store.get_run(run.id).folder == "/"


def test_fraction_metric_overflow_message():
    with pytest.raises(runlite.ValidationError, match="cannot be converted to a float64"):
        metric_buffer._value("m", fractions.Fraction(10 ** 400, 3))
    with pytest.raises(runlite.ValidationError, match="finite"):
        metric_log.check_time(HUGE)
