ALTER TABLE posts DROP COLUMN search;
DROP FUNCTION quire_search_document(TEXT, TEXT, TEXT, TEXT);
ALTER TABLE posts ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', title), 'A') ||
    setweight(to_tsvector('english', search_tags), 'A') ||
    setweight(to_tsvector('english', description), 'B') ||
    setweight(to_tsvector('english', search_text), 'C')
) STORED;
CREATE INDEX posts_search ON posts USING GIN (search);
