"""Shared machinery of the stress suite: counts, file checks and the guarantees table.

Each stress test runs with small counts by default, so the whole suite fits in a CI run, and
with the counts ``docs/GUARANTEES.md`` states under ``--full`` (or ``RUNLITE_FULL=1``). Tests
record what they did with the ``guarantee`` fixture; the session ends by printing one table,
and ``--write-guarantees`` puts it into ``docs/GUARANTEES.md`` between its table markers.
"""

import os
import pathlib
import statistics

import pytest

import runlite

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "GUARANTEES.md"
BEGIN, END = "<!-- stress-table:begin -->", "<!-- stress-table:end -->"
_ROWS: list[dict] = []


def full() -> bool:
    """True when the full counts were asked for."""
    return bool(os.environ.get("RUNLITE_FULL"))


def count(small: int, full_count: int) -> int:
    """``small`` in the default run, ``full_count`` with ``--full``."""
    return full_count if full() else small


def check_file(path) -> None:
    """The end of every stress test: the file opens, integrity_check is ok, verify passes."""
    with runlite.open(str(path)) as store:
        report = store.verify()
        assert report.ok, report.problems
        with store.database.read() as conn:
            assert conn.execute("PRAGMA integrity_check").get == "ok"


def raw(path: str):
    """An attacker's connection to a runlite file: no runlite policy, schema writable."""
    import apsw

    conn = apsw.Connection(path)
    conn.execute("PRAGMA journal_mode=DELETE")
    return conn


def plant_names(path: str, names: list[str]) -> None:
    """More attachments of the run, pointing at ``a.bin``'s blob, under the given stored names."""
    conn = raw(path)
    with conn:
        for name in names:
            conn.execute("INSERT INTO attachments (run_id, name, category, mime_type, size, sha256, original_path,"
                         " created) SELECT run_id, ?, category, mime_type, size, sha256, NULL, created"
                         " FROM attachments WHERE name = 'a.bin'", (name,))
    conn.close()


def percentiles(samples) -> dict:
    """p50/p99/max of latency samples in seconds, as milliseconds."""
    if not samples:
        return {}
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"p50_ms": statistics.median(ordered) * 1e3, "p99_ms": p99 * 1e3, "max_ms": ordered[-1] * 1e3}


class Guarantee:
    """Records one row of the summary table for the calling test."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, scenario: str, *, rounds: int, failures: int = 0, lost: int = 0,
                 latency: dict | None = None, note: str = "") -> None:
        _ROWS.append({"test": self.name, "scenario": scenario, "rounds": rounds,
                      "failures": failures, "lost": lost, **(latency or {}), "note": note})


@pytest.fixture
def guarantee(request):
    """``guarantee(scenario, rounds=, failures=, lost=, latency=, note=)`` adds a table row."""
    return Guarantee(request.node.name)


def table() -> str:
    """The summary table as Markdown."""
    lines = ["| scenario | rounds | failures | data lost | p50 | p99 | max | note |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]

    def ms(row, key):
        return f"{row[key]:.1f} ms" if key in row else "-"

    for row in _ROWS:
        lines.append(f"| {row['scenario']} | {row['rounds']:,} | {row['failures']} | {row['lost']} | "
                     f"{ms(row, 'p50_ms')} | {ms(row, 'p99_ms')} | {ms(row, 'max_ms')} | {row['note']} |")
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _ROWS:
        return
    mode = "full" if full() else "default (small)"
    terminalreporter.write_sep("=", f"runlite guarantees, {mode} counts")
    terminalreporter.write_line(table())
    if config.getoption("--write-guarantees", default=False) and exitstatus == 0:
        text = DOC.read_text(encoding="utf-8")
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        DOC.write_text(f"{head}{BEGIN}\n{table()}\n{END}{tail}", encoding="utf-8")
        terminalreporter.write_line(f"written to {DOC}")
