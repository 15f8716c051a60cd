"""Every mistake a person can make on the command line reads in the command's words: one
line, no traceback, and none of the library's Python (keyword=True, None, "an int")."""

import os
import re
import signal

import pytest

from runlite.cli import main

# Words of Python, not of the command line: keyword arguments, None, types, exception names.
PYTHONISMS = re.compile(r"=True|=False|\bNone\b|\ban int\b|\bkwargs?\b|Traceback|[a-z]Error:|<class|\bstr\b|"
                        r"read_only|max_rows|max_points|older_than|export_parquet|\bdest must\b")

# (argv with {db} the demo file, {dir} a directory, {txt} a text file, {empty} an empty file,
#  {taken} an existing file, {new} a path that does not exist; exit code; words the error holds)
MISTAKES = [
    (["ls", "{new}"], 1, "no runlite file at "),
    (["ls", "{dir}"], 1, "is a directory, not a runlite file"),
    (["verify", "{dir}"], 1, "is a directory, not a runlite file"),
    (["demo", "{dir}"], 1, "is a directory, not a runlite file"),
    (["serve", "{dir}"], 1, "is a directory, not a runlite file"),
    (["ls", "{txt}"], 1, "not a SQLite file"),
    (["ls", ""], 1, "the runlite file is an empty path"),
    (["ls", "--db", ""], 1, "the runlite file is an empty path"),
    (["ls", "{empty}"], 1, "is an empty SQLite file, not a runlite store"),
    (["ls", "{db}", "--untrusted", "--folder", "relative"], 1, "--folder 'relative' must start with '/'"),
    (["ls", "{db}", "--limit", "-1"], 2, "argument --limit: must be a whole number >= 0, got '-1'"),
    (["ls", "{db}", "--limit", "many"], 2, "argument --limit: must be a whole number >= 0, got 'many'"),
    (["ls", "{db}", "--limit", "9223372036854775808"], 2,
     "argument --limit: must be a whole number >= 0 within 64 bits, got '9223372036854775808'"),
    (["events", "{db}", "demo-training", "--limit", "1" + "0" * 30], 2, "must be a whole number >= 0 within 64 bits"),
    (["ls", "{db}", "--status", "happy"], 2, "argument --status: invalid choice: 'happy'"),
    (["ls", "{db}", "--db", "{db}"], 2, "--db names the file, so every positional argument is the command's own"),
    (["show", "{db}", "nope"], 1, "no run with id or name 'nope'"),
    (["show", "{db}", ""], 2, "argument RUN: must not be empty, got ''"),
    (["trace", "{db}", " "], 2, "argument RUN: must not be empty, got ' '"),
    (["rm", "{db}", "", "--yes"], 2, "argument RUN: must not be empty"),
    (["report", "{db}", "", "-o", "{new}"], 2, "argument RUN: must not be empty"),
    (["export", "{db}", "{new}", "--run", ""], 2, "argument --run: must not be empty"),
    (["sql", "{db}", ""], 2, "argument QUERY: must not be empty"),
    (["show", "{db}", "demo-training", "--events", "-1"], 2, "argument --events: must be a whole number >= 0"),
    (["metrics", "{db}", "demo-training", "nosuch"], 1, "has no metric 'nosuch'"),
    (["metrics", "{db}", "demo-training", "train/loss", "--max-points", "2"], 2,
     "argument --max-points: must be a whole number >= 4, got '2'"),
    (["metrics", "{db}", "demo-training", "train/loss", "--xaxis", "epoch"], 2, "argument --xaxis: invalid choice"),
    (["events", "{db}", "demo-training", "--level", "loud"], 2, "argument --level: invalid choice: 'loud'"),
    (["events", "{db}", "demo-training", "--limit", "-3"], 2, "argument --limit: must be a whole number >= 0"),
    (["files", "{db}", "demo-training", "--cat", "nosuch"], 1, "has no attachment 'nosuch'"),
    (["files", "{db}", "demo-training", "--restore", "{txt}"], 1, "is a file: give the path of a directory"),
    (["files", "{db}", "demo-training", "--cat", "config.yaml", "--restore", "{new}"], 2,
     "argument --restore: not allowed with argument --cat"),
    (["files", "{db}", "demo-training", "--category", "logs"], 2, "argument --category: invalid choice"),
    (["alerts", "{db}", "nope"], 1, "no run with id or name 'nope'"),
    (["trace", "{db}", "nope"], 1, "no run with id or name 'nope'"),
    (["query", "{db}", "nmae == x"], 1, "unknown field 'nmae' (did you mean name?)"),
    (["query", "{db}", "metadta.lr > 0.005"], 1, "unknown namespace 'metadta' in 'metadta.lr'"),
    (["query", "{db}", "metadata.lr >>> 1"], 1, "unknown operator '>>>'"),
    (["query", "{db}", "--filter", "eq(nope, 1)"], 1, "unknown field 'nope'"),
    (["query", "{db}", "has tag.demo", "name == " + "x" * 10_001], 1, "filter 2 of those given is longer than 10000"),
    (["export", "{db}", "{new}", "--where", "name == " + "x" * 10_001], 1, "filter 1 of those given is longer than"),
    (["query", "{db}", "--limit", "-1"], 2, "argument --limit: must be a whole number >= 0"),
    (["sql", "{db}", "SELECT 1; SELECT 2"], 1, "runlite runs one SQL statement at a time"),
    (["sql", "{db}", "DELETE FROM runs"], 1, "the SQL may only read"),
    (["sql", "{db}", "SELECT nope FROM runs"], 1, "no such column: nope"),
    (["sql", "{db}", "SELECT 1 AS a, 2 AS a", "--json"], 1, "the column name 'a' is given twice"),
    (["sql", "{db}", "SELECT * FROM runs JOIN runs AS p ON p.id = runs.parent_run_id", "--json"], 1,
     "the column name 'id' is given twice: with --json each column needs a name of its own"),
    (["sql", "{db}", "SELECT 1", "--limit", "-1"], 2, "argument --limit: must be a whole number from 0 to 1,000,000"),
    (["sql", "{db}", "SELECT 1", "--timeout", "0"], 2, "argument --timeout: must be seconds above 0"),
    (["export", "{db}", "{taken}"], 1, "exists: pass --overwrite to replace it"),
    (["export", "{db}", "{dir}"], 1, "is a directory: give the path of a file to write"),
    (["export", "{db}", "{db}", "--overwrite"], 1, "is the runlite file itself"),
    (["export", "{db}", "{new}", "--where", "metadta.lr > 0.005"], 1, "unknown namespace 'metadta'"),
    (["export", "{db}", "{new}", "--run", "nope"], 1, "no run with id or name 'nope'"),
    (["export", "{db}", "{new}", "--run", "demo-training", "--where", "has tag.demo"], 2,
     "argument --where: not allowed with argument --run"),
    (["export", "{db}", "{dir}/no/such/x.db"], 1, "the folder of "),
    (["backup", "{db}", "{taken}"], 1, "exists: pass --overwrite to replace it"),
    (["backup", "{db}", "{db}", "--overwrite"], 1, "is the runlite file itself"),
    (["pack", "{db}", "--dest", "{taken}"], 1, "exists: pass --overwrite to replace it"),
    (["pack", "{new}"], 1, "no runlite file at "),
    (["report", "{db}", "demo-training", "-o", "{taken}"], 1, "exists: pass --overwrite to replace it"),
    (["report", "{db}", "nope", "-o", "{new}"], 1, "no run with id or name 'nope'"),
    (["parquet", "{db}", "{txt}"], 1, "is a file: give the path of a directory"),
    (["merge", "{db}", "{new}"], 1, "no file at "),
    (["merge", "{db}", "{db}"], 1, "a store cannot merge itself"),
    (["rm", "{db}"], 2, "rm needs runs, --where or --older-than"),
    (["rm", "{db}", "demo-training"], 1, "runlite rm deletes only when told to: pass --yes"),
    (["rm", "{db}", "nope", "--yes"], 1, "no run with id or name 'nope'"),
    (["rm", "{db}", "--older-than", "yesterday", "--yes"], 2,
     "argument --older-than: must be a time: ISO-8601 (2024-05-01T12:00:00Z), epoch seconds, or a duration"),
    (["rm", "{db}", "--where", "nmae == demo-training", "--yes"], 1, "unknown field 'nmae'"),
    (["gc", "{new}", "--yes"], 1, "no runlite file at "),
    (["ui", "{new}", "--no-browser"], 1, "no runlite file at "),
    (["ui", "{db}", "--port", "70000", "--no-browser"], 2, "argument --port: must be a whole number from 0 to 65,535"),
    (["serve", "{db}", "--max-body", "5"], 2, "argument --max-body: must be a whole number from 1,024 to"),
    (["serve", "{db}", "--api-key", "short"], 1, "--api-key must be printable text of 8 to 4096 characters"),
    (["serve", "{db}", "--host", ""], 1, "--host must be an address"),
    (["serve", "{db}", "--host", "0.0.0.0"], 1, "needs an API key (--api-key)"),
    (["push", "{db}", "--langsmith", "--endpoint", "ftp://x"], 1, "--endpoint must be an http:// or https:// URL"),
    (["push", "{db}", "--langsmith", "--endpoint", "http://[::1"], 1, "--endpoint must be an http:// or https:// URL"),
    (["push", "{db}", "--otlp", "http://host:99999"], 1, "the OTLP endpoint must be an http:// or https:// URL"),
    (["push", "{db}", "--langsmith", "--header", "a=b"], 1, "--header goes with --otlp"),
    (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
]


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    root = tmp_path_factory.mktemp("mistakes")
    db = str(root / "runs.db")
    assert main(["demo", db, "--json"]) == 0
    (root / "a-dir").mkdir()
    (root / "notes.txt").write_text("hello" * 1000)
    (root / "empty.db").write_bytes(b"")
    (root / "taken.db").write_bytes(b"someone's file")
    return {"db": db, "dir": str(root / "a-dir"), "txt": str(root / "notes.txt"), "empty": str(root / "empty.db"),
            "taken": str(root / "taken.db"), "new": str(root / "new.db")}


@pytest.mark.parametrize("argv, code, words", MISTAKES, ids=[" ".join(m[0])[:60] for m in MISTAKES])
def test_a_mistake_reads_in_the_commands_words(places, capsys, monkeypatch, argv, code, words):
    monkeypatch.delenv("RUNLITE_DB", raising=False)
    monkeypatch.chdir(places["dir"])
    before = {name: _state(path) for name, path in places.items()}
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        got = main([a.format(**places) for a in argv])
    except SystemExit as exc:  # argparse's usage errors
        got = exc.code
    err = capsys.readouterr().err
    assert got == code, err
    line = err.strip().splitlines()[-1]  # a usage error prints the usage first
    assert line.startswith("runlite: error: " if code == 1 else f"runlite {argv[0]}: error: " if
                           argv[0] != "frobnicate" else "runlite: error: "), err
    assert words in line, line
    assert not PYTHONISMS.search(line), line
    assert code == 2 or len(err.strip().splitlines()) == 1
    assert {name: _state(path) for name, path in places.items()} == before  # a mistake changes nothing
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers  # nor the program's


def test_an_empty_file_path_is_refused_not_taken_for_runs_db(tmp_path, capsys, monkeypatch):
    """``runlite rm --db "$DB" RUN --yes`` with $DB unset must not delete from ./runs.db."""
    monkeypatch.delenv("RUNLITE_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "runs.db", "--json"]) == 0
    capsys.readouterr()
    before = _state(str(tmp_path / "runs.db")), open(tmp_path / "runs.db", "rb").read()
    for argv in (["rm", "--db", "", "demo-training", "--yes"], ["gc", "--db", "", "--yes"],
                 ["merge", "", "runs.db"], ["demo", "--db", ""], ["show", "", "demo-training"]):
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("runlite: error: the runlite file is an empty path"), (argv, err)
    assert open(tmp_path / "runs.db", "rb").read() == before[1]


def _state(path):
    if os.path.isdir(path):
        return sorted(os.listdir(path))
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        return f.read() if not path.endswith("runs.db") else len(f.read()) > 0


def test_the_pythonisms_pattern_catches_what_it_is_for():
    for leaked in ("no runlite file at 'x' (read_only=True never creates one)", "'x' exists; pass overwrite=True",
                   "limit must be None or an int >= 0, got -1", "export_parquet needs pyarrow",
                   "AuthError: not authorized", "max_rows must be an int from 0", "got <class 'int'>"):
        assert PYTHONISMS.search(leaked), leaked
    for fine in ("no runlite file at 'runs.db'", "'out.db' exists: pass --overwrite to replace it",
                 "argument --limit: must be a whole number >= 0, got '-1'", "runlite: error: no run with id"):
        assert not PYTHONISMS.search(fine), fine


def test_ctrl_c_stops_a_command_with_one_line_and_exit_130(places):
    """SIGINT while a command works (a long SQL statement here): no traceback."""
    import subprocess
    import sys
    import time

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    proc = subprocess.Popen([sys.executable, "-m", "runlite", "sql", places["db"], endless, "--timeout", "60"],
                            env={**os.environ, "PYTHONPATH": root}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(1.5)  # started and inside the statement
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err == "runlite: interrupted\n" and out == ""


def test_merge_into_a_new_file_makes_none_when_a_source_is_no_runlite_file(tmp_path, capsys):
    junk, new = tmp_path / "junk.db", tmp_path / "new.db"
    junk.write_bytes(b"not a database, just bytes" * 100)
    assert main(["merge", str(new), str(junk)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("runlite: error: ") and "not a SQLite file" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.db"]


@pytest.mark.parametrize("bad, words", [("{new}", "no file at "), ("", "a source is an empty path"),
                                        ("{dir}", "is a directory, not a runlite file"),
                                        ("{db}", "a store cannot merge itself")])
def test_merge_refuses_a_bad_source_before_merging_any(tmp_path, capsys, bad, words):
    """A source that can never be merged, after a good one: nothing is merged (the good one was)."""
    import runlite

    places = {"db": str(tmp_path / "into.db"), "new": str(tmp_path / "nope.db"), "dir": str(tmp_path)}
    good = str(tmp_path / "good.db")
    assert main(["demo", places["db"], "--json"]) == 0 and main(["demo", good, "--json"]) == 0
    capsys.readouterr()
    with runlite.open(places["db"], read_only=True) as store:
        before = sorted(r.id for r in store.runs(is_root=None))
    assert main(["merge", places["db"], good, bad.format(**places)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("runlite: error: ") and words in err and len(err.splitlines()) == 1, err
    assert not PYTHONISMS.search(err), err
    with runlite.open(places["db"], read_only=True) as store:
        assert sorted(r.id for r in store.runs(is_root=None)) == before


@pytest.mark.parametrize("command", ["ui", "serve"])
def test_a_taken_port_is_an_error_line(places, capsys, command):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = [command, places["db"], "--port", str(port)] + (["--no-browser"] if command == "ui" else [])
        assert main(argv) == 1
    err = capsys.readouterr().err
    assert err == f"runlite: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
