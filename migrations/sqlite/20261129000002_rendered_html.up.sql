-- Markdown is rendered when it is written, and pages show the stored HTML.
-- body_html_version is the renderer's version that made body_html; rows of
-- another version (0: none yet) are rendered again when next read.
ALTER TABLE posts ADD COLUMN body_html TEXT;
ALTER TABLE posts ADD COLUMN body_html_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE comments ADD COLUMN body_html TEXT;
ALTER TABLE comments ADD COLUMN body_html_version INTEGER NOT NULL DEFAULT 0;

-- During a rolling deploy, a replica of the previous release edits a body
-- without knowing of its HTML: the HTML is then stale, and marked so.
CREATE TRIGGER posts_body_html_stale AFTER UPDATE OF body ON posts
WHEN NEW.body IS NOT OLD.body AND NEW.body_html IS OLD.body_html
BEGIN
    UPDATE posts SET body_html_version = 0 WHERE id = NEW.id;
END;
CREATE TRIGGER comments_body_html_stale AFTER UPDATE OF body ON comments
WHEN NEW.body IS NOT OLD.body AND NEW.body_html IS OLD.body_html
BEGIN
    UPDATE comments SET body_html_version = 0 WHERE id = NEW.id;
END;
