-- The dashboard's time series (see migrations/sqlite/0009_stats_minutes.sql): per-minute buckets, summed by
-- upserts from every node; `minute` is the start of the minute in unix seconds (UTC).

-- Messages per minute by status, per channel.
CREATE TABLE stats_channel_minutes (
    channel   TEXT    NOT NULL,
    minute    BIGINT  NOT NULL,
    received  BIGINT  NOT NULL DEFAULT 0,
    processed BIGINT  NOT NULL DEFAULT 0,
    filtered  BIGINT  NOT NULL DEFAULT 0,
    error     BIGINT  NOT NULL DEFAULT 0,
    rejected  BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (channel, minute)
);
CREATE INDEX stats_channel_minutes_minute ON stats_channel_minutes (minute);

-- ACK latency per channel and minute as a histogram (bucket b holds latencies up to 2^(b/4) microseconds):
-- histograms add up across flushes and nodes where percentiles would not; p50/p99 are computed when read.
CREATE TABLE stats_ack_latency_minutes (
    channel TEXT    NOT NULL,
    minute  BIGINT  NOT NULL,
    bucket  BIGINT  NOT NULL,
    count   BIGINT  NOT NULL,
    PRIMARY KEY (channel, minute, bucket)
);
CREATE INDEX stats_ack_latency_minutes_minute ON stats_ack_latency_minutes (minute);

-- Deliveries per minute by outcome, and the outbox as sampled in that minute, per destination.
CREATE TABLE stats_destination_minutes (
    destination       TEXT    NOT NULL,
    minute            BIGINT  NOT NULL,
    sent              BIGINT  NOT NULL DEFAULT 0,
    failed            BIGINT  NOT NULL DEFAULT 0,   -- attempts that failed and will be retried
    dead              BIGINT  NOT NULL DEFAULT 0,
    depth             BIGINT,                       -- pending deliveries (NULL: not sampled in that minute)
    oldest_pending_ms BIGINT,                       -- age of the oldest pending delivery
    PRIMARY KEY (destination, minute)
);
CREATE INDEX stats_destination_minutes_minute ON stats_destination_minutes (minute);
