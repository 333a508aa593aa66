-- no-transaction
-- Guests' comments go (an account's comment cannot stand for them), and
-- replies become top-level comments.
PRAGMA foreign_keys = OFF;
PRAGMA legacy_alter_table = ON;
BEGIN;
DROP TABLE imported_comments;
DELETE FROM media_uses WHERE comment_id IN (SELECT id FROM comments WHERE author_id IS NULL);
ALTER TABLE comments RENAME TO comments_with_guests;
DROP INDEX comments_post;
DROP INDEX comments_parent;
DROP TRIGGER comments_body_html_stale;
-- As the first migration made it, and the rendered-HTML one added to it,
-- so that the schema is what it was to the letter.
CREATE TABLE comments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    post_id    INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    author_id  INTEGER NOT NULL REFERENCES users (id),
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
ALTER TABLE comments ADD COLUMN body_html TEXT;
ALTER TABLE comments ADD COLUMN body_html_version INTEGER NOT NULL DEFAULT 0;
INSERT INTO comments (id, post_id, author_id, body, created_at, updated_at, body_html,
                      body_html_version)
SELECT id, post_id, author_id, body, created_at, updated_at, body_html, body_html_version
FROM comments_with_guests WHERE author_id IS NOT NULL;
DROP TABLE comments_with_guests;
CREATE INDEX comments_post ON comments (post_id, id);
CREATE TRIGGER comments_body_html_stale AFTER UPDATE OF body ON comments
WHEN NEW.body IS NOT OLD.body AND NEW.body_html IS OLD.body_html
BEGIN
    UPDATE comments SET body_html_version = 0 WHERE id = NEW.id;
END;
COMMIT;
PRAGMA legacy_alter_table = OFF;
PRAGMA foreign_keys = ON;
