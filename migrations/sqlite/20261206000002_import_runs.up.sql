-- Imports started from /admin/import (src/features/imports/runs.rs): the
-- uploaded file waits in the file store while a job reads it; how far the
-- job is, and what it did, is kept here for the page that shows it.
CREATE TABLE import_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    format      TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'waiting'
                CHECK (state IN ('waiting', 'running', 'done', 'failed')),
    items_total INTEGER NOT NULL DEFAULT 0,
    items_done  INTEGER NOT NULL DEFAULT 0,
    -- What was added, updated and skipped (JSON), or why nothing was.
    report      TEXT,
    error       TEXT,
    created_at  TEXT NOT NULL,
    finished_at TEXT
);
