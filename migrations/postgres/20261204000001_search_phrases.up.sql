-- Phrase searches ("zero downtime") at the cost of their rarest pair of
-- words, not of every post holding all their words. GIN keeps no word
-- positions, so PostgreSQL checks a phrase by reading each candidate's
-- tsvector: with two common words that was a quarter of all posts, 75 ms
-- or more per search over 100,000 (bench/search.rs). Each post's vector
-- now also holds its pairs of adjacent words as single lexemes ('zero
-- downtim'), without positions; a search adds the pairs of its phrases to
-- the query (src/features/posts/search.rs), which the index then answers
-- at once. A phrase implies its pairs, so no match is lost or gained.

-- What is searched, as the search migration defined it, and its pairs of
-- lexemes at adjacent positions, as PostgreSQL's own phrase match reads
-- them. Pairs too long to be a lexeme are left out (such a phrase is then
-- checked the slow way, as before). One function calling only built-ins:
-- pg_restore runs with an empty search_path, where a call from one
-- function of ours to another would not be found.
CREATE FUNCTION quire_search_document(title TEXT, tags TEXT, description TEXT, body TEXT) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH doc(words) AS (SELECT
        setweight(to_tsvector('english', title), 'A') ||
        setweight(to_tsvector('english', tags), 'A') ||
        setweight(to_tsvector('english', description), 'B') ||
        setweight(to_tsvector('english', body), 'C')),
    positions AS (SELECT lexeme, unnest(positions) AS at FROM doc, unnest(doc.words))
    SELECT doc.words || COALESCE(
        (SELECT array_to_tsvector(array_agg(DISTINCT a.lexeme || ' ' || b.lexeme))
         FROM positions a JOIN positions b ON b.at = a.at + 1
         WHERE octet_length(a.lexeme) + octet_length(b.lexeme) < 2000),
        ''::tsvector)
    FROM doc
$$;

ALTER TABLE posts DROP COLUMN search;
-- Kept in the row (MAIN) rather than moved to the TOAST table: every match
-- a search checks and ranks reads it, and a separate fetch for each costs
-- twice the whole search. The storage is set in the same statement so the
-- rows are written that way at once.
ALTER TABLE posts
    ADD COLUMN search tsvector GENERATED ALWAYS AS
        (quire_search_document(title, search_tags, description, search_text)) STORED,
    ALTER COLUMN search SET STORAGE MAIN;
CREATE INDEX posts_search ON posts USING GIN (search);
