"""The conventions every runlite command keeps: the file first or --db, --json, --overwrite,
short id prefixes; through main() and through the installed `runlite` executable."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

import runlite
from runlite.cli import build_parser, main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def db(tmp_path):
    path = str(tmp_path / "runs.db")
    assert main(["demo", path]) == 0
    return path


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def ids(db):
    with runlite.open(db, read_only=True) as store:
        return {r.name: r.id for r in store.runs()}


@pytest.mark.parametrize("first, with_db", [
    (["ls", "{db}"], ["ls", "--db", "{db}"]),
    (["ls", "{db}", "--all", "--json"], ["ls", "--json", "--db", "{db}", "--all"]),
    (["show", "{db}", "demo-training"], ["show", "demo-training", "--db", "{db}"]),
    (["show", "{db}", "--json", "demo-training"], ["show", "--db", "{db}", "demo-training", "--json"]),
    (["metrics", "{db}", "demo-training", "train/loss"], ["metrics", "demo-training", "train/loss", "--db", "{db}"]),
    (["metrics", "{db}", "demo-training"], ["metrics", "demo-training", "--db", "{db}"]),
    (["events", "{db}", "demo-training", "--json"], ["events", "demo-training", "--json", "--db", "{db}"]),
    (["files", "{db}", "demo-training"], ["files", "--db", "{db}", "demo-training"]),
    (["alerts", "{db}", "demo-training"], ["alerts", "demo-training", "--db", "{db}"]),
    (["alerts", "{db}"], ["alerts", "--db", "{db}"]),
    (["trace", "{db}", "chat-model"], ["trace", "chat-model", "--db", "{db}"]),
    (["query", "{db}", "name contains demo", "has tag.demo"], ["query", "name contains demo", "has tag.demo",
                                                               "--db", "{db}"]),
    (["sql", "{db}", "SELECT count(*) AS n FROM runs"], ["sql", "SELECT count(*) AS n FROM runs", "--db", "{db}"]),
    (["verify", "{db}"], ["verify", "--db", "{db}"]),
    (["rm", "{db}", "demo-training", "chat-model", "--dry-run"],
     ["rm", "demo-training", "chat-model", "--dry-run", "--db", "{db}"]),
    (["gc", "{db}", "--dry-run", "--json"], ["gc", "--dry-run", "--json", "--db", "{db}"]),
    (["pack", "{db}", "--dry-run"], ["pack", "--dry-run", "--db", "{db}"]),
])
def test_the_file_comes_first_or_with_db(db, capsys, monkeypatch, first, with_db):
    results = []
    for argv in (first, with_db):
        results.append(run(capsys, *[a.format(db=db) for a in argv]))
    assert results[0] == results[1] and results[0][0] == 0, results
    # and left out altogether: $RUNLITE_DB names it
    monkeypatch.setenv("RUNLITE_DB", db)
    without = [a for a in with_db if a not in ("--db", "{db}")]
    assert run(capsys, *without) == results[0]


def test_the_default_file_is_runs_db_in_the_working_directory(db, capsys, monkeypatch):
    monkeypatch.delenv("RUNLITE_DB", raising=False)
    monkeypatch.chdir(os.path.dirname(db))
    code, out, _ = run(capsys, "show", "demo-training", "--json")
    assert code == 0 and json.loads(out)["name"] == "demo-training"


def test_the_first_argument_is_the_file_when_it_exists_or_nothing_else_fits(db, capsys, monkeypatch, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # no runs.db here
    monkeypatch.delenv("RUNLITE_DB", raising=False)
    # alerts [FILE] [RUN]: one argument could be either; an existing file is the file
    code, out, _ = run(capsys, "alerts", db, "--json")
    assert code == 0 and [a["name"] for a in json.loads(out)] == ["loss-diverged"]
    monkeypatch.setenv("RUNLITE_DB", db)
    code, out, _ = run(capsys, "alerts", "demo-training", "--json")  # not a file: the run, in $RUNLITE_DB
    assert code == 0 and [a["name"] for a in json.loads(out)] == ["loss-diverged"]
    code, out, _ = run(capsys, "metrics", "demo-training", "train/loss", "--json")
    assert code == 0 and len(json.loads(out)) == 500
    code, _, err = run(capsys, "show", "typo.db", "demo-training")  # only the file fits there
    assert code == 1 and err == ("runlite: error: no runlite file at 'typo.db' (the first argument is the "
                                 "file; --db FILE names it instead)\n")
    monkeypatch.delenv("RUNLITE_DB")
    code, _, err = run(capsys, "trace", "demo-training")
    assert code == 1 and err == "runlite: error: no runlite file at 'runs.db'\n"
    with pytest.raises(SystemExit) as info:  # the file given twice
        main(["show", db, "demo-training", "--db", db])
    assert info.value.code == 2
    assert "--db names the file, so every positional argument is the command's own" in capsys.readouterr().err
    merged = str(tmp_path / "new.db")  # merge makes its file: first, even when it does not exist yet
    code, out, _ = run(capsys, "merge", merged, db, "--json")
    assert code == 0 and json.loads(out)[0]["runs_added"] == 4 and os.path.exists(merged)


def test_every_command_takes_the_file_first_db_and_json():
    for name, parser in build_parser().get_default("commands").items():
        text = parser.format_help()
        assert "[FILE]" in parser.format_usage() and "--db FILE" in text and "--json" in text, name


def _json_outputs(db, tmp_path):
    prefix = ids(db)["demo-training"]
    return [["demo", str(tmp_path / "demo2.db")], ["ls", db], ["show", db, prefix], ["metrics", db, prefix],
            ["metrics", db, prefix, "train/loss"], ["events", db, prefix], ["files", db, prefix],
            ["files", db, prefix, "--restore", str(tmp_path / "restored")], ["alerts", db], ["trace", db, "chat-model"],
            ["query", db, "has tag.demo"], ["sql", db, "SELECT name FROM runs"], ["verify", db],
            ["export", db, str(tmp_path / "e.db")], ["merge", str(tmp_path / "m.db"), str(tmp_path / "e.db")],
            ["backup", db, str(tmp_path / "b.db")], ["pack", db, "--dest", str(tmp_path / "p.db")],
            ["pack", db, "--dry-run"], ["report", db, "demo-training", "-o", str(tmp_path / "r.html")],
            ["rm", db, "chat-model", "--yes"], ["gc", db, "--dry-run"], ["gc", db]]


def test_json_on_every_command_that_prints_results(db, capsys, tmp_path):
    for argv in _json_outputs(db, tmp_path):
        code, out, err = run(capsys, *argv, "--json")
        assert code == 0, (argv, err)
        json.loads(out)  # one JSON document, nothing else on stdout
    assert run(capsys, "files", db, "demo-training", "--cat", "config.json", "--json")[1].startswith('{"learning')


def test_show_summarises_metrics_events_files_and_alerts(tmp_path, capsys):
    path = str(tmp_path / "s.db")
    with runlite.open(path) as store:
        run_ = store.init("summarised")
        run_.create_user_alert("manual")
        for i in range(7):
            run_.log_event(f"message {i}", level="warning" if i == 6 else "info")
            run_.log_metrics({"loss": 1.0 / (i + 1)})
        run_.attach("notes.txt", b"hello", "text/plain")
        run_.close()
    code, out, _ = run(capsys, "show", path, "summarised", "--json")
    data = json.loads(out)
    assert code == 0 and data["event_count"] == 7
    assert [e["message"] for e in data["events"]] == [f"message {i}" for i in range(2, 7)]  # the last 5
    assert data["metrics"] == [{"name": "loss", "asset": None, "count": 7, "last": 1 / 7, "min": 1 / 7, "max": 1.0,
                                "avg": pytest.approx(sum(1 / (i + 1) for i in range(7)) / 7)}]
    assert [f["name"] for f in data["files"]] == ["notes.txt"] and [a["name"] for a in data["alerts"]] == ["manual"]
    code, out, _ = run(capsys, "show", path, "summarised", "--events", "10")
    assert code == 0 and "events (7):" in out and out.count("  message ") == 7
    assert "  loss " in out and "notes.txt" in out and "manual" in out
    code, out, _ = run(capsys, "show", path, "summarised", "--events", "2")
    assert "events (7, the last 2):" in out and "message 5" in out and "message 4" not in out


def test_show_says_the_status_in_the_words_of_ls_and_status(tmp_path, capsys):
    """runlite's status (completed, running, failed...), as ls prints it and --status takes it,
    not LangSmith's word of to_dict() (success, pending, error)."""
    path = str(tmp_path / "s.db")
    with runlite.open(path) as store:
        with store.init("done"):
            pass
        live = store.init("live")
        with pytest.raises(ZeroDivisionError):
            with store.init("broke"):
                1 / 0
        store.flush()
        for name, status in (("done", "completed"), ("live", "running"), ("broke", "failed")):
            code, out, _ = run(capsys, "show", path, name)
            assert code == 0 and f"        status: {status}\n" in out, out
            code, out, _ = run(capsys, "ls", path, "--status", status)
            assert name in out
        live.close()


def test_text_output_writes_control_characters_as_escapes(tmp_path, capsys):
    """A message from a file cannot drive the terminal (escape sequences, carriage returns);
    a table cell stays on its line; a message's own lines and tabs are kept."""
    path = str(tmp_path / "c.db")
    with runlite.open(path) as store:
        with store.init("ctl", description="set \x1b]0;title\x07") as run_:
            run_.log_event("first\n\tsecond", level="info")
            run_.log_event("red \x1b[31m, clear \x1b[2J\r, csi \x9b", level="error")
    for argv in (["events", path, "ctl"], ["show", path, "ctl"]):
        code, out, _ = run(capsys, *argv)
        assert code == 0 and "  first\n" in out and "\tsecond\n" in out, out  # (show indents its sections)
        assert "red \\x1b[31m, clear \\x1b[2J\\r, csi \\x9b" in out, out
        assert not any(c in out for c in "\x1b\r\x07\x9b"), out
    code, out, _ = run(capsys, "sql", path, "SELECT message FROM events ORDER BY seq")
    assert out.splitlines() == ["message", "first\\n\\tsecond", "red \\x1b[31m, clear \\x1b[2J\\r, csi \\x9b"]
    code, out, _ = run(capsys, "sql", path, "SELECT message FROM events ORDER BY seq", "--json")
    assert [r["message"] for r in json.loads(out)] == ["first\n\tsecond", "red \x1b[31m, clear \x1b[2J\r, csi \x9b"]


def test_ls_lists_top_level_runs_unless_all(tmp_path, capsys):
    path = str(tmp_path / "t.db")
    with runlite.open(path) as store:
        with runlite.trace("root", store=store):
            with runlite.trace("inner", store=store):
                pass
        store.init("experiment").close()
    code, out, _ = run(capsys, "ls", path, "--json")
    assert sorted(r["name"] for r in json.loads(out)) == ["experiment", "root"]
    code, out, _ = run(capsys, "ls", path, "--json", "--all", "--limit", "2")
    assert len(json.loads(out)) == 2
    code, out, _ = run(capsys, "ls", path, "--all")
    assert "inner" in out


def test_a_short_id_prefix_names_a_run(db, capsys):
    by_name = ids(db)
    target = by_name["demo-training"]
    others = [i for i in by_name.values() if i != target]
    n = next(k for k in range(4, 37) if not any(o.startswith(target[:k]) for o in others))
    code, out, _ = run(capsys, "show", db, target[:n].upper(), "--json")
    assert code == 0 and json.loads(out)["id"] == target
    shared = os.path.commonprefix(list(by_name.values()))
    if len(shared) >= 4:  # ids made in one millisecond share their first 12 hex digits
        code, _, err = run(capsys, "show", db, shared[:4])
        assert code == 1 and "run ids start with" in err and all(i in err for i in by_name.values())


def _written(path):
    with open(path, "rb") as f:
        return f.read()


def test_overwrite_on_every_command_that_writes_a_file(db, capsys, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    cases = [(["export", db, str(out / "e.db")], out / "e.db"), (["backup", db, str(out / "b.db")], out / "b.db"),
             (["pack", db, "--dest", str(out / "p.db")], out / "p.db"),
             (["report", db, "demo-training", "-o", str(out / "r.html")], out / "r.html"),
             (["files", db, "demo-training", "--restore", str(out / "files")], out / "files" / "config.json")]
    for argv, target in cases:
        assert run(capsys, *argv)[0] == 0, argv
        target.write_bytes(b"mine")
        code, _, err = run(capsys, *argv)
        assert code == 1 and "exists: pass --overwrite to replace it" in err, (argv, err)
        assert target.read_bytes() == b"mine"
        assert run(capsys, *argv, "--overwrite")[0] == 0, argv
        assert target.read_bytes() != b"mine"
    for argv in (["export", db, db, "--overwrite"], ["backup", db, db, "--overwrite"]):
        code, _, err = run(capsys, *argv)
        assert code == 1 and "is the runlite file itself" in err
    assert run(capsys, "verify", db)[0] == 0


def test_parquet_updates_its_own_dataset_and_overwrites_anything_else_only_when_asked(db, capsys, tmp_path):
    pytest.importorskip("pyarrow")
    dest = tmp_path / "pq"
    code, out, _ = run(capsys, "parquet", db, str(dest), "--json")
    assert code == 0 and json.loads(out)["runs"] == 4
    code, out, _ = run(capsys, "parquet", db, str(dest), "--json")  # its own dataset: brought up to date
    assert code == 0 and json.loads(out)["unchanged"] == 4
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    code, _, err = run(capsys, "parquet", db, str(foreign))
    assert code == 1 and "pass --overwrite" in err and "overwrite=True" not in err
    assert run(capsys, "parquet", db, str(foreign), "--overwrite")[0] == 0


def test_a_missing_extra_is_named_with_the_command(db):
    code = ("import sys; sys.modules['pyarrow'] = None; from runlite.cli import main; "
            f"sys.exit(main(['parquet', {db!r}, {db + '-pq'!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": ROOT})
    assert done.returncode == 1
    assert done.stderr == "runlite: error: runlite parquet needs pyarrow: pip install 'runlite[parquet]'\n"
    assert not os.path.exists(db + "-pq")


def test_the_installed_runlite_executable(db):
    exe = shutil.which("runlite", path=os.path.dirname(sys.executable))
    if exe is None:
        pytest.skip("no runlite executable beside this Python (pip install -e .)")
    env = {**os.environ, "PYTHONPATH": ROOT}
    env.pop("RUNLITE_DB", None)

    def runlite_(*argv, **kw):
        return subprocess.run([exe, *argv], capture_output=True, text=True, timeout=120, env=env,
                              stdin=subprocess.DEVNULL, **kw)

    done = runlite_("verify", db)
    assert done.returncode == 0 and done.stdout == "ok\n"
    prefix = ids(db)["answer-question"]
    done = runlite_("show", db, prefix[:-4], "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["name"] == "answer-question"
    done = runlite_("rm", db, "demo-training")  # stdin is not a terminal: nothing is deleted
    assert done.returncode == 1 and "pass --yes" in done.stderr and "Traceback" not in done.stderr
    done = runlite_("ls", cwd=os.path.dirname(db))  # ./runs.db
    assert done.returncode == 0 and "demo-training" in done.stdout
    done = runlite_("query", db, "metadta.lr > 0.005")
    assert done.returncode == 1 and done.stderr.startswith("runlite: error: unknown namespace 'metadta'")


def test_a_stdout_that_cannot_write_a_name_gets_escapes(tmp_path):
    """PYTHONIOENCODING=ascii (or a latin-1 locale, a Windows console): text with escapes, JSON
    with \\u escapes that read back as the name; no UnicodeEncodeError traceback."""
    path = str(tmp_path / "u.db")
    with runlite.open(path) as store:
        with store.init("naïve 名", metadata={"k": "ü"}) as run_:
            run_.log_event("ünï 😀")

    def runlite_(*argv):
        return subprocess.run([sys.executable, "-m", "runlite", *argv], capture_output=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": ROOT, "PYTHONIOENCODING": "ascii"})

    for argv in (["ls", path], ["show", path, run_.id], ["events", path, run_.id]):
        done = runlite_(*argv)
        assert done.returncode == 0 and done.stderr == b"", done.stderr.decode()
        assert b"na\\xefve \\u540d" in done.stdout or b"\\xfcn\\xef \\U0001f600" in done.stdout, done.stdout
    for argv, key in ((["ls", path, "--json"], None), (["trace", path, run_.id, "--json"], "name")):
        done = runlite_(*argv)
        assert done.returncode == 0 and done.stdout.isascii(), done.stderr.decode()
        data = json.loads(done.stdout)
        assert (data[0] if key is None else data)["name"] == "naïve 名"


@pytest.mark.parametrize("command", ["ui", "serve"])
def test_a_server_run_by_main_stops_on_sigterm_and_hands_back_the_programs_handlers(db, capsys, command):
    if command == "serve":
        pytest.importorskip("uvicorn")
    taken = []

    def programs_own(sig, frame):  # what a program had installed; the server's stop must not reach it
        taken.append(sig)
        raise KeyboardInterrupt

    def stop_once_listening():
        deadline = time.monotonic() + 60
        while "127.0.0.1:" not in capsys.readouterr().out and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    before = signal.signal(signal.SIGTERM, programs_own)
    try:
        stopper = threading.Thread(target=stop_once_listening)
        stopper.start()
        assert main([command, db, "--port", "0"] + (["--no-browser"] if command == "ui" else [])) == 0
        stopper.join()
        assert taken == [] and signal.getsignal(signal.SIGTERM) is programs_own
    finally:
        signal.signal(signal.SIGTERM, before)


@pytest.mark.parametrize("command", ["ui", "serve"])
def test_servers_say_where_they_listen_as_one_json_line(db, command):
    if command == "serve":
        pytest.importorskip("starlette")
        pytest.importorskip("uvicorn")
    argv = [sys.executable, "-m", "runlite", command, db, "--port", "0", "--json"]
    proc = subprocess.Popen(argv + (["--no-browser"] if command == "ui" else []), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": ROOT})
    try:
        said = json.loads(proc.stdout.readline())
        assert said["file"] == db and said["url"].startswith("http://127.0.0.1:") and not said["url"].endswith(":0")
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    assert proc.returncode == 0  # SIGTERM stops it cleanly
