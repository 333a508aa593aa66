DROP INDEX posts_search;
ALTER TABLE posts DROP COLUMN search;
ALTER TABLE posts DROP COLUMN search_tags;
ALTER TABLE posts DROP COLUMN search_text;
