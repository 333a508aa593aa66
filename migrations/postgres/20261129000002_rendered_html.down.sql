DROP TRIGGER comments_body_html_stale ON comments;
DROP TRIGGER posts_body_html_stale ON posts;
DROP FUNCTION body_html_stale();
ALTER TABLE comments DROP COLUMN body_html_version, DROP COLUMN body_html;
ALTER TABLE posts DROP COLUMN body_html_version, DROP COLUMN body_html;
