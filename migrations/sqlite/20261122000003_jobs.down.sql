ALTER TABLE users DROP COLUMN notify_replies;
DROP TABLE password_resets;
DROP TABLE jobs;
