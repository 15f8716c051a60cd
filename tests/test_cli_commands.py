"""Every runlite subcommand end to end, and docs/cli.md checked against --help."""

import csv
import io
import json
import os
import sys

import pytest

import runlite
from runlite.cli import build_parser, main, reference

DOCS = os.path.join(os.path.dirname(__file__), "..", "docs", "cli.md")


@pytest.fixture
def db(tmp_path):
    path = str(tmp_path / "runs.db")
    assert main(["demo", "--db", path]) == 0
    return path


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_docs_match_help():
    with open(DOCS, encoding="utf-8") as f:
        assert f.read().strip() == reference().strip(), "regenerate: python -m runlite.cli --reference > docs/cli.md"
    for name in build_parser().get_default("commands"):
        assert f"## runlite {name}" in reference()


def test_metrics_events_files_alerts(db, capsys, tmp_path):
    code, out, _ = run(capsys, "metrics", "demo-training", "--db", db)
    assert code == 0 and "train/loss" in out and "500" in out
    code, out, _ = run(capsys, "metrics", "demo-training", "train/loss", "--db", db)
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["step", "time", "timestamp_us", "value"] and len(rows) == 501
    code, out, _ = run(capsys, "metrics", "demo-training", "train/loss", "--max-points", "50", "--json", "--db", db)
    assert 4 <= len(json.loads(out)) <= 50
    code, out, _ = run(capsys, "events", "demo-training", "--db", db)
    assert "epoch 0 started" in out
    code, out, _ = run(capsys, "files", "demo-training", "--db", db)
    assert "config.json" in out
    code, out, _ = run(capsys, "files", "demo-training", "--cat", "config.json", "--db", db)
    assert json.loads(out)["batch_size"] == 64
    code, out, _ = run(capsys, "files", "demo-training", "--restore", str(tmp_path / "restored"), "--db", db)
    assert (tmp_path / "restored" / "config.json").exists()
    code, out, _ = run(capsys, "alerts", "--json", "--db", db)
    assert json.loads(out)[0]["name"] == "loss-diverged"


def test_trace_and_query(db, capsys):
    code, out, _ = run(capsys, "trace", "chat-model", "--db", db)
    assert code == 0 and out.splitlines()[0].startswith("answer-question") and "  chat-model" in out
    code, out, _ = run(capsys, "query", "name contains demo", "--json", "--db", db)
    assert [r["name"] for r in json.loads(out)] == ["demo-training"]
    code, out, _ = run(capsys, "query", "--filter", 'eq(run_type, "llm")', "--db", db)
    assert "chat-model" in out
    code, _, err = run(capsys, "query", "--filter", "eq(nope, 1)", "--db", db)
    assert code == 1 and err.startswith("runlite: error: unknown field")


def test_export_merge_verify_backup_pack_rm(db, capsys, tmp_path):
    exported = str(tmp_path / "out.db")
    code, out, _ = run(capsys, "export", exported, "--where", "name == demo-training", "--db", db)
    assert code == 0 and "exported 1 runs" in out
    other = str(tmp_path / "other.db")
    runlite.open(other).close()
    code, out, _ = run(capsys, "merge", exported, "--db", other)
    assert code == 0 and "1 runs added" in out
    code, out, _ = run(capsys, "verify", "--db", other)
    assert code == 0 and out.strip() == "ok"
    code, out, _ = run(capsys, "backup", str(tmp_path / "copy.db"), "--db", db)
    assert code == 0
    code, out, _ = run(capsys, "rm", "demo-training", "--pack", "--yes", "--db", db)
    assert code == 0 and "deleted 1 runs; packed" in out
    code, out, _ = run(capsys, "gc", "--db", db)
    assert code == 0 and "packed" in out
    code, out, _ = run(capsys, "pack", "--dest", str(tmp_path / "packed.db"), "--db", db)
    assert code == 0
    with runlite.open(db) as s:
        with s.database.write() as conn:
            conn.execute("UPDATE series SET count = count + 1")
    code, out, _ = run(capsys, "verify", "--db", str(tmp_path / "copy.db"))
    assert code == 0
    with runlite.open(str(tmp_path / "copy.db")) as s:
        with s.database.write() as conn:
            conn.execute("UPDATE series SET count = count + 1")
    code, out, _ = run(capsys, "verify", "--json", "--db", str(tmp_path / "copy.db"))
    assert code == 1 and json.loads(out)["ok"] is False


def test_sql_is_read_only_and_limited(db, capsys):
    code, out, _ = run(capsys, "sql", "SELECT name, status FROM runs ORDER BY name", "--json", "--db", db)
    assert code == 0 and {r["name"] for r in json.loads(out)} >= {"demo-training"}
    code, out, err = run(capsys, "sql", "SELECT * FROM runs", "--limit", "1", "--db", db)
    assert code == 0 and "stopped at 1 rows" in err
    for bad in ("DELETE FROM runs", "DROP TABLE runs", "SELECT 1; DROP TABLE runs", "ATTACH 'x.db' AS x"):
        code, _, err = run(capsys, "sql", bad, "--db", db)
        assert code == 1 and err.startswith("runlite: error:")
    code, _, err = run(capsys, "sql", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)"
                       " SELECT count(*) FROM c", "--timeout", "0.2", "--db", db)
    assert code == 1 and "longer than" in err
    with runlite.open(db, read_only=True) as s:
        assert len(s.runs()) == 4  # nothing was changed


def test_sql_json_gives_every_value_back(db, capsys):
    """Blobs as {"base64": ...} (not Python's b'...'), 64-bit ints whole, -0.0 and infinities kept."""
    import base64

    with runlite.open(db, read_only=True) as s:
        sha, blob = s.sql("SELECT sha256, data FROM blob_parts LIMIT 1").rows[0]
    code, out, _ = run(capsys, "sql", "SELECT data, x'00ff' AS b, zeroblob(0) AS z, 9223372036854775807 AS i,"
                       " -0.0 AS m, 1e999 AS inf FROM blob_parts WHERE sha256 = ? LIMIT 1".replace("?", repr(sha)),
                       "--json", "--db", db)
    row = json.loads(out)[0]
    assert code == 0 and base64.b64decode(row["data"]["base64"]) == blob
    assert row["b"] == {"base64": "AP8="} and row["z"] == {"base64": ""}
    assert row["i"] == 9223372036854775807 and str(row["m"]) == "-0.0" and row["inf"] == "Infinity"


def test_usage_errors_exit_2(db, capsys):
    with pytest.raises(SystemExit) as info:
        main(["rm", "--db", db])
    assert info.value.code == 2


def test_parquet_command(db, capsys, tmp_path):
    pytest.importorskip("pyarrow")
    duckdb = pytest.importorskip("duckdb")
    dest = str(tmp_path / "pq")
    code, out, _ = run(capsys, "parquet", dest, "--json", "--db", db)
    assert code == 0 and json.loads(out)["runs"] == 4
    points = duckdb.sql(f"SELECT count(*) FROM read_parquet('{dest}/metrics/*/*.parquet', hive_partitioning=true)")
    assert points.fetchall()[0][0] == 1000


def test_progress_bar_only_on_a_terminal():
    from runlite.cli.output import bar as _bar, progress as _progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert "[" + "#" * 15 + " " * 15 + "]  50%" in _bar("verifying", 0.5, 1.0)
    assert "..." in _bar("merging", None, 1.0)
    out = Tty()
    with _progress("verifying", out) as update:
        update(3, 4)
        import time

        time.sleep(0.5)
    assert "75%" in out.getvalue() and "done in" in out.getvalue()
    quiet = io.StringIO()
    with _progress("verifying", quiet) as update:
        update(1, 2)
    assert quiet.getvalue() == ""


def test_verify_reports_progress(tmp_path):
    with runlite.open(str(tmp_path / "p.db")) as s:
        run = s.init("r")
        run.log_metrics({"a": 1.0, "b": 2.0})
        run.attach("f", b"x", "text/plain")
        run.close()
        seen = []
        s.verify(progress=lambda done, total: seen.append((done, total)))
        assert seen == [(1, 3), (2, 3), (3, 3)]


def test_trace_of_a_deep_tree_as_text_and_json(capsys, tmp_path):
    """The tree is printed with an explicit stack: the json module and a recursive walk both
    failed on traces a few hundred spans deep."""
    path = str(tmp_path / "deep.db")
    with runlite.open(path) as store:
        root = current = store.init("deep-root")
        for i in range(700):
            current = current.child(f"level-{i}", run_type="tool" if i % 2 else "chain")
    code, out, _ = run(capsys, "trace", "deep-root", "--db", path)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 701
    assert lines[-1].startswith("  " * 700 + "level-699 [tool] running")
    code, out, _ = run(capsys, "trace", root.id, "--db", path, "--json")
    assert code == 0
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)  # only for reading it back here: Python's decoder recurses
    try:
        node, depth = json.loads(out), 0
    finally:
        sys.setrecursionlimit(limit)
    while node["child_runs"]:
        (node,) = node["child_runs"]
        depth += 1
    assert depth == 700 and node["name"] == "level-699" and node["child_run_ids"] == []
