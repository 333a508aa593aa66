DROP TABLE login_backoff;
