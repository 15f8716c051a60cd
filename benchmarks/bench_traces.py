"""Tracing: overhead per span on the traced thread, and reading a 10,000-span trace.

Baselines measured in the same run: a plain (untraced) call; raw apsw inserting the same
span rows in one transaction (into a 10-column table with one index, and, as a second
baseline, the very rows runlite wrote into runlite's own runs table); raw apsw fetching the
trace's rows; the filters' SQL by hand.

Targets (issue 18), as ratios to those baselines derived from the issue's figures: on its
machine raw apsw wrote 263k span rows/s (3.8 us a row) and fetched the 10,001-span trace in
25.8 ms (RESULTS.md of 2026-11-23); this machine runs them about 2x slower, which ratios cancel.

- >= 100k spans/s written: 100 / 263 = 0.38x raw rows;
- <= 5 us on the traced thread per span (beyond a plain call): 3.8 / 5 = 0.76x (baseline: raw
  apsw's time a span row);
- a 10,001-span trace read with every field of every record touched in <= 30 ms: 25.8 / 30 =
  0.86x the raw fetch of its rows;
- list_runs, 3 clauses over 100,000 runs, within 1.2x of the same query by hand (1 / 1.2 =
  0.83x), in both grammars.

Rows that show where a span's time goes: raw apsw inserting the very rows runlite wrote into
runlite's runs table, the best it does (``runs.ROWS_PER_STATEMENT`` rows a statement, as runlite
writes them: the table has triggers, so SQLite gives every statement a statement journal
that copies each page the statement touches, and one row a statement pays that for every
row, 2-3x the time a row); the rest of runlite's time a span, its own Python (the traced
thread's and the writer's), beside that SQLite time; and the same raw insert without the
indexes the run queries use, beside it with them. And the trace read's floor (the raw fetch,
then the same touching of records whose every value is already made: what no record type
read in CPython can go below). And LLM spans' rows, token counts at random, written raw into a
growing file: the last tenth's speed against the first's (`llm_spans_growth`).
"""

from __future__ import annotations

import itertools
import os
import random
import statistics
import tempfile
import time

import apsw
import attrs

import runlite
from runlite.records import RunRecord
from runlite.storage.runs import ROWS_PER_STATEMENT
from runlite.tracing.buffer import FLUSH_SPANS

from .common import paired_medians, row

N = 50_000
SPANS_PER_S_RATIO = 100 / 263  # >= 100k spans/s where raw rows went at 263k/s
OVERHEAD_RATIO = 3.8 / 5       # <= 5 us a span where raw apsw took 3.8 us a row
TRACE_READ_RATIO = 25.8 / 30   # <= 30 ms where the raw fetch took 25.8 ms
QUERY_RATIO = 1 / 1.2          # within 1.2x of the SQL by hand
FIELDS = [f.name for f in attrs.fields(RunRecord)]


def _traced_seconds(store, n: int) -> tuple[float, float]:
    """(seconds for n traced calls on the caller's thread, seconds until written). The writer
    thread works meanwhile: its share of the GIL shows in the wall time."""
    @runlite.traceable(run_type="tool", store=store)
    def add(a, b=1):
        return a + b

    start = time.perf_counter()
    for i in range(n):
        add(i)
    traced = time.perf_counter() - start
    store.live.flush_spans()
    return traced, time.perf_counter() - start


# Traced calls a timed piece of `_traced_cpu`: fewer than wake the span writer before its tick.
PIECE = FLUSH_SPANS * 4 // 5


def _traced_cpu(store, n: int) -> float:
    """CPU seconds the caller's thread spends on n traced calls, made in pieces of ``PIECE``,
    each written (untimed) before the next: the span writer never works beside a timed piece
    (10,000 calls would wake it halfway), so the figure is the calls' own, not how the machine
    shares its cores with the writer. (The 2-3x slower figures CI once gave were the collector
    walking a heap earlier suites left: see `common.in_fresh_interpreter`.)"""
    @runlite.traceable(run_type="tool", store=store)
    def add(a, b=1):
        return a + b

    cpu = 0.0
    for first in range(0, n, PIECE):
        start = time.thread_time()
        for i in range(first, min(n, first + PIECE)):
            add(i)
        cpu += time.thread_time() - start
        store.live.flush_spans()
    return cpu


def _plain_seconds(n: int) -> tuple[float, float]:
    """(wall, CPU) seconds of n plain calls."""
    def add(a, b=1):
        return a + b

    cpu = time.thread_time()
    start = time.perf_counter()
    for i in range(n):
        add(i)
    return time.perf_counter() - start, time.thread_time() - cpu


def _raw_spans(tmp: str, n: int) -> float:
    conn = apsw.Connection(os.path.join(tmp, "raw.db"))
    conn.execute("PRAGMA journal_mode=WAL").fetchall()
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, name TEXT, run_type TEXT, status TEXT, trace_id TEXT,"
                 " dotted_order TEXT, created INTEGER, ended INTEGER, inputs TEXT, outputs TEXT)")
    conn.execute("CREATE INDEX runs_trace ON runs(trace_id, dotted_order)")
    start = time.perf_counter()
    with conn:
        conn.executemany("INSERT INTO runs VALUES (?, ?, 'tool', 'completed', ?, ?, ?, ?, ?, ?)",
                         ((f"{i:032x}", "add", f"{i:032x}", f"2024{i:032x}", i, i + 1, f'{{"a":{i},"b":1}}',
                           f'{{"output":{i + 1}}}') for i in range(n)))
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def _same_rows_seconds(tmp: str, traced_path: str, query_indexes: bool = True) -> float:
    """Raw apsw inserting the rows runlite wrote for the traced calls into an empty file of
    runlite's own schema (its ``runs`` table and indexes), in one transaction and
    ``ROWS_PER_STATEMENT`` rows a statement as runlite writes them (one row a statement takes
    2-3x as long: each statement has a statement journal, the table having triggers): what
    SQLite alone costs for those rows, so the spans' figure can be read apart from the
    schema's. Without ``query_indexes``, the ``runs`` table keeps only its primary key: what
    the indexes that serve the run queries (``list_runs``, the run table) cost those rows."""
    path = os.path.join(tmp, "same.db" if query_indexes else "bare.db")
    with runlite.open(path):
        pass  # the schema, made and migrated
    src = apsw.Connection(traced_path, flags=apsw.SQLITE_OPEN_READONLY)
    rows = src.execute("SELECT * FROM runs WHERE name = 'add'").fetchall()
    src.close()
    conn = apsw.Connection(path)
    conn.execute("PRAGMA synchronous=NORMAL")
    if not query_indexes:  # names read from the schema runlite just made
        for (name,) in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'runs'"
                                    " AND sql IS NOT NULL").fetchall():
            conn.execute(f'DROP INDEX "{name}"')
    one = f"({', '.join('?' * len(rows[0]))})"
    values = list(itertools.chain.from_iterable(rows))  # made before the clock starts
    step = ROWS_PER_STATEMENT * len(rows[0])
    start = time.perf_counter()
    with conn:
        for at in range(0, len(values), step):
            part = values[at:at + step]
            conn.execute(f"INSERT INTO runs VALUES {', '.join([one] * (len(part) // len(rows[0])))}", part)
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def _llm_cells(tmp: str):
    """``(cells, width)``: ``cells(k, count)`` the cells of ``count`` rows of LLM spans from the
    ``k``-th, in one list as a multi-row insert binds them, as runlite writes such rows (a
    traced span's row, copied): each the root of its own trace, ids and times ascending, token
    counts at random (as a model's are)."""
    path = os.path.join(tmp, "llm.db")
    with runlite.open(path) as store:
        span = runlite.trace("chat", run_type="llm", store=store, inputs={"q": "x"})
        span.set_usage(prompt_tokens=10, completion_tokens=5)
        span.end(outputs={"a": "y"})
        store.live.flush_spans()
    src = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    cursor = src.execute("SELECT * FROM runs")
    model, columns = cursor.fetchone(), [d[0] for d in cursor.getdescription()]
    src.close()
    at = {name: columns.index(name) for name in ("id", "trace_id", "dotted_order", "created", "started", "ended",
                                                  "modified", "prompt_tokens", "completion_tokens", "total_tokens")}
    rnd = random.Random(17)

    def cells(first: int, count: int) -> list:
        out: list = []
        for k in range(first, first + count):
            row_cells = list(model)
            run_id = f"0190{k:08x}-0000-7000-8000-000000000000"
            us = model[at["created"]] + 1000 * k
            prompt = rnd.randrange(10, 8000)
            for name, value in (("id", run_id), ("trace_id", run_id), ("dotted_order", f"{us}Z{run_id}"),
                                ("created", us), ("started", us), ("ended", us + 500), ("modified", us + 500),
                                ("prompt_tokens", prompt), ("completion_tokens", 100),
                                ("total_tokens", prompt + 100)):
                row_cells[at[name]] = value
            out += row_cells
        return out
    return cells, len(model)


def llm_spans_growth(quick: bool) -> dict:
    """Raw apsw writing LLM spans' rows (token counts at random) into runlite's runs table, 512 a
    transaction: the spans/s of the last tenth against the first's. An index in token order takes
    each span at a page at random, and its cost grows with the file (schema version 17 has none)."""
    n = 51_200 if quick else 204_800  # tenths of whole transactions
    tenth = n // 10
    with tempfile.TemporaryDirectory() as tmp:
        cells, width = _llm_cells(tmp)
        path = os.path.join(tmp, "grow.db")
        runlite.open(path).close()  # the schema, made and migrated
        conn = apsw.Connection(path)
        conn.execute("PRAGMA synchronous=NORMAL")
        one = f"({', '.join('?' * width)})"
        insert = f"INSERT INTO runs VALUES {', '.join([one] * ROWS_PER_STATEMENT)}"  # 512 is 8 such statements
        first = last = 0.0
        for at in range(0, n, 512):
            parts = [cells(k, ROWS_PER_STATEMENT) for k in range(at, at + 512, ROWS_PER_STATEMENT)]  # before the clock
            start = time.perf_counter()
            with conn:
                for part in parts:
                    conn.execute(insert, part)
            seconds = time.perf_counter() - start
            first += seconds if at < tenth else 0.0
            last += seconds if at >= n - tenth else 0.0
        conn.close()
    return row(f"LLM spans with token counts, raw apsw into runlite's runs table, 512 a transaction: the last"
               f" {tenth:,} of {n:,} (baseline: the first {tenth:,})", tenth / last, "spans/s", tenth / first)


def big_trace(store, spans: int = 10_000) -> str:
    """A trace of a root and ``spans`` spans below it (100 steps of leaves, three levels), written;
    its id. ``bench_serve`` reads the same trace back through the LangSmith SDK."""
    with runlite.trace("root", store=store, inputs={"q": "x"}) as root:
        for i in range(100):
            with runlite.trace(f"step-{i}", store=store, inputs={"i": i}):
                for j in range(spans // 100 - 1):
                    span = runlite.trace("leaf", run_type="tool", store=store, inputs={"j": j})
                    span.end(outputs={"r": j})
    store.live.flush_spans()
    return root.trace_id


def _walk(record) -> int:
    """Touch what a waterfall view shows of every span."""
    n = 0
    stack = [record]
    while stack:
        rec = stack.pop()
        rec.name, rec.status, rec.start_time, rec.end_time, rec.total_tokens  # noqa: B018
        n += 1
        stack.extend(rec.child_runs)
    return n


def _touch_all(record) -> int:
    """Touch every field of every record of the tree (events, attachments, feedback too)."""
    n = 0
    stack = [record]
    while stack:
        rec = stack.pop()
        for name in FIELDS:
            getattr(rec, name)
        n += 1
        stack.extend(rec.child_runs)
    return n


def _made(record) -> RunRecord:
    """An ordinary RunRecord tree with every field's value made beforehand (nothing left to
    decode or load): touching its fields costs only the touching."""
    kids = tuple(_made(kid) for kid in record.child_runs)  # the benchmark's trace: 3 levels deep
    return RunRecord(**{name: getattr(record, name) for name in FIELDS if name != "child_runs"}, child_runs=kids)


def _budgeted_times(fn, repeat: int, budget_s: float = 15.0) -> list[float]:
    """Seconds of up to ``repeat`` calls of ``fn``, fewer once ``budget_s`` is spent (at least one):
    a figure far over its target need not be measured five times to show it."""
    times: list[float] = []
    while len(times) < repeat and sum(times) < budget_s:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def rounds(n: int, repeat: int) -> list[list[float]]:
    """Seconds of each round, taking turns: [traced wall, traced CPU (`_traced_cpu`), written,
    plain wall, plain CPU, raw rows, the same rows into runlite's schema, and into it without
    its query indexes], ``repeat`` of each."""
    out: list[list[float]] = [[] for _ in range(8)]
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            with runlite.open(os.path.join(tmp, "t.db")) as store:
                t, w = _traced_seconds(store, n)
            with runlite.open(os.path.join(tmp, "c.db")) as store:
                c = _traced_cpu(store, n)
            p, pc = _plain_seconds(n)
            same = _same_rows_seconds(tmp, os.path.join(tmp, "t.db"))
            bare = _same_rows_seconds(tmp, os.path.join(tmp, "t.db"), query_indexes=False)
            for col, value in zip(out, (t, c, w, p, pc, _raw_spans(tmp, n), same, bare)):
                col.append(value)
    return out


def run(quick: bool = False) -> list[dict]:
    """Span overhead, spans/s and trace read times. ``quick`` (CI) traces fewer calls but takes
    the median of more rounds: each round is a fraction of a second, and three of them let one
    disturbed round on a shared 2-core machine move the median across the target."""
    repeat = 7 if quick else 5
    n = 10_000 if quick else N
    traced, traced_cpu, written, plain, plain_cpu, raw, same, bare = rounds(n, repeat)
    t, c, w, p, pc, r, s, b = map(statistics.median, (traced, traced_cpu, written, plain, plain_cpu, raw, same,
                                                      bare))
    out = [
        row("overhead per traced call, CPU of the traced thread (baseline: raw apsw's time a span row)",
            (c - pc) / n * 1e6, "us", r / n * 1e6, higher_is_better=False, target="<= 5 us there: >= 0.76x",
            check=("ratio", ">=", OVERHEAD_RATIO)),
        row("... its wall time, the writer thread working meanwhile", (t - p) / n * 1e6, "us", r / n * 1e6,
            higher_is_better=False),
        row("spans traced and written", n / w, "spans/s", n / r,
            target=">= 100k spans/s there: >= 0.38x one executemany of the rows",
            check=("ratio", ">=", SPANS_PER_S_RATIO)),
        # The baseline above is a 10-column table with one index; runlite's runs table holds
        # every run field (LangSmith's, Simvue's) and the indexes its queries use. Against the
        # best raw apsw does for the rows runlite wrote there: SQLite's share of a span.
        row(f"... against raw apsw inserting the same rows runlite wrote into runlite's runs table, "
            f"{ROWS_PER_STATEMENT} a statement", n / w, "spans/s", n / s),
        # The rest is runlite's own: the traced thread's Python and the writer's, beside the
        # time SQLite takes a row (both figures a span).
        row("... runlite's own time a span, beyond SQLite's (baseline: SQLite's, the row above's raw insert)",
            max(w - s, 0.0) / n * 1e6, "us", s / n * 1e6, higher_is_better=False),
        # What the schema's query indexes cost: the same rows into the runs table keeping only
        # its primary key, against them with it (both raw apsw, in the same statements).
        row("... raw apsw: those rows into runlite's runs table without its query indexes (baseline: with them)",
            n / b, "spans/s", n / s),
    ]
    out.append(llm_spans_growth(quick))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.db")
        with runlite.open(path) as store:
            trace_id = big_trace(store)
        with runlite.open(path, read_only=True) as store:
            times, walked = [], []
            for _ in range(repeat):
                start = time.perf_counter()
                tree = store.trace(trace_id)
                times.append(time.perf_counter() - start)
                assert _walk(tree) == 10_001
                walked.append(time.perf_counter() - start)
            every = _budgeted_times(lambda: _touch_all(store.trace(trace_id)), repeat, 5.0 if quick else 15.0)
            made = _made(store.trace(trace_id))
            touching = _budgeted_times(lambda: _touch_all(made), repeat)
        conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
        raw_times = []
        for _ in range(repeat):
            start = time.perf_counter()
            conn.execute("SELECT * FROM runs WHERE trace_id = ? ORDER BY dotted_order", (trace_id,)).fetchall()
            raw_times.append(time.perf_counter() - start)
        conn.close()
    raw_ms = statistics.median(raw_times) * 1e3
    out.append(row("read a 10,001-span trace (store.trace)", statistics.median(times) * 1e3, "ms", raw_ms,
                   higher_is_better=False, target="< 50 ms"))
    out.append(row("... and touch name/status/times/tokens of every span", statistics.median(walked) * 1e3, "ms",
                   raw_ms, higher_is_better=False))
    out.append(row(f"... and touch every field of every span ({len(FIELDS)} fields, events included)",
                   statistics.median(every) * 1e3, "ms", raw_ms, higher_is_better=False,
                   target="<= 30 ms there: >= 0.86x the raw fetch", check=("ratio", ">=", TRACE_READ_RATIO)))
    # The least any record type could cost: the raw fetch, then the same touching of records
    # that hold every value already (49 attribute reads a span, the loop's own time). Below
    # the target's ratio, that target cannot be met by records read in CPython.
    floor_ms = raw_ms + statistics.median(touching) * 1e3
    out.append(row("... its floor: the raw fetch, then the same touching of records whose every value is made",
                   floor_ms, "ms", raw_ms, higher_is_better=False))
    return out + run_queries()


FILTER = 'and(eq(run_type, "llm"), gt(total_tokens, 5000), has(tags, "prod"))'
# The hand-written queries ask the same question, in the same order (newest first, as each
# grammar's listing returns it), so the ratio is what runlite adds to that SQL.
RAW = ("SELECT * FROM runs WHERE run_type = 'llm' AND total_tokens > 5000"
       " AND EXISTS (SELECT 1 FROM json_each(runs.tags) WHERE value = 'prod')"
       " ORDER BY coalesce(started, created) DESC, id DESC")
# The same three clauses in Simvue's grammar (docs/QUERIES.md), and by hand.
SIMVUE = ["run_type == llm", "metadata.i > 50000", "has tag.prod"]
RAW_SIMVUE = ("SELECT * FROM runs WHERE run_type = 'llm' AND json_extract(metadata, '$.i') > 50000"
              " AND EXISTS (SELECT 1 FROM json_each(runs.tags) WHERE value = 'prod')"
              " ORDER BY created DESC, id DESC")

# The first page of LangSmith's listing (what /runs/query serves first), and its SQL by hand.
PAGE = 100
RAW_PAGE = f"SELECT * FROM runs ORDER BY coalesce(started, created) DESC, id DESC LIMIT {PAGE}"


def _many_runs(store, n: int) -> None:
    types = ("llm", "chain", "tool", "retriever", "embedding", "prompt", "parser")
    for i in range(n):
        span = runlite.trace(f"span-{i}", run_type=types[i % 7], store=store,
                             tags=["prod" if i % 3 == 0 else "dev"], metadata={"i": i})
        span.set_usage(prompt_tokens=i % 9000, completion_tokens=100)
        span.end(outputs={"i": i})
    store.live.flush_spans()


def run_queries() -> list[dict]:
    """list_runs (LangSmith's grammar) and get_runs (Simvue's) with a three-clause filter over
    100,000 runs, beside the same query by hand (rows in any order)."""
    # Nine turns in a quick run too (a turn takes ~80 ms): a median of five turns once read 0.78x
    # in CI (Simvue's grammar), where nine quick runs of the same code that day read 0.83-0.97x.
    repeat = 9
    n = 100_000
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "many.db")
        with runlite.open(path) as store:
            _many_runs(store, n)
        conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
        with runlite.open(path, read_only=True) as store:
            found = len(store.list_runs(filter=FILTER))
            assert len(conn.execute(RAW).fetchall()) == found
            found_simvue = len(store.get_runs(SIMVUE))
            assert len(conn.execute(RAW_SIMVUE).fetchall()) == found_simvue
            # Taking turns (after the untimed calls above warmed the page cache), so a busy
            # moment of the machine slows each side alike.
            ms, ms_simvue, raw, raw_simvue = (t * 1e3 for t in paired_medians([
                lambda _t: store.list_runs(filter=FILTER),
                lambda _t: store.get_runs(SIMVUE),
                lambda _t: conn.execute(RAW).fetchall(),
                lambda _t: conn.execute(RAW_SIMVUE).fetchall()], repeat))
            # The first page of the listing /runs/query serves, read in order by index.
            assert len(store.list_runs(limit=PAGE)) == len(conn.execute(RAW_PAGE).fetchall()) == PAGE
            page, raw_page = (t * 1e3 for t in paired_medians([
                lambda _t: store.list_runs(limit=PAGE), lambda _t: conn.execute(RAW_PAGE).fetchall()], repeat))
        conn.close()
    return [
        row(f"list_runs, 3-clause filter over {n:,} runs ({found:,} match)", ms, "ms", raw,
            higher_is_better=False, target="within 1.2x of the SQL by hand: >= 0.83x",
            check=("ratio", ">=", QUERY_RATIO)),
        row(f"get_runs (Simvue grammar), 3 clauses over {n:,} runs ({found_simvue:,} match)", ms_simvue, "ms",
            raw_simvue, higher_is_better=False, target="within 1.2x of the SQL by hand: >= 0.83x",
            check=("ratio", ">=", QUERY_RATIO)),
        row(f"list_runs(limit={PAGE}) of {n:,} runs: the newest page (baseline: its SQL by hand)", page, "ms",
            raw_page, higher_is_better=False),
    ]
