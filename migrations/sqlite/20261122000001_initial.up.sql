-- Timestamps are TEXT in one fixed-width UTC format (see src/db/timestamp.rs),
-- so comparing and ordering them as text is comparing them as times.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE,
    -- NULL once the account is deleted: the address is personal data.
    email         TEXT UNIQUE,
    password_hash TEXT,
    bio           TEXT,
    image         TEXT,
    role          TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    deleted_at    TEXT
);
-- At most one owner, even when the first two registrations race.
CREATE UNIQUE INDEX users_single_owner ON users (role) WHERE role = 'owner';

CREATE TABLE posts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    author_id    INTEGER NOT NULL REFERENCES users (id),
    slug         TEXT NOT NULL UNIQUE,
    title        TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    body         TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('draft', 'published')),
    -- For a published post, when it goes (or went) live; a future time schedules it.
    published_at TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    edited_at    TEXT
);
CREATE INDEX posts_listing ON posts (status, published_at DESC, id DESC);
CREATE INDEX posts_author ON posts (author_id, published_at DESC);

CREATE TABLE tags (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE post_tags (
    post_id  INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    tag_id   INTEGER NOT NULL REFERENCES tags (id),
    position INTEGER NOT NULL,
    PRIMARY KEY (post_id, tag_id)
);
CREATE INDEX post_tags_tag ON post_tags (tag_id);

CREATE TABLE comments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    post_id    INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    author_id  INTEGER NOT NULL REFERENCES users (id),
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX comments_post ON comments (post_id, id);

CREATE TABLE reactions (
    post_id    INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    kind       TEXT NOT NULL DEFAULT 'like',
    created_at TEXT NOT NULL,
    PRIMARY KEY (post_id, user_id, kind)
);

CREATE TABLE follows (
    follower_id INTEGER NOT NULL REFERENCES users (id),
    followee_id INTEGER NOT NULL REFERENCES users (id),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    INTEGER REFERENCES users (id),
    data       TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE invites (
    code       TEXT PRIMARY KEY,
    created_by INTEGER NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_by    INTEGER REFERENCES users (id),
    used_at    TEXT
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Failed sign-ins, counted per account and per client address to rate-limit guessing.
CREATE TABLE login_failures (
    key          TEXT NOT NULL,
    attempted_at TEXT NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (key, attempted_at);
