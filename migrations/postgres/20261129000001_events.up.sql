-- Domain events: a change others care about (a post going live, a comment
-- made), written in the transaction of the change. A job delivers each to
-- the subscribers of its kind at occurs_at (a scheduled post's time), and
-- stamps delivered_at; an event that no longer stands then (the post was
-- unpublished or moved) is not delivered and keeps delivered_at NULL.
CREATE TABLE events (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    occurs_at    TIMESTAMPTZ NOT NULL,
    -- The W3C traceparent of the request that made the change: the jobs
    -- its subscribers queue link back to it.
    trace_parent TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    delivered_at TIMESTAMPTZ
);
CREATE INDEX events_created_at ON events (created_at);
