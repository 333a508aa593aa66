-- The newsletter (src/features/newsletter): readers subscribe by email to
-- the whole blog (author_id NULL) or to an author, and each post its author
-- chose to email goes to them once.

-- The author's choice, per post: email it to subscribers when it goes live.
ALTER TABLE posts ADD COLUMN email_subscribers BOOLEAN NOT NULL DEFAULT FALSE;

-- An address that asked to subscribe: `pending` until the link in the
-- confirmation email is followed, then `confirmed`; `bouncing` after a
-- permanent failure (still sent to), `suspended` after repeated ones
-- (not sent to), `unsubscribed` when they left. Personal data: in site
-- archives and backups, never in logs.
CREATE TABLE subscribers (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email        TEXT NOT NULL UNIQUE,
    state        TEXT NOT NULL,
    bounces      BIGINT NOT NULL DEFAULT 0,
    -- How they consented: "form", "member", "import: <note>".
    consent      TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    confirmed_at TIMESTAMPTZ
);
CREATE INDEX subscribers_state ON subscribers (state);

-- What each subscriber gets: the whole blog (author_id NULL) or an author.
CREATE TABLE subscriptions (
    subscriber_id BIGINT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    author_id     BIGINT REFERENCES users (id) ON DELETE CASCADE,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX subscriptions_once ON subscriptions (subscriber_id, COALESCE(author_id, 0));
CREATE INDEX subscriptions_author ON subscriptions (author_id);

-- A post being emailed: one per post, ever.
CREATE TABLE newsletter_sends (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    post_id     BIGINT NOT NULL UNIQUE REFERENCES posts (id) ON DELETE CASCADE,
    recipients  BIGINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
);

-- Each recipient of a send, written before anything is sent: `pending`
-- (`retry_at` after a temporary failure), `sending` while the SMTP
-- server has it, then `sent`, `failed` (temporary failures until the
-- attempts ran out), `bounced` (a permanent failure) or `skipped` (they
-- left before their turn). Each row is claimed by one job at a time.
CREATE TABLE newsletter_deliveries (
    send_id       BIGINT NOT NULL REFERENCES newsletter_sends (id) ON DELETE CASCADE,
    subscriber_id BIGINT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    state         TEXT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    retry_at      TIMESTAMPTZ,
    last_error    TEXT,
    -- The job sending it (\`sending\` only): that job, run again after
    -- its worker died, knows its own rows.
    claim         TEXT,
    sent_at       TIMESTAMPTZ,
    PRIMARY KEY (send_id, subscriber_id)
);
CREATE INDEX newsletter_deliveries_state ON newsletter_deliveries (send_id, state);
