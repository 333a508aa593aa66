-- media_uses as it was, without the pages' uses (their pages go too).
DELETE FROM media_uses WHERE page_id IS NOT NULL;
DROP INDEX media_uses_page;
ALTER TABLE media_uses DROP CONSTRAINT media_uses_check;
ALTER TABLE media_uses DROP COLUMN page_id;
ALTER TABLE media_uses ADD CONSTRAINT media_uses_check
    CHECK (num_nonnulls(post_id, comment_id, user_id) = 1);

DROP TRIGGER pages_body_html_stale ON pages;
DROP TABLE pages;
