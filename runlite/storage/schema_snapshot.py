"""The rows `schema_check.objects` reads from a file at schema version ``VERSION``, written out:
what `schema_check.expected_objects` makes by running every migration in an in-memory database.

An open compares a file's schema with these first (`schema_check.differences`). Making them takes
2-3 ms (each ``ALTER TABLE`` re-reads the schema), most of a program's first open; only a
file that differs from them (an older version, SQLite's statistics tables, damage) pays for
it. ``tests/test_store.py`` checks these are what the migrations make, and prints them anew
when a migration changes the schema.
"""

VERSION = 17

OBJECTS = (('index', 'attachments_blob', 'attachments', 'b-tree', 'CREATE INDEX attachments_blob ON attachments(sha256)'),
 ('index', 'events_time', 'events', 'b-tree', 'CREATE INDEX events_time ON events(run_id, time, seq)'),
 ('index', 'feedback_created', 'feedback', 'b-tree', 'CREATE INDEX feedback_created ON feedback(created, id)'),
 ('index', 'feedback_key', 'feedback', 'b-tree', 'CREATE INDEX feedback_key ON feedback(key, created, id)'),
 ('index', 'feedback_run', 'feedback', 'b-tree', 'CREATE INDEX feedback_run ON feedback(run_id, key)'),
 ('index', 'feedback_trace', 'feedback', 'b-tree', 'CREATE INDEX feedback_trace ON feedback(trace_id)'),
 ('index', 'media_blob', 'media', 'b-tree', 'CREATE INDEX media_blob ON media(sha256)'),
 ('index',
  'recipe_runs_best',
  'recipe_runs',
  'b-tree',
  'CREATE INDEX recipe_runs_best ON recipe_runs(cookbook_id, constraint_group_id, score DESC)'),
 ('index',
  'recipe_runs_sources',
  'recipe_runs',
  'b-tree',
  'CREATE INDEX recipe_runs_sources ON recipe_runs(cookbook_id, sources_key)'),
 ('index', 'run_tags_run', 'run_tags', 'b-tree', 'CREATE INDEX run_tags_run ON run_tags(run_id)'),
 ('index', 'runs_created', 'runs', 'b-tree', 'CREATE INDEX runs_created ON runs(created, id)'),
 ('index',
  'runs_errors',
  'runs',
  'b-tree',
  'CREATE INDEX runs_errors ON runs(coalesce(started, created), id) WHERE error IS NOT NULL'),
 ('index', 'runs_folder', 'runs', 'b-tree', 'CREATE INDEX runs_folder ON runs(folder, created, id)'),
 ('index',
  'runs_name',
  'runs',
  'b-tree',
  'CREATE INDEX runs_name ON runs(name, coalesce(started, created), id)'),
 ('index',
  'runs_parent',
  'runs',
  'b-tree',
  'CREATE INDEX runs_parent ON runs(parent_run_id, coalesce(started, created), id)'),
 ('index',
  'runs_project_roots',
  'runs',
  'b-tree',
  'CREATE INDEX runs_project_roots ON runs(session_id, coalesce(started, created), id) WHERE parent_run_id IS '
  'NULL AND session_id IS NOT NULL'),
 ('index',
  'runs_session',
  'runs',
  'b-tree',
  'CREATE INDEX runs_session ON runs(session_id, coalesce(started, created), id) WHERE session_id IS NOT NULL'),
 ('index', 'runs_start', 'runs', 'b-tree', 'CREATE INDEX runs_start ON runs(coalesce(started, created), id)'),
 ('index', 'runs_status', 'runs', 'b-tree', 'CREATE INDEX runs_status ON runs(status, created, id)'),
 ('index', 'runs_trace', 'runs', 'b-tree', 'CREATE INDEX runs_trace ON runs(trace_id, dotted_order)'),
 ('index',
  'runs_trace_start',
  'runs',
  'b-tree',
  'CREATE INDEX runs_trace_start ON runs(trace_id, coalesce(started, created), id)'),
 ('index',
  'runs_type',
  'runs',
  'b-tree',
  'CREATE INDEX runs_type ON runs(run_type, coalesce(started, created), id, total_tokens) WHERE run_type IS '
  'NOT NULL'),
 ('index',
  'series_asset_name',
  'series',
  'b-tree',
  "CREATE INDEX series_asset_name ON series(asset, name) WHERE asset <> ''"),
 ('index', 'sqlite_autoindex_alerts_1', 'alerts', 'b-tree', None),
 ('index', 'sqlite_autoindex_alerts_2', 'alerts', 'b-tree', None),
 ('index', 'sqlite_autoindex_blob_parts_1', 'blob_parts', 'b-tree', None),
 ('index', 'sqlite_autoindex_chunks_1', 'chunks', 'b-tree', None),
 ('index', 'sqlite_autoindex_cookbooks_1', 'cookbooks', 'b-tree', None),
 ('index', 'sqlite_autoindex_feedback_1', 'feedback', 'b-tree', None),
 ('index', 'sqlite_autoindex_folders_1', 'folders', 'b-tree', None),
 ('index', 'sqlite_autoindex_media_1', 'media', 'b-tree', None),
 ('index', 'sqlite_autoindex_recipe_runs_1', 'recipe_runs', 'b-tree', None),
 ('index', 'sqlite_autoindex_runs_1', 'runs', 'b-tree', None),
 ('index', 'sqlite_autoindex_series_1', 'series', 'b-tree', None),
 ('table',
  'alert_history',
  'alert_history',
  'b-tree',
  'CREATE TABLE alert_history ( run_id TEXT NOT NULL, alert_id TEXT NOT NULL, seq INTEGER NOT NULL, time '
  'INTEGER NOT NULL, run_time REAL, state TEXT NOT NULL, PRIMARY KEY (run_id, alert_id, seq), FOREIGN KEY '
  '(run_id, alert_id) REFERENCES run_alerts(run_id, alert_id) ON DELETE CASCADE ) WITHOUT ROWID'),
 ('table',
  'alerts',
  'alerts',
  'b-tree',
  'CREATE TABLE alerts ( id TEXT PRIMARY KEY, name TEXT NOT NULL, source TEXT NOT NULL, key TEXT NOT NULL '
  'UNIQUE, definition TEXT NOT NULL, created INTEGER NOT NULL )'),
 ('table',
  'attachments',
  'attachments',
  'b-tree',
  'CREATE TABLE attachments ( run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, name TEXT NOT NULL, '
  'category TEXT, mime_type TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL REFERENCES '
  'blobs(sha256), original_path TEXT, created INTEGER NOT NULL, PRIMARY KEY (run_id, name) ) WITHOUT ROWID'),
 ('table',
  'blob_parts',
  'blob_parts',
  'b-tree',
  'CREATE TABLE blob_parts ( id INTEGER PRIMARY KEY, sha256 TEXT NOT NULL REFERENCES blobs(sha256) ON DELETE '
  'CASCADE, seq INTEGER NOT NULL, size INTEGER NOT NULL, data BLOB NOT NULL, UNIQUE (sha256, seq) )'),
 ('table',
  'blobs',
  'blobs',
  'b-tree',
  'CREATE TABLE blobs ( sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, stored INTEGER NOT NULL, parts INTEGER '
  'NOT NULL, created INTEGER NOT NULL ) WITHOUT ROWID'),
 ('table',
  'chunks',
  'chunks',
  'b-tree',
  'CREATE TABLE chunks ( id INTEGER PRIMARY KEY, series_id INTEGER NOT NULL REFERENCES series(id) ON DELETE '
  'CASCADE, seq INTEGER NOT NULL, count INTEGER NOT NULL, nan_count INTEGER NOT NULL, min REAL, max REAL, '
  'min_step INTEGER, max_step INTEGER, mean REAL, m2 REAL, first REAL, last REAL, first_step INTEGER NOT NULL, '
  'last_step INTEGER NOT NULL, step_lo INTEGER NOT NULL, step_hi INTEGER NOT NULL, time_lo REAL NOT NULL, '
  'time_hi REAL NOT NULL, ts_lo INTEGER NOT NULL, ts_hi INTEGER NOT NULL, sketch BLOB NOT NULL, data BLOB NOT '
  'NULL, UNIQUE (series_id, seq) )'),
 ('table',
  'cookbooks',
  'cookbooks',
  'b-tree',
  'CREATE TABLE cookbooks ( id TEXT PRIMARY KEY, name TEXT NOT NULL, definition TEXT NOT NULL, created INTEGER '
  'NOT NULL )'),
 ('table',
  'events',
  'events',
  'b-tree',
  'CREATE TABLE events ( run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, seq INTEGER NOT NULL, '
  'time INTEGER NOT NULL, level TEXT, name TEXT, message TEXT, kwargs TEXT, PRIMARY KEY (run_id, seq) ) '
  'WITHOUT ROWID'),
 ('table',
  'feedback',
  'feedback',
  'b-tree',
  'CREATE TABLE feedback ( id TEXT PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, '
  'trace_id TEXT, key TEXT NOT NULL, score REAL, value TEXT, comment TEXT, correction TEXT, source TEXT, '
  'created INTEGER NOT NULL, modified INTEGER NOT NULL )'),
 ('table',
  'folders',
  'folders',
  'b-tree',
  "CREATE TABLE folders ( path TEXT PRIMARY KEY, description TEXT, tags TEXT NOT NULL DEFAULT '[]', metadata "
  "TEXT NOT NULL DEFAULT '{}', created INTEGER NOT NULL )"),
 ('table',
  'media',
  'media',
  'b-tree',
  'CREATE TABLE media ( run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, kind TEXT NOT NULL CHECK '
  "(kind IN ('image', 'histogram', 'table')), name TEXT NOT NULL, step INTEGER NOT NULL CHECK (step >= 0), "
  'timestamp INTEGER NOT NULL, caption TEXT, format TEXT, width INTEGER, height INTEGER, size INTEGER NOT '
  'NULL, sha256 TEXT REFERENCES blobs(sha256), data BLOB, UNIQUE (run_id, kind, name, step) )'),
 ('table',
  'outbox',
  'outbox',
  'b-tree',
  'CREATE TABLE outbox ( id INTEGER PRIMARY KEY, created INTEGER NOT NULL, kind TEXT NOT NULL, run_id TEXT, '
  'alert_id TEXT, payload TEXT NOT NULL, delivered INTEGER )'),
 ('table',
  'recipe_runs',
  'recipe_runs',
  'b-tree',
  'CREATE TABLE recipe_runs ( run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE, cookbook_id TEXT '
  'NOT NULL, sources_key TEXT, constraint_group_id TEXT NOT NULL, score REAL, data TEXT NOT NULL )'),
 ('table',
  'run_alerts',
  'run_alerts',
  'b-tree',
  'CREATE TABLE run_alerts ( run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, alert_id TEXT NOT '
  "NULL REFERENCES alerts(id), state TEXT NOT NULL DEFAULT 'ok', changed INTEGER, PRIMARY KEY (run_id, "
  'alert_id) ) WITHOUT ROWID'),
 ('table',
  'run_sources',
  'run_sources',
  'b-tree',
  'CREATE TABLE run_sources ( run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, source_run_id TEXT '
  'NOT NULL, PRIMARY KEY (run_id, source_run_id) ) WITHOUT ROWID'),
 ('table',
  'run_tags',
  'run_tags',
  'b-tree',
  'CREATE TABLE run_tags ( tag TEXT NOT NULL, run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, '
  'PRIMARY KEY (tag, run_id) ) WITHOUT ROWID'),
 ('table',
  'runs',
  'runs',
  'b-tree',
  "CREATE TABLE runs ( id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL DEFAULT 'experiment', "
  'run_type TEXT, status TEXT NOT NULL, folder TEXT NOT NULL REFERENCES folders(path), description TEXT, '
  "metadata TEXT NOT NULL DEFAULT '{}', tags TEXT NOT NULL DEFAULT '[]', parent_run_id TEXT REFERENCES "
  'runs(id), trace_id TEXT NOT NULL, dotted_order TEXT NOT NULL, created INTEGER NOT NULL, started INTEGER, '
  'ended INTEGER, modified INTEGER NOT NULL, inputs TEXT, outputs TEXT, error TEXT, extra TEXT, serialized '
  'TEXT, session_id TEXT, reference_example_id TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, '
  'total_tokens INTEGER, prompt_cost REAL, completion_cost REAL, total_cost REAL, first_token_time INTEGER, '
  'host TEXT, pid INTEGER, heartbeat INTEGER, heartbeat_timeout REAL, system TEXT , ls_fields TEXT, '
  'session_name TEXT)'),
 ('table',
  'series',
  'series',
  'b-tree',
  'CREATE TABLE series ( id INTEGER PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, '
  "name TEXT NOT NULL, asset TEXT NOT NULL DEFAULT '', count INTEGER NOT NULL, nan_count INTEGER NOT NULL, min "
  'REAL, max REAL, min_step INTEGER, max_step INTEGER, mean REAL, m2 REAL, first REAL, last REAL, first_step '
  'INTEGER, last_step INTEGER, UNIQUE (run_id, name, asset) )'),
 ('trigger',
  'runs_tags_insert',
  'runs',
  'none',
  "CREATE TRIGGER runs_tags_insert AFTER INSERT ON runs WHEN NEW.tags != '[]' BEGIN INSERT OR IGNORE INTO "
  'run_tags (tag, run_id) SELECT value, NEW.id FROM json_each(NEW.tags); END'),
 ('trigger',
  'runs_tags_update',
  'runs',
  'none',
  'CREATE TRIGGER runs_tags_update AFTER UPDATE OF tags ON runs WHEN OLD.tags IS NOT NEW.tags BEGIN DELETE '
  'FROM run_tags WHERE run_id = NEW.id; INSERT OR IGNORE INTO run_tags (tag, run_id) SELECT value, NEW.id FROM '
  'json_each(NEW.tags); END'))
