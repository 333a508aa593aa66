-- no-transaction
-- Comments brought from another blog (src/features/imports) were written by
-- guests, who have no account here: a comment is by an account or by a
-- named guest (with the address they gave, if any). And comments answer
-- one another: a reply's parent, made a top-level comment again if its
-- parent is deleted.
--
-- SQLite cannot drop a NOT NULL in place: the table is made again under its
-- own name, from the old one moved aside. That needs foreign keys off (a
-- dropped table's rows would cascade to the images they use) and the legacy
-- rename (which leaves other tables' references to `comments` pointing at
-- the name, not at the table moved aside), so this migration runs outside
-- sqlx's transaction and makes its own.
PRAGMA foreign_keys = OFF;
PRAGMA legacy_alter_table = ON;
BEGIN;
ALTER TABLE comments RENAME TO comments_before_guests;
DROP INDEX comments_post;
DROP TRIGGER comments_body_html_stale;
CREATE TABLE comments (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    post_id           INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    author_id         INTEGER REFERENCES users (id),
    body              TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    body_html         TEXT,
    body_html_version INTEGER NOT NULL DEFAULT 0,
    parent_id         INTEGER REFERENCES comments (id) ON DELETE SET NULL,
    guest_name        TEXT,
    guest_url         TEXT,
    CHECK (author_id IS NOT NULL OR guest_name IS NOT NULL)
);
INSERT INTO comments (id, post_id, author_id, body, created_at, updated_at, body_html,
                      body_html_version)
SELECT id, post_id, author_id, body, created_at, updated_at, body_html, body_html_version
FROM comments_before_guests;
DROP TABLE comments_before_guests;
CREATE INDEX comments_post ON comments (post_id, id);
CREATE INDEX comments_parent ON comments (parent_id) WHERE parent_id IS NOT NULL;
CREATE TRIGGER comments_body_html_stale AFTER UPDATE OF body ON comments
WHEN NEW.body IS NOT OLD.body AND NEW.body_html IS OLD.body_html
BEGIN
    UPDATE comments SET body_html_version = 0 WHERE id = NEW.id;
END;

-- Which comment of which source each imported comment is, as `imported` is
-- for posts and pages.
CREATE TABLE imported_comments (
    source     TEXT NOT NULL,
    source_id  TEXT NOT NULL,
    comment_id INTEGER NOT NULL REFERENCES comments (id) ON DELETE CASCADE,
    PRIMARY KEY (source, source_id)
);
COMMIT;
PRAGMA legacy_alter_table = OFF;
PRAGMA foreign_keys = ON;
