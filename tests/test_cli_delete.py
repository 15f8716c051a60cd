"""runlite rm, gc and pack: --dry-run changes nothing, a terminal is asked, a script says --yes."""

import io
import json
import os
import pty
import select
import subprocess
import sys
import time

import pytest

import runlite
from runlite.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def db(tmp_path):
    path = str(tmp_path / "runs.db")
    with runlite.open(path) as store:
        for i in range(3):
            run = store.init(f"exp-{i}", folder="/sweep", metadata={"lr": 0.1 * (i + 1)})
            run.attach("weights.bin", os.urandom(50_000), "application/octet-stream")
            run.close()
        with runlite.trace("pipeline", store=store):
            for j in range(25):
                with runlite.trace(f"step-{j}", store=store):
                    pass
    return path


def names(path):
    with runlite.open(path, read_only=True) as store:
        return sorted(r.name for r in store.runs())


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_dry_run_lists_what_would_go_and_changes_nothing(db, capsys):
    before, size = names(db), os.path.getsize(db)
    code, out, _ = run(capsys, "rm", db, "pipeline", "exp-0", "--dry-run")
    assert code == 0 and out.startswith(f"would delete 27 runs from {db} (2 chosen, and 25 runs under them):")
    assert "pipeline" in out and "exp-0" in out and "step-" not in out
    assert out.strip().endswith("nothing changed (--dry-run)")
    code, out, _ = run(capsys, "rm", db, "--where", "metadata.lr > 0.15", "--dry-run", "--json")
    found = json.loads(out)
    assert found["dry_run"] is True and len(found["runs"]) == 2 and found["reclaimable"] is None
    code, out, _ = run(capsys, "rm", db, "--where", "name contains step-", "--dry-run")
    assert out.startswith("would delete 25 runs") and out.count(" step-") == 20 and "  ... and 5 more\n" in out
    code, out, _ = run(capsys, "gc", db, "exp-1", "--dry-run")
    assert "would delete 1 runs" in out and "would reclaim at least" in out
    assert names(db) == before and os.path.getsize(db) == size


def test_yes_deletes_what_the_dry_run_listed(db, capsys):
    code, out, _ = run(capsys, "rm", db, "pipeline", "--dry-run", "--json")
    listed = json.loads(out)["runs"]
    code, out, err = run(capsys, "rm", db, "pipeline", "--yes", "--json")
    assert code == 0 and json.loads(out) == {"deleted": 26, "runs": listed, "packed": None}
    assert names(db) == ["exp-0", "exp-1", "exp-2"]
    code, out, err = run(capsys, "rm", db, "exp-0", "-y")
    assert code == 0 and out == "deleted 1 runs\n" and err == ""  # --yes: nothing asked, nothing listed
    code, out, _ = run(capsys, "rm", db, "--where", "name contains exp", "--dry-run")
    assert "would delete 2 runs from" in out and "exp-1" in out and "exp-2" in out and "more" not in out


def test_gc_reclaims_what_the_deleted_runs_left(db, capsys):
    code, out, _ = run(capsys, "rm", db, "exp-0", "exp-1", "--yes")
    code, out, _ = run(capsys, "gc", db, "--dry-run", "--json")
    found = json.loads(out)["reclaimable"]
    assert found["blobs_unused"] == 2 and found["blob_bytes"] >= 100_000
    code, out, _ = run(capsys, "gc", db)  # no runs chosen: only packs, nothing to ask
    assert code == 0 and out == "deleted 0 runs; packed\n"
    code, out, _ = run(capsys, "pack", db, "--dry-run", "--json")
    assert json.loads(out)["blobs_unused"] == 0
    assert names(db) == sorted(["exp-2", "pipeline"] + [f"step-{j}" for j in range(25)])


def test_older_than_takes_iso_epoch_seconds_and_durations(db, capsys):
    for when in ("2000-01-01T00:00:00Z", "946684800", "9000d"):
        code, out, _ = run(capsys, "rm", db, "--older-than", when, "--dry-run", "--json")
        assert code == 0 and json.loads(out)["runs"] == [], when
    code, out, _ = run(capsys, "rm", db, "--older-than", str(time.time() + 60), "--dry-run", "--json")
    assert len(json.loads(out)["runs"]) == 29
    code, out, _ = run(capsys, "rm", db, "--older-than", "0s", "--dry-run", "--json")
    assert len(json.loads(out)["runs"]) == 29


def test_without_a_terminal_and_without_yes_nothing_is_deleted(db, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # an answer waiting, but not from a terminal
    for argv in (["rm", db, "exp-0"], ["gc", db, "exp-0"], ["rm", db, "--where", "has tag.x", "--pack"]):
        code, out, err = run(capsys, *argv)
        assert code == 1 and out == ""
        assert err == f"runlite: error: runlite {argv[0]} deletes only when told to: pass --yes (stdin is not a " \
                      "terminal to ask on)\n"
    assert "exp-0" in names(db)


def _ask_on_a_terminal(db, answer: bytes, *argv) -> tuple[int, str]:
    """Run runlite with a real terminal on stdin, answer its question, return (exit code, stderr)."""
    main_fd, term_fd = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "runlite", *argv], stdin=term_fd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": ROOT})
    os.close(term_fd)
    try:
        asked = b""
        while b"[y/N]" not in asked:  # the question comes on stderr, then the program reads the terminal
            ready, _, _ = select.select([proc.stderr], [], [], 60)
            assert ready, f"no question asked: {asked!r}"
            chunk = os.read(proc.stderr.fileno(), 4096)
            assert chunk, f"runlite ended without asking: {asked!r}"
            asked += chunk
        os.write(main_fd, answer)
        out, rest = proc.communicate(timeout=60)
        return proc.returncode, (asked + rest).decode()
    finally:
        os.close(main_fd)
        if proc.poll() is None:
            proc.kill()


def test_a_terminal_is_asked_and_only_yes_deletes(db):
    code, err = _ask_on_a_terminal(db, b"n\n", "rm", db, "exp-0", "exp-1")
    assert code == 1 and "deleting 2 runs from" in err and "runlite: delete these 2 runs? [y/N]" in err
    assert "nothing deleted" in err and "exp-0" in names(db)
    code, err = _ask_on_a_terminal(db, b"\n", "gc", db, "exp-0")  # the default is no
    assert code == 1 and "exp-0" in names(db)
    code, err = _ask_on_a_terminal(db, b"yes\n", "rm", db, "exp-0", "exp-1")
    assert code == 0 and names(db)[:1] == ["exp-2"]
