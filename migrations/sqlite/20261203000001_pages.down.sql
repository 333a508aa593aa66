-- media_uses as it was, without the pages' uses (their pages go too).
ALTER TABLE media_uses RENAME TO media_uses_with_pages;
DROP INDEX media_uses_name;
DROP INDEX media_uses_post;
DROP INDEX media_uses_comment;
DROP INDEX media_uses_user;
DROP INDEX media_uses_page;
CREATE TABLE media_uses (
    name       TEXT NOT NULL REFERENCES media (name),
    post_id    INTEGER REFERENCES posts (id) ON DELETE CASCADE,
    comment_id INTEGER REFERENCES comments (id) ON DELETE CASCADE,
    user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
    CHECK ((post_id IS NOT NULL) + (comment_id IS NOT NULL) + (user_id IS NOT NULL) = 1)
);
INSERT INTO media_uses (name, post_id, comment_id, user_id)
SELECT name, post_id, comment_id, user_id FROM media_uses_with_pages WHERE page_id IS NULL;
DROP TABLE media_uses_with_pages;
CREATE INDEX media_uses_name ON media_uses (name);
CREATE INDEX media_uses_post ON media_uses (post_id) WHERE post_id IS NOT NULL;
CREATE INDEX media_uses_comment ON media_uses (comment_id) WHERE comment_id IS NOT NULL;
CREATE INDEX media_uses_user ON media_uses (user_id) WHERE user_id IS NOT NULL;

DROP TRIGGER pages_body_html_stale;
DROP TABLE pages;
