"""list_runs (LangSmith grammar), get_runs (Simvue grammar) and metric_values_many on a store."""

import apsw
import pytest

import runlite

from runlite.storage import search

from .plans import read_plans, read_programs, read_steps
from .trace_data import roots_among_spans


@pytest.fixture
def runs(mem):
    a = mem.init("alpha", metadata={"lr": 0.1, "opt": "adam"}, tags=["sweep"], run_type="chain", folder="/x")
    a.log_metrics({"loss": 0.05})
    a1 = a.child("alpha-llm", run_type="llm")
    a1.end(outputs={"text": "hi"})
    a2 = a.child("alpha-tool", run_type="tool")
    a2.end(error="tool failed")
    a.end(outputs={"answer": 42})
    b = mem.init("beta", metadata={"lr": 0.01}, tags=["base"], folder="/y")
    b.log_metrics({"loss": 0.5})
    b.close()
    c = mem.init("gamma", running=False)
    return {"a": a, "a1": a1, "a2": a2, "b": b, "c": c}


def names(records):
    return sorted(r.name for r in records)


def test_list_runs_filters(mem, runs):
    assert names(mem.list_runs(filter='eq(run_type, "llm")')) == ["alpha-llm"]
    assert names(mem.list_runs(filter='and(eq(metadata_key, "opt"), eq(metadata_value, "adam"))')) == ["alpha"]
    assert names(mem.list_runs(filter='has(tags, "sweep")')) == ["alpha"]
    assert names(mem.list_runs(filter='neq(error, null)')) == ["alpha-tool"]
    assert names(mem.list_runs(filter='eq(status, "success")')) == ["alpha", "alpha-llm", "beta"]
    assert names(mem.list_runs(error=True)) == ["alpha-tool"]
    assert names(mem.list_runs(is_root=False)) == ["alpha-llm", "alpha-tool"]
    assert names(mem.list_runs(trace_filter='eq(name, "alpha")', is_root=False)) == ["alpha-llm", "alpha-tool"]
    assert names(mem.list_runs(tree_filter='eq(run_type, "tool")')) == ["alpha", "alpha-llm", "alpha-tool"]
    assert names(mem.list_runs(parent_run_id=runs["a"].id)) == ["alpha-llm", "alpha-tool"]
    assert names(mem.list_runs(trace_id=runs["b"].id)) == ["beta"]
    assert names(mem.list_runs(run_ids=[runs["b"].id], run_type="llm")) == ["beta"]  # run_ids wins
    assert names(mem.list_runs(start_time="2000-01-01T00:00:00Z")) == names(mem.runs())


def test_list_runs_select_order_limit(mem, runs):
    rows = mem.list_runs(select=["name", "status"], order_by="name", limit=2)  # records of just those fields
    assert [(r.name, r.status, r.to_dict()["status"]) for r in rows] == [("alpha", "completed", "success"),
                                                                      ("alpha-llm", "completed", "success")]
    assert [r.id for r in rows] == [runs["a"].id, runs["a1"].id] and rows[0].metadata == {} and rows[0].tags == ()
    assert [r.name for r in mem.list_runs(order_by="-name", limit=2, offset=1)] == ["beta", "alpha-tool"]
    with pytest.raises(runlite.ValidationError):
        mem.list_runs(order_by="color")
    with pytest.raises(runlite.ValidationError):
        mem.list_runs(select=["nope"])
    with pytest.raises(runlite.ValidationError):
        mem.list_runs(limit=-1)


def test_list_runs_order_by_every_field(mem, runs):
    """Every LangSmith order_by name sorts; none asked (None or []) lists newest first."""
    for field in ("start_time", "end_time", "name", "latency", "total_tokens", "total_cost", "dotted_order",
                  "status", "run_type", "created"):
        assert names(mem.list_runs(order_by=["-" + field, "+name"])) == names(mem.list_runs())
    assert [r.id for r in mem.list_runs(order_by=[])] == [r.id for r in mem.list_runs()]
    with pytest.raises(runlite.ValidationError, match="cannot order by 'started'"):
        mem.list_runs(order_by="started")  # get_runs's sort_by takes it; LangSmith's order_by does not
    with pytest.raises(runlite.ValidationError, match="field names like"):
        mem.list_runs(order_by=[3])
    with pytest.raises(runlite.ValidationError):
        mem.list_runs(order_by=3)


def test_get_runs_simvue(mem, runs):
    assert names(mem.get_runs(["metadata.lr > 0.05"])) == ["alpha"]
    assert names(mem.get_runs(["metric.loss.min < 0.1"])) == ["alpha"]
    assert names(mem.get_runs(["has tag.base"])) == ["beta"]
    assert names(mem.get_runs(["folder.path == /x", "name contains alpha"])) == ["alpha", "alpha-llm", "alpha-tool"]  # children share the folder
    assert names(mem.get_runs(["status == created"])) == ["gamma"]
    assert names(mem.get_runs(["created < 1h"])) == names(mem.runs())
    assert [r.name for r in mem.get_runs(["metadata.lr exists"], sort_by=[("metadata.lr", True)])] == ["alpha", "beta"]
    assert [r.name for r in mem.get_runs(sort_by="name", limit=2)] == ["alpha", "alpha-llm"]


@pytest.mark.parametrize("text", ['eq(nope, 1)', 'and(eq(name, "x")', 'eq(name, "x") junk', ''])
def test_bad_langsmith_filters(mem, runs, text):
    with pytest.raises(runlite.FilterError):
        mem.list_runs(filter=text)


@pytest.mark.parametrize("bad", [["== 5"], ["name"], ["metric.loss.median < 1"], ["created < soon"]])
def test_bad_simvue_filters(mem, runs, bad):
    with pytest.raises(runlite.FilterError):
        mem.get_runs(bad)


INJECTIONS = ["x'); DROP TABLE runs; --", "1=1; DROP TABLE runs", "\"; DELETE FROM runs; --", "a\x00b",
              "' OR '1'='1", "/* */ UNION SELECT sql FROM sqlite_schema --", "é" * 10_000]


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_is_a_plain_value(store, value):
    store.init("keep", metadata={"k": "v"}).close()
    with store.database.read() as conn:
        before = conn.execute("SELECT group_concat(sql) FROM sqlite_schema").get
    quoted = value.replace("\\", "\\\\").replace('"', '\\"')
    for call in (lambda: store.list_runs(filter=f'eq(name, "{quoted}")'),
                 lambda: store.list_runs(filter=f'has(tags, "{quoted}")'),
                 lambda: store.get_runs([f"name == {value}"]),
                 lambda: store.get_runs([f"metadata.k == {value}"])):
        try:
            assert call() == []
        except runlite.FilterError:
            pass
    with store.database.read() as conn:
        assert conn.execute("SELECT group_concat(sql) FROM sqlite_schema").get == before
    assert [r.name for r in store.runs()] == ["keep"]


def test_metric_values_many(mem, runs):
    got = mem.metric_values_many([runs["a"], runs["b"].id], ["loss", "missing"])
    assert set(got) == {runs["a"].id, runs["b"].id}
    assert list(got[runs["a"].id]["loss"].values) == [0.05] and "missing" not in got[runs["a"].id]
    by_filter = mem.metric_values_many(["metadata.lr > 0.05"], "loss")
    assert list(by_filter) == [runs["a"].id]
    by_langsmith = mem.metric_values_many('eq(name, "beta")', ["loss"])
    assert list(by_langsmith) == [runs["b"].id]


def test_listed_runs_are_whole_and_outlive_the_store_once_used(tmp_path):
    with runlite.open(str(tmp_path / "l.db")) as s:
        root = s.init("root")
        root.attach("a.txt", b"hi", "text/plain")
        child = root.child("kid")
        child.end()
        root.end()
        (listed,) = s.list_runs(filter='eq(name, "root")')
        assert listed.child_run_ids == (child.id,)
        assert listed.attachments == {"a.txt": ("text/plain", 2)}
        assert listed == s.get_run(root.id)
        later = {"list_runs": s.list_runs(filter='eq(name, "root")')[0], "get_runs": s.get_runs(["name == root"])[0],
                 "runs": [r for r in s.runs() if r.name == "root"][0]}
        unread = s.list_runs(filter='eq(name, "root")')[0]
        for record in later.values():
            assert record.events == ()  # events are read on first use: while the store is open
    for how, record in later.items():  # every listing gives the same whole record, usable after close()
        assert record.child_run_ids == (child.id,), how
        assert record.direct_child_run_ids == (child.id,), how
        assert record.attachments == {"a.txt": ("text/plain", 2)}, how
        assert record.to_dict()["child_run_ids"] == [child.id], how
    assert unread.name == "root"  # its own row is in the record
    # what other tables hold (descendants, attachments, feedback, events) is read on first use,
    # for the whole listing at once: a listing none of whose records used it has nothing after close()
    for field in ("child_run_ids", "direct_child_run_ids", "attachments", "feedback_stats", "events"):
        with pytest.raises(runlite.StoreClosedError, match="read them before closing"):
            getattr(unread, field)
    with pytest.raises(runlite.StoreClosedError, match="read them before closing"):
        unread.to_dict()


def test_to_pandas_on_runs_and_series(mem, runs):
    pd = pytest.importorskip("pandas")
    frame = mem.runs().to_pandas()
    assert len(frame) == 5 and "metadata.lr" in frame.columns
    assert frame.set_index("name").loc["alpha", "metadata.lr"] == 0.1
    assert str(frame["created"].dtype).startswith("datetime64")
    assert len(mem.get_runs(["has tag.sweep"]).to_pandas()) == 1
    series = mem.metric_values(runs["a"], "loss").to_pandas()
    assert list(series.columns) == ["step", "time", "timestamp", "value", "run", "run_name", "metric"]
    assert series["value"][0] == 0.05 and set(series["run_name"]) == {"alpha"} and set(series["metric"]) == {"loss"}
    assert isinstance(series["timestamp"].dtype, pd.DatetimeTZDtype)


@pytest.mark.parametrize("text", ["metadta.lr > 0.005", "nmae == alpha", "lr > 0.05", "metadata.lr >>> 1"])
def test_a_misspelt_simvue_filter_is_refused_not_an_empty_result(tmp_path, text):
    with runlite.open(str(tmp_path / "s.db")) as store:
        store.init("alpha", metadata={"lr": 0.1}).close()
        for call in (lambda: store.get_runs([text]), lambda: store.metric_values_many(text, ["loss"]),
                     lambda: store.delete_runs(filter=[text]), lambda: store.export(str(tmp_path / "out.db"),
                                                                                     filter=[text])):
            with pytest.raises(runlite.FilterError, match="unknown (field|namespace|operator)"):
                call()
        assert [r.name for r in store.runs()] == ["alpha"] and not (tmp_path / "out.db").exists()


# ---------------------------------------------------------------- a page of a listing, in order


@pytest.fixture
def traces(mem):
    """Traces in two projects, with children, and experiments of no project, started in turn."""
    for i in range(6):
        with runlite.trace(f"root-{i}", store=mem, project_name="p1" if i % 2 else "p2", tags=["x"] * (i < 4)):
            with runlite.trace("step", run_type="tool", store=mem) as step:
                if i < 5:
                    step.end(error="tool failed")
        mem.init(f"experiment-{i}").close()
    mem.live.flush_spans()
    return {r.name: r for r in mem.list_runs()}


def _plans(store, call) -> list[str]:
    """The plan of each listing ``call`` runs."""
    return read_plans(store, call, "SELECT runs.id, runs.name")


def _newest_first(records) -> list[str]:
    return [r.name for r in sorted(records, key=lambda r: (r.start_time, r.id), reverse=True)]


@pytest.mark.parametrize("kwargs", [{}, {"is_root": True}, {"filter": "eq(is_root, true)"}, {"project": "p1"},
                                    {"filter": 'has(tags, "x")'}, {"run_type": "tool"}, {"filter": 'eq(name, "step")'},
                                    {"error": True}, {"filter": "neq(error, null)"}])
def test_a_page_of_langsmith_listing_is_read_in_start_order_not_sorted(mem, traces, kwargs):
    """A page (LangSmith's newest first by start, what /runs/query serves) walks an index in
    that order and stops: no sort of every run that matches (139 ms for the first 100 of
    100,000 runs before, 0.24 ms with it)."""
    kwargs = dict(kwargs)
    if kwargs.pop("project", None):
        kwargs["project_id"] = traces["root-1"].session_id
    everything = mem.list_runs(**kwargs)
    page = mem.list_runs(**kwargs, limit=3, offset=1)
    assert len(page) == 3 and [r.name for r in page] == _newest_first(everything)[1:4]
    plan, = _plans(mem, lambda: mem.list_runs(**kwargs, limit=3, offset=1))
    assert "USE TEMP B-TREE FOR ORDER BY" not in plan, plan
    index = ("runs_session" if "project_id" in kwargs else "runs_parent" if kwargs.get("is_root") or
             "is_root" in kwargs.get("filter", "") else "runs_type" if "run_type" in kwargs
             else "runs_name" if "name" in kwargs.get("filter", "") else "runs_errors" if "error" in str(kwargs)
             else "runs_start")
    assert f"USING INDEX {index}" in plan, plan


def test_a_page_of_roots_skips_their_spans(mem):
    """Roots newest first (``is_root``, the viewer's traces) walk the index of parents, which holds
    them in start order: a page reads its roots, not every span started since (200 traces of 500
    spans, the newest 50: 6.8 ms -> 0.24 ms)."""
    def work(spans: int) -> int:
        with runlite.open(":memory:") as store:
            for t in range(30):
                with runlite.trace(f"root-{t}", store=store):
                    for i in range(spans):
                        runlite.trace("leaf", run_type="tool", store=store).end()
            store.live.flush_spans()
            page = store.list_runs(is_root=True, limit=5, offset=5)
            assert [r.name for r in page] == [f"root-{t}" for t in range(24, 19, -1)]
            assert [r.name for r in store.trace_page(order="start", descending=True, limit=5, offset=5)] == \
                [r.name for r in page]
            return read_steps(store, lambda: (store.list_runs(is_root=True, limit=5, offset=5),
                                              store.trace_page(order="start", descending=True, limit=5, offset=5)))
    assert work(200) <= work(10) + 2  # the same work for 20 times the spans


@pytest.mark.parametrize("by", ["project_id", "project_name"])
def test_a_page_of_a_projects_roots_skips_their_spans(by):
    """LangSmith's ``list_runs(project_name=..., is_root=True)`` sends the project's id: its roots
    newest first by start come from the index of a project's roots (schema version 14), not from
    a walk of the project's spans started since (50 roots of 500-span traces: 8.5 ms -> 0.22 ms);
    so do they for the filter ``eq(is_root, true)`` (8.5 ms -> 0.19 ms)."""
    def work(spans: int) -> int:
        with runlite.open(":memory:") as store:
            for t in range(30):
                with runlite.trace(f"root-{t}", store=store, project_name="p" if t % 2 else "q"):
                    for _ in range(spans):
                        runlite.trace("leaf", run_type="tool", store=store).end()
            store.live.flush_spans()
            project = {"project_id": store.project("p", stats=False)["id"], "project_name": "p"}[by]
            pages = [lambda: store.list_runs(**{by: project}, is_root=True, limit=5, offset=5),
                     lambda: store.list_runs(**{by: project}, filter="eq(is_root, true)", limit=5, offset=5)]
            for page in pages:
                assert [r.name for r in page()] == [f"root-{t}" for t in range(19, 9, -2)]
                if by == "project_id":
                    plan, = _plans(store, page)
                    assert "runs_project_roots" in plan and "USE TEMP B-TREE" not in plan, plan
            return read_steps(store, lambda: [page() for page in pages])
    assert work(200) <= work(10) + 2  # the same work for 20 times the spans


@pytest.mark.parametrize("limit", [5, None])
def test_store_runs_of_top_level_runs_skips_spans_when_they_are_few(limit):
    """``Store.runs(is_root=True)`` (``runlite ls``), newest created first: a few top-level runs
    among many spans are found on the index of parents and their rowids sorted, not found by
    walking past every span created since (the work the same for 20 times the spans); among
    experiments alone the walk stays (`search.walks_newest`). Both give the same runs."""
    def work(spans: int) -> tuple[int, bool]:
        with runlite.open(":memory:") as store:
            newest = roots_among_spans(store, experiments=30, traces=30, spans=spans, interleaved=True)
            assert [r.id for r in store.runs(is_root=True, limit=limit)] == newest[:limit]
            with store.database.read() as conn:
                walks = search.walks_newest(conn, limit)
            return read_steps(store, lambda: store.runs(is_root=True, limit=limit)), walks
    (_, walks_none), (few, _), (many, walks_many) = work(0), work(10), work(200)
    assert walks_none and not walks_many
    assert many <= few + 2


@pytest.mark.parametrize("kwargs", [{}, {"project": True}, {"project": True, "start_time": "2000-01-01T00:00:00Z",
                                                                "filter": 'lte(start_time, "2999-01-01T00:00:00Z")'}])
def test_a_page_of_a_trace_is_read_in_start_order_from_its_own_index(mem, traces, kwargs):
    """LangSmith's SDKs read a trace back a page at a time (v1 ``list_runs(trace_id=...)``; v2
    with its project and a time window too): the page comes from the trace's index in order,
    not from a sort of the whole trace, nor from a walk of its project's runs of that time."""
    with runlite.trace("big", store=mem, project_name="p1") as big:
        for i in range(8):
            runlite.trace(f"big-{i}", run_type="tool", store=mem).end()
    mem.live.flush_spans()
    kwargs = dict(kwargs, trace_id=big.trace_id)
    if kwargs.pop("project", None):
        kwargs["project_id"] = traces["root-1"].session_id
    everything = mem.list_runs(**kwargs)
    assert len(everything) == 9
    assert [r.name for r in mem.list_runs(**kwargs, limit=3, offset=2)] == _newest_first(everything)[2:5]
    plan, = _plans(mem, lambda: mem.list_runs(**kwargs, limit=3, offset=2))
    assert "USING INDEX runs_trace_start" in plan and "USE TEMP B-TREE" not in plan, plan


@pytest.mark.parametrize("read, index", [(lambda s: s.runs(folder="/x", limit=2), "runs_folder"),
                                         (lambda s: s.get_runs(["folder.path == /x"], limit=2), "runs_folder"),
                                         (lambda s: s.runs(status="completed", limit=2), "runs_status")])
def test_a_page_of_a_folder_or_status_is_read_in_creation_order_not_sorted(mem, read, index):
    """Store.runs(folder=... or status=...) and Simvue's folder filter list newest first by
    creation, a page read in that order by the folder's or status's index (139 ms and 92 ms
    for 100 of 100,000 runs before)."""
    for i in range(5):
        mem.init(f"x-{i}", folder="/x").close()
        mem.init(f"y-{i}", folder="/y", running=False)
    assert [r.name for r in read(mem)] == ["x-4", "x-3"]
    plan, = _plans(mem, lambda: read(mem))
    assert f"USING INDEX {index}" in plan and "USE TEMP B-TREE FOR ORDER BY" not in plan, plan


@pytest.mark.parametrize("filters", [["run_type == llm"], ["run_type == llm", "has tag.prod"],
                                     ["has tag.prod", "run_type == llm", "metadata.i > 2"]])
def test_simvue_runs_of_one_run_type_are_read_in_time_order(mem, filters):
    """get_runs pinning run_type, newest first by creation: read through runs_type (time order;
    before schema version 17 an index in token order could be walked instead, reading the runs
    and their tags at random: 27.3 against 22.1 ms over 100,000 runs). Runs are created in one
    order and started in another, so creation order is not start order."""
    made = [mem.init(f"r-{i}", run_type=("llm", "tool")[i % 2], tags=["prod"] if i % 3 else [],
                     metadata={"i": i}, running=False) for i in range(12)]
    for run in reversed(made):  # started newest-created first
        run.close()
        mem.reconnect(run.id).close()
    want = [r.name for r in sorted((r for r in mem.runs() if r.run_type == "llm" and
                                    ("has tag.prod" not in filters or "prod" in r.tags) and
                                    (len(filters) < 3 or r.metadata["i"] > 2)),
                                   key=lambda r: (r.created, r.id), reverse=True)]
    assert want and [r.name for r in mem.get_runs(filters)] == want
    plan, = _plans(mem, lambda: mem.get_runs(filters))
    assert "USING INDEX runs_type (" in plan, plan
    # with a sort of the caller's, or no run_type, the listing is as before
    plan, = _plans(mem, lambda: mem.get_runs(["has tag.prod"]))
    assert "runs_type" not in plan, plan


@pytest.mark.parametrize(("condition", "wanted"), [
    ('gt(feedback_score, 0.5)', ["r0", "r1", "r2", "r3", "r4", "r5"]),  # a key's score or the other's
    ('and(eq(feedback_key, "k"), gt(feedback_score, 0.5))', ["r3", "r4", "r5"]),
    ('and(eq(feedback_key, "k"), eq(feedback_score, 1))', ["r5"])])
def test_a_feedback_condition_reads_each_runs_own_feedback(mem, condition, wanted):
    """A run's feedback is found by (run, key): with the score also asked, SQLite chose the
    (key, score) index instead and read every run's feedback of that key for each run (a page of a
    project with 40,000 feedback rows took 3.8 s)."""
    runs = [mem.init(f"r{i}") for i in range(6)]
    for i, run in enumerate(runs):
        run.close()
        mem.create_feedback(run, "k", score=i / 5)
        mem.create_feedback(run, "other", score=1 - i / 5)
    assert sorted(r.name for r in mem.list_runs(filter=condition)) == wanted
    plan, = _plans(mem, lambda: mem.list_runs(filter=condition))
    assert "feedback_run (run_id=?" in plan and "feedback_key" not in plan, plan


def test_a_page_of_a_runs_children_is_read_in_start_order_not_sorted(mem):
    """``list_runs(parent_run_id=...)`` pages a run's children newest first from the parent's index
    in that order: each page sorted them all (74 ms a page of 40,000 children)."""
    root = mem.init("root", run_type="chain")
    kids = [root.child(f"kid-{i}", run_type="tool") for i in range(12)]
    for kid in kids:
        kid.child("below", run_type="tool").end()  # a grandchild: not a child of the root
        kid.end()
    root.close()
    page = mem.list_runs(parent_run_id=root.id, limit=4, offset=3)
    assert [r.name for r in page] == _newest_first(mem.list_runs(parent_run_id=root.id))[3:7]
    assert len(mem.list_runs(parent_run_id=root.id)) == 12
    plan, = _plans(mem, lambda: mem.list_runs(parent_run_id=root.id, limit=4, offset=3))
    assert "USING INDEX runs_parent" in plan and "TEMP B-TREE" not in plan, plan


@pytest.mark.parametrize("keys", [None, ["k1"]])
def test_a_page_of_feedback_is_read_in_order_not_sorted(mem, keys):
    """``list_feedback`` (LangSmith's SDK pages it by offset) reads feedback oldest first from an
    index in that order, of any key or of one: each page sorted them all (the SDK's read of 40,000
    feedback records took 6.3 s)."""
    runs = [mem.init(f"r{i}") for i in range(5)]
    for run in runs:
        run.close()
    for i in range(30):
        mem.create_feedback(runs[i % 5], f"k{i % 3}", score=i)
    every = [f for f in mem.list_feedback() if keys is None or f["key"] in keys]
    assert [f["score"] for f in every] == sorted(f["score"] for f in every)  # oldest first
    pages = [f for at in range(0, 30, 4) for f in mem.list_feedback(feedback_key=keys, limit=4, offset=at)]
    assert [f["id"] for f in pages] == [f["id"] for f in every]
    plan, = read_plans(mem, lambda: mem.list_feedback(feedback_key=keys, limit=4, offset=8), "FROM feedback")
    assert "TEMP B-TREE" not in plan and ("feedback_created" if keys is None else "feedback_key (key=?)") in plan, plan


def test_a_page_after_a_run_reads_on_from_it_in_the_index(mem):
    """``list_runs(after=...)`` reads the page after a run of the previous one straight from the
    listing's index: a page deep in a long listing costs what the first does, where ``offset``
    passes every run before it. The pages put together are the listing, and runs written between
    two pages do not move the later ones."""
    with runlite.trace("root", store=mem, project_name="p"):
        for i in range(2000):
            runlite.trace(f"s-{i}", run_type="tool", store=mem).end()
    mem.live.flush_spans()
    whole = mem.list_runs(run_type="tool")
    pages, after = [], None
    while True:
        page = mem.list_runs(run_type="tool", limit=200, after=after, select=["name", "start_time"])
        if not page:
            break
        pages += [r.name for r in page]
        after = page[-1]
        if len(pages) == 400:
            runlite.trace("late", run_type="tool", store=mem).end()  # newest: before every page read so far
            mem.live.flush_spans()
    assert pages == [r.name for r in whole]
    first = read_steps(mem, lambda: mem.list_runs(run_type="tool", limit=50))
    deep_after = read_steps(mem, lambda: mem.list_runs(run_type="tool", limit=50, after=whole[1900]))
    deep_offset = read_steps(mem, lambda: mem.list_runs(run_type="tool", limit=50, offset=1901))
    assert deep_after <= 2 * first + 2 < deep_offset, (first, deep_after, deep_offset)
    with pytest.raises(runlite.ValidationError, match="newest-first order"):
        mem.list_runs(after=whole[0], order_by="name")
    for wrong in ("an id", {"id": "x"}, 3):
        with pytest.raises(runlite.ValidationError, match="a run record"):
            mem.list_runs(after=wrong)


def test_runs_of_no_run_type_skip_the_run_type_index_and_filters_naming_one_still_read_it(mem, runs):
    """``runs_type`` holds only runs with a run type (schema version 16): an experiment run
    writes no page of it at its creation. A filter naming a run type says so in its SQL, so
    SQLite reads it for it, in both grammars; its negation still matches the runs of no run type."""
    with mem.database.read() as conn:
        held = conn.execute("SELECT name FROM runs INDEXED BY runs_type WHERE run_type IS NOT NULL ORDER BY name")
        assert [name for (name,) in held] == ["alpha", "alpha-llm", "alpha-tool"]
        with pytest.raises(apsw.SQLError, match="no query solution"):  # the others are not in it
            conn.execute("SELECT name FROM runs INDEXED BY runs_type WHERE run_type IS NULL").fetchall()
    for call in (lambda: mem.list_runs(filter='eq(run_type, "llm")'), lambda: mem.get_runs(["run_type == llm"]),
                 lambda: mem.list_runs(run_type="llm")):
        assert names(call()) == ["alpha-llm"]
        plan, = _plans(mem, call)
        assert "USING INDEX runs_type (run_type=?" in plan, plan
    assert names(mem.list_runs(filter='not(eq(run_type, "llm"))')) == ["alpha", "alpha-tool", "beta", "gamma"]
    assert names(mem.get_runs(["run_type != llm"])) == ["alpha", "alpha-tool", "beta", "gamma"]


@pytest.mark.parametrize("token_filter", ["gt(total_tokens, 5000)", "lte(total_tokens, 3000)",
                                          "and(gte(total_tokens, 2000), lt(total_tokens, 7000))"])
def test_a_token_filter_of_a_run_type_tests_counts_in_the_run_type_index_in_start_order(mem, token_filter):
    """The token count is ``runs_type``'s last column (schema version 17), and no index keeps
    runs in token order (one took each LLM span at a page at random). A filter of a run type and
    a token bound walks the type's entries newest first by start and tests the count in the
    index before reading a run's row (SQLite's deferred seek): no sort, no row read for the runs
    the bound leaves out; the runs found are those a plain reading finds, in that order."""
    for i in range(60):
        span = runlite.trace(f"s-{i}", run_type=("llm", "tool")[i % 2], store=mem)
        if i % 5:  # some spans have no count: no bound matches them
            span.set_usage(prompt_tokens=(i * 1709) % 9000, completion_tokens=100)
        span.end()
    mem.init("experiment", running=False)
    mem.live.flush_spans()
    low, high = {"gt(total_tokens, 5000)": (5001, None), "lte(total_tokens, 3000)": (None, 3000),
                 "and(gte(total_tokens, 2000), lt(total_tokens, 7000))": (2000, 6999)}[token_filter]
    want = [r.name for r in sorted(mem.runs(), key=lambda r: (r.start_time, r.id), reverse=True)
            if r.run_type == "llm" and r.total_tokens is not None
            and (low is None or r.total_tokens >= low) and (high is None or r.total_tokens <= high)]
    query = f'and(eq(run_type, "llm"), {token_filter})'
    assert want and [r.name for r in mem.list_runs(filter=query)] == want
    plan, = _plans(mem, lambda: mem.list_runs(filter=query))
    assert "USING INDEX runs_type (run_type=?)" in plan and "TEMP B-TREE" not in plan, plan
    # The count compared is the index's column (the row is read only for the runs that pass).
    with mem.database.read() as conn:
        root, = conn.execute("SELECT rootpage FROM sqlite_schema WHERE name = 'runs_type'").fetchone()
        at = next(seq for seq, _cid, name in conn.execute("PRAGMA index_info(runs_type)") if name == "total_tokens")
    program, = read_programs(mem, lambda: mem.list_runs(filter=query), "SELECT runs.id, runs.name")
    cursor = next(p1 for op, p1, p2, _p3 in program if op == "OpenRead" and p2 == root)
    assert "DeferredSeek" in {op for op, *_ in program}
    assert ("Column", cursor, at) in {(op, p1, p2) for op, p1, p2, _p3 in program}, program
