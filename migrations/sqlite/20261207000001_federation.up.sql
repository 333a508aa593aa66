-- ActivityPub (src/features/federation). Each author is an actor with a
-- key pair, made the first time it is needed; the blog's own pair is in
-- `settings`.
ALTER TABLE users ADD COLUMN ap_public_key TEXT;
ALTER TABLE users ADD COLUMN ap_private_key TEXT;
-- The author approves each follower (else follows are accepted at once).
ALTER TABLE users ADD COLUMN ap_approves_followers BOOLEAN NOT NULL DEFAULT FALSE;

-- Actors of other servers, as last fetched.
CREATE TABLE remote_actors (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    uri            TEXT NOT NULL UNIQUE,
    domain         TEXT NOT NULL,
    handle         TEXT NOT NULL,
    name           TEXT NOT NULL,
    url            TEXT,
    inbox          TEXT NOT NULL,
    shared_inbox   TEXT,
    key_id         TEXT NOT NULL,
    public_key_pem TEXT NOT NULL,
    icon_url       TEXT,
    fetched_at     TEXT NOT NULL
);
CREATE INDEX remote_actors_key ON remote_actors (key_id);
CREATE INDEX remote_actors_domain ON remote_actors (domain);

-- Who follows an author (`user_id`) or the blog (NULL).
CREATE TABLE followers (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER REFERENCES users (id) ON DELETE CASCADE,
    remote_actor_id INTEGER NOT NULL REFERENCES remote_actors (id) ON DELETE CASCADE,
    follow_uri      TEXT NOT NULL,
    state           TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX followers_of ON followers (COALESCE(user_id, 0), remote_actor_id);
CREATE INDEX followers_actor ON followers (remote_actor_id);

-- Replies from the fediverse: waiting for the post's author, or taken in
-- as a comment (`comment_id`), or turned away.
CREATE TABLE remote_replies (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    uri             TEXT NOT NULL UNIQUE,
    post_id         INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    parent_id       INTEGER REFERENCES comments (id) ON DELETE SET NULL,
    remote_actor_id INTEGER NOT NULL REFERENCES remote_actors (id) ON DELETE CASCADE,
    body            TEXT NOT NULL,
    url             TEXT,
    state           TEXT NOT NULL,
    comment_id      INTEGER REFERENCES comments (id) ON DELETE SET NULL,
    published_at    TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX remote_replies_state ON remote_replies (state, post_id);

-- Likes and boosts of posts from the fediverse, by the activity's id.
CREATE TABLE remote_reactions (
    uri             TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    post_id         INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    remote_actor_id INTEGER NOT NULL REFERENCES remote_actors (id) ON DELETE CASCADE,
    created_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX remote_reactions_once ON remote_reactions (post_id, remote_actor_id, kind);

-- What an author thinks of a remote actor: `trusted` (replies appear at
-- once) or `blocked` (nothing of theirs is taken).
CREATE TABLE actor_standing (
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    remote_actor_id INTEGER NOT NULL REFERENCES remote_actors (id) ON DELETE CASCADE,
    standing        TEXT NOT NULL,
    PRIMARY KEY (user_id, remote_actor_id)
);

-- Servers the site takes nothing from and sends nothing to.
CREATE TABLE blocked_domains (
    domain     TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);

-- Activities already taken, by id: a replayed one is not taken twice.
CREATE TABLE inbox_seen (
    uri         TEXT PRIMARY KEY,
    received_at TEXT NOT NULL
);
CREATE INDEX inbox_seen_received ON inbox_seen (received_at);

-- Inboxes that have refused or not answered since a time: given up on
-- after a while (docs/federation.md), forgotten when they answer.
CREATE TABLE delivery_failures (
    inbox         TEXT PRIMARY KEY,
    domain        TEXT NOT NULL,
    failing_since TEXT NOT NULL,
    last_error    TEXT NOT NULL
);
CREATE INDEX delivery_failures_domain ON delivery_failures (domain);
