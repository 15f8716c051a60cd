"""docs/PARQUET.md's worked example, run as written: 100 machines' archives in one Parquet
dataset, queried with DuckDB and (when a Java runtime and pyspark are here) Apache Spark.

The answers are checked against runlite's own reads of the same runs, so the doc's SQL, the
dataset and the export's newest-copy rule are all tested by it.
"""

import math
import os
import pathlib
import re
import shutil
import subprocess

import pytest

pytest.importorskip("pyarrow")
duckdb = pytest.importorskip("duckdb")

import runlite  # noqa: E402

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "PARQUET.md"
_BLOCK = re.compile(r"<!-- example: ([a-z-]+) -->\n```python\n(.*?)\n```", re.S)


def doc_examples() -> dict:
    """The doc's example blocks by name, in order."""
    blocks = dict(_BLOCK.findall(DOC.read_text(encoding="utf-8")))
    assert list(blocks) == ["simulate", "export", "merge-first", "duckdb", "spark"], list(blocks)
    return blocks


def java_missing(spark_version: str) -> str | None:
    """Why this Spark cannot run here for want of Java, or None."""
    java = shutil.which("java")
    if java is None:
        return "Spark needs a Java runtime (apt-get install default-jre-headless)"
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"the Java runtime does not start ({exc})"
    found = re.search(r'version "(?:1\.)?(\d+)', done.stderr + done.stdout)
    if found and int(spark_version.split(".")[0]) >= 4 and int(found.group(1)) < 17:
        return f"Spark {spark_version} needs Java 17 or later, this is Java {found.group(1)}"
    return None


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The simulation and both ways to one dataset, run in a fresh directory; yields the namespace."""
    blocks = doc_examples()
    where = tmp_path_factory.mktemp("machines")
    here = os.getcwd()
    os.chdir(where)
    try:
        namespace = {"__name__": "parquet_example"}
        for name in ("simulate", "export", "merge-first"):
            exec(compile(blocks[name], f"{DOC}:{name}", "exec"), namespace)
    finally:
        os.chdir(here)
    return where, namespace, blocks


@pytest.fixture(scope="module")
def truth(example):
    """What the runs hold, read through runlite from the merged file: name -> (final loss, points)."""
    where, _, _ = example
    final, curves = {}, {}
    with runlite.open(str(where / "all-machines.db"), read_only=True) as store:
        for record in store.runs():
            summary = store.metric_summary(record.id, "loss")
            final[record.name] = (summary.last, summary.count, record.status)
            curves[record.id] = store.metric_values(record.id, "loss")
    return final, curves


def expected_best(truth) -> list:
    final, _ = truth
    done = sorted((loss, name, n) for name, (loss, n, status) in final.items() if status == "completed")
    return [(name, loss, n) for loss, name, n in done[:5]]


def expected_loss_by_step(truth) -> list:
    _, curves = truth
    by_step: dict = {}
    for series in curves.values():
        for step, value in zip(series.steps, series.values):
            by_step.setdefault(step, []).append(value)
    return [(step, len(v), min(v), math.fsum(v) / len(v), max(v)) for step, v in sorted(by_step.items())]


def assert_rows(got: list, want: list) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert len(g) == len(w)
        for a, b in zip(g, w):  # a mean is summed in the engine's order: floats to 1e-12
            assert a == (pytest.approx(b, rel=1e-12) if isinstance(b, float) else b), (g, w)


def test_the_simulation_puts_runs_in_several_files(example):
    where, _, _ = example
    seen: dict = {}
    paths = sorted(where.glob("machines/*.db"))
    assert len(paths) == 100
    for path in paths:
        with runlite.open(str(path), read_only=True) as store:
            for record in store.runs():
                seen.setdefault(record.id, []).append(store.metric_summary(record.id, "loss").count)
    assert len(seen) == 200
    copied = {run_id: counts for run_id, counts in seen.items() if len(counts) > 1}
    # Every third machine holds a copy of its predecessor's two runs: the finished one as it is,
    # the other one as it was when copied (20 of its 30 points).
    assert len(copied) == 66
    assert sorted(sorted(counts) for counts in copied.values()) == [[20, 20]] * 33 + [[20, 30]] * 33


def test_duckdb_answers_from_the_dataset(example, truth, monkeypatch):
    where, namespace, blocks = example
    monkeypatch.chdir(where)
    exec(compile(blocks["duckdb"], f"{DOC}:duckdb", "exec"), namespace)
    best, by_step = namespace["best"], namespace["loss_by_step"]
    assert_rows(best, expected_best(truth))
    assert_rows(by_step, expected_loss_by_step(truth))
    # The newest copy of every run, once: each run's 20 points, and 10 more of the second run of
    # every machine but the last.
    assert [r[1] for r in by_step] == [200] * 20 + [99] * 10
    runs = duckdb.sql(f"SELECT count(*), count(DISTINCT id) FROM read_parquet('{where}/dataset/runs/*.parquet')")
    assert runs.fetchall() == [(200, 200)]


def _dump(dest) -> dict:
    tables = {name: f"read_parquet('{dest}/{name}/*.parquet')" for name in ("runs", "series", "alerts")}
    tables.update({name: f"read_parquet('{dest}/{name}/*/*.parquet', hive_partitioning = true)"
                   for name in ("metrics", "events")})
    return {name: duckdb.sql(f"SELECT * FROM {source} ORDER BY ALL").fetchall() for name, source in tables.items()}


def test_both_ways_give_the_same_dataset(example):
    where, _, _ = example
    direct, merged = _dump(where / "dataset"), _dump(where / "dataset-from-merge")
    assert len(direct["runs"]) == 200 and len(direct["events"]) == 100
    assert direct == merged


def test_exporting_every_file_again_writes_nothing(example):
    where, namespace, _ = example
    before = {p: p.stat().st_mtime_ns for p in (where / "dataset").rglob("*") if p.is_file()}
    for path in sorted(where.glob("machines/*.db")):
        with runlite.open(str(path), read_only=True, untrusted=True) as source:
            counts = namespace["export_parquet"](source, str(where / "dataset"))
        assert counts["runs"] == 0, path
    after = {p: p.stat().st_mtime_ns for p in (where / "dataset").rglob("*") if p.is_file()}
    assert after == before


@pytest.fixture(scope="module")
def spark():
    """One local Spark session for the module: one core, little memory, loopback only, no UI."""
    pyspark = pytest.importorskip("pyspark", reason="needs pyspark (pip install 'runlite[test]')")
    reason = java_missing(pyspark.__version__)
    if reason:
        pytest.skip(reason)
    import pyspark.sql as pyspark_sql

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (pyspark_sql.SparkSession.builder.master("local[1]").appName("runlite-tests")
               .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.ui.enabled", "false").config("spark.driver.memory", "512m")
               .config("spark.sql.session.timeZone", "UTC").config("spark.sql.shuffle.partitions", "1")
               .config("spark.ui.showConsoleProgress", "false")
               # 200 run directories: listed by the driver, not by a Spark job (4x faster here),
               # and the small files read by one task, not one each.
               .config("spark.sql.sources.parallelPartitionDiscovery.threshold", "1000000")
               .config("spark.sql.files.openCostInBytes", "1")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_spark_answers_as_duckdb_does(example, truth, spark, monkeypatch):
    where, namespace, blocks = example
    monkeypatch.chdir(where)
    if "best" not in namespace:  # the DuckDB block defines the SQL both engines run
        exec(compile(blocks["duckdb"], f"{DOC}:duckdb", "exec"), namespace)
    exec(compile(blocks["spark"], f"{DOC}:spark", "exec"), namespace)
    assert namespace["spark"] is spark  # the doc's builder found this module's session
    assert_rows(namespace["spark_best"], expected_best(truth))
    assert_rows(namespace["spark_loss_by_step"], expected_loss_by_step(truth))


def test_spark_reads_every_dataset_with_its_types(example, spark):
    where, _, _ = example
    types = {name: dict(spark.read.parquet(str(where / "dataset" / name)).dtypes)
             for name in ("runs", "series", "metrics", "events", "alerts")}
    assert types["metrics"] == {"name": "string", "asset": "string", "step": "bigint", "time": "double",
                                "timestamp": "timestamp", "value": "double", "run_id": "string"}
    assert types["runs"]["tags"] == "array<string>" and types["runs"]["start_time"] == "timestamp"
    assert types["series"]["last"] == "double" and types["events"]["run_id"] == "string"
    metrics = spark.read.parquet(str(where / "dataset" / "metrics"))
    counts = metrics.selectExpr("count(*)", "count(DISTINCT run_id)").collect()
    assert tuple(counts[0]) == (200 * 20 + 99 * 10 + 200 * 20, 200)  # loss and accuracy points


def test_without_java_the_spark_leg_says_why(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert "Java runtime" in java_missing("4.0.0")
