-- Uploaded images (src/features/media). An object in the store is named by
-- the SHA-256 of its bytes (`name` is that hash and the format's
-- extension), so the same image uploaded twice is one object and one row.
-- touched_at is the last upload of it: the cleanup leaves recent objects.
CREATE TABLE media (
    name         TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    bytes        INTEGER NOT NULL,
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    -- The widths of the smaller copies made so far, e.g. '480,960'.
    variants     TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    touched_at   TEXT NOT NULL
);

-- Who uploaded what: an author's media page and quota. The file name is
-- shown to its uploader only and never reaches the store.
CREATE TABLE uploads (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    name       TEXT NOT NULL REFERENCES media (name),
    file_name  TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (user_id, name)
);
CREATE INDEX uploads_name ON uploads (name);

-- Where each image is used: kept with the post, comment or profile in the
-- transaction that writes it.
CREATE TABLE media_uses (
    name       TEXT NOT NULL REFERENCES media (name),
    post_id    INTEGER REFERENCES posts (id) ON DELETE CASCADE,
    comment_id INTEGER REFERENCES comments (id) ON DELETE CASCADE,
    user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
    CHECK ((post_id IS NOT NULL) + (comment_id IS NOT NULL) + (user_id IS NOT NULL) = 1)
);
CREATE INDEX media_uses_name ON media_uses (name);
CREATE INDEX media_uses_post ON media_uses (post_id) WHERE post_id IS NOT NULL;
CREATE INDEX media_uses_comment ON media_uses (comment_id) WHERE comment_id IS NOT NULL;
CREATE INDEX media_uses_user ON media_uses (user_id) WHERE user_id IS NOT NULL;
