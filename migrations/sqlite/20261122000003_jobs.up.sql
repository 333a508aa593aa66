-- The job queue. A row is a unit of work: queued until its run_at, running
-- while a worker holds its lease (locked_by, locked_until), then done or,
-- after its last attempt, failed with the error. A lease that runs out
-- (its worker died) makes the job claimable again: at-least-once delivery.
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    run_at       TEXT NOT NULL,
    locked_by    TEXT,
    locked_until TEXT,
    -- A job with a key is queued at most once: periodic runs, one email per event.
    dedup_key    TEXT UNIQUE,
    last_error   TEXT,
    created_at   TEXT NOT NULL,
    finished_at  TEXT
);
-- What a worker looks for: due queued jobs, and running ones whose lease ran out.
CREATE INDEX jobs_due ON jobs (run_at) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs (locked_until) WHERE state = 'running';
CREATE INDEX jobs_finished ON jobs (state, finished_at);

-- Password reset links: only a hash of the token is stored.
CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);
CREATE INDEX password_resets_expiry ON password_resets (expires_at);

-- Whether someone wants an email when their post or comment gets a reply.
ALTER TABLE users ADD COLUMN notify_replies BOOLEAN NOT NULL DEFAULT TRUE;
