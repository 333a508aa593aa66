-- Changes of address asked for on the site, waiting for the new address to
-- be confirmed (src/features/accounts/address.rs). One per account: asking
-- again replaces it. The new address is not reserved by it: it is checked
-- when the link is followed. token_hash is the SHA-256 of the emailed
-- link's secret, set by the job that sends it.
CREATE TABLE email_changes (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id),
    email      TEXT NOT NULL,
    token_hash TEXT UNIQUE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX email_changes_expiry ON email_changes (expires_at);
