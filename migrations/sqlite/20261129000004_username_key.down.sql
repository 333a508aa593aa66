ALTER TABLE users DROP COLUMN username_key;
