"""The file format: DDL as constants, ``MIGRATIONS`` keyed by ``user_version``.

``application_id`` marks a file as runlite's; ``user_version`` is the schema version.
Migration N takes a file from version N-1 to N; ``db.migrate`` applies all pending ones in
one transaction. Never edit a released migration: add a new one.
"""

from __future__ import annotations

APPLICATION_ID = 0x524C5431  # "RLT1"

V1_RUNS = (
    """
    CREATE TABLE folders (
      path        TEXT PRIMARY KEY,
      description TEXT,
      tags        TEXT NOT NULL DEFAULT '[]',
      metadata    TEXT NOT NULL DEFAULT '{}',
      created     INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE runs (
      id                   TEXT PRIMARY KEY,
      name                 TEXT NOT NULL,
      kind                 TEXT NOT NULL DEFAULT 'experiment',
      run_type             TEXT,
      status               TEXT NOT NULL,
      folder               TEXT NOT NULL REFERENCES folders(path),
      description          TEXT,
      metadata             TEXT NOT NULL DEFAULT '{}',
      tags                 TEXT NOT NULL DEFAULT '[]',
      parent_run_id        TEXT REFERENCES runs(id),
      trace_id             TEXT NOT NULL,
      dotted_order         TEXT NOT NULL,
      created              INTEGER NOT NULL,
      started              INTEGER,
      ended                INTEGER,
      modified             INTEGER NOT NULL,
      inputs               TEXT,
      outputs              TEXT,
      error                TEXT,
      extra                TEXT,
      serialized           TEXT,
      session_id           TEXT,
      reference_example_id TEXT,
      prompt_tokens        INTEGER,
      completion_tokens    INTEGER,
      total_tokens         INTEGER,
      prompt_cost          REAL,
      completion_cost      REAL,
      total_cost           REAL,
      first_token_time     INTEGER,
      host                 TEXT,
      pid                  INTEGER,
      heartbeat            INTEGER,
      heartbeat_timeout    REAL,
      system               TEXT
    )
    """,
    "CREATE INDEX runs_created ON runs(created DESC, id DESC)",
    "CREATE INDEX runs_name ON runs(name)",
    "CREATE INDEX runs_trace ON runs(trace_id, dotted_order)",
    "CREATE INDEX runs_parent ON runs(parent_run_id)",
    "CREATE INDEX runs_folder ON runs(folder)",
)

V2_METRICS = (
    # One row per (run, metric, asset): its running summary, kept up to date at every flush
    # so summaries never scan points. For mean/m2/first/last, NULL where a value is expected
    # (count > nan_count, or count > 0) means NaN: SQLite stores a bound NaN as NULL.
    """
    CREATE TABLE series (
      id         INTEGER PRIMARY KEY,
      run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
      name       TEXT NOT NULL,
      asset      TEXT NOT NULL DEFAULT '',
      count      INTEGER NOT NULL,
      nan_count  INTEGER NOT NULL,
      min        REAL,
      max        REAL,
      min_step   INTEGER,
      max_step   INTEGER,
      mean       REAL,
      m2         REAL,
      first      REAL,
      last       REAL,
      first_step INTEGER,
      last_step  INTEGER,
      UNIQUE (run_id, name, asset)
    )
    """,
    # Points in chunks: packed, byte-shuffled, zstd-compressed columns (codec/chunks.py), with the
    # chunk's own statistics and axis ranges so window statistics decode boundary chunks only,
    # and its block sketch (sketch.py) so downsampling decodes no chunk at all. Small columns
    # come first: reading them never walks the overflow pages of the large ``data``. A rowid
    # table, not WITHOUT ROWID: rows this large make index b-tree seeks load whole records.
    """
    CREATE TABLE chunks (
      id         INTEGER PRIMARY KEY,
      series_id  INTEGER NOT NULL REFERENCES series(id) ON DELETE CASCADE,
      seq        INTEGER NOT NULL,
      count      INTEGER NOT NULL,
      nan_count  INTEGER NOT NULL,
      min        REAL,
      max        REAL,
      min_step   INTEGER,
      max_step   INTEGER,
      mean       REAL,
      m2         REAL,
      first      REAL,
      last       REAL,
      first_step INTEGER NOT NULL,
      last_step  INTEGER NOT NULL,
      step_lo    INTEGER NOT NULL,
      step_hi    INTEGER NOT NULL,
      time_lo    REAL NOT NULL,
      time_hi    REAL NOT NULL,
      ts_lo      INTEGER NOT NULL,
      ts_hi      INTEGER NOT NULL,
      sketch     BLOB NOT NULL,
      data       BLOB NOT NULL,
      UNIQUE (series_id, seq)
    )
    """,
    "CREATE INDEX series_name ON series(name)",
)

V3_EVENTS = (
    # Events: Simvue messages (level, message) and LangSmith events (name, kwargs) in one table,
    # numbered per run so a merge recognises the ones it has.
    """
    CREATE TABLE events (
      run_id  TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
      seq     INTEGER NOT NULL,
      time    INTEGER NOT NULL,
      level   TEXT,
      name    TEXT,
      message TEXT,
      kwargs  TEXT,
      PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX events_time ON events(run_id, time, seq)",
)

# Content-addressed blobs (blobs.py). ``blob_parts`` rows are up to a few MiB: a rowid
# table, for the reason given for ``chunks``.
BLOB_DDL = (
    """
    CREATE TABLE blobs (
      sha256  TEXT PRIMARY KEY,
      size    INTEGER NOT NULL,
      stored  INTEGER NOT NULL,
      parts   INTEGER NOT NULL,
      created INTEGER NOT NULL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE blob_parts (
      id     INTEGER PRIMARY KEY,
      sha256 TEXT NOT NULL REFERENCES blobs(sha256) ON DELETE CASCADE,
      seq    INTEGER NOT NULL,
      size   INTEGER NOT NULL,
      data   BLOB NOT NULL,
      UNIQUE (sha256, seq)
    )
    """,
)

V4_FILES_ALERTS = BLOB_DDL + (
    # Saved files (Simvue, with a category) and attachments (LangSmith, category NULL).
    """
    CREATE TABLE attachments (
      run_id        TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
      name          TEXT NOT NULL,
      category      TEXT,
      mime_type     TEXT NOT NULL,
      size          INTEGER NOT NULL,
      sha256        TEXT NOT NULL REFERENCES blobs(sha256),
      original_path TEXT,
      created       INTEGER NOT NULL,
      PRIMARY KEY (run_id, name)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX attachments_blob ON attachments(sha256)",
    # Alert definitions, deduplicated by their canonical key; attached to runs with a state.
    """
    CREATE TABLE alerts (
      id         TEXT PRIMARY KEY,
      name       TEXT NOT NULL,
      source     TEXT NOT NULL,
      key        TEXT NOT NULL UNIQUE,
      definition TEXT NOT NULL,
      created    INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE run_alerts (
      run_id   TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
      alert_id TEXT NOT NULL REFERENCES alerts(id),
      state    TEXT NOT NULL DEFAULT 'ok',
      changed  INTEGER,
      PRIMARY KEY (run_id, alert_id)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE alert_history (
      run_id   TEXT NOT NULL,
      alert_id TEXT NOT NULL,
      seq      INTEGER NOT NULL,
      time     INTEGER NOT NULL,
      run_time REAL,
      state    TEXT NOT NULL,
      PRIMARY KEY (run_id, alert_id, seq),
      FOREIGN KEY (run_id, alert_id) REFERENCES run_alerts(run_id, alert_id) ON DELETE CASCADE
    ) WITHOUT ROWID
    """,
    # Notifications for the host application to deliver: runlite never touches the network.
    """
    CREATE TABLE outbox (
      id        INTEGER PRIMARY KEY,
      created   INTEGER NOT NULL,
      kind      TEXT NOT NULL,
      run_id    TEXT,
      alert_id  TEXT,
      payload   TEXT NOT NULL,
      delivered INTEGER
    )
    """,
)

V5_TRACES = (
    # LangSmith feedback on runs (feedback_stats are computed from it).
    """
    CREATE TABLE feedback (
      id         TEXT PRIMARY KEY,
      run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
      trace_id   TEXT,
      key        TEXT NOT NULL,
      score      REAL,
      value      TEXT,
      comment    TEXT,
      correction TEXT,
      source     TEXT,
      created    INTEGER NOT NULL,
      modified   INTEGER NOT NULL
    )
    """,
    "CREATE INDEX feedback_run ON feedback(run_id, key)",
    "CREATE INDEX feedback_key ON feedback(key, score)",
    "CREATE INDEX feedback_trace ON feedback(trace_id)",
    # The LangSmith fields runlite only keeps (app_path, in_dataset, manifest_id,
    # inputs_s3_urls, outputs_s3_urls, reference fields...), as one JSON object.
    "ALTER TABLE runs ADD COLUMN ls_fields TEXT",
    # Filters most often narrow on these: run type alone or with time, and run type with
    # tokens (LangSmith's own example filter: and(eq(run_type, ...), gt(total_tokens, ...))).
    "CREATE INDEX runs_type ON runs(run_type, created)",
    "CREATE INDEX runs_type_tokens ON runs(run_type, total_tokens)",
    "CREATE INDEX runs_status ON runs(status)",
)

V6_RECIPES = (
    # Tags indexed (kept from runs.tags by triggers), so tag filters are index lookups.
    """
    CREATE TABLE run_tags (
      tag    TEXT NOT NULL,
      run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
      PRIMARY KEY (tag, run_id)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX run_tags_run ON run_tags(run_id)",
    """
    CREATE TRIGGER runs_tags_insert AFTER INSERT ON runs WHEN NEW.tags != '[]' BEGIN
      INSERT OR IGNORE INTO run_tags (tag, run_id) SELECT value, NEW.id FROM json_each(NEW.tags);
    END
    """,
    """
    CREATE TRIGGER runs_tags_update AFTER UPDATE OF tags ON runs WHEN OLD.tags IS NOT NEW.tags BEGIN
      DELETE FROM run_tags WHERE run_id = NEW.id;
      INSERT OR IGNORE INTO run_tags (tag, run_id) SELECT value, NEW.id FROM json_each(NEW.tags);
    END
    """,
    "INSERT OR IGNORE INTO run_tags (tag, run_id) SELECT j.value, runs.id FROM runs, json_each(runs.tags) AS j",
    """
    CREATE TABLE cookbooks (
      id         TEXT PRIMARY KEY,
      name       TEXT NOT NULL,
      definition TEXT NOT NULL,
      created    INTEGER NOT NULL
    )
    """,
    # A recipe run is a run (kind 'recipe'); this holds its seed-format dict and score.
    """
    CREATE TABLE recipe_runs (
      run_id              TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
      cookbook_id         TEXT NOT NULL,
      sources_key         TEXT,
      constraint_group_id TEXT NOT NULL,
      score               REAL,
      data                TEXT NOT NULL
    )
    """,
    "CREATE INDEX recipe_runs_best ON recipe_runs(cookbook_id, constraint_group_id, score DESC)",
    "CREATE INDEX recipe_runs_sources ON recipe_runs(cookbook_id, sources_key)",
    # Which runs' data a run was computed from (recipe runs from machine-data runs).
    """
    CREATE TABLE run_sources (
      run_id        TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
      source_run_id TEXT NOT NULL,
      PRIMARY KEY (run_id, source_run_id)
    ) WITHOUT ROWID
    """,
)

V7_PROJECTS = (
    # LangSmith's project of a run: its name beside ``session_id`` (an id derived from the
    # name, so the same project has the same id in every file and merges into one).
    "ALTER TABLE runs ADD COLUMN session_name TEXT",
    "CREATE INDEX runs_session ON runs(session_id, created)",
)

V8_MEDIA = (
    # Images, histograms and tables logged over steps (storage/media.py, docs/MEDIA.md): one row
    # per (run, kind, name, step); logging the same again replaces it. Images and tables are
    # blobs (``sha256``: stored once per content), histograms are small and kept inline
    # (``data``). ``width``/``height``: pixels of an image, bins of a histogram (width),
    # columns and rows of a table. A rowid table: a histogram row holds up to 8 KiB.
    """
    CREATE TABLE media (
      run_id    TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
      kind      TEXT NOT NULL CHECK (kind IN ('image', 'histogram', 'table')),
      name      TEXT NOT NULL,
      step      INTEGER NOT NULL CHECK (step >= 0),
      timestamp INTEGER NOT NULL,
      caption   TEXT,
      format    TEXT,
      width     INTEGER,
      height    INTEGER,
      size      INTEGER NOT NULL,
      sha256    TEXT REFERENCES blobs(sha256),
      data      BLOB,
      UNIQUE (run_id, kind, name, step)
    )
    """,
    "CREATE INDEX media_blob ON media(sha256)",
)

V9_START_ORDER = (
    # LangSmith lists runs newest first by start (``list_runs``, the server's /runs/query, a
    # project's runs, its traces): these indexes read a page of them in that order instead of
    # sorting every run that matches (the first 100 of 100,000 runs: 139 ms -> 0.24 ms).
    # Ascending, as runs_created becomes: runs arrive in time order, so a new entry goes at an
    # index's right end, where SQLite fills a page instead of splitting one in half; in
    # descending indexes each new run cost ~3 us more of SQLite's time a span written. Newest
    # first walks them backwards, as fast. With all of this migration a span's write costs
    # ~1.2 us more than at version 8 (18.5 against 17.3 us).
    "CREATE INDEX runs_start ON runs(coalesce(started, created), id)",
    "DROP INDEX runs_created",
    "CREATE INDEX runs_created ON runs(created, id)",
    "DROP INDEX runs_session",
    "CREATE INDEX runs_session ON runs(session_id, coalesce(started, created), id)",
    # A run type's runs in that order too (the LLM calls, newest first: 17 ms -> 0.16 ms a
    # page). The Simvue order (creation) within a run type sorts what the type holds instead.
    "DROP INDEX runs_type",
    "CREATE INDEX runs_type ON runs(run_type, coalesce(started, created), id)",
    # And the runs of a name (a traced function's calls, newest first) and of a folder, in
    # creation order (Store.runs(folder=...), Simvue's folder filters): a page of a folder of
    # 100,000 runs 139 ms -> 0.18 ms. ~0.5 us more of SQLite's time a span written.
    "DROP INDEX runs_name",
    "CREATE INDEX runs_name ON runs(name, coalesce(started, created), id)",
    "DROP INDEX runs_folder",
    "CREATE INDEX runs_folder ON runs(folder, created, id)",
    # And a status's runs by creation (Store.runs(status="completed", limit=100) of 100,000:
    # 92 ms -> 0.25 ms); several statuses at once are still sorted.
    "DROP INDEX runs_status",
    "CREATE INDEX runs_status ON runs(status, created, id)",
    # The failed runs alone, newest first by start (LangSmith's error=True, neq(error, null)):
    # few in most files, so their page was a walk of every run (24.6 ms of 100,000 -> 0.3 ms);
    # kept only for runs with an error, it costs the others nothing.
    "CREATE INDEX runs_errors ON runs(coalesce(started, created), id) WHERE error IS NOT NULL",
)

V10_PROJECT_INDEX = (
    # A run without a project (every run runlite makes itself: experiment runs, traced spans) is
    # never looked up by project: each query of runs_session names the project (or asks for
    # ``session_id IS NOT NULL``), which SQLite reads as this condition. Keeping only the runs
    # of a project, a run or span runlite writes updates one index fewer: SQLite's share of a
    # span traced 4-8% less, and 62 bytes less a span in the file (947 -> 885).
    "DROP INDEX runs_session",
    "CREATE INDEX runs_session ON runs(session_id, coalesce(started, created), id) WHERE session_id IS NOT NULL",
)

V11_ONE_BLOCK_SKETCHES = (
    # No statement: from this version a chunk of one block (at most 512 points, every chunk of a
    # short run) may store an empty sketch, made from its points when a read needs it (a tenth
    # of a flush of short series, 115 bytes a series). The version tells a runlite from before,
    # which would take such a sketch for damage, that it cannot read the file.
)

V12_TRACE_START_ORDER = (
    # A trace's runs newest first by start, as LangSmith's SDKs read a trace back a page at a
    # time (``runs_trace`` keeps dotted order, for trees): each page sorted the whole trace,
    # 17-39 ms a page of 10,001 spans, 0.24-0.52 ms with this. ~1.6 us more of SQLite's time a
    # span in raw inserts (11.9 -> 13.5 us); spans traced and written went as fast, within spread.
    "CREATE INDEX runs_trace_start ON runs(trace_id, coalesce(started, created), id)",
)

V13_PAGES_IN_ORDER = (
    # A run's children newest first by start (``list_runs(parent_run_id=...)``), and feedback
    # oldest first, of any key or of one (``list_feedback``): each page sorted them all.
    "DROP INDEX runs_parent",
    "CREATE INDEX runs_parent ON runs(parent_run_id, coalesce(started, created), id)",
    "DROP INDEX feedback_key",
    "CREATE INDEX feedback_key ON feedback(key, created, id)",
    "CREATE INDEX feedback_created ON feedback(created, id)",
)

V14_PROJECT_ROOTS = (
    # A project's traces newest first by start (LangSmith's list_runs(project_name=..., is_root=True)
    # sends the project's id): runs_session holds each span of the project too, so a page of
    # roots walked every span started since. Only roots with a project: spans skip it.
    "CREATE INDEX runs_project_roots ON runs(session_id, coalesce(started, created), id)"
    " WHERE parent_run_id IS NULL AND session_id IS NOT NULL",
)

V15_ASSET_SERIES_BY_NAME = (
    # Series are found by name across runs only with their asset (Sight Machine's current_value);
    # a run's own series are found by run_id (the unique key). Kept for every series, the index
    # by name took each new series at its name's place: a short run's 10 metrics dirtied 10
    # pages of it at its end, half of SQLite's time for that commit (318 -> 153 us). Series of
    # no asset (every metric a run logs without one) are left out of it.
    "DROP INDEX series_name",
    "CREATE INDEX series_asset_name ON series(asset, name) WHERE asset <> ''",
)

V16_RUN_TYPES_OF_TYPED_RUNS = (
    # The run-type indexes serve filters that name a run type (`eq(run_type, ...)`, Simvue's
    # `run_type == ...`, compiled to say `run_type IS NOT NULL` too: query/compile.py). An
    # experiment run has no run type: kept in both, it dirtied a page of each at its creation,
    # two of the dozen pages that commit writes (SQLite's time for it, written raw, 137-147 ->
    # 89-102 us). Runs of no run type are left out of them; spans (every one has a type) are not.
    "DROP INDEX runs_type",
    "CREATE INDEX runs_type ON runs(run_type, coalesce(started, created), id) WHERE run_type IS NOT NULL",
    "DROP INDEX runs_type_tokens",
    "CREATE INDEX runs_type_tokens ON runs(run_type, total_tokens) WHERE run_type IS NOT NULL",
)

V17_TOKENS_IN_RUN_TYPE_ORDER = (
    # runs_type_tokens (run_type, total_tokens) took each LLM span at the place of its token
    # count: a page at random in a large file, one more page a span in each commit and out of
    # SQLite's cache. LLM spans' rows with token counts, written raw 512 a transaction, went from
    # 72k a second for the first tenth of 204,800 to 26k for the last (as bench_traces'
    # llm_spans_growth measures); without it, 71-94k and 85-92k. The count is the last column of
    # runs_type instead: a span's entry goes at its right end (time order), and a token filter
    # of a run type walks the type's entries newest first, testing the count in the index before
    # it reads a row (SQLite defers the row's seek): the three-clause LangSmith filter over
    # 100,000 runs 15.3 -> 12.8 ms, and each typed run has one index fewer to update.
    "DROP INDEX runs_type_tokens",
    "DROP INDEX runs_type",
    "CREATE INDEX runs_type ON runs(run_type, coalesce(started, created), id, total_tokens)"
    " WHERE run_type IS NOT NULL",
)

# Each entry: the statements of one migration, run in order inside the migration transaction.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: V1_RUNS,
    2: V2_METRICS,
    3: V3_EVENTS,
    4: V4_FILES_ALERTS,
    5: V5_TRACES,
    6: V6_RECIPES,
    7: V7_PROJECTS,
    8: V8_MEDIA,
    9: V9_START_ORDER,
    10: V10_PROJECT_INDEX,
    11: V11_ONE_BLOCK_SKETCHES,
    12: V12_TRACE_START_ORDER,
    13: V13_PAGES_IN_ORDER,
    14: V14_PROJECT_ROOTS,
    15: V15_ASSET_SERIES_BY_NAME,
    16: V16_RUN_TYPES_OF_TYPED_RUNS,
    17: V17_TOKENS_IN_RUN_TYPE_ORDER,
}

SCHEMA_VERSION = max(MIGRATIONS)
# The oldest version read as it is, without upgrading the file (a read-only open, a merge's
# source, verify): the migrations after it only add or change indexes, which change how fast
# a read is, never what it finds. A migration that changes a table moves this to its version.
READ_AS_IS_FROM = 8


def read_as_is(version: int) -> bool:
    """A file of ``version`` is read without an upgrade (see ``READ_AS_IS_FROM``)."""
    return READ_AS_IS_FROM <= version <= SCHEMA_VERSION


RUN_STATUSES = ("created", "running", "completed", "failed", "terminated", "lost")
FINAL_STATUSES = ("completed", "failed", "terminated")


# Columns of ``runs`` read into a RunRecord (records/runs.py), in SELECT order: a new column is
# added here, to a migration and to the record.
RUN_COLUMNS = (
    "id", "name", "status", "kind", "run_type", "folder", "description", "metadata", "tags",
    "parent_run_id", "trace_id", "dotted_order", "created", "started", "ended", "modified",
    "inputs", "outputs", "error", "extra", "serialized", "session_id", "reference_example_id",
    "prompt_tokens", "completion_tokens", "total_tokens", "prompt_cost", "completion_cost",
    "total_cost", "first_token_time", "host", "pid", "heartbeat", "heartbeat_timeout", "system",
    "ls_fields", "session_name",
)
# LangSmith fields runlite has no column for, kept in the ``ls_fields`` JSON column (imported
# ``feedback_stats`` are kept there too: see ``storage/feedback.py``).
LS_KEPT = ("app_path", "in_dataset", "manifest_id", "inputs_s3_urls", "outputs_s3_urls", "prompt_token_details",
           "completion_token_details")
