-- Standalone pages (src/features/pages): About, Now, Contact…, at /{slug},
-- listed in the site's navigation by position, the owner's order. Like
-- posts, the Markdown is rendered when written (body_html, made by the
-- renderer of body_html_version; 0 is none yet).
CREATE TABLE pages (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    slug              TEXT NOT NULL UNIQUE,
    title             TEXT NOT NULL,
    body              TEXT NOT NULL,
    body_html         TEXT,
    body_html_version INTEGER NOT NULL DEFAULT 0,
    position          INTEGER NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);

-- As for posts: a body changed by anything that does not write its HTML
-- (a hand-made fix in the database, say) marks the HTML stale.
CREATE TRIGGER pages_body_html_stale AFTER UPDATE OF body ON pages
WHEN NEW.body IS NOT OLD.body AND NEW.body_html IS OLD.body_html
BEGIN
    UPDATE pages SET body_html_version = 0 WHERE id = NEW.id;
END;

-- Images a page shows are uses like a post's, so housekeeping keeps them.
-- SQLite cannot change a CHECK constraint in place: the table is made
-- again under its own name (a renamed new table would keep the quoted
-- name in its schema), from the old one moved aside.
ALTER TABLE media_uses RENAME TO media_uses_before_pages;
DROP INDEX media_uses_name;
DROP INDEX media_uses_post;
DROP INDEX media_uses_comment;
DROP INDEX media_uses_user;
CREATE TABLE media_uses (
    name       TEXT NOT NULL REFERENCES media (name),
    post_id    INTEGER REFERENCES posts (id) ON DELETE CASCADE,
    comment_id INTEGER REFERENCES comments (id) ON DELETE CASCADE,
    user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
    page_id    INTEGER REFERENCES pages (id) ON DELETE CASCADE,
    CHECK ((post_id IS NOT NULL) + (comment_id IS NOT NULL) + (user_id IS NOT NULL)
           + (page_id IS NOT NULL) = 1)
);
INSERT INTO media_uses (name, post_id, comment_id, user_id)
SELECT name, post_id, comment_id, user_id FROM media_uses_before_pages;
DROP TABLE media_uses_before_pages;
CREATE INDEX media_uses_name ON media_uses (name);
CREATE INDEX media_uses_post ON media_uses (post_id) WHERE post_id IS NOT NULL;
CREATE INDEX media_uses_comment ON media_uses (comment_id) WHERE comment_id IS NOT NULL;
CREATE INDEX media_uses_user ON media_uses (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX media_uses_page ON media_uses (page_id) WHERE page_id IS NOT NULL;
