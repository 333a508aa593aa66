-- Markdown is rendered when it is written, and pages show the stored HTML.
-- body_html_version is the renderer's version that made body_html; rows of
-- another version (0: none yet) are rendered again when next read.
ALTER TABLE posts ADD COLUMN body_html TEXT;
ALTER TABLE posts ADD COLUMN body_html_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE comments ADD COLUMN body_html TEXT;
ALTER TABLE comments ADD COLUMN body_html_version INTEGER NOT NULL DEFAULT 0;

-- During a rolling deploy, a replica of the previous release edits a body
-- without knowing of its HTML: the HTML is then stale, and marked so.
CREATE FUNCTION body_html_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.body IS DISTINCT FROM OLD.body AND NEW.body_html IS NOT DISTINCT FROM OLD.body_html THEN
        NEW.body_html_version := 0;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER posts_body_html_stale BEFORE UPDATE ON posts
    FOR EACH ROW EXECUTE FUNCTION body_html_stale();
CREATE TRIGGER comments_body_html_stale BEFORE UPDATE ON comments
    FOR EACH ROW EXECUTE FUNCTION body_html_stale();
