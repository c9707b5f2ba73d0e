-- The dashboard's time series (issue 18): per-minute buckets the engine writes from counters it keeps in
-- memory, one upsert per (channel or destination, minute) every few seconds, never one write per message.
-- Several nodes add into the same buckets (`count = count + excluded.count`); sampled figures (outbox depth,
-- oldest pending age) keep the larger sample. `minute` is the start of the minute in unix seconds (UTC).
-- Retention deletes buckets older than `[retention] stats_days`.

-- Messages per minute by status, per channel.
CREATE TABLE stats_channel_minutes (
    channel   TEXT    NOT NULL,
    minute    INTEGER NOT NULL,
    received  INTEGER NOT NULL DEFAULT 0,
    processed INTEGER NOT NULL DEFAULT 0,
    filtered  INTEGER NOT NULL DEFAULT 0,
    error     INTEGER NOT NULL DEFAULT 0,
    rejected  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (channel, minute)
) WITHOUT ROWID;
CREATE INDEX stats_channel_minutes_minute ON stats_channel_minutes (minute);

-- ACK latency per channel and minute as a histogram (bucket b holds latencies up to 2^(b/4) microseconds):
-- histograms add up across flushes and nodes where percentiles would not; p50/p99 are computed when read.
CREATE TABLE stats_ack_latency_minutes (
    channel TEXT    NOT NULL,
    minute  INTEGER NOT NULL,
    bucket  INTEGER NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (channel, minute, bucket)
) WITHOUT ROWID;
CREATE INDEX stats_ack_latency_minutes_minute ON stats_ack_latency_minutes (minute);

-- Deliveries per minute by outcome, and the outbox as sampled in that minute, per destination.
CREATE TABLE stats_destination_minutes (
    destination       TEXT    NOT NULL,
    minute            INTEGER NOT NULL,
    sent              INTEGER NOT NULL DEFAULT 0,
    failed            INTEGER NOT NULL DEFAULT 0,   -- attempts that failed and will be retried
    dead              INTEGER NOT NULL DEFAULT 0,
    depth             INTEGER,                      -- pending deliveries (NULL: not sampled in that minute)
    oldest_pending_ms INTEGER,                      -- age of the oldest pending delivery
    PRIMARY KEY (destination, minute)
) WITHOUT ROWID;
CREATE INDEX stats_destination_minutes_minute ON stats_destination_minutes (minute);
