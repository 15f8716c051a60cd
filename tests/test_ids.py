"""Run ids: RFC 9562 version 7, time-ordered, unique across threads, processes and forks,
whatever the program does with ``random``."""

import datetime
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest
from hypothesis import given, strategies as st

import runlite
from runlite import _ids

fork_only = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")


def stamp(run_id: str) -> str:
    """The time and counter part of an id (unix_ts_ms, version, rand_a): unique in a process."""
    return run_id[:18]


def test_format_is_version_7_with_the_time_in_front():
    now_us = time.time_ns() // 1000
    for _ in range(1000):
        text = _ids.uuid7(now_us)
        parsed = uuid.UUID(text)
        assert _ids.is_uuid(text) and str(parsed) == text
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert int(text[:8] + text[9:13], 16) >= now_us // 1000  # never before the time asked for


def test_a_uuid_is_the_whole_text():
    good = "0193a7b2-1c2d-7e3f-8a9b-0c1d2e3f4a5b"
    assert _ids.is_uuid(good)
    for bad in (good + "\n", "\n" + good, good + " ", good.upper(), good[:-1], good.replace("-", "")):
        assert not _ids.is_uuid(bad)
    # A caller's id with a final newline (a line read from a file) is other text: it stands
    # for the uuid5 of that text, never for a stored id that ends in a newline.
    runs_namespace = uuid.UUID("5b1c3c1e-6a0f-4e0c-9a55-72756e696431")
    assert _ids.run_id_for(good + "\n") == str(uuid.uuid5(runs_namespace, good + "\n"))
    assert _ids.run_id_for(good.upper()) == good


def test_ids_sort_by_creation_even_past_the_counter():
    now_us = time.time_ns() // 1000
    made = [_ids.uuid7(now_us) for _ in range(10_000)]  # more than 4096 in one ms: the counter wraps
    assert made == sorted(made) and len(set(made)) == len(made)
    assert len({run_id[:13] for run_id in made}) >= 2  # it borrowed the next millisecond
    next_ms = int(made[-1][:8] + made[-1][9:13], 16) + 10  # barely ahead: later tests keep a true clock
    later = _ids.uuid7(next_ms * 1000)
    assert later > made[-1] and int(later[:8] + later[9:13], 16) == next_ms


def test_ids_made_many_at_once_are_those_made_one_at_a_time(monkeypatch):
    # OS words all alike, so the draws' order cannot matter: what differs between ids is then
    # their millisecond and counter, which uuid7_many must step as uuid7 does.
    monkeypatch.setattr(_ids.os, "urandom", lambda n: b"\xa5\x3c" * (n // 2))
    now_us = time.time_ns() // 1000
    starts = [now_us] * 5000 + [now_us + 9_000, now_us - 50_000, now_us + 9_000, now_us + 20_000]
    made = {}
    for way in ("one", "many"):
        monkeypatch.setattr(_ids, "_last_ms", 0)
        monkeypatch.setattr(_ids, "_counter", 0)
        _ids._pool.clear()
        made[way] = [_ids.uuid7(us) for us in starts] if way == "one" else _ids.uuid7_many(starts)
    assert made["many"] == made["one"]
    assert len(set(made["many"])) == len(starts) and made["many"] == sorted(made["many"])
    assert len({run_id[:13] for run_id in made["many"][:5000]}) >= 2  # the counter wrapped
    assert _ids.uuid7_many([]) == []


def test_ids_made_many_at_once_go_between_those_made_before_and_after():
    now_us = time.time_ns() // 1000
    before = [_ids.uuid7(now_us) for _ in range(3)]
    many = _ids.uuid7_many([now_us] * 10_000 + [now_us + 1_000])
    after = [_ids.uuid7(now_us) for _ in range(3)]
    made = before + many + after
    assert made == sorted(made) and len(set(made)) == len(made)
    assert len({stamp(run_id) for run_id in made}) == len(made)
    for run_id in many[::97]:
        parsed = uuid.UUID(run_id)
        assert str(parsed) == run_id and parsed.version == 7 and parsed.variant == uuid.RFC_4122
    random.seed(0)  # and the program's random module decides nothing
    first = _ids.uuid7_many([now_us] * 3)
    random.seed(0)
    assert not set(first) & set(_ids.uuid7_many([now_us] * 3))


def test_users_random_neither_decides_nor_is_disturbed():
    random.seed(0)
    first = [_ids.uuid7() for _ in range(3)], [_ids.random_name() for _ in range(8)]
    random.seed(0)
    again = [_ids.uuid7() for _ in range(3)], [_ids.random_name() for _ in range(8)]
    assert not set(first[0]) & set(again[0])
    assert first[1] != again[1]  # 54 x 54 names: eight in a row repeating would be chance 1e-55
    random.seed(1)
    expected = [random.random() for _ in range(3)]
    random.seed(1)
    _ids.uuid7(), _ids.random_name()
    assert [random.random() for _ in range(3)] == expected  # the program's own stream is untouched


def test_threads_get_unique_strictly_increasing_ids():
    per_thread, workers = 20_000, 8
    results: dict[int, list[str]] = {}
    start = threading.Barrier(workers)

    def work(n):
        start.wait()
        results[n] = [_ids.uuid7() for _ in range(per_thread)]

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show up
    try:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(switch)
    everything = [run_id for ids in results.values() for run_id in ids]
    assert len(everything) == per_thread * workers
    assert len(set(everything)) == len(everything)
    # The lock gives every id its own (millisecond, counter): no two share one even by chance.
    assert len({stamp(run_id) for run_id in everything}) == len(everything)
    for ids in results.values():
        assert all(a < b for a, b in zip(ids, ids[1:]))


def _child_ids(count: int, now_us: int, many: bool = False) -> list[str]:
    """Ids made in a forked child, sent back through a pipe (the child never returns)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only os-level calls, then _exit (no pytest teardown here)
        try:
            os.close(read_end)
            signal.alarm(20)  # a child stuck on a lock inherited locked dies instead of hanging
            made = _ids.uuid7_many([now_us] * count) if many else [_ids.uuid7(now_us) for _ in range(count)]
            os.write(write_end, " ".join(made).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return data.split()


@fork_only
@pytest.mark.parametrize("many", [False, True], ids=["one at a time", "many at once"])
def test_forked_child_does_not_repeat_the_parent(many):
    now_us = time.time_ns() // 1000
    before = [_ids.uuid7(now_us) for _ in range(10)]
    child = _child_ids(1000, now_us, many)
    parent = _ids.uuid7_many([now_us] * 1000) if many else [_ids.uuid7(now_us) for _ in range(1000)]  # the same ms
    assert len(child) == 1000 and not set(child) & set(parent)
    # Not the parent's counter sequence either (the child's n-th id is not the parent's next
    # n-th in time and counter), and still after every id made before the fork.
    assert all(stamp(c) != stamp(p) for c, p in zip(child, parent))
    assert min(child) > max(before)
    assert child == sorted(child)


@fork_only
def test_forked_child_is_not_stuck_on_a_lock_held_at_the_fork():
    with _ids._lock:  # as if another thread were making an id when the program forked
        child = _child_ids(3, time.time_ns() // 1000)
    assert len(child) == 3 and all(_ids.is_uuid(i) for i in child)


_SEEDED_CHILD = textwrap.dedent("""
    import random, sys, time
    frozen_ns = int(sys.argv[1]) * 1000
    time.time_ns = lambda: frozen_ns  # both processes create their run in the same microsecond
    import runlite
    random.seed(0)  # both seed alike, as programs wanting reproducible results do
    with runlite.open(sys.argv[2]) as store:
        run = store.init()
        run.log_metrics({"x": float(sys.argv[3])})
        run.close()
        print(run.id)
""")


def test_seeded_processes_in_one_millisecond_get_distinct_ids(tmp_path):
    frozen_us = time.time_ns() // 1000
    paths = [str(tmp_path / "a.db"), str(tmp_path / "b.db")]
    procs = [subprocess.Popen([sys.executable, "-c", _SEEDED_CHILD, str(frozen_us), path, str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n, path in enumerate(paths)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    ids = [out.strip() for out, _ in outs]
    assert all(_ids.is_uuid(i) for i in ids) and ids[0] != ids[1]
    assert ids[0][:13] == ids[1][:13]  # really the same millisecond
    report = runlite.merge(paths[0], paths[1])[0]
    assert report["runs_added"] == 1 and report["run_conflicts"] == 0
    with runlite.open(paths[0], read_only=True) as merged:
        assert sorted(r.id for r in merged.runs()) == sorted(ids)
        assert [list(merged.metric_values(i, "x").values) for i in ids] == [[0.0], [1.0]]


@given(st.lists(st.integers(min_value=0, max_value=253402300799_999_998), min_size=1, max_size=20))
def test_dotted_segment_is_the_utc_time_to_the_microsecond_then_the_id(starts):
    """The second's text is kept between calls: each segment must still be its own time's,
    whether the calls fall in one second or jump between any of them."""
    run_id = _ids.uuid7()
    for start in starts + [starts[0] + 1, starts[0]]:
        when = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=start)
        assert _ids.dotted_segment(start, run_id) == when.strftime("%Y%m%dT%H%M%S%fZ") + run_id
