DROP TRIGGER comments_body_html_stale;
DROP TRIGGER posts_body_html_stale;
ALTER TABLE comments DROP COLUMN body_html_version;
ALTER TABLE comments DROP COLUMN body_html;
ALTER TABLE posts DROP COLUMN body_html_version;
ALTER TABLE posts DROP COLUMN body_html;
