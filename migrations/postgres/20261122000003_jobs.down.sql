ALTER TABLE users DROP COLUMN notify_replies;
DROP TABLE password_resets;
DROP TRIGGER jobs_notify ON jobs;
DROP FUNCTION quire_jobs_notify();
DROP TABLE jobs;
