"""The child side of the kill -9 stress tests (tests/stress/test_kill.py).

Run as ``python -m tests.stress.killer <job> <path> <durable 0|1> [args...]``. Each job does one
kind of work and prints an acknowledgement line ``<kind> <n> <epoch seconds>`` to stdout,
flushed, right after each call returns, so the parent knows exactly what was acknowledged
before it sent SIGKILL. Jobs that are killed "inside" one long call print ``start`` before it
and ``done`` after it.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time

import runlite

ATTACH_EVERY = 25       # log iterations between two saved files / attachments
SPAN_EVERY = 10         # log iterations between two traced spans (written in batches)
FLUSH_SERIES = 20       # metrics per record in the flush job
FLUSH_RECORDS = 4_800   # records per flush: 96,000 points (under FLUSH_POINTS), each series a new chunk


def ack(kind: str, n: int = 0) -> None:
    """One line in one write(2), so a kill never leaves half of it (the parent ignores a line
    without its newline anyway)."""
    os.write(1, f"{kind} {n} {time.time()!r}\n".encode())


def payload(k: int) -> bytes:
    """The exact content of the k-th saved file or attachment (sizes vary from 32 B to ~2 KiB)."""
    return hashlib.sha256(str(k).encode()).digest() * (1 + k % 64)


def file_name(k: int) -> str:
    """Even k: a file saved with run.save; odd k: bytes attached with run.attach."""
    return f"s{k}.bin" if k % 2 == 0 else f"a{k}"


def job_log(path: str, durable: bool) -> None:
    """Log metrics, events, small files and traced spans for ever."""
    store = runlite.open(path, durable=durable)
    run = store.init("victim")
    folder = path + ".files"
    os.makedirs(folder, exist_ok=True)
    ack("ready")
    i = 0
    while True:
        run.log_metrics({"x": float(i), "y": -float(i)}, step=i)
        ack("m", i)
        run.log_event(f"e{i}")
        ack("e", i)
        if i % ATTACH_EVERY == 0:
            k = i // ATTACH_EVERY
            if k % 2 == 0:
                local = os.path.join(folder, file_name(k))
                with open(local, "wb") as f:
                    f.write(payload(k))
                run.save(local, "output")
            else:
                run.attach(file_name(k), payload(k))
            ack("f", k)
        if i % SPAN_EVERY == 0:
            with runlite.trace(f"s{i // SPAN_EVERY}", run_type="tool", store=store, inputs={"i": i}):
                pass
            ack("s", i // SPAN_EVERY)
        i += 1
        if i % 10 == 0:
            time.sleep(0.001)  # a realistic pace, and CPU left for the ticker thread


def flush_record(i: int) -> dict:
    return {f"m{j}": i + j / 64 for j in range(FLUSH_SERIES)}


def job_flush(path: str, durable: bool) -> None:
    """Buffer big batches (metrics and one event per record) and flush each in one call."""
    store = runlite.open(path, durable=durable)
    run = store.init("victim")
    ack("ready")
    for batch in range(1_000):
        for i in range(batch * FLUSH_RECORDS, (batch + 1) * FLUSH_RECORDS):
            run.log_metrics(flush_record(i), step=i)
            run.log_event(f"e{i}")
        ack("start", batch)
        run.flush()
        ack("done", batch)


def job_merge(path: str, durable: bool, source: str) -> None:
    store = runlite.open(path, durable=durable)
    ack("start")
    runlite.merge(store, source)
    ack("done")
    store.close()


def job_pack(path: str, durable: bool, dest: str = "") -> None:
    store = runlite.open(path, durable=durable)
    ack("start")
    store.pack(dest=dest or None, progress=lambda done, total: ack("vacuum") if done == 1 else None)
    ack("done")
    store.close()


def job_copy(path: str, durable: bool, how: str, dest: str) -> None:
    store = runlite.open(path, durable=durable)
    ack("start")
    if how == "backup":
        store.backup(dest)
    else:
        store.export(dest, run_ids=[r.id for r in store.runs()])
    ack("done")
    store.close()


def job_migrate(path: str, durable: bool) -> None:
    ack("start")
    store = runlite.open(path, durable=durable)  # migrates the old file
    ack("done")
    store.close()


JOBS = {"log": job_log, "flush": job_flush, "merge": job_merge, "pack": job_pack, "copy": job_copy,
        "migrate": job_migrate}


if __name__ == "__main__":
    job, path, durable, *rest = sys.argv[1:]
    JOBS[job](path, durable == "1", *rest)
