"""The metric buffer of a live run: the fast path of the common call, the lazily kept record
axis (steps, times), and flushes written outside the writer's lock. Whatever the mix of
calls, flushes, failed flushes and logging threads, every point reads back exactly once, in
its series' logging order, with its step, time and timestamp."""

import threading

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

import runlite
from runlite import errors
from runlite.storage import metric_buffer
from runlite.storage import metrics as metrics_mod

NAMES = ("a", "b", "c")
EPOCH = 1_700_000_000

records = st.tuples(
    st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True),
    st.lists(st.floats(allow_nan=False) | st.integers(-1000, 1000), min_size=3, max_size=3),
    st.none() | st.integers(0, 10_000),           # step
    st.none() | st.floats(-1e6, 1e6),             # time
    st.none() | st.integers(0, 10_000),           # timestamp: epoch seconds after EPOCH
    st.none() | st.just("gpu0"),                  # asset
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("log"), st.lists(records, min_size=1, max_size=10)),
        st.tuples(st.just("repeat"), st.integers(1, 40)),  # the last record again: the fast path
        st.just(("flush",)),
        st.tuples(st.just("fail"), st.lists(records, max_size=3)),  # a flush that fails, logged into
    ),
    min_size=1, max_size=25,
)


class _Model:
    """What the run must read back: per (name, asset) its points in logging order."""

    def __init__(self, run):
        self.run, self.step, self.points, self.last = run, 0, {}, None

    def log(self, record) -> None:
        names, values, step, time, stamp, asset = record
        self.run.log_metrics(dict(zip(names, values)), step=step, time=time,
                             timestamp=None if stamp is None else EPOCH + stamp, asset=asset)
        for name, value in zip(names, values):
            self.points.setdefault((name, asset or ""), []).append(
                (self.step if step is None else step, float(value), time, stamp))
        self.step += 1
        self.last = record

    def check(self, store) -> None:
        origin = self.run._started_us
        for (name, asset), points in self.points.items():
            s = store.metric_values(self.run.id, name, asset=asset or None)
            assert list(s.steps) == [p[0] for p in points]
            assert list(s.values) == [p[1] for p in points]
            for (_, _, time, stamp), t, ts in zip(points, s.times, s.timestamps):
                if stamp is not None:
                    assert ts == (EPOCH + stamp) * 1_000_000
                if time is not None:
                    assert t == time
                elif stamp is None:  # the default time: the run's seconds at the timestamp
                    assert t == (ts - origin) / 1e6
        assert sorted(store.metric_names(self.run.id)) == sorted({n for n, _ in self.points})


def _failing_flush(model, records):
    """A metric flush that logs ``records`` while it writes (outside the writer's lock), then fails."""
    real = metrics_mod.flush

    def flush(*args, **kwargs):
        real(*args, **kwargs)  # its statements are rolled back with the transaction
        for record in records:
            model.log(record)
        raise OSError("disk full")
    return flush


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations)
# An explicit step leaves the counter where it was: the next default step is the call count.
@example(ops=[("log", [(["b"], [0.0] * 3, 1, None, None, None), (["b"], [0.0] * 3, None, None, None, None)])])
def test_any_calls_flushes_and_failures_read_back_exactly(ops):
    with runlite.open(":memory:") as store:
        run = store.init("r")
        model = _Model(run)
        for op in ops:
            if op[0] == "log":
                for record in op[1]:
                    model.log(record)
            elif op[0] == "repeat" and model.last is not None:
                for _ in range(op[1]):
                    model.log(model.last)
            elif op[0] == "flush":
                run.flush()
            elif op[0] == "fail" and not run._writer.metrics.points:  # nothing to write: no flush
                for record in op[1]:
                    model.log(record)
            elif op[0] == "fail":
                real = metrics_mod.flush
                metrics_mod.flush = _failing_flush(model, op[1])
                try:
                    with pytest.raises(OSError):
                        run.flush()
                finally:
                    metrics_mod.flush = real
        model.check(store)  # reads flush the run first
        run.close()
        model.check(store)
        assert store.verify().ok


def test_a_refused_value_logs_nothing_on_the_fast_path(mem):
    run = mem.init("r")
    run.log_metrics({"a": 1.0, "b": 2.0})
    run.log_metrics({"a": 3.0, "b": 4.0})
    with pytest.raises(errors.ValidationError):
        run.log_metrics({"a": 5.0, "b": "x"})
    with pytest.raises(errors.ValidationError):
        run.log_metrics({"a": 5.0, "b": 2 ** 60})
    run.log_metrics({"b": 6.0, "a": 7.0})  # the same names in another order: another shape
    run.log_metrics({"a": 8.0, "b": True})
    assert list(mem.metric_values(run.id, "a").values) == [1.0, 3.0, 7.0, 8.0]
    assert list(mem.metric_values(run.id, "b").values) == [2.0, 4.0, 6.0, 1.0]
    assert list(mem.metric_values(run.id, "a").steps) == [0, 1, 2, 3]  # refused calls take no step


def test_an_explicit_step_between_default_ones(mem):
    run = mem.init("r")
    for i in range(5):
        run.log_metrics({"a": float(i)})
    run.log_metrics({"a": 5.0}, step=100)
    run.log_metrics({"a": 6.0})
    run.log_metrics({"a": 7.0}, time=2.5)
    run.log_metrics({"a": 8.0})
    s = mem.metric_values(run.id, "a")
    assert list(s.steps) == [0, 1, 2, 3, 4, 100, 6, 7, 8]
    assert s.times[7] == 2.5
    assert all(s.times[i] == (s.timestamps[i] - run._started_us) / 1e6 for i in (0, 5, 6, 8))


def test_a_failed_flush_puts_points_back_before_later_ones(mem):
    run = mem.init("r")
    model = _Model(run)
    for i in range(10):
        model.log((["a"], [float(i), 0, 0], None, None, None, None))
    real = metrics_mod.flush
    metrics_mod.flush = _failing_flush(model, [(["a", "b"], [10.0, 11.0, 0], None, None, None, None)])
    try:
        with pytest.raises(OSError):
            run.flush()
    finally:
        metrics_mod.flush = real
    model.log((["a"], [12.0, 0, 0], None, None, None, None))
    run.flush()
    model.check(mem)
    assert list(mem.metric_values(run.id, "a").values) == [float(i) for i in range(11)] + [12.0]


def test_threads_log_while_flushes_run_and_fail(mem, monkeypatch):
    monkeypatch.setattr(metric_buffer, "FLUSH_POINTS", 64)  # size flushes on the logging threads too
    run = mem.init("r")
    real = metrics_mod.flush
    calls = [0]

    def sometimes_failing(*args, **kwargs):
        out = real(*args, **kwargs)
        if threading.current_thread() is threading.main_thread():
            calls[0] += 1
            if calls[0] % 3 == 0:
                raise OSError("disk full")
        return out
    monkeypatch.setattr(metrics_mod, "flush", sometimes_failing)
    per_thread = 1500

    def log(k):
        for i in range(per_thread):
            run.log_metrics({f"t{k}": float(i), "shared": float(k)})

    threads = [threading.Thread(target=log, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        try:
            run.flush()
        except OSError:
            pass
    for t in threads:
        t.join()
    monkeypatch.setattr(metrics_mod, "flush", real)
    run.flush()
    steps = []
    for k in range(4):
        s = mem.metric_values(run.id, f"t{k}")
        assert list(s.values) == [float(i) for i in range(per_thread)]  # none lost, twice or out of order
        assert list(s.steps) == sorted(s.steps)
        steps += s.steps
    assert sorted(steps) == list(range(4 * per_thread))  # one default step a call
    shared = mem.metric_values(run.id, "shared")
    assert list(shared.steps) == sorted(steps)


def test_one_name_calls_switch_names_and_types(mem):
    run = mem.init("r")
    run.log_metrics({"a": 1.0})
    run.log_metrics({"a": 2.0})
    run.log_metrics({"b": 3.0})  # another name: not appended to "a"
    run.log_metrics({"b": 4})    # an int: converted on the slow path
    with pytest.raises(errors.ValidationError):
        run.log_metrics({"b": None})
    run.log_metrics({"b": 5.0, "a": 6.0})
    run.log_metrics({"a": 7.0})
    assert list(mem.metric_values(run.id, "a").values) == [1.0, 2.0, 6.0, 7.0]
    assert list(mem.metric_values(run.id, "a").steps) == [0, 1, 4, 5]
    assert list(mem.metric_values(run.id, "b").values) == [3.0, 4.0, 5.0]
