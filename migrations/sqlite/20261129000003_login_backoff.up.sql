-- Sign-in backoff (src/features/accounts/backoff.rs): for each key (an
-- account, a client address), its failed sign-ins in a row and when the
-- next attempt may come. It takes over from login_failures, which stays
-- while a rolling deploy still runs the release before this one (which
-- writes it); a later release drops it.
CREATE TABLE login_backoff (
    key        TEXT PRIMARY KEY,
    failures   INTEGER NOT NULL,
    wait_until TEXT NOT NULL
);
CREATE INDEX login_backoff_wait_until ON login_backoff (wait_until);
