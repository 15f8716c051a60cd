"""Events: Simvue messages and LangSmith named events, buffered with metrics."""

import datetime as dt
import os
import subprocess
import sys

import pytest

import runlite

from .plans import read_pages


def test_log_event_levels_and_order(mem):
    run = mem.init("e")
    run.log_event("first")
    run.log_event("second", level="warning")
    run.log_event("early", timestamp="2020-01-01T00:00:00Z", level="debug")
    got = mem.events(run)
    assert [e.message for e in got] == ["early", "first", "second"]  # time order
    assert [e.level for e in got] == ["debug", "info", "warning"]
    assert got[0].time == dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)


def test_event_count_counts_messages_and_named_events_buffered_or_written(mem):
    run = mem.init("counted", run_type="llm")
    assert mem.event_count(run) == 0
    for i in range(7):
        run.log_event(f"message {i}")
    run.add_event("new_token", token="x")
    assert mem.event_count(run.id) == 8  # buffered ones are flushed first, as every read does
    last = mem.events(run, offset=mem.event_count(run) - 3)
    assert [e.message or e.name for e in last] == ["message 5", "message 6", "new_token"]
    with pytest.raises(runlite.NotFoundError):
        mem.event_count("no such run")


def test_add_event_langsmith_style(mem):
    run = mem.init("span", run_type="llm")
    run.add_event("new_token", token="Hel")
    run.add_event({"name": "start", "time": "2024-01-01T00:00:00Z"})
    run.add_event("note", message="a message too", extra={"k": [1, 2]})
    got = {e.name: e for e in mem.events(run)}
    assert got["new_token"].kwargs == {"token": "Hel"}
    assert got["start"].time.year == 2024 and got["start"].kwargs is None
    assert got["note"].message == "a message too" and got["note"].kwargs == {"extra": {"k": [1, 2]}}
    assert got["note"].to_dict()["name"] == "note"


def test_filters(mem):
    run = mem.init("f")
    for i in range(50):
        run.log_event(f"step {i} {'error' if i % 10 == 0 else 'fine'}", level="error" if i % 10 == 0 else "info",
                      timestamp=1_700_000_000 + i)
    assert len(mem.events(run, contains="error")) == 5
    assert len(mem.events(run, contains="%")) == 0  # no LIKE wildcards
    assert len(mem.events(run, level="error")) == 5
    assert len(mem.events(run, level=["error", "info"])) == 50
    window = mem.events(run, since=1_700_000_010, until=1_700_000_019)
    assert [e.message.split()[1] for e in window] == [str(i) for i in range(10, 20)]
    page = mem.events(run, limit=5, offset=10)
    assert [e.message.split()[1] for e in page] == [str(i) for i in range(10, 15)]
    for bad in (dict(level="loud"), dict(limit=-1), dict(offset="1"), dict(since="yesterday")):
        with pytest.raises(runlite.ValidationError):
            mem.events(run, **bad)


@pytest.mark.parametrize("call", [
    lambda r: r.log_event(None), lambda r: r.log_event("x", level="fatal"),
    lambda r: r.log_event("x" * ((1 << 20) + 1)), lambda r: r.add_event(""),
    lambda r: r.log_event("x", timestamp="not a time"), lambda r: r.log_event("\ud800"),
    # before 0001-01-01: it would be stored, then no read of the run's events could make it a datetime
    lambda r: r.log_event("x", timestamp=-1e11), lambda r: r.log_event("x", timestamp=-62_135_596_801),
    lambda r: r.log_event("x", timestamp=float("nan")),
    # valid ISO-8601 whose offset takes it past year 1 or 9999 in UTC
    lambda r: r.log_event("x", timestamp="0001-01-01T00:00:00+00:01"),
    lambda r: r.log_event("x", timestamp="9999-12-31T23:59:59-14:00"),
    # LangSmith's event dict whose kwargs are not a mapping
    lambda r: r.add_event({"name": "n", "kwargs": [1, 2]}), lambda r: r.add_event({"name": "n", "kwargs": "text"}),
])
def test_bad_events_refused(mem, call):
    run = mem.init("b")
    with pytest.raises(runlite.ValidationError):
        call(run)
    assert mem.events(run) == []


def test_event_times_at_the_ends_of_the_range_are_read_back(mem):
    run = mem.init("ends")
    run.log_event("first day", timestamp=-62_135_596_800)  # 0001-01-01T00:00:00Z
    run.log_event("far", timestamp=1e11)
    assert [(e.message, e.time.year) for e in mem.events(run)] == [("first day", 1), ("far", 5138)]


def test_events_need_running(mem):
    run = mem.init("c", running=False)
    with pytest.raises(runlite.RunStateError):
        run.log_event("x")


def test_exception_traceback_logged_as_event(mem):
    with pytest.raises(RuntimeError):
        with mem.init("boom") as run:
            raise RuntimeError("kaput")
    errors = mem.events(run, level="error")
    assert len(errors) == 1 and "RuntimeError: kaput" in errors[0].message


def test_many_events_are_fast_to_filter(store):
    run = store.init("many")
    for i in range(20_000):
        run.log_event(f"message {i}", level="warning" if i % 1000 == 0 else "info")
    run.close()
    assert len(store.events(run.id, level="warning")) == 20
    assert len(store.events(run.id, limit=10, offset=19_990)) == 10


def test_a_deep_page_skips_events_on_the_index(store):
    """A page far into a run's events reads about as many pages as one near the start: the
    events before it are skipped on the index of (time, seq), not looked up one by one in the
    table. Filtered or not, a page holds the same events as a slice of the whole list."""
    run = store.init("deep")
    base = 1_700_000_000
    for i in range(8000):  # times out of seq order and shared by ~32 events each: ties go by seq
        run.log_event(f"event {i}{' odd' if i % 2 else ''}", level="warning" if i % 7 == 0 else "info",
                      timestamp=base + (i * 37 % 1000) // 4)
    run.close()
    every = store.events(run.id)
    assert [(e.time, e.seq) for e in every] == sorted((e.time, e.seq) for e in every)
    assert len({e.time for e in every}) == 250
    since, until = dt.datetime.fromtimestamp(base + 40, dt.timezone.utc), dt.datetime.fromtimestamp(
        base + 200, dt.timezone.utc)
    for filters, kept in [({}, every),
                          (dict(since=base + 40, until=base + 200), [e for e in every if since <= e.time <= until]),
                          (dict(level="warning"), [e for e in every if e.level == "warning"]),
                          (dict(contains="odd", since=base + 40), [e for e in every if "odd" in e.message
                                                                   and e.time >= since])]:
        for offset in (0, 1, 31, 32, 33, len(kept) // 2, len(kept) - 1, len(kept), len(kept) + 5):
            assert store.events(run.id, limit=50, offset=offset, **filters) == kept[offset:offset + 50]
            assert store.events(run.id, offset=offset, **filters) == kept[offset:]

    def page(offset, **filters):
        return read_pages(store, lambda: store.events(run.id, limit=50, offset=offset, **filters))
    assert page(7950) < 2 * page(1950)  # each skipped event looked up: 4 times as many
    assert page(4800, since=base + 40, until=base + 200) < 2 * page(1200, since=base + 40, until=base + 200)


def test_seq_continues_after_reconnect(store):
    run = store.init("q", running=False)
    run.close()
    live = store.reconnect("q")
    live.log_event("a")
    live.log_event("b")
    live.close()
    assert [e.seq for e in store.events("q")] == [0, 1]


SCRIPT = """
import runlite, sys
s = runlite.open(sys.argv[1])
run = s.init("exits")
for i in range(100):
    run.log_event(f"e{i}")
"""


def test_events_flushed_at_interpreter_exit(db_path):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    subprocess.run([sys.executable, "-c", SCRIPT, db_path], check=True, env=env)
    with runlite.open(db_path, read_only=True) as s:
        assert len(s.events("exits")) == 100
