ALTER TABLE users DROP COLUMN ap_movement;
ALTER TABLE remote_actors DROP COLUMN moved_to;
ALTER TABLE remote_actors DROP COLUMN icon_from;
ALTER TABLE remote_actors DROP COLUMN icon;
ALTER TABLE comments DROP COLUMN guest_image;
DELETE FROM settings WHERE key = 'federation_blog_movement';
