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

# Each entry: the statements of one migration, run in order inside the migration transaction.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: V1_RUNS,
}

SCHEMA_VERSION = max(MIGRATIONS)

RUN_STATUSES = ("created", "running", "completed", "failed", "terminated", "lost")
FINAL_STATUSES = ("completed", "failed", "terminated")
