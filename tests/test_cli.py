"""The runlite command end to end."""

import json
import os
import subprocess
import sys

import runlite
from runlite.cli import main


def test_demo_ls_show(tmp_path, capsys):
    path = str(tmp_path / "runs.db")
    assert main(["demo", path]) == 0
    out = capsys.readouterr().out
    assert "demo-training" in out and "answer-question" in out
    assert main(["ls", path]) == 0
    listing = capsys.readouterr().out
    assert "demo-training" in listing and "answer-question" in listing and "retrieve-docs" not in listing
    assert main(["ls", path, "--json"]) == 0
    assert {d["name"] for d in json.loads(capsys.readouterr().out)} == {"demo-training", "answer-question"}
    assert main(["ls", path, "--json", "--all"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {d["name"] for d in data} == {"demo-training", "answer-question", "retrieve-docs", "chat-model"}
    assert main(["show", path, "demo-training", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["metadata"]["epochs"] == 5 and shown["status"] == "success" and shown["run_status"] == "completed"
    assert main(["show", path, "demo-training"]) == 0
    assert "learning_rate" in capsys.readouterr().out


def test_demo_default_path_in_cwd(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUNLITE_DB", raising=False)
    assert main(["demo"]) == 0
    assert (tmp_path / "runs.db").exists()
    with runlite.open(str(tmp_path / "runs.db")) as s:
        assert len(s.runs()) == 4


def test_errors_are_one_line(tmp_path, capsys):
    path = str(tmp_path / "runs.db")
    assert main(["show", path, "nope"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("runlite: error:") and len(err.strip().splitlines()) == 1
    assert main(["ls", str(tmp_path / "missing.db")]) == 1
    assert "no runlite file" in capsys.readouterr().err
    notdb = tmp_path / "x.txt"
    notdb.write_text("hello" * 1000)
    assert main(["ls", str(notdb)]) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_python_dash_m(tmp_path):
    path = str(tmp_path / "runs.db")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    done = subprocess.run([sys.executable, "-m", "runlite", "demo", path], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    bad = subprocess.run([sys.executable, "-m", "runlite", "frobnicate"], env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
