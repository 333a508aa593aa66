-- A draft's or a scheduled post's secret preview address (/p/TOKEN), which
-- its author shares and can revoke (src/features/posts/preview_links.rs).
-- NULL: no link. Unique, so a token names one post.
ALTER TABLE posts ADD COLUMN preview_token TEXT;
CREATE UNIQUE INDEX posts_preview_token ON posts (preview_token);
