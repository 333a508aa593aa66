-- Registrations on the site that wait for their address to be confirmed
-- (src/features/accounts/signup.rs). One per address: registering again
-- replaces it. Neither the username nor the address is reserved by it: the
-- account is made, and checked, when the link is followed. token_hash is
-- the SHA-256 of the emailed link's token, set by the job that sends it.
CREATE TABLE pending_registrations (
    email         TEXT PRIMARY KEY,
    username      TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    invite        TEXT,
    token_hash    TEXT UNIQUE,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL
);
CREATE INDEX pending_registrations_expiry ON pending_registrations (expires_at);
