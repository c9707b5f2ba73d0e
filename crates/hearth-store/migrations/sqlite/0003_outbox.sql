-- The outbox (issue 4): one delivery row per (message, destination, payload) that the router planned. Sinks read
-- the due rows of their destination, publish them, and record the outcome; a failure is retried with backoff
-- until `dead`. Rows are written in the same transaction that stores the message's conversion, so a message is
-- never `processed` without its deliveries, nor delivered twice by a crash between the two.
--
-- Statuses: pending (waiting or retrying), sent (confirmed by the destination), dead (gave up after the retry
-- limit; re-sendable), cancelled (superseded when the message was reprocessed before it was sent).
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id      INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    destination     TEXT    NOT NULL,
    route           TEXT    NOT NULL,
    routing_key     TEXT    NOT NULL,
    resource_type   TEXT    NOT NULL,
    content_id      TEXT    NOT NULL,          -- stable for the same content: the AMQP message_id
    lane            TEXT,                      -- ordered lane (patient key) within the destination; NULL: unordered
    body            TEXT,                      -- the payload; NULL once retention pruned it
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,          -- unix microseconds
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    sent_at         INTEGER
);

-- The sinks' read: due pending rows of one destination in id order.
CREATE INDEX deliveries_pending ON deliveries (destination, id) WHERE status = 'pending';
-- Lane heads: is there an earlier pending row in the same (destination, lane)?
CREATE INDEX deliveries_lanes ON deliveries (destination, lane, id) WHERE status = 'pending' AND lane IS NOT NULL;
CREATE INDEX deliveries_message ON deliveries (message_id);
CREATE INDEX deliveries_status ON deliveries (destination, status, id);

-- Every failed attempt, for "what happened to this delivery" (successes are `sent_at` on the row). `seq` numbers
-- them across resends; `attempt` is the attempt number within its retry budget (a resend starts it again at 1).
CREATE TABLE delivery_failures (
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    error       TEXT    NOT NULL,
    PRIMARY KEY (delivery_id, seq)
) WITHOUT ROWID;
