-- Several nodes on one journal (see migrations/sqlite/0007_nodes.sql).
CREATE TABLE nodes (
    id             TEXT   PRIMARY KEY,
    host           TEXT   NOT NULL,
    started_at     BIGINT NOT NULL,              -- unix microseconds (the server's clock)
    last_heartbeat BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    leads          TEXT   NOT NULL DEFAULT ''
);

ALTER TABLE messages ADD COLUMN claimed_by TEXT;
ALTER TABLE deliveries ADD COLUMN leased_by TEXT;

DROP INDEX deliveries_lanes;
CREATE INDEX deliveries_lanes ON deliveries (destination, lane, message_id, id) WHERE status = 'pending' AND lane IS NOT NULL;
