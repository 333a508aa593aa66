-- Visits are events: one row per visit, never updated, the source of truth.
-- The totals below are a read model kept current in the same transaction
-- as the events, and rebuilt from them by `quire visits rebuild`.

-- The visitor API's visitors (the seed visitor counter).
CREATE TABLE visitors (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    username   TEXT NOT NULL UNIQUE,
    visits     INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

-- Either a visitor's visit (visitor_id) or a view of a post (post_id and
-- viewer: "user:ID" or "anon:COOKIE").
CREATE TABLE visits (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    visitor_id INTEGER REFERENCES visitors (id),
    post_id    INTEGER REFERENCES posts (id) ON DELETE CASCADE,
    viewer     TEXT,
    at         TEXT NOT NULL
);
CREATE INDEX visits_post ON visits (post_id) WHERE post_id IS NOT NULL;

CREATE TABLE post_views (
    post_id INTEGER PRIMARY KEY REFERENCES posts (id) ON DELETE CASCADE,
    views   INTEGER NOT NULL DEFAULT 0
);
