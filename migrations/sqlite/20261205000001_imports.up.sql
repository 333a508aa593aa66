-- Posts and pages brought from another blog (src/features/imports): which
-- item of which source each one is, so that importing the same source
-- again updates them rather than adding copies.
CREATE TABLE imported (
    source     TEXT NOT NULL,
    source_id  TEXT NOT NULL,
    post_id    INTEGER REFERENCES posts (id) ON DELETE CASCADE,
    page_id    INTEGER REFERENCES pages (id) ON DELETE CASCADE,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (source, source_id),
    CHECK ((post_id IS NOT NULL) + (page_id IS NOT NULL) = 1)
);

-- The addresses they had there (/2019/05/12/my-post.html), answered with a
-- permanent redirect to where they are now.
CREATE TABLE redirects (
    path       TEXT PRIMARY KEY,
    post_id    INTEGER REFERENCES posts (id) ON DELETE CASCADE,
    page_id    INTEGER REFERENCES pages (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    CHECK ((post_id IS NOT NULL) + (page_id IS NOT NULL) = 1)
);
