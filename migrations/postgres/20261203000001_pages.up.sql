-- Standalone pages (src/features/pages): About, Now, Contact…, at /{slug},
-- listed in the site's navigation by position, the owner's order. Like
-- posts, the Markdown is rendered when written (body_html, made by the
-- renderer of body_html_version; 0 is none yet).
CREATE TABLE pages (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug              TEXT NOT NULL UNIQUE,
    title             TEXT NOT NULL,
    body              TEXT NOT NULL,
    body_html         TEXT,
    body_html_version INTEGER NOT NULL DEFAULT 0,
    position          BIGINT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);

-- As for posts (the function is theirs): a body changed by anything that
-- does not write its HTML (a hand-made fix in the database, say) marks the
-- HTML stale.
CREATE TRIGGER pages_body_html_stale BEFORE UPDATE ON pages
    FOR EACH ROW EXECUTE FUNCTION body_html_stale();

-- Images a page shows are uses like a post's, so housekeeping keeps them.
ALTER TABLE media_uses ADD COLUMN page_id BIGINT REFERENCES pages (id) ON DELETE CASCADE;
ALTER TABLE media_uses DROP CONSTRAINT media_uses_check;
ALTER TABLE media_uses ADD CONSTRAINT media_uses_check
    CHECK (num_nonnulls(post_id, comment_id, user_id, page_id) = 1);
CREATE INDEX media_uses_page ON media_uses (page_id) WHERE page_id IS NOT NULL;
