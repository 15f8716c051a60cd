"""Data frames with real pandas: RunList.to_pandas (views, metadata, metric summaries),
Series.to_pandas, Store.history and metric_values_many's run names."""

import math
import os
import subprocess
import sys

import pytest

import runlite
from runlite import frames
from runlite.store import history as history_mod

pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")

UTC_US = "datetime64[us, UTC]"
NAN, INF = float("nan"), float("inf")


def same(a, b) -> bool:
    """Equal, NaN and None counting as one (a frame shows both as NaN)."""
    missing = (lambda v: v is None or (isinstance(v, float) and math.isnan(v)))
    return (missing(a) and missing(b)) or a == b


@pytest.fixture
def sweep(mem):
    """Three runs: alpha (loss every step, acc every other step; ended), beta (loss with a NaN
    last and an inf; running), gamma (no metrics; failed)."""
    a = mem.init("alpha", metadata={"lr": 0.1, "optimizer": {"name": "adam", "betas": {"b1": 0.9}}},
                 tags=["sweep"], description="first", folder="/sweeps")
    for step in range(6):
        a.log_metrics({"loss": 1.0 / (step + 1)}, step=step)
        if step % 2 == 0:
            a.log_metrics({"acc": step / 10}, step=step)
    a.end()
    b = mem.init("beta", metadata={"lr": 0.2, "layers": [64, 64]}, tags=["sweep", "big"])
    b.log_metrics({"loss": INF}, step=0)
    b.log_metrics({"loss": -2.0}, step=1)
    b.log_metrics({"loss": NAN}, step=2)
    mem.flush()
    c = mem.init("gamma", metadata={})
    c.end(error="crashed")
    return {"alpha": a, "beta": b, "gamma": c}


# ---------------------------------------------------------------- RunList.to_pandas


def test_experiment_view_columns_and_dtypes(mem, sweep):
    frame = mem.runs().to_pandas()
    fixed = ["id", "name", "status", "folder", "created", "started", "ended", "duration", "tags", "description"]
    assert list(frame.columns[:len(fixed)]) == fixed
    rest = list(frame.columns[len(fixed):])
    assert rest == ["metadata.lr", "metadata.layers", "metadata.optimizer.name", "metadata.optimizer.betas.b1",
                    "metric.acc.last", "metric.acc.min", "metric.acc.max",
                    "metric.loss.last", "metric.loss.min", "metric.loss.max"]
    for column in ("created", "started", "ended"):
        assert str(frame[column].dtype) == UTC_US
    assert frame["duration"].dtype == np.float64 and frame["metric.loss.min"].dtype == np.float64
    rows = frame.set_index("name")
    assert list(frame["name"]) == ["gamma", "beta", "alpha"]  # newest first, as store.runs()
    assert rows.loc["alpha", "status"] == "completed" and rows.loc["gamma", "status"] == "failed"
    assert rows.loc["beta", "status"] == "running" and pd.isna(rows.loc["beta", "ended"])
    alpha = mem.get_run("alpha")
    assert rows.loc["alpha", "created"] == pd.Timestamp(alpha.created)
    assert rows.loc["alpha", "duration"] == (alpha.ended - alpha.started).total_seconds()
    assert pd.isna(rows.loc["beta", "duration"])
    assert rows.loc["beta", "tags"] == ["sweep", "big"] and rows.loc["alpha", "folder"] == "/sweeps"
    assert rows.loc["alpha", "description"] == "first"


def test_metadata_flattened_with_dots(mem, sweep):
    rows = mem.runs().to_pandas().set_index("name")
    assert rows.loc["alpha", "metadata.optimizer.name"] == "adam"
    assert rows.loc["alpha", "metadata.optimizer.betas.b1"] == 0.9
    assert rows.loc["beta", "metadata.layers"] == [64, 64]  # lists stay whole
    assert pd.isna(rows.loc["beta", "metadata.optimizer.name"]) and pd.isna(rows.loc["gamma", "metadata.lr"])
    assert frames.flatten({"a.b": 1, "a": {"b": 2, "c": {}}}) == {"a.b": 1, "a.c": {}}  # first wins
    only = mem.runs().to_pandas(metadata=["lr", "optimizer.name"], metrics=False)
    assert [c for c in only.columns if c.startswith("metadata.")] == ["metadata.lr", "metadata.optimizer.name"]
    assert not any(c.startswith(("metadata.", "metric.")) for c in
                   mem.runs().to_pandas(metadata=False, metrics=False).columns)


def test_metric_summaries_equal_the_stored_summaries(mem, sweep):
    frame = mem.runs().to_pandas()
    for record in mem.runs():
        row = frame[frame["id"] == record.id].iloc[0]
        names = mem.metric_names(record)
        for name in ("loss", "acc"):
            for stat in frames.SUMMARY_STATS:
                got = row[f"metric.{name}.{stat}"]
                if name in names:
                    assert same(got, getattr(mem.metric_summary(record, name), stat)), (record.name, name, stat)
                else:
                    assert math.isnan(got)
    beta = frame.set_index("name").loc["beta"]
    assert math.isnan(beta["metric.loss.last"]) and beta["metric.loss.max"] == INF  # NaN and inf kept
    assert beta["metric.loss.min"] == -2.0
    picked = mem.runs().to_pandas(metrics=["loss", "missing"])
    assert [c for c in picked.columns if c.startswith("metric.")] == [
        "metric.loss.last", "metric.loss.min", "metric.loss.max",
        "metric.missing.last", "metric.missing.min", "metric.missing.max"]
    assert picked["metric.missing.last"].isna().all()


def test_summaries_of_a_live_run_include_its_buffered_points(mem):
    run = mem.init("live")
    listing = mem.runs()
    run.log_metrics({"loss": 3.0}, step=0)  # buffered, not flushed: a read flushes what it reads
    assert listing.to_pandas()["metric.loss.last"].tolist() == [3.0]


def test_summaries_are_one_query_for_the_whole_listing(mem, monkeypatch):
    for i in range(30):
        run = mem.init(f"r{i}")
        run.log_metrics({"loss": float(i)}, step=0)
        run.end()
    from runlite.storage import metric_sets
    calls = []
    real = metric_sets.summaries_many
    monkeypatch.setattr(metric_sets, "summaries_many", lambda conn, ids: calls.append(len(ids)) or real(conn, ids))
    frame = mem.runs().to_pandas()
    assert calls == [30] and sorted(frame["metric.loss.last"]) == [float(i) for i in range(30)]


def test_lost_status_is_computed(db_path):
    code = "import runlite, os; s = runlite.open(%r); r = s.init('crashy'); os._exit(0)" % db_path
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    with runlite.open(db_path, read_only=True) as s:
        assert s.runs().to_pandas()["status"].tolist() == ["lost"]
        assert s.runs().to_pandas("langsmith")["status"].tolist() == ["error"]


def test_filters_of_either_grammar(mem, sweep):
    assert mem.get_runs(["metadata.lr > 0.15"]).to_pandas()["name"].tolist() == ["beta"]
    frame = mem.list_runs(filter='has(tags, "sweep")').to_pandas()
    assert sorted(frame["name"]) == ["alpha", "beta"] and "metric.loss.last" in frame
    assert mem.runs(status="failed").to_pandas()["name"].tolist() == ["gamma"]
    selected = mem.list_runs(filter='eq(name, "alpha")', select=["name"]).to_pandas()
    assert selected["metric.loss.last"].tolist() == [1 / 6]  # a select keeps the summaries


def test_langsmith_and_all_views(mem):
    @runlite.traceable(run_type="llm", store=mem)
    def chat(prompt):
        return {"text": "hi", "usage_metadata": {"input_tokens": 4, "output_tokens": 3, "total_tokens": 7}}

    chat("hello")
    frame = mem.runs().to_pandas("langsmith")
    assert list(frame.columns[:len(frames.LANGSMITH_COLUMNS)]) == list(frames.LANGSMITH_COLUMNS)
    row = frame.iloc[0]
    assert (row["run_type"], row["status"], row["inputs"]["prompt"]) == ("llm", "success", "hello")
    assert (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == (4, 3, 7)
    assert str(frame["total_tokens"].dtype) == "Int64" and str(frame["start_time"].dtype) == UTC_US
    assert row["latency"] >= 0 and not any(c.startswith("metric.") for c in frame.columns)
    every = mem.runs().to_pandas("all")
    assert set(frames.EXPERIMENT_COLUMNS) | set(frames.LANGSMITH_COLUMNS) <= set(every.columns)
    assert every.iloc[0]["status"] == "completed" and every.iloc[0]["kind"] == "trace"
    for column in ("modified", "heartbeat", "first_token_time"):
        assert str(every[column].dtype) == UTC_US


def test_empty_listing_gives_the_columns(mem):
    frame = mem.runs().to_pandas()
    assert len(frame) == 0 and list(frame.columns) == list(frames.EXPERIMENT_COLUMNS)
    assert str(frame["created"].dtype) == UTC_US and frame["duration"].dtype == np.float64
    assert list(mem.runs().to_pandas("langsmith").columns) == list(frames.LANGSMITH_COLUMNS)


def test_records_made_without_a_store(mem):
    made = runlite.RunList([runlite.RunRecord(id="x", name="by hand", status="completed", metadata={"k": {"v": 1}})])
    frame = made.to_pandas()
    assert frame["name"].tolist() == ["by hand"] and frame["metadata.k.v"].tolist() == [1]
    with pytest.raises(runlite.ValidationError, match="not read from a store"):
        made.to_pandas(metrics=["loss"])
    assert runlite.RunList().to_pandas().empty
    with pytest.raises(runlite.ValidationError, match="holds a dict"):
        runlite.RunList([{"id": "x"}]).to_pandas()


def test_a_listing_outlives_the_store_once_its_frame_is_made(db_path):
    with runlite.open(db_path) as s:
        run = s.init("one")
        run.log_metrics({"loss": 0.5}, step=0)
        run.end()
        made, unmade = s.runs(), s.runs()
        first = made.to_pandas()
    assert made.to_pandas().equals(first)  # summaries kept
    assert unmade.to_pandas(metrics=False)["name"].tolist() == ["one"]
    with pytest.raises(runlite.StoreClosedError, match="before closing"):
        unmade.to_pandas()


@pytest.mark.parametrize("bad", [{"columns": "wide"}, {"columns": None}, {"metrics": 3}, {"metadata": {"a": 1}},
                                 {"metrics": ["ok", ""]}, {"metadata": ["x" * 10_000]}])
def test_arguments_are_checked(mem, sweep, bad):
    with pytest.raises(runlite.ValidationError):
        mem.runs().to_pandas(**bad)


def test_hostile_metadata_keys(mem):
    keys = {f"k{i}.é\u200b{'x' * (i % 7)}": i for i in range(10_000)}
    mem.init("wide", metadata={**keys, "a": {"b.c": 1, "ß": {"🙂": 2}}, "x.": 3}).end()
    frame = mem.runs().to_pandas()
    assert frame.shape[1] == len(frames.EXPERIMENT_COLUMNS) + 10_000 + 3
    assert frame.loc[0, "metadata.k9999.é\u200bxxx"] == 9999 and frame.loc[0, "metadata.k6.é\u200bxxxxxx"] == 6
    assert frame.loc[0, "metadata.a.b.c"] == 1 and frame.loc[0, "metadata.a.ß.🙂"] == 2
    assert frame.loc[0, "metadata.x."] == 3


def test_frames_are_bounded(mem, monkeypatch):
    for i in range(20):
        mem.init(f"r{i}", metadata={f"key{i}-{j}": j for j in range(50)}).end()
    monkeypatch.setattr(frames, "MAX_FRAME_CELLS", 5_000)  # 20 runs x 1,000 distinct keys: 20,000 cells
    with pytest.raises(runlite.LimitError, match="metadata=\\[keys\\]"):
        mem.runs().to_pandas()
    assert len(mem.runs().to_pandas(metadata=["key0-1"]).columns) == len(frames.EXPERIMENT_COLUMNS) + 1


def test_missing_pandas_names_the_extra(mem, sweep, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` now fails as if absent
    for call in (lambda: mem.runs().to_pandas(), lambda: mem.metric_values("alpha", "loss").to_pandas(),
                 lambda: mem.history("alpha")):
        with pytest.raises(runlite.RunliteError, match=r"pip install 'runlite\[pandas\]'") as caught:
            call()
        assert isinstance(caught.value, ImportError)


# ---------------------------------------------------------------- Series.to_pandas


def test_series_frame_carries_run_and_metric(mem, sweep):
    frame = mem.metric_values("beta", "loss").to_pandas()
    assert list(frame.columns) == ["step", "time", "timestamp", "value", "run", "run_name", "metric"]
    assert set(frame["run"]) == {sweep["beta"].id} and set(frame["run_name"]) == {"beta"}
    assert set(frame["metric"]) == {"loss"} and str(frame["timestamp"].dtype) == UTC_US
    values = frame["value"].tolist()
    assert values[:2] == [INF, -2.0] and math.isnan(values[2])
    piece = next(mem.iter_metric_values("beta", "loss"))
    assert (piece.run_id, piece.run_name) == (sweep["beta"].id, "beta")


def test_series_with_an_asset_and_made_by_hand(mem):
    run = mem.init("machine")
    run.log_metrics({"temp": 20.5}, asset="press-1", step=0)
    frame = mem.metric_values(run, "temp", asset="press-1").to_pandas()
    assert frame["asset"].tolist() == ["press-1"]
    from array import array
    made = runlite.Series(name="m", asset=None, steps=array("q", [1]), times=array("d", [0.0]),
                          timestamps=array("q", [0]), values=array("d", [1.0]))
    assert made.to_pandas()["run"].tolist() == [None] and made.to_pandas()["metric"].tolist() == ["m"]


# ---------------------------------------------------------------- metric_values_many


def test_metric_values_many_keys_by_id_and_names_runs(mem, sweep):
    got = mem.metric_values_many([sweep["alpha"], "beta", sweep["gamma"].id])
    assert list(got) == [sweep["alpha"].id, sweep["beta"].id, sweep["gamma"].id]
    assert sorted(got[sweep["alpha"].id]) == ["acc", "loss"] and got[sweep["gamma"].id] == {}
    series = got[sweep["beta"].id]["loss"]
    assert (series.run_id, series.run_name, series.name) == (sweep["beta"].id, "beta", "loss")
    assert list(mem.metric_values_many(["has tag.big"], ["acc", "loss"])[sweep["beta"].id]) == ["loss"]
    with pytest.raises(runlite.ValidationError):
        mem.metric_values_many([sweep["alpha"]], ["loss"], max_points=2)


# ---------------------------------------------------------------- Store.history


def test_history_aligns_metrics_and_runs(mem):
    a = mem.init("a")
    a.log_metrics({"loss": 1.0, "acc": 0.1}, step=0)
    a.log_metrics({"loss": 0.5}, step=1)
    a.log_metrics({"acc": 0.3}, step=2)
    a.log_metrics({"loss": 0.4}, step=2)  # another record, the same step: one row
    a.log_metrics({"loss": 0.2}, step=2)  # logged twice at step 2: the last one is kept
    a.end()
    b = mem.init("b")
    b.log_metrics({"loss": NAN}, step=5)
    b.log_metrics({"acc": INF}, step=3)
    b.end()
    frame = mem.history([a, b])
    assert list(frame.columns) == ["run", "run_name", "step", "acc", "loss"]
    assert frame["step"].dtype == np.int64
    got = [(r.run_name, r.step, r.acc, r.loss) for r in frame.itertuples()]
    expected = [("a", 0, 0.1, 1.0), ("a", 1, NAN, 0.5), ("a", 2, 0.3, 0.2), ("b", 3, INF, NAN), ("b", 5, NAN, NAN)]
    assert len(got) == len(expected) and all(all(map(same, g, e)) for g, e in zip(got, expected))
    assert frame["run"].tolist() == [a.id] * 3 + [b.id] * 2
    only = mem.history(mem.runs(), "acc")
    assert list(only.columns) == ["run", "run_name", "step", "acc"] and only["step"].tolist() == [0, 2, 3]


def test_history_axes_and_run_arguments(mem, sweep):
    by_time = mem.history("alpha", ["loss"], xaxis="time")
    assert by_time["time"].dtype == np.float64 and by_time["time"].is_monotonic_increasing
    assert by_time["loss"].tolist() == list(mem.metric_values("alpha", "loss").values)
    by_stamp = mem.history(sweep["alpha"], xaxis="timestamp")
    assert str(by_stamp["timestamp"].dtype) == UTC_US
    assert by_stamp["loss"].notna().sum() == 6 and by_stamp["acc"].notna().sum() == 3
    assert mem.history(["has tag.sweep"], "loss")["run_name"].unique().tolist() == sorted(
        ["alpha", "beta"], key=lambda n: mem.run_id(n))
    assert mem.history('eq(name, "beta")', "loss")["run_name"].unique().tolist() == ["beta"]
    assert mem.history("metadata.lr > 0.15")["run_name"].unique().tolist() == ["beta"]
    assert len(mem.history(mem.get_run("alpha"), "acc", max_points=4)) == 3
    with pytest.raises(runlite.ValidationError):
        mem.history("alpha", xaxis="epoch")
    with pytest.raises(runlite.ValidationError):
        mem.history(42)


def test_history_of_nothing_is_an_empty_frame_with_the_columns(mem, sweep):
    empty = mem.history(["name == nobody"], ["loss"])
    assert list(empty.columns) == ["run", "run_name", "step", "loss"] and len(empty) == 0
    assert list(mem.history("gamma").columns) == ["run", "run_name", "step"]


def test_history_metric_named_like_a_fixed_column(mem):
    run = mem.init("odd")
    run.log_metrics({"step": 7.0, "run": 1.0, "metric.step": 2.0}, step=0)
    run.end()
    frame = mem.history(run)
    # "step" and "run" are fixed columns: those metrics get "metric." before their names, twice for
    # "step" since a metric is named "metric.step"
    assert list(frame.columns) == ["run", "run_name", "step", "metric.step", "metric.run", "metric.metric.step"]
    row = frame.iloc[0]
    assert (row["step"], row["metric.metric.step"], row["metric.run"], row["metric.step"]) == (0, 7.0, 1.0, 2.0)


def test_history_is_bounded_before_reading(mem, monkeypatch):
    run = mem.init("long")
    run.log_metrics({"a": 1.0, "b": 2.0}, step=0)
    for step in range(1, 50):
        run.log_metrics({"a": float(step)}, step=step)
    run.end()
    monkeypatch.setattr(history_mod, "MAX_HISTORY_POINTS", 40)
    from runlite.storage import metric_reads
    monkeypatch.setattr(metric_reads, "values", lambda *a, **k: pytest.fail("read before the check"))
    with pytest.raises(runlite.LimitError, match="max_points"):
        mem.history(run)
    monkeypatch.undo()
    monkeypatch.setattr(frames, "MAX_FRAME_CELLS", 100)  # 50 rows x (2 metrics + 3) columns
    with pytest.raises(runlite.LimitError, match="cells"):
        mem.history(run)
    assert len(mem.history(run, max_points=8)) <= 10
