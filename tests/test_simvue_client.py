"""runlite.simvue.client.Client against simvue 2.6.2's own Client: the same calls (only the import
changed), and the shapes simvue's own converters build from the same data."""

import datetime
import platform

import pytest

import runlite
from runlite import errors
from runlite.simvue.client import Client, ObjectNotFoundError

from .plans import read_steps

simvue_converters = pytest.importorskip("simvue.converters")  # the real package (test extra)
pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    root = tmp_path_factory.mktemp("client")
    path = str(root / "runs.db")
    (root / "out.txt").write_text("result\n")
    store = runlite.open(path)
    a = store.init("sweep-a", folder="/proj/a", metadata={"lr": 0.01, "model": "cnn"}, tags=["sweep", "starred"])
    for step in range(5):
        a.log_metrics({"loss": 5.0 - step, "acc": step / 10}, step=step)
    a.log_event("epoch 1 done")
    a.log_event("epoch 2 done")
    a.log_event("all finished")
    a.create_user_alert("watch")
    a.create_user_alert("calm")
    a.log_alert(name="watch", state="critical")
    a.log_alert(name="calm", state="ok")
    a.save(str(root / "out.txt"), "output")
    a.save_object({"k": [1, 2]}, "input", name="params")
    a.close()
    b = store.init("sweep-b", folder="/proj/a", metadata={"lr": 0.1}, tags=["sweep"])
    for step in range(5):
        b.log_metrics({"loss": 10.0 - step}, step=step)
    b.close()
    c = store.init("other", folder="/proj/b", metadata={"lr": 1})
    c.close()
    store.close()
    return path


@pytest.fixture
def client(db):
    with Client(path=db) as c:
        yield c


def names(pairs):
    return sorted(run.name for _, run in pairs)


# ---------------------------------------------------------------- construction, runs


def test_client_constructed_like_simvue(db, monkeypatch):
    monkeypatch.setenv("RUNLITE_DB", db)
    with Client(path=db, server_url="https://example.invalid", server_token="x") as c:
        assert c.get_run_id_from_name("other")
    store = runlite.open(db)
    try:
        c = Client(store=store)  # an open Store
        assert c.get_run(c.get_run_id_from_name("other")).name == "other"
    finally:
        store.close()
    with pytest.raises(errors.ValidationError):
        Client(store=db, path=db)


def test_get_runs_objects(client):
    found = client.get_runs(["has tag.sweep"])
    assert not isinstance(found, list)  # a generator of (id, Run), as Simvue's
    pairs = list(found)
    assert names(pairs) == ["sweep-a", "sweep-b"]
    run_id, run = next(p for p in pairs if p[1].name == "sweep-a")
    assert run.id == run_id and run.folder == "/proj/a" and run.status == "completed"
    assert run.tags == ["sweep", "starred"] and run.star and run.metadata == {"lr": 0.01, "model": "cnn"}
    assert run.system["cpu"]["arch"] == platform.machine()
    assert run.created.tzinfo is not None and run.endtime >= run.started
    assert dict(run.metrics)["loss"]["count"] == 5
    assert [e["message"] for _, e in run.events][:1] == ["epoch 1 done"]


def test_get_runs_dict_and_dataframe_are_simvues_shapes(client):
    dicts = client.get_runs(["has tag.sweep"], metadata=True, system_info=True, output_format="dict",
                            sort_by_columns=[("name", False)])
    assert [d["name"] for d in dicts] == ["sweep-a", "sweep-b"]
    assert dicts[0]["metadata"] == {"lr": 0.01, "model": "cnn"} and "system" in dicts[0]
    assert datetime.datetime.strptime(dicts[0]["created"], "%Y-%m-%dT%H:%M:%S.%f")  # Simvue's DATETIME_FORMAT
    bare = client.get_runs(["has tag.sweep"], output_format="dict")
    assert "metadata" not in bare[0] and "system" not in bare[0]
    extra = client.get_runs(["name == sweep-a"], metrics=True, alerts=True, timing_info=True, output_format="dict")[0]
    assert extra["metrics"]["loss"]["min"] == 1.0 and extra["runtime"] >= 0
    assert {a["alert"]["name"]: a["status"] for a in extra["alerts"]} == {"watch": "critical", "calm": "ok"}
    frame = client.get_runs(["has tag.sweep"], metadata=True, system_info=True, output_format="dataframe",
                            sort_by_columns=[("name", False)])
    # simvue's own converter on the same runs (it reads the end time as "ended")
    expected = simvue_converters.to_dataframe([{**d, "ended": d["endtime"]} for d in dicts])
    pd.testing.assert_frame_equal(frame, expected)
    assert "system.cpu.arch" in frame.columns and "metadata.model" in frame.columns


@pytest.mark.parametrize("filters, expected", [
    (["has not tag.sweep"], ["other"]),
    (["starred"], ["sweep-a"]),
    (["not starred"], ["other", "sweep-b"]),
    (["user == self"], ["other", "sweep-a", "sweep-b"]),
    ([f"system.cpu.arch == {platform.machine()}"], ["other", "sweep-a", "sweep-b"]),
    (["system.cpu.arch == not-a-cpu"], []),
    (["metadata.lr > 0.05"], ["other", "sweep-b"]),
    (None, ["other", "sweep-a", "sweep-b"]),
])
def test_get_runs_filters(client, filters, expected):
    assert names(client.get_runs(filters)) == expected


def test_get_runs_paging_sorting_and_errors(client):
    by_name = [r.name for _, r in client.get_runs(None, sort_by_columns=[("name", True)])]
    assert by_name == ["sweep-b", "sweep-a", "other"]
    assert [r.name for _, r in client.get_runs(None, sort_by_columns=[("name", True)], count_limit=1,
                                               start_index=1)] == ["sweep-a"]
    assert names(client.get_runs(None, show_shared=False)) == ["other", "sweep-a", "sweep-b"]  # all are ours
    filters = ["has tag.sweep"]
    client.get_runs(filters, show_shared=False)
    assert filters == ["has tag.sweep"]  # the caller's list is not changed
    for bad in ({"output_format": "csv"}, {"count_limit": 0}, {"start_index": -1}):
        with pytest.raises(RuntimeError):
            client.get_runs(None, **bad)
    with pytest.raises(RuntimeError):
        client.get_runs(["metadata.lr >"])


def test_run_ids_and_names(client):
    run_id = client.get_run_id_from_name("sweep-a")
    assert client.get_run(run_id).name == "sweep-a" == client.get_run_name_from_id(run_id)
    with pytest.raises(RuntimeError, match="no run found"):
        client.get_run_id_from_name("nobody")
    with pytest.raises(RuntimeError):
        client.get_run_id_from_name("bad*name")
    with pytest.raises(LookupError):
        client.get_run("0190d4c3-0000-7000-8000-000000000000")


# ---------------------------------------------------------------- metrics


def _server_response(client, run_ids, metric_names, xaxis):
    """What Simvue's /metrics answers: {run: {metric: [{xaxis: x, "value": v}]}}, from runlite's
    own reads, for simvue's converters to shape."""
    out = {}
    for run_id in run_ids:
        run = {}
        for name in metric_names:
            if name in client.store.metric_names(run_id):
                s = client.store.metric_values(run_id, name, xaxis=xaxis)
                xs = {"step": s.steps, "time": s.times, "timestamp": [t / 1e6 for t in s.timestamps]}[xaxis]
                run[name] = [{xaxis: x, "value": v} for x, v in zip(xs, s.values)]
        if run:
            out[run_id] = run
    return out


def test_get_metric_values_dict_and_dataframe(client):
    ids = [client.get_run_id_from_name(n) for n in ("sweep-a", "sweep-b")]
    got = client.get_metric_values(["loss"], "step", run_ids=ids)
    response = _server_response(client, ids, ["loss"], "step")
    assert got == simvue_converters.parse_run_set_metrics(response, "step", run_labels=ids)
    assert got["loss"][(0, ids[0])] == 5.0 and got["loss"][(4, ids[1])] == 6.0
    frame = client.get_metric_values(["loss"], "step", run_ids=ids, output_format="dataframe")
    expected = simvue_converters.parse_run_set_metrics(response, "step", run_labels=ids, parse_to="dataframe")
    pd.testing.assert_frame_equal(frame, expected)
    assert frame.index.names == ["step", "run"]
    # by filters, with names as labels
    named = client.get_metric_values(["loss"], "step", run_filters=["has tag.sweep"], use_run_names=True)
    assert {label for _, label in named["loss"]} == {"sweep-a", "sweep-b"}
    # a metric only one run has: None for the other (Simvue's shape)
    both = client.get_metric_values(["loss", "acc"], "step", run_ids=ids)
    assert both["acc"][(2, ids[1])] is None and both["acc"][(2, ids[0])] == 0.2
    assert client.get_metric_values(["nothing"], "step", run_ids=ids) is None
    for axis in ("time", "timestamp"):
        assert len(client.get_metric_values(["loss"], axis, run_ids=ids[:1])["loss"]) == 5
    assert len(client.get_metric_values(["loss"], "step", run_ids=ids[:1], max_points=2)["loss"]) <= 5


def test_get_metric_values_aggregate(client):
    ids = [client.get_run_id_from_name(n) for n in ("sweep-a", "sweep-b")]
    got = client.get_metric_values(["loss"], "step", run_ids=ids, aggregate=True)
    response = {"loss": [{"step": s, "average": (5.0 - s + 10.0 - s) / 2, "min": 5.0 - s, "max": 10.0 - s}
                         for s in range(5)]}  # what Simvue's server answers for an aggregate
    assert got == simvue_converters.aggregated_metrics_to_dataframe(response, "step")
    frame = client.get_metric_values(["loss"], "step", run_ids=ids, aggregate=True, output_format="dataframe")
    pd.testing.assert_frame_equal(frame, simvue_converters.aggregated_metrics_to_dataframe(
        response, "step", parse_to="dataframe"))


def test_get_metric_values_errors(client):
    with pytest.raises(ValueError, match="No metric names"):
        client.get_metric_values([], "step")
    with pytest.raises(AssertionError):
        client.get_metric_values(["loss"], "step", run_ids=["x"], run_filters=["has tag.x"])
    with pytest.raises(AssertionError):
        client.get_metric_values(["loss"], "timestamp", aggregate=True)
    with pytest.raises(RuntimeError):
        client.get_metric_values(["loss"], "epoch")


def test_metric_names_and_events(client):
    run_id = client.get_run_id_from_name("sweep-a")
    names_ = client.get_metrics_names(run_id)
    assert not isinstance(names_, list) and sorted(names_) == ["acc", "loss"]
    events = client.get_events(run_id)
    assert [e["message"] for e in events] == ["epoch 1 done", "epoch 2 done", "all finished"]
    assert set(events[0]) == {"message", "timestamp"}
    assert [e["message"] for e in client.get_events(run_id, message_contains="epoch")] == [
        "epoch 1 done", "epoch 2 done"]
    assert [e["message"] for e in client.get_events(run_id, start_index=1, count_limit=1)] == ["epoch 2 done"]


def test_get_alerts(client):
    run_id = client.get_run_id_from_name("sweep-a")
    assert client.get_alerts(run_id=run_id) == ["watch"]
    assert sorted(client.get_alerts(run_id=run_id, critical_only=False)) == ["calm", "watch"]
    alerts = client.get_alerts(run_id=run_id, names_only=False)
    assert [a.name for a in alerts] == ["watch"] and alerts[0].get_status(run_id) == "critical"
    with pytest.raises(RuntimeError, match="critical_only is ambiguous"):
        client.get_alerts()
    assert sorted(client.get_alerts(critical_only=False)) == ["calm", "watch"]
    assert client.get_alerts(critical_only=False, sort_by_columns=[("name", True)], count_limit=1) == ["watch"]


# ---------------------------------------------------------------- artifacts, folders, tags


def test_artifacts(client, tmp_path):
    run_id = client.get_run_id_from_name("sweep-a")
    listed = dict(client.list_artifacts(run_id))
    assert sorted(a.name for a in listed.values()) == ["out.txt", "params"]
    assert client.get_artifact(run_id, "params") == {"k": [1, 2]}  # JSON deserialized, as Simvue
    assert client.get_artifact(run_id, "out.txt") == b"result\n"
    client.get_artifact_as_file(run_id, "out.txt", output_dir=tmp_path)
    assert (tmp_path / "out.txt").read_text() == "result\n"
    (tmp_path / "in").mkdir()
    client.get_artifacts_as_files(run_id, category="input", output_dir=tmp_path / "in")
    assert [p.name for p in (tmp_path / "in").iterdir()] == ["params"]
    with pytest.raises(ObjectNotFoundError, match="no such object"):
        client.get_artifact(run_id, "missing")
    with pytest.raises(RuntimeError):
        client.get_artifacts_as_files(run_id, category="bad")
    with pytest.raises(RuntimeError):
        client.get_artifact_as_file(run_id, "out.txt", output_dir=tmp_path / "nowhere")


def test_one_artifact_is_read_by_its_name_whatever_else_the_run_saved(tmp_path):
    """``get_artifact`` finds the file by its name: it listed every file of the run first, so
    reading each of a run's 1,600 files took 9.9 s."""
    with runlite.open(tmp_path / "files.db") as store:
        runs = []
        for name, files in (("few", 10), ("many", 1000)):
            with store.init(name) as run:
                for i in range(files):
                    run.save_object({"i": i}, "output", name=f"o{i}")
            runs.append(run.id)
        client = Client(store=store)
        steps = [read_steps(store, lambda run_id=run_id: client.get_artifact(run_id, "o7")) for run_id in runs]
        assert steps[1] <= 2 * steps[0] + 2, steps
        assert [client.get_artifact(run_id, "o7") for run_id in runs] == [{"i": 7}, {"i": 7}]
        assert client.get_artifact(runs[1], "o999") == {"i": 999}
        with pytest.raises(ObjectNotFoundError):
            client.get_artifact(runs[0], "o999")


def test_folders_and_tags(client):
    folder = client.get_folder("/proj/a")
    assert folder.path == "/proj/a" and folder.id == "/proj/a"
    assert client.get_folder("/no/such") is None
    paths = [p for p, _ in client.get_folders(filters=["path contains /proj"])]
    assert paths == [p for p in client.store.folders() if "/proj" in p] and "/proj/a" in paths
    assert [p for p, _ in client.get_folders(count=1, sort_by_columns=[("path", True)])] == ["/proj/b"]
    assert [p for p, _ in client.get_folders(filters=["path == /proj/b"])] == ["/proj/b"]
    tags = dict(client.get_tags())
    assert sorted(tags) == ["starred", "sweep"] and tags["sweep"].name == "sweep"
    assert client.store.tags() == ["starred", "sweep"]
    assert [t for t, _ in client.get_tags(count_limit=1, start_index=1)] == ["sweep"]
    assert client.get_tag("sweep").name == "sweep"
    with pytest.raises(ObjectNotFoundError):
        client.get_tag("no-such-tag")


def test_deleting(db, tmp_path):
    path = str(tmp_path / "copy.db")
    store = runlite.open(db)
    store.backup(path)
    store.close()
    with Client(path=path) as c:
        gone = c.delete_run(c.get_run_id_from_name("other"))
        assert gone["name"] == "other"
        with pytest.raises(LookupError):
            c.get_run(gone["id"])
        with pytest.raises(RuntimeError):
            c.delete_folder("/proj/a")  # holds runs
        with pytest.raises(RuntimeError):
            c.delete_folder("/proj", remove_runs=True)  # holds folders
        assert [d["name"] for d in c.delete_folder("/proj/b", remove_runs=True)] == []  # "other" was deleted
        assert c.delete_folder("/nowhere", allow_missing=True) is None
        with pytest.raises(ObjectNotFoundError):
            c.delete_folder("/nowhere")
        with pytest.raises(ValueError):
            c.delete_runs("/nowhere")
        deleted = c.delete_runs("/proj/a")
        assert sorted(d["name"] for d in deleted) == ["sweep-a", "sweep-b"]
        assert list(c.get_runs(None)) == []
        assert c.get_folder("/proj/a") is not None  # delete_runs keeps the folder
        assert c.delete_folder("/proj", recursive=True) == []
        assert c.get_folder("/proj") is None and c.get_folder("/proj/b") is None
        run = c.store.init("live")
        assert c.abort_run(run.id, "stop")["status"] == "terminated"
        with pytest.raises(RuntimeError, match="not running"):  # Simvue's RuntimeError for a run not running
            c.abort_run(run.id, "stop")
        run.close()


def test_names_folders_and_tags_are_selected_exactly_as_given(tmp_path):
    """A filter's value is stripped of the spaces around it: built from "/x " the filter
    selected "/x", and delete_runs deleted the runs of the other folder."""
    with Client(path=str(tmp_path / "t.db")) as c:
        store = c.store
        for name, folder, tags in (("keep", "/x", ["t"]), ("drop", "/x ", ["t "]), ("sim", "/y", []),
                                   ("sim ", "/y", [])):
            store.init(name, folder=folder, tags=tags).close()
        assert c.get_run_id_from_name("sim ") == store.get_run("sim ").id
        assert c.get_tag("t ").name == "t "
        assert [d["name"] for d in c.delete_runs("/x ")] == ["drop"]
        assert sorted(r.name for r in store.runs(folder="/x")) == ["keep"]
        store.init("again", folder="/x ").close()
        assert [d["name"] for d in c.delete_folder("/x ", remove_runs=True)] == ["again"]
        assert [r.name for r in store.runs(folder="/x")] == ["keep"] and c.get_folder("/x") is not None


def test_documented_usage_only_the_import_changed(db, monkeypatch):
    """Examples of simvue's Client docstrings and docs, with ``import runlite.simvue.client``."""
    monkeypatch.setenv("RUNLITE_DB", db)
    from runlite.simvue import client as simvue_client

    client = simvue_client.Client()
    run_id = client.get_run_id_from_name("sweep-a")
    for _id, run in client.get_runs(["has tag.sweep", "metadata.lr < 0.05"], count_limit=10):
        assert (_id, run.name) == (run_id, "sweep-a")
    frame = client.get_runs([], output_format="dataframe", metadata=True)
    assert set(frame["name"]) == {"sweep-a", "sweep-b", "other"}
    values = client.get_metric_values(metric_names=["loss"], xaxis="step", run_ids=[run_id],
                                      output_format="dataframe")
    assert list(values["loss"]) == [5.0, 4.0, 3.0, 2.0, 1.0]
    assert client.get_alerts(run_id=run_id, critical_only=False, names_only=True)
