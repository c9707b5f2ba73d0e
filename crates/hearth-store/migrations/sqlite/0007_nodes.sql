-- Several nodes on one journal (issue 13). The same schema on SQLite, where there is only ever one node, so that
-- both backends keep one set of semantics (docs/specs/guarantees.md, "Several nodes").
--
-- A node registers, then heartbeats; its claims and leases hold while `expires_at` (its last heartbeat plus its
-- lease) is in the future. `leads` lists the singleton work it leads, comma-separated, as of its last heartbeat.
CREATE TABLE nodes (
    id             TEXT    PRIMARY KEY NOT NULL,
    host           TEXT    NOT NULL,
    started_at     INTEGER NOT NULL,             -- unix microseconds
    last_heartbeat INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    leads          TEXT    NOT NULL DEFAULT ''
) WITHOUT ROWID;

-- The processing stage's claim on a received message: the node converting it. Void once that node expired.
ALTER TABLE messages ADD COLUMN claimed_by TEXT;
-- A sink's lease on a pending delivery: the node publishing it. Void once that node expired.
ALTER TABLE deliveries ADD COLUMN leased_by TEXT;

-- Lanes are ordered by message id, then delivery id: ids of messages, not of deliveries, follow the order in
-- which a sender's messages were acknowledged when several nodes convert them.
DROP INDEX deliveries_lanes;
CREATE INDEX deliveries_lanes ON deliveries (destination, lane, message_id, id) WHERE status = 'pending' AND lane IS NOT NULL;
