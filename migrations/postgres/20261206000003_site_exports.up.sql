-- Site archives the owner asked for through the API
-- (src/features/portability/site.rs): made by a job, kept in the file
-- store under exports/ until fetched, for a day.
CREATE TABLE site_exports (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id),
    state       TEXT NOT NULL DEFAULT 'waiting'
                CHECK (state IN ('waiting', 'running', 'done', 'failed', 'expired')),
    bytes       BIGINT,
    error       TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
);
