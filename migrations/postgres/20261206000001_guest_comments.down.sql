-- Guests' comments go (an account's comment cannot stand for them), and
-- replies become top-level comments.
DROP TABLE imported_comments;
DELETE FROM comments WHERE author_id IS NULL;
DROP INDEX comments_parent;
ALTER TABLE comments DROP CONSTRAINT comments_check;
ALTER TABLE comments DROP COLUMN guest_url;
ALTER TABLE comments DROP COLUMN guest_name;
ALTER TABLE comments DROP COLUMN parent_id;
ALTER TABLE comments ALTER COLUMN author_id SET NOT NULL;
