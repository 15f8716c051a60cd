"""The benchmark harness's targets: ``row(..., check=...)`` and what ``--check`` makes of rows.

Synthetic rows only: nothing here is timed. "scaled" targets get a fixed machine slowdown so
the outcome does not depend on the machine.
"""

from __future__ import annotations

import pytest

from benchmarks import common
from benchmarks.common import check_row, check_status, failures, format_table, row


@pytest.fixture
def slowdown_2x(monkeypatch):
    """This machine 2x slower than the issue's, without measuring it."""
    monkeypatch.setattr(common, "machine_slowdown", lambda: 2.0)


def test_ratio_target_of_a_rate():
    ok = row("rate", 150.0, "points/s", 100.0, check=("ratio", ">=", 1.43))
    miss = row("rate", 120.0, "points/s", 100.0, check=("ratio", ">=", 1.43))
    assert check_row(ok, quick=False) is None
    msg = check_row(miss, quick=False)
    assert msg.startswith("rate: 1.2 ratio, target >= 1.43 ratio")
    assert "0.84x the target" in msg


def test_ratio_of_a_time_is_baseline_over_value():
    fast = row("query", 22.0, "ms", 20.0, higher_is_better=False, check=("ratio", ">=", 1 / 1.2))
    slow = row("query", 30.0, "ms", 20.0, higher_is_better=False, check=("ratio", ">=", 1 / 1.2))
    assert fast["ratio"] == pytest.approx(20 / 22)
    assert check_row(fast, quick=False) is None
    assert check_row(slow, quick=False) is not None


def test_value_target_ignores_the_baseline():
    assert check_row(row("size", 4.9, "bytes/point", check=("value", "<=", 5.0)), quick=False) is None
    assert "target <= 5 bytes/point" in check_row(row("size", 7.7, "bytes/point", check=("value", "<=", 5.0)),
                                                   quick=False)


def test_a_zero_limit_says_what_missed_without_dividing_by_it():
    msg = check_row(row("numpy imported", 1, "", check=("value", "<=", 0)), quick=False)
    assert msg.startswith("numpy imported: 1")
    assert "x the target" not in msg


def test_scaled_target_grows_for_times_and_shrinks_for_rates(slowdown_2x):
    # 1 us on the machine is 2 us on one twice as slow.
    assert check_row(row("own time", 1.9, "us", check=("scaled", "<=", 1.0)), quick=False) is None
    assert "(scaled to this machine, 2.00x slower)" in check_row(
        row("own time", 2.1, "us", check=("scaled", "<=", 1.0)), quick=False)
    # 1.5M points/s there is 0.75M here.
    assert check_row(row("rate", 800_000.0, "points/s", check=("scaled", ">=", 1.5e6)), quick=False) is None
    assert check_row(row("rate", 700_000.0, "points/s", check=("scaled", ">=", 1.5e6)), quick=False) is not None


def test_scaled_row_keeps_the_slowdown_measured_when_it_was_made(monkeypatch):
    monkeypatch.setattr(common, "machine_slowdown", lambda: 2.0)
    r = row("own time", 1.9, "us", check=("scaled", "<=", 1.0))
    monkeypatch.setattr(common, "machine_slowdown", lambda: 1.0)  # the machine got quieter later
    assert r["slowdown"] == 2.0
    assert check_row(r, quick=False) is None


def test_incomplete_row_fails_whatever_its_figure():
    r = row("slow loop", 1.0, "x", check=("value", "<=", 1.25), incomplete="stopped at call 400 of 3,600")
    msg = check_row(r, quick=False)
    assert msg is not None and "stopped at call 400 of 3,600" in msg


def test_rows_without_a_check_never_fail():
    assert check_row(row("info", 1.0, "ms", 0.5, higher_is_better=False), quick=False) is None
    assert check_status(row("info", 1.0, "ms"), quick=False) == ""


def test_quick_mode_skips_rows_not_meaningful_there():
    r = row("big only", 10.0, "x", check=("value", "<=", 1.0), quick_check=False)
    assert check_row(r, quick=True) is None
    assert check_status(r, quick=True) == "not checked (--quick)"
    assert check_row(r, quick=False) is not None


def test_failures_lists_only_the_misses_in_order():
    rows = [row("a", 1.0, "x", check=("value", "<=", 2.0)), row("b", 3.0, "x", check=("value", "<=", 2.0)),
            row("c", 0.5, "x"), row("d", 9.0, "x", check=("value", ">=", 10.0))]
    assert [m.split(":")[0] for m in failures(rows, quick=False)] == ["b", "d"]


def test_table_shows_each_verdict():
    table = format_table([row("ok", 1.0, "x", check=("value", "<=", 2.0)),
                          row("bad", 3.0, "x", check=("value", "<=", 2.0))])
    lines = table.splitlines()
    assert lines[0].endswith("| check |")
    assert lines[2].endswith("| pass: value <= 2 |") and lines[3].endswith("| FAIL: value <= 2 |")


def test_malformed_checks_are_refused_when_the_row_is_made():
    with pytest.raises(ValueError, match="bad check"):
        row("x", 1.0, "x", check=("ratio", ">", 1.0))
    with pytest.raises(ValueError, match="bad check"):
        row("x", 1.0, "x", check=("speed", ">=", 1.0))
    with pytest.raises(ValueError, match="no baseline"):
        row("x", 1.0, "x", check=("ratio", ">=", 1.0))


def test_main_exits_nonzero_on_a_miss_and_names_it(monkeypatch, capsys):
    import sys
    import types

    from benchmarks import __main__ as main_mod

    fake = types.ModuleType("benchmarks.bench_fake")
    fake.run = lambda quick=False: [row("fake rate", 1.0, "points/s", 2.0, check=("ratio", ">=", 0.8)),
                                    row("fake size", 4.0, "bytes/point", check=("value", "<=", 5.0))]
    monkeypatch.setitem(sys.modules, "benchmarks.bench_fake", fake)
    monkeypatch.setattr(main_mod, "run_suite", lambda name, quick: sys.modules[f"benchmarks.{name}"].run(quick))
    monkeypatch.setattr(main_mod, "SUITES", [*main_mod.SUITES, "bench_fake"])
    monkeypatch.setattr(main_mod, "machine_slowdown", lambda: 1.0)
    monkeypatch.setattr(sys, "argv", ["benchmarks", "--check", "--quick", "--only", "bench_fake"])
    assert main_mod.main() == 1
    out = capsys.readouterr().out
    assert "1 of 2 checked figures miss their targets" in out
    assert "MISS fake rate: 0.5 ratio, target >= 0.8 ratio" in out

    fake.run = lambda quick=False: [row("fake size", 4.0, "bytes/point", check=("value", "<=", 5.0))]
    assert main_mod.main() == 0
    assert "all 1 checked figures meet their targets" in capsys.readouterr().out


def test_reached_checks_all_but_the_open_targets_and_lists_them(monkeypatch, capsys):
    import sys
    import types

    from benchmarks import __main__ as main_mod

    fake = types.ModuleType("benchmarks.bench_fake")
    fake.run = lambda quick=False: [row("fake rate", 1.0, "points/s", 2.0, check=("ratio", ">=", 0.8)),
                                    row("fake size", 6.0, "bytes/point", check=("value", "<=", 5.0))]
    monkeypatch.setitem(sys.modules, "benchmarks.bench_fake", fake)
    monkeypatch.setattr(main_mod, "run_suite", lambda name, quick: sys.modules[f"benchmarks.{name}"].run(quick))
    monkeypatch.setattr(main_mod, "SUITES", [*main_mod.SUITES, "bench_fake"])
    monkeypatch.setattr(main_mod, "machine_slowdown", lambda: 1.0)
    monkeypatch.setattr(main_mod, "OPEN_TARGETS", ("fake size",))
    monkeypatch.setattr(sys, "argv", ["benchmarks", "--check", "--quick", "--only", "bench_fake"])
    assert main_mod.main() == 1  # without --reached an open target fails like any other
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["benchmarks", "--check", "--reached", "--quick", "--only", "bench_fake"])
    assert main_mod.main() == 1  # the reached target that slipped still fails
    out = capsys.readouterr().out
    assert "OPEN fake size: FAIL" in out and "MISS fake rate" in out and "MISS fake size" not in out
    fake.run = lambda quick=False: [row("fake rate", 2.0, "points/s", 2.0, check=("ratio", ">=", 0.8)),
                                    row("fake size", 6.0, "bytes/point", check=("value", "<=", 5.0))]
    assert main_mod.main() == 0
    assert "all 1 checked figures meet their targets" in capsys.readouterr().out


def test_main_refuses_an_unknown_suite(monkeypatch):
    import sys

    from benchmarks import __main__ as main_mod

    monkeypatch.setattr(sys, "argv", ["benchmarks", "--only", "bench_nothing"])
    with pytest.raises(SystemExit) as exc:
        main_mod.main()
    assert exc.value.code == 2


def test_every_checked_suite_is_a_suite():
    from benchmarks import __main__ as main_mod

    assert set(main_mod.CHECKED_SUITES) <= set(main_mod.SUITES)


def test_paired_medians_take_turns_in_fresh_directories():
    from benchmarks.common import paired_medians

    calls, dirs = [], set()

    def make(tag):
        def fn(tmp):
            calls.append(tag)
            dirs.add(tmp)
        return fn

    got = paired_medians([make("runlite"), make("raw")], 3)
    assert calls == ["runlite", "raw"] * 3
    assert len(dirs) == 6
    assert len(got) == 2


def test_paired_medians_use_a_self_measured_time_when_given():
    from benchmarks.common import paired_medians

    seconds = iter([3.0, 1.0, 2.0])
    assert paired_medians([lambda _tmp: next(seconds)], 3) == [2.0]
    # Anything but a number (a path, a list, True) leaves the wall time, which is tiny here.
    assert all(t < 1.0 for t in paired_medians([lambda _tmp: "/a/path", lambda _tmp: True], 1))


def test_a_suite_runs_in_a_fresh_interpreter_and_its_rows_come_back():
    """Each suite's rows are measured in a new process and sent back whole (JSON)."""
    from benchmarks.common import environment, in_fresh_interpreter

    assert in_fresh_interpreter("common", "environment") == environment()
    got = in_fresh_interpreter("common", "row", "x", 2.0, "points/s", 4.0)
    assert got["ratio"] == 0.5 and got["name"] == "x"


def test_a_whole_run_replaces_its_section_and_drops_its_single_suite_sections():
    from benchmarks.__main__ import with_section

    text = ("# Benchmark results\n\nintro\n\n## pure Python\n\nold pure\n\n## numpy installed\n\nold numpy\n\n"
            "## numpy installed: bench_reads\n\nold reads\n\n## pure Python: bench_reads\n\nold pure reads\n")
    whole = with_section(text, "numpy installed", "## numpy installed\n\nnew numpy\n")
    assert whole == ("# Benchmark results\n\nintro\n\n## pure Python\n\nold pure\n\n## numpy installed\n\nnew numpy\n\n"
                     "## pure Python: bench_reads\n\nold pure reads\n")
    one = with_section(whole, "pure Python: bench_ingest", "## pure Python: bench_ingest\n\nnew ingest\n")
    assert one == whole + "\n## pure Python: bench_ingest\n\nnew ingest\n"  # added; the others kept
    assert with_section(one, "pure Python", "## pure Python\n\nnew pure\n") == (
        "# Benchmark results\n\nintro\n\n## pure Python\n\nnew pure\n\n## numpy installed\n\nnew numpy\n")
