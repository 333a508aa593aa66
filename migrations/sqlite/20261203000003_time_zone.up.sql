-- An author's time zone (an IANA name), for the times they type and read;
-- NULL: their browser's (src/zone.rs).
ALTER TABLE users ADD COLUMN time_zone TEXT;
