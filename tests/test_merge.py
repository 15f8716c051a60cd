"""Merging run files: idempotent, order-independent, grown runs updated, hostile sources refused."""

import os

import apsw
import pytest

import runlite
from runlite.storage import archive

TABLES = ("runs", "series", "chunks", "events", "blobs", "blob_parts", "attachments", "alerts", "run_alerts",
          "alert_history", "feedback", "run_tags", "folders")


def counts(store):
    with store.database.read() as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").get for t in TABLES}


def make(path, tag, shared_content=b"shared" * 1000):
    with runlite.open(path) as s:
        run = s.init(f"run-{tag}", tags=[tag], folder=f"/{tag}")
        for i in range(2000):
            run.log_metrics({"loss": 1 / (i + 1), tag: float(i)})
        run.log_event(f"hello from {tag}")
        run.attach("shared.bin", shared_content, "application/octet-stream")
        run.attach(f"{tag}.txt", tag.encode() * 100, "text/plain")
        run.create_metric_threshold_alert("loss-high", "loss", 10.0, "is above")  # identical in both files
        child = run.child(f"span-{tag}", run_type="llm")
        child.end(outputs={"tag": tag})
        run.close()
        s.create_feedback(child.id, "score", score=1)
        return run.id


def snapshot(store):
    out = {}
    for rec in store.runs():
        data = rec.to_dict()
        data.pop("modified")
        out[rec.id] = data
        out[rec.id + "/metrics"] = {n: list(store.metric_values(rec.id, n).values) for n in store.metric_names(rec.id)}
        out[rec.id + "/events"] = [e.message for e in store.events(rec.id)]
    return out


def test_merge_brings_everything_and_is_idempotent(tmp_path):
    a, b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    make(a, "a")
    make(b, "b")
    with runlite.open(b) as dst:
        dst.merge(a)
        assert dst.verify().ok
        assert sorted(r.name for r in dst.runs()) == ["run-a", "run-b", "span-a", "span-b"]
        assert dst.read_attachment("run-a", "a.txt") == b"a" * 100
        assert counts(dst)["blobs"] == 3  # shared content stored once
        assert len({s.alert_id for s in dst.alerts()}) == 1  # identical definitions: one alert
        assert len(dst.list_runs(filter='has(tags, "a")')) == 1
        before = counts(dst)
        again = dst.merge(a)
        assert counts(dst) == before and again["runs_added"] == 0 and again["series_copied"] == 0


def test_merge_order_does_not_matter(tmp_path):
    a, b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    make(a, "a")
    make(b, "b")
    ab, ba = str(tmp_path / "ab.db"), str(tmp_path / "ba.db")
    runlite.open(a).backup(ab)
    runlite.open(b).backup(ba)
    runlite.merge(ab, b)
    runlite.merge(ba, a)
    with runlite.open(ab, read_only=True) as x, runlite.open(ba, read_only=True) as y:
        assert snapshot(x) == snapshot(y)


def test_grown_run_is_brought_up_to_date(tmp_path):
    src, dst = str(tmp_path / "src.db"), str(tmp_path / "dst.db")
    with runlite.open(src) as s:
        run = s.init("growing")
        for i in range(100):
            run.log_metrics({"x": float(i)})
        run.log_event("first")
        run.flush()
        s.backup(dst)  # what a colleague received earlier
        for i in range(100, 250):
            run.log_metrics({"x": float(i)})
        run.log_event("second")
        run.attach("result.txt", b"done", "text/plain")
        run.close()
    with runlite.open(dst) as d:
        assert d.get_run("growing").status in ("running", "lost")
        d.merge(src)
        assert d.get_run("growing").status == "completed"
        assert list(d.metric_values("growing", "x").values) == [float(i) for i in range(250)]
        assert [e.message for e in d.events("growing")] == ["first", "second"]
        assert d.read_attachment("growing", "result.txt") == b"done"
        assert len(d.runs()) == 1 and d.verify().ok


def _hostile(kind, path, good):
    if kind == "foreign":
        conn = apsw.Connection(path)
        conn.execute("CREATE TABLE runs(x); PRAGMA application_id=7")
        conn.close()
    elif kind == "garbage":
        with open(path, "wb") as f:
            f.write(os.urandom(8192))
    elif kind == "truncated":
        with open(good, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data[: len(data) // 3])
    elif kind in ("view", "trigger", "table"):
        runlite.open(good).backup(path)
        conn = apsw.Connection(path)
        conn.execute({"view": "CREATE VIEW sneaky AS SELECT * FROM runs",
                      "trigger": "CREATE TRIGGER sneaky AFTER INSERT ON folders BEGIN DELETE FROM runs; END",
                      "table": "CREATE TABLE extra (x)"}[kind])
        conn.close()
    elif kind == "newer":
        runlite.open(good).backup(path)
        conn = apsw.Connection(path)
        conn.execute("PRAGMA user_version=999")
        conn.close()
    elif kind in TAMPERED:  # cells of the right type that no read could return, once merged
        runlite.open(good).backup(path)
        conn = apsw.Connection(path)
        conn.execute(TAMPERED[kind])
        conn.close()


TAMPERED = {
    "name not UTF-8": "UPDATE runs SET name = CAST(x'eda080ff' AS TEXT) WHERE name = 'run-g'",
    "event not UTF-8": "UPDATE events SET message = CAST(x'c328' AS TEXT)",
    "inputs 900 deep": f"UPDATE runs SET inputs = '{'[' * 900}{']' * 900}' WHERE name = 'span-g'",
    "blank series name": "UPDATE series SET name = '' WHERE name = 'loss'",
    # JSON, but not the object reads take it for (get_run and to_pandas then raised TypeError)
    "extra a list": "UPDATE runs SET extra = '[1]' WHERE name = 'span-g'",
    "metadata a number": "UPDATE runs SET metadata = '1.5' WHERE name = 'run-g'",
    "folder metadata text": "UPDATE folders SET metadata = '\"x\"' WHERE path = '/g'",
}
HOSTILE = ["foreign", "garbage", "truncated", "view", "trigger", "table", "newer"]


@pytest.mark.parametrize("kind", HOSTILE + list(TAMPERED))
def test_hostile_sources_change_nothing(tmp_path, kind):
    good, dst, bad = str(tmp_path / "good.db"), str(tmp_path / "dst.db"), str(tmp_path / "bad.db")
    make(good, "g")
    make(dst, "d")
    _hostile(kind, bad, good)
    with runlite.open(dst) as d:
        before = (counts(d), snapshot(d))
        with pytest.raises(runlite.RunliteError):
            d.merge(bad)
        assert (counts(d), snapshot(d)) == before and d.verify().ok


@pytest.mark.parametrize("kind", HOSTILE + ["missing"])
def test_a_new_destination_is_not_made_for_a_source_that_is_refused(tmp_path, kind):
    """A call refused for its source leaves no empty file behind where ``dest`` was to be made."""
    good, bad, new = str(tmp_path / "good.db"), str(tmp_path / "bad.db"), str(tmp_path / "new.db")
    make(good, "g")
    if kind != "missing":
        _hostile(kind, bad, good)
    with pytest.raises(runlite.RunliteError) as refused:
        runlite.merge(new, good, bad)
    assert not os.path.lexists(new) and not os.path.lexists(new + "-wal")
    if kind == "missing":
        assert "no file at" in str(refused.value) and "to merge" in str(refused.value)


@pytest.mark.parametrize("kind", ["name not UTF-8", "inputs 900 deep", "metadata a number"])
def test_a_new_destination_goes_again_when_its_first_source_is_refused_deeper(tmp_path, kind):
    """A source that opens as a runlite file but holds cells no read could return is refused by
    the merge itself, after ``dest`` was made: the file made for nothing is removed; one that
    took a source before stays, holding it (each source all or nothing)."""
    good, bad, new = str(tmp_path / "good.db"), str(tmp_path / "bad.db"), str(tmp_path / "new.db")
    make(good, "g")
    _hostile(kind, bad, good)
    with pytest.raises(runlite.RunliteError):
        runlite.merge(new, bad)
    assert not any(os.path.lexists(new + sidecar) for sidecar in ("", "-wal", "-shm", "-journal"))
    with pytest.raises(runlite.RunliteError):
        runlite.merge(new, good, bad)
    with runlite.open(new, read_only=True) as merged, runlite.open(good, read_only=True) as source:
        assert counts(merged) == counts(source)


def test_oversized_values_refused_whole(tmp_path, monkeypatch):
    src, dst = str(tmp_path / "src.db"), str(tmp_path / "dst.db")
    make(src, "s", shared_content=os.urandom(4000))
    make(dst, "d")
    monkeypatch.setattr(archive, "MERGE_VALUE_LIMIT", 1000)
    with runlite.open(dst) as d:
        before = counts(d)
        with pytest.raises(runlite.LimitError):
            d.merge(src)
        assert counts(d) == before


def test_merge_refusals(tmp_path):
    a = str(tmp_path / "a.db")
    make(a, "a")
    with runlite.open(a) as s:
        with pytest.raises(runlite.ValidationError):
            s.merge(a)
        with pytest.raises(runlite.NotFoundError):
            s.merge(str(tmp_path / "missing.db"))
    with runlite.open(a, read_only=True) as ro:
        with pytest.raises(runlite.ValidationError):
            ro.merge(a)


@pytest.mark.parametrize("kind", HOSTILE)
def test_untrusted_open_refuses_hostile_files(tmp_path, kind):
    from runlite.cli import main

    good, bad = str(tmp_path / "good.db"), str(tmp_path / "bad.db")
    make(good, "g")
    _hostile(kind, bad, good)
    with pytest.raises(runlite.RunliteError):
        runlite.open(bad, read_only=True, untrusted=True)
    assert main(["ls", "--untrusted", "--db", bad]) == 1


def test_untrusted_open_reads_a_sound_file(tmp_path):
    good = str(tmp_path / "good.db")
    run_id = make(good, "g")
    with runlite.open(good, read_only=True, untrusted=True) as s:
        assert len(s.metric_values(run_id, "loss")) == 2000 and s.verify().ok
        with s.database.read() as conn:
            assert conn.config(apsw.SQLITE_DBCONFIG_ENABLE_TRIGGER, -1) == 0
    with pytest.raises(runlite.ValidationError):
        runlite.open(good, untrusted=True)  # untrusted means read-only


# ---------------------------------------------------------------- the same id, another run


def dump(path):
    """Every row of every table, read straight from the file."""
    conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        conn.close()


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def change_row(path, table, column, change, row_id):
    """Change one stored value behind runlite's back (what another run with this id would hold)."""
    conn = apsw.Connection(path)
    try:
        old = conn.execute(f"SELECT {column} FROM {table} WHERE id = ?", (row_id,)).get
        conn.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?", (change(old), row_id))
    finally:
        conn.close()


def twin(tmp_path):
    """``dst`` with a run (and its span), and ``src``: a copy of it that then went on by itself
    (one more run), so a merge of ``src`` would add something."""
    dst, src = str(tmp_path / "dst.db"), str(tmp_path / "src.db")
    run_id = make(dst, "d")
    with runlite.open(dst) as d:
        d.backup(src)
        span_id = d.get_run("span-d").id
    with runlite.open(src) as s:
        s.init("only-in-src").close()
    return dst, src, run_id, span_id


IDENTITY_CHANGES = [
    ("name", lambda old: "someone-else"),
    ("created", lambda old: old + 1),
    ("started", lambda old: old + 1),
    ("host", lambda old: "elsewhere"),
    ("pid", lambda old: old + 1),
    ("kind", lambda old: "recipe"),
    ("run_type", lambda old: "llm"),
    ("dotted_order", lambda old: "20000101T000000000000Z" + old[-36:]),
    ("trace_id", lambda old: "00000000-0000-7000-8000-000000000000"),
]


@pytest.mark.parametrize("column,change", IDENTITY_CHANGES, ids=[c for c, _ in IDENTITY_CHANGES])
def test_same_id_other_run_is_refused_and_changes_nothing(tmp_path, column, change):
    dst, src, run_id, _ = twin(tmp_path)
    change_row(src, "runs", column, change, run_id)
    rows, raw = dump(dst), file_bytes(dst)
    with pytest.raises(runlite.MergeConflictError) as caught:
        runlite.merge(dst, src)
    assert isinstance(caught.value, runlite.StoreError)
    assert caught.value.run_ids == (run_id,) and run_id in str(caught.value) and "nothing" in str(caught.value)
    assert dump(dst) == rows and file_bytes(dst) == raw
    with runlite.open(dst) as d:  # also refused through a Store, which stays usable
        with pytest.raises(runlite.MergeConflictError):
            d.merge(src)
        assert "only-in-src" not in [r.name for r in d.runs()] and d.verify().ok


def test_conflicting_span_in_a_trace_is_named(tmp_path):
    dst, src, _, span_id = twin(tmp_path)
    change_row(src, "runs", "parent_run_id", lambda old: None, span_id)
    rows = dump(dst)
    with pytest.raises(runlite.MergeConflictError) as caught:
        runlite.merge(dst, src)
    assert caught.value.run_ids == (span_id,) and dump(dst) == rows


def _served_across_files(tmp_path):
    """``upstream.db`` with a trace (root, call) and ``here.db`` with a span served under the
    call's headers: the call and its root are placeholders there."""
    upstream, here = str(tmp_path / "upstream.db"), str(tmp_path / "here.db")
    with runlite.open(upstream) as s:
        with runlite.trace("root", store=s, inputs={"q": 1}) as root:
            with runlite.trace("call", store=s) as call:
                headers = {"langsmith-trace": call.dotted_order}
    with runlite.open(here) as s:
        with runlite.trace("served", store=s, parent=headers) as served:
            pass
    return upstream, here, (root.id, call.id, served.id)


@pytest.mark.parametrize("into_upstream", [True, False])
def test_a_placeholder_and_the_run_it_stands_for_merge_as_one(tmp_path, into_upstream):
    upstream, here, (root, call, served) = _served_across_files(tmp_path)
    dst, src = (upstream, here) if into_upstream else (here, upstream)
    with runlite.open(src, read_only=True) as s:
        kinds = {r.id: r.name for r in s.runs()}
    assert kinds[call] == ("call" if not into_upstream else "(parent not received)")
    report = runlite.merge(dst, src)[0]
    assert report["run_conflicts"] == 0
    with runlite.open(dst, read_only=True) as d:
        tree = d.trace(root)
        assert (tree.name, tree.inputs) == ("root", {"q": 1})  # the run, never its placeholder
        assert [c.name for c in tree.child_runs] == ["call"]
        assert [g.id for g in tree.child_runs[0].child_runs] == [served]
        assert d.verify().ok
    rows = dump(dst)
    runlite.merge(dst, src)  # again: nothing changes, whichever file holds the placeholders
    assert dump(dst) == rows


def test_a_placeholder_elsewhere_in_the_trace_is_still_a_conflict(tmp_path):
    upstream, here, (root, call, _) = _served_across_files(tmp_path)
    change_row(here, "runs", "dotted_order", lambda old: old.replace(root, "0" * 8 + root[8:]), call)
    rows = dump(upstream)
    with pytest.raises(runlite.MergeConflictError) as caught:
        runlite.merge(upstream, here)
    assert caught.value.run_ids == (call,) and dump(upstream) == rows


def test_same_run_merges_and_again_changes_nothing(tmp_path):
    dst, src, run_id, _ = twin(tmp_path)
    change_row(src, "runs", "metadata", lambda old: '{"grew": true}', run_id)  # later updates may differ
    change_row(src, "runs", "modified", lambda old: old + 1, run_id)
    first = runlite.merge(dst, src)[0]
    assert first["run_conflicts"] == 0 and first["runs_added"] == 1
    with runlite.open(dst, read_only=True) as d:
        assert d.get_run(run_id).metadata == {"grew": True} and d.get_run(run_id).name == "run-d"
    rows = dump(dst)
    again = runlite.merge(dst, src)[0]
    assert again["run_conflicts"] == 0 and again["runs_added"] == 0 and again["series_copied"] == 0
    assert dump(dst) == rows


def test_created_run_started_in_one_file_is_the_same_run(tmp_path):
    dst, src = str(tmp_path / "dst.db"), str(tmp_path / "src.db")
    with runlite.open(dst) as d:
        run_id = d.init("later", running=False).id
        d.backup(src)
    with runlite.open(src) as s:  # started there: started, host and pid set where dst has NULL
        run = s.reconnect(run_id)
        run.log_metrics({"x": 1.0})
        run.close()
    assert runlite.merge(dst, src)[0]["run_conflicts"] == 0
    assert runlite.merge(src, dst)[0]["run_conflicts"] == 0  # and the other way round
    with runlite.open(dst, read_only=True) as d:
        assert d.get_run(run_id).status == "completed" and list(d.metric_values(run_id, "x").values) == [1.0]


def test_feedback_with_the_id_of_other_feedback_is_refused_and_the_same_feedback_merges(tmp_path):
    """Feedback ids may be the caller's: one naming another run's feedback was dropped without a word."""
    a, b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    for path, name, score in ((a, "run-a", 1), (b, "run-b", 0)):
        with runlite.open(path) as store:
            with runlite.trace(name, store=store) as span:
                pass
            store.flush()
            store.create_feedback(span.id, "correctness", score=score, feedback_id="review-1")
    rows = dump(b)
    with pytest.raises(runlite.MergeConflictError, match="its feedback 'review-1' has the id of feedback here"):
        runlite.merge(b, a)
    assert dump(b) == rows
    copy = str(tmp_path / "copy.db")
    with runlite.open(a) as store:
        store.backup(copy)
    report = runlite.merge(copy, a)[0]  # the same feedback in both: nothing to add, nothing refused
    assert report["feedback_added"] == 0 and dump(copy) == dump(a)


def test_events_of_a_run_resumed_in_both_files_are_all_kept(tmp_path):
    """The two copies numbered their new events alike: the source's were ignored as present."""
    a, b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    with runlite.open(a) as store:
        with store.init("train") as run:
            run.log_event("started")
        store.backup(b)
    for path in (a, b):
        with runlite.open(path) as store:
            with store.resume(run.id) as again:
                again.log_event(f"went on in {os.path.basename(path)}")
    report = runlite.merge(a, b)[0]
    with runlite.open(a, read_only=True) as store:
        events = store.events(run.id)
    messages = [e.message for e in events]
    assert report["events_added"] == 2  # b's resume note and its own event
    assert messages[0] == "started" and messages.count("went on in a.db") == messages.count("went on in b.db") == 1
    assert len(messages) == 5 and len({e.seq for e in events}) == 5
    merged = dump(a)
    assert runlite.merge(a, b)[0]["events_added"] == 0 and dump(a) == merged


def test_a_run_with_many_events_merges_in_time_linear_in_them(tmp_path):
    """The events copied are not each searched for among their run's events (that was 20,000²/2
    comparisons for a run of 20,000 events: half a minute and more, the destination's writers
    kept waiting). The work is SQLite's virtual-machine steps (in thousands), whatever the
    machine's speed: 4x the events costs at most 6x (it cost 16x)."""
    def merge_steps(n: int) -> int:
        a, b = str(tmp_path / f"a{n}.db"), str(tmp_path / f"b{n}.db")
        with runlite.open(b) as store:
            with store.init("chatty") as run:
                for i in range(n):
                    run.log_event(f"event {i}")
        steps = [0]

        def count() -> int:
            steps[0] += 1
            return 0

        def hook(conn) -> None:  # every connection the merge opens counts its steps
            conn.set_progress_handler(count, 1000)
        apsw.connection_hooks.append(hook)
        try:
            assert runlite.merge(a, b)[0]["events_added"] == n
        finally:
            apsw.connection_hooks.remove(hook)
        with runlite.open(a, read_only=True) as store:
            assert store.event_count(run.id) == n
        return steps[0]

    small, large = merge_steps(2_000), merge_steps(8_000)
    assert large <= 6 * max(1, small), (large, small)


def test_folder_details_the_destination_lacks_are_merged(tmp_path):
    """INSERT OR IGNORE kept only the destination's row of a folder both files have: the
    source's description, tags and metadata were lost, the root folder's always."""
    a, b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    with runlite.open(a) as store:
        run = store.init("in-a", folder="/sweeps")
        run.set_folder_details("/sweeps", metadata={"owner": "ann", "budget": 1}, tags=["important", "gpu"],
                               description="the sweep")
        run.set_folder_details("/", metadata={"team": "vision"})
        run.close()
    with runlite.open(b) as store:
        run = store.init("in-b", folder="/sweeps")
        run.set_folder_details("/sweeps", metadata={"budget": 2}, tags=["gpu", "mine"])
        run.close()
    runlite.merge(b, a)
    with runlite.open(b, read_only=True) as store:
        assert store.folder("/sweeps")["metadata"] == {"budget": 2, "owner": "ann"}  # the destination's keys win
        assert store.folder("/sweeps")["tags"] == ["gpu", "mine", "important"]
        assert store.folder("/sweeps")["description"] == "the sweep"
        assert store.folder("/")["metadata"] == {"team": "vision"}
        merged = dump(b)
    runlite.merge(b, a)
    assert dump(b) == merged  # and again: nothing changes


def test_same_alert_id_other_definition_is_refused(tmp_path):
    dst, src, _, _ = twin(tmp_path)
    conn = apsw.Connection(src)
    alert_id = conn.execute("SELECT id FROM alerts").get
    conn.close()
    change_row(src, "alerts", "key", lambda old: "another definition", alert_id)
    rows = dump(dst)
    with pytest.raises(runlite.MergeConflictError) as caught:
        runlite.merge(dst, src)
    assert alert_id in str(caught.value) and dump(dst) == rows


@pytest.mark.parametrize("kind", list(TAMPERED))
def test_verify_reports_cells_no_read_could_return(tmp_path, kind):
    good, bad = str(tmp_path / "good.db"), str(tmp_path / "bad.db")
    make(good, "g")
    _hostile(kind, bad, good)
    with runlite.open(bad, read_only=True) as store:
        report = store.verify()
    assert not report.ok and len(report.problems) == 1, report.problems
    assert any(word in report.problems[0] for word in ("UTF-8", "deeper than", "metric name", "not a JSON object")), \
        report.problems
    with runlite.open(good, read_only=True) as store:
        assert store.verify().ok


def test_text_damage_found_only_in_whole_rows_is_still_reported(tmp_path, monkeypatch):
    """A damaged page may fail a table's whole rows while no column read alone fails (each
    read from an index that holds it soundly): verify names the table, never raises."""
    from runlite.storage import checks

    path = str(tmp_path / "t.db")
    make(path, "g")
    real = checks._decodes
    monkeypatch.setattr(checks, "_decodes", lambda conn, sql: real(conn, sql) and "," not in sql.split(" FROM ")[0])
    with runlite.open(path, read_only=True) as store:
        report = store.verify()
    assert not report.ok
    assert any(p.endswith("table holds text that is not UTF-8") for p in report.problems)
