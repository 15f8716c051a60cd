"""Throughput of runlite.blobs against raw apsw, measured in the same run.

Saves ~200 MB of CSV-like (compressible) bytes from a temporary file into a
temporary SQLite file with ``put_stream``, reads it back, and prints MB/s next
to a baseline: raw apsw inserting the same bytes uncompressed in 1 MiB rows in
one transaction (and selecting them back).

    PYTHONPATH=. python benchmarks/bench_blobs.py [--mb 200] [--level 1] [--part-mib 1]
        [--reps 3] [--dir /dev/shm]

Each figure is the median of ``--reps`` repetitions, each on new database files.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time

import apsw

from runlite.storage import blobs

RAW_DDL = "CREATE TABLE raw (id INTEGER PRIMARY KEY, data BLOB NOT NULL)"


def csv_like(n: int, seed: int = 0) -> bytes:
    """``n`` bytes of metric-log CSV (ids, run names, floats); zstd gets ~3x on it."""
    rnd = random.Random(seed)
    names = [f"run-{i:03d}" for i in range(50)]
    block = "".join(
        f"{i},{rnd.choice(names)},{rnd.random():.6f},{rnd.gauss(0, 1):.5f},"
        f"{'train' if rnd.random() < 0.8 else 'eval'}\n"
        for i in range(200_000)
    ).encode()
    pieces, total = [], 0
    while total < n:  # ~9 MB block, rotated so repeats fall at other offsets
        cut = rnd.randrange(len(block))
        pieces.append(block[cut:] + block[:cut])
        total += len(block)
    return b"".join(pieces)[:n]


def connect(path: str) -> apsw.Connection:
    conn = apsw.Connection(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


class OnePass:
    """A stream that hides ``seekable`` so put_stream takes the one-pass spool path."""

    def __init__(self, f):
        self._f = f

    def read(self, n=-1):
        return self._f.read(n)

    def seekable(self):
        return False


def raw_save(base: apsw.Connection, src: str, row: int) -> None:
    with open(src, "rb") as f:
        base.execute("BEGIN IMMEDIATE")
        while chunk := f.read(row):
            base.execute("INSERT INTO raw (data) VALUES (?)", (chunk,))
        base.execute("COMMIT")


def raw_read(base: apsw.Connection) -> int:
    return sum(len(chunk) for (chunk,) in base.execute("SELECT data FROM raw ORDER BY id"))


def save(conn: apsw.Connection, src: str, level: int, stream_of=lambda f: f) -> blobs.BlobInfo:
    with open(src, "rb") as f:
        conn.execute("BEGIN IMMEDIATE")
        info = blobs.put_stream(conn, stream_of(f), now_us=time.time_ns() // 1000, level=level)
        conn.execute("COMMIT")
    return info


def read_stream(conn: apsw.Connection, info: blobs.BlobInfo, row: int) -> int:
    def fetch(seq):
        return conn.execute("SELECT size, data FROM blob_parts WHERE sha256 = ? AND seq = ?",
                            (info.sha256, seq)).fetchone()

    n = 0
    with blobs.open_reader(fetch, info.sha256, info.size, info.parts) as reader:
        while chunk := reader.read(row):
            n += len(chunk)
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=200, help="MB of data (default 200)")
    parser.add_argument("--level", type=int, default=blobs.DEFAULT_LEVEL, help="zstd level")
    parser.add_argument("--dir", default=None, help="where to put the files (default: system temp)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--part-mib", type=int, default=blobs.PART_SIZE >> 20, help="part size in MiB")
    args = parser.parse_args()
    blobs.PART_SIZE = args.part_mib << 20
    data = csv_like(args.mb * 1_000_000)
    mb = len(data) / 1e6
    row = 1 << 20

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        src = os.path.join(tmp, "data.csv")
        with open(src, "wb") as f:
            f.write(data)
        del data
        times: dict[str, list[float]] = {}

        def measure(label, fn):
            seconds, result = timed(fn)
            times.setdefault(label, []).append(seconds)
            return result

        # Each repetition writes fresh database files, as saving into a new store does;
        # the median of the repetitions damps the noise of the disk.
        for rep in range(args.reps):
            base = connect(os.path.join(tmp, f"raw{rep}.db"))
            base.execute(RAW_DDL)
            measure("raw_save", lambda: raw_save(base, src, row))
            assert measure("raw_read", lambda: raw_read(base)) == os.path.getsize(src)
            base.close()

            conn = connect(os.path.join(tmp, f"blobs{rep}.db"))
            conn.execute(blobs.BLOB_DDL)
            info = measure("save", lambda: save(conn, src, args.level))
            again = measure("resave", lambda: save(conn, src, args.level))
            assert info.new and not again.new
            assert measure("read", lambda: read_stream(conn, info, row)) == info.size
            assert len(measure("read_bytes", lambda: blobs.read_bytes(conn, info.sha256))) == info.size
            conn.close()

            conn = connect(os.path.join(tmp, f"onepass{rep}.db"))
            conn.execute(blobs.BLOB_DDL)
            assert measure("onepass", lambda: save(conn, src, args.level, OnePass)) == info
            conn.close()
            for name in (f"raw{rep}.db", f"blobs{rep}.db", f"onepass{rep}.db"):
                os.remove(os.path.join(tmp, name))

    print(f"{mb:.0f} MB CSV-like, zstd level {args.level}, part {args.part_mib} MiB, "
          f"{os.cpu_count()} cores, median of {args.reps}; stored {info.stored / 1e6:.1f} MB "
          f"(ratio {info.size / info.stored:.2f}) in {info.parts} parts")

    def line(label, key, baseline):
        rate, base_rate = mb / statistics.median(times[key]), mb / statistics.median(times[baseline])
        print(f"  {label:38s} {rate:6.0f} MB/s   raw apsw {base_rate:6.0f} MB/s   x{rate / base_rate:.2f}")

    line("save   put_stream (hash, then compress)", "save", "raw_save")
    line("save   put_stream one-pass (spooled)", "onepass", "raw_save")
    line("resave put_stream (dedup, nothing new)", "resave", "raw_save")
    line("read   open_reader, 1 MiB reads", "read", "raw_read")
    line("read   read_bytes (whole content)", "read_bytes", "raw_read")


if __name__ == "__main__":
    main()
