DROP INDEX posts_preview_token;
ALTER TABLE posts DROP COLUMN preview_token;
