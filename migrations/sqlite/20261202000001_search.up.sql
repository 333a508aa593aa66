-- Full-text search over posts (src/features/posts/search.rs). The release
-- writes the text of each post's rendered HTML (search_text) and its tags
-- (search_tags) with the post; an FTS5 index over the posts table follows
-- every change through the triggers below. Posts written before this
-- migration are indexed by their Markdown until next edited.
ALTER TABLE posts ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
ALTER TABLE posts ADD COLUMN search_tags TEXT NOT NULL DEFAULT '';
UPDATE posts SET
    search_text = body,
    search_tags = COALESCE((SELECT group_concat(t.name, ' ') FROM post_tags pt
                            JOIN tags t ON t.id = pt.tag_id WHERE pt.post_id = posts.id), '');

-- Porter stemming ("running" finds "run"), accents folded ("cafe" finds
-- "café").
CREATE VIRTUAL TABLE post_search USING fts5 (
    title, description, search_tags, search_text,
    content = 'posts', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO post_search (post_search) VALUES ('rebuild');
-- Ranking: a match in the title or the tags counts most, then the
-- description, then the text (bm25's weights, in the columns' order).
INSERT INTO post_search (post_search, rank) VALUES ('rank', 'bm25(10.0, 4.0, 8.0, 1.0)');

CREATE TRIGGER posts_search_insert AFTER INSERT ON posts BEGIN
    INSERT INTO post_search (rowid, title, description, search_tags, search_text)
    VALUES (new.id, new.title, new.description, new.search_tags, new.search_text);
END;
CREATE TRIGGER posts_search_delete AFTER DELETE ON posts BEGIN
    INSERT INTO post_search (post_search, rowid, title, description, search_tags, search_text)
    VALUES ('delete', old.id, old.title, old.description, old.search_tags, old.search_text);
END;
CREATE TRIGGER posts_search_update
AFTER UPDATE OF title, description, search_tags, search_text ON posts BEGIN
    INSERT INTO post_search (post_search, rowid, title, description, search_tags, search_text)
    VALUES ('delete', old.id, old.title, old.description, old.search_tags, old.search_text);
    INSERT INTO post_search (rowid, title, description, search_tags, search_text)
    VALUES (new.id, new.title, new.description, new.search_tags, new.search_text);
END;
