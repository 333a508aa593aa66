-- Full-text search over posts (src/features/posts/search.rs). The release
-- writes the text of each post's rendered HTML (search_text) and its tags
-- (search_tags) with the post; the weighted tsvector follows them as a
-- generated column, under a GIN index. Posts written before this migration
-- are indexed by their Markdown until next edited.
ALTER TABLE posts ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
ALTER TABLE posts ADD COLUMN search_tags TEXT NOT NULL DEFAULT '';
UPDATE posts p SET
    search_text = body,
    search_tags = COALESCE((SELECT string_agg(t.name, ' ') FROM post_tags pt
                            JOIN tags t ON t.id = pt.tag_id WHERE pt.post_id = p.id), '');

-- English stemming ("running" finds "run"), as SQLite's Porter tokenizer.
ALTER TABLE posts ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', title), 'A') ||
    setweight(to_tsvector('english', search_tags), 'A') ||
    setweight(to_tsvector('english', description), 'B') ||
    setweight(to_tsvector('english', search_text), 'C')
) STORED;
CREATE INDEX posts_search ON posts USING GIN (search);
