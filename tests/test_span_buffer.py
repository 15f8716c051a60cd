"""SpanBuffer and SpanQueue (runlite.tracing.buffer): traced threads add and touch spans while
writers take batches and give failed ones back; every span, event and attachment is written
exactly once, in its final state, parents before children."""

from __future__ import annotations

import os
import random
import sys
import threading
import time

import pytest

from runlite.tracing import buffer as buffer_mod
from runlite.tracing.buffer import SpanBuffer, SpanQueue

BUFFERS = pytest.mark.parametrize("kind", [SpanBuffer, SpanQueue])

THREADS = 8
SPANS = 300    # per traced thread
CHANGES = 4    # touches after add: each bumps the version and appends an event


class FakeSpan:
    """What the buffers read of a span: id, dotted_order, events, events_written, attachments;
    SpanQueue also its ``queued`` flag, ``news()`` and ``pid`` (the process that made it)."""

    def __init__(self, thread: int, i: int):
        self.pid = os.getpid()
        self.id = f"{thread:02d}-{i:05d}"
        self.dotted_order = self.id
        self.events: list = []
        self.events_written = 0
        self.attachments: list = []
        self.version = 0
        self.queued = False

    def news(self):
        return self.events, self.attachments


class FakeStore:
    """Records what a writer would write: per span its last version, every event and attachment."""

    def __init__(self):
        self.versions: dict = {}
        self.event_writes: dict = {}       # (span id, seq) -> times written
        self.attachment_writes: dict = {}  # (span id, name) -> times written
        self.batches = 0

    def write(self, batch):
        ids = [span.id for span, *_ in batch]
        assert len(ids) == len(set(ids)), "a span twice in one batch"
        for thread in {i[:2] for i in ids}:  # each thread made its spans in order: parents first
            mine = [i for i in ids if i[:2] == thread]
            assert mine == sorted(mine), "a batch not in the order the spans were made"
        for span, first_event, events, attachments in batch:
            self.versions[span.id] = span.version  # read at write time, as spans.write does
            for seq, event in enumerate(events, start=first_event):
                assert event == seq, "an event written under the wrong seq"
                key = (span.id, seq)
                self.event_writes[key] = self.event_writes.get(key, 0) + 1
            for name, _data, _mime in attachments:
                key = (span.id, name)
                self.attachment_writes[key] = self.attachment_writes.get(key, 0) + 1
        time.sleep(0.0002)  # the commit: traced threads go on changing these spans meanwhile
        self.batches += 1


@pytest.fixture
def busy_switching():
    """Switch threads often, so the races this guards against get their chances."""
    saved = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(saved)


@BUFFERS
def test_hammered_from_many_threads_every_span_written_once_in_its_final_state(busy_switching, kind):
    buf = kind()
    store = FakeStore()
    errors: list = []
    done = threading.Event()
    spans: list = []
    rng = random.Random(7)

    def traced(t: int) -> None:
        try:
            for i in range(SPANS):
                span = FakeSpan(t, i)
                spans.append(span)
                buf.add(span)
                for k in range(CHANGES):
                    span.version = k + 1
                    span.events.append(k)  # change first, then touch: as Span's methods do
                    if k == 1:
                        span.attachments.append((f"a{k}", b"x", "text/plain"))
                    buf.touch(span)
                    time.sleep(0)  # let the writer in between any two changes
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    def writer() -> None:
        try:
            while not done.is_set():
                batch = buf.take()
                if batch and rng.random() < 0.2:
                    buf.give_back(batch)  # a failed write: nothing of it was recorded
                else:
                    store.write(batch)
                buf.pending  # noqa: B018 - readers of the size race the traced threads too
                buf.due(time.time_ns() // 1000, 1)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=traced, args=(t,)) for t in range(THREADS)]
    taker = threading.Thread(target=writer)
    taker.start()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    done.set()
    taker.join()
    assert not errors, errors
    while batch := buf.take():  # what was still pending when the writer stopped
        store.write(batch)

    assert store.batches > 50  # the writer really ran during the tracing
    assert buf.pending == 0
    assert len(spans) == THREADS * SPANS
    assert store.versions == {s.id: CHANGES for s in spans}
    assert store.event_writes == {(s.id, k): 1 for s in spans for k in range(CHANGES)}
    assert store.attachment_writes == {(s.id, "a1"): 1 for s in spans}
    assert all(s.events_written == CHANGES and not s.attachments for s in spans)


@BUFFERS
def test_a_batch_given_back_is_written_whole_by_the_next(kind):
    buf = kind()
    span = FakeSpan(0, 0)
    buf.add(span)
    span.events += [0, 1]
    span.attachments.append(("a", b"1", "text/plain"))
    buf.touch(span)
    failed = buf.take()
    assert buf.pending == 0 and span.events_written == 2 and span.attachments == []
    span.events.append(2)  # changed while the failed batch was being written
    span.attachments.append(("b", b"2", "text/plain"))
    buf.touch(span)
    buf.give_back(failed)
    assert buf.pending == 1
    (item,) = buf.take()
    _, first_event, events, attachments = item
    assert (first_event, events) == (0, [0, 1, 2])
    assert [a[0] for a in attachments] == ["a", "b"]  # the older one first
    assert buf.take() == []
    buf.give_back([item])  # into an empty buffer: due at once, so the next tick retries
    assert buf.pending == 1 and buf.due(time.time_ns() // 1000, 10**12)


def test_a_received_run_given_back_keeps_what_arrived_for_it_meanwhile():
    """A create in a batch that could not be written (another process held the file) and its
    update, received while that batch was being written: both are written by the next batch."""
    from runlite.langsmith.wire import remote_run

    buf = SpanBuffer()
    run_id = "0192aaaa-0000-7000-8000-000000000001"
    buf.merge(remote_run({"id": run_id, "name": "made", "inputs": {"q": 1},
                          "start_time": "2026-01-01T00:00:00Z", "events": []}, "post"))
    failed = buf.take()
    buf.merge(remote_run({"id": run_id, "end_time": "2026-01-01T00:00:01Z", "outputs": {"a": 1},
                          "events": [{"name": "new_token", "time": "2026-01-01T00:00:00.5Z"}]}, "patch"))
    buf.give_back(failed)
    (item,) = buf.take()
    run, first_event, events, _ = item
    assert run.columns["name"] == "made" and run.columns["inputs"] == '{"q":1}'
    assert run.columns["outputs"] == '{"a":1}' and "ended" in run.columns and run.op == "post"
    assert first_event == 0 and [name for _, name, _, _ in events] == ["new_token"]


@BUFFERS
def test_callbacks_start_the_writer_and_bound_memory(monkeypatch, kind):
    calls: list = []
    buf = kind(on_first=lambda: calls.append("first"), on_full=lambda: calls.append("full"))
    monkeypatch.setattr(buffer_mod, "MAX_PENDING", 3)
    for i in range(4):
        buf.add(FakeSpan(0, i))
    assert calls == ["first", "full", "full"]
    buf.take()
    buf.touch(FakeSpan(1, 0))
    assert calls[-1] == "first"  # the buffer emptied: the next span starts the writer again


@BUFFERS
def test_a_refusing_on_first_keeps_nothing(kind):
    def refuse():
        raise RuntimeError("read-only")

    buf = kind(on_first=refuse)
    for _ in range(2):  # and refuses again: nothing was kept that would skip the check
        with pytest.raises(RuntimeError):
            buf.add(FakeSpan(0, 0))
        assert buf.pending == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")
@BUFFERS
def test_a_forked_child_does_not_inherit_a_held_lock(kind):
    buf = kind()
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with buf._lock:
            holding.set()
            release.wait(10)

    th = threading.Thread(target=hold)
    th.start()
    holding.wait(10)
    try:
        pid = os.fork()
        if pid == 0:  # the child: the holding thread was not copied
            try:
                buf.add(FakeSpan(0, 0))
                os._exit(0 if buf.pending == 1 else 1)
            finally:
                os._exit(2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.01)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung on the span buffer's lock")
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        release.set()
        th.join()


def test_a_span_queue_keeps_the_order_spans_were_first_queued_and_each_once():
    buf = SpanQueue()
    spans = [FakeSpan(0, i) for i in range(5)]
    for span in spans:
        buf.add(span)
    buf.touch(spans[1])  # still queued: no second entry
    assert buf.pending == 5
    first = buf.take()
    assert [item[0] for item in first] == spans and not any(s.queued for s in spans)
    buf.touch(spans[3])  # changed after the batch took it: queued again
    buf.touch(spans[0])
    buf.add(late := FakeSpan(1, 0))
    assert [item[0] for item in buf.take()] == [spans[3], spans[0], late]


def test_a_span_queue_batch_given_back_goes_before_spans_queued_since():
    buf = SpanQueue()
    parent, child = FakeSpan(0, 0), FakeSpan(0, 1)
    buf.add(parent)
    failed = buf.take()
    buf.add(child)  # made while the parent's batch was failing
    buf.give_back(failed)
    assert [item[0] for item in buf.take()] == [parent, child]  # the parent is written first


def test_a_forked_child_wakes_its_own_writer():
    woken: list = []
    buf = SpanQueue(on_first=lambda: woken.append(os.getpid()))
    buf.add(FakeSpan(0, 0))
    assert woken == [os.getpid()]
    buffer_mod._after_fork_in_child()  # as a fork does in the child: its writer is not running
    buf.add(FakeSpan(0, 1))
    # The span waiting at the fork is the parent's to write; the child's own wakes its writer.
    assert len(woken) == 2 and buf.pending == 1
