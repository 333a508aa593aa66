-- Comments brought from another blog (src/features/imports) were written by
-- guests, who have no account here: a comment is by an account or by a
-- named guest (with the address they gave, if any). And comments answer
-- one another: a reply's parent, made a top-level comment again if its
-- parent is deleted.
ALTER TABLE comments ALTER COLUMN author_id DROP NOT NULL;
ALTER TABLE comments ADD COLUMN parent_id BIGINT REFERENCES comments (id) ON DELETE SET NULL;
ALTER TABLE comments ADD COLUMN guest_name TEXT;
ALTER TABLE comments ADD COLUMN guest_url TEXT;
ALTER TABLE comments ADD CONSTRAINT comments_check
    CHECK (author_id IS NOT NULL OR guest_name IS NOT NULL);
CREATE INDEX comments_parent ON comments (parent_id) WHERE parent_id IS NOT NULL;

-- Which comment of which source each imported comment is, as `imported` is
-- for posts and pages.
CREATE TABLE imported_comments (
    source     TEXT NOT NULL,
    source_id  TEXT NOT NULL,
    comment_id BIGINT NOT NULL REFERENCES comments (id) ON DELETE CASCADE,
    PRIMARY KEY (source, source_id)
);
