//! PostgreSQL: the per-minute buckets behind the dashboard's charts (see `crate::stats`).

use sqlx::postgres::{PgConnection, PgPool};

use crate::StoreError;
use crate::stats::{ChannelRow, DestinationRow, LatencyRow, Minutes, StatsQuery, assemble, db};

/// Adds `minutes` into the buckets; answers how many rows were written.
pub(crate) async fn record(conn: &mut PgConnection, minutes: &Minutes) -> Result<u64, StoreError> {
    let mut rows = 0;
    for ((channel, minute), c) in &minutes.channels {
        if c.received + c.processed + c.filtered + c.error + c.rejected > 0 {
            sqlx::query(
                "INSERT INTO stats_channel_minutes AS t (channel, minute, received, processed, filtered, error, rejected)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (channel, minute) DO UPDATE SET
                   received = t.received + excluded.received, processed = t.processed + excluded.processed,
                   filtered = t.filtered + excluded.filtered, error = t.error + excluded.error,
                   rejected = t.rejected + excluded.rejected",
            )
            .bind(channel)
            .bind(minute)
            .bind(db(c.received))
            .bind(db(c.processed))
            .bind(db(c.filtered))
            .bind(db(c.error))
            .bind(db(c.rejected))
            .execute(&mut *conn)
            .await?;
            rows += 1;
        }
        for (bucket, count) in &c.ack_latency {
            sqlx::query(
                "INSERT INTO stats_ack_latency_minutes AS t (channel, minute, bucket, count) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (channel, minute, bucket) DO UPDATE SET count = t.count + excluded.count",
            )
            .bind(channel)
            .bind(minute)
            .bind(i64::from(*bucket))
            .bind(db(*count))
            .execute(&mut *conn)
            .await?;
            rows += 1;
        }
    }
    for ((destination, minute), d) in &minutes.destinations {
        // GREATEST ignores NULLs: whichever sample exists is kept.
        sqlx::query(
            "INSERT INTO stats_destination_minutes AS t (destination, minute, sent, failed, dead, depth, oldest_pending_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (destination, minute) DO UPDATE SET
               sent = t.sent + excluded.sent, failed = t.failed + excluded.failed, dead = t.dead + excluded.dead,
               depth = GREATEST(t.depth, excluded.depth),
               oldest_pending_ms = GREATEST(t.oldest_pending_ms, excluded.oldest_pending_ms)",
        )
        .bind(destination)
        .bind(minute)
        .bind(db(d.sent))
        .bind(db(d.failed))
        .bind(db(d.dead))
        .bind(d.depth.map(db))
        .bind(d.oldest_pending_ms.map(db))
        .execute(&mut *conn)
        .await?;
        rows += 1;
    }
    Ok(rows)
}

/// Deletes the buckets of minutes before `before_minute`; answers how many rows went.
pub(crate) async fn prune(conn: &mut PgConnection, before_minute: i64) -> Result<u64, StoreError> {
    let mut deleted = 0;
    for table in ["stats_channel_minutes", "stats_ack_latency_minutes", "stats_destination_minutes"] {
        // `table` is one of three constants above, never input.
        let sql = format!("DELETE FROM {table} WHERE minute < $1");
        deleted += sqlx::query(&sql).bind(before_minute).execute(&mut *conn).await?.rows_affected();
    }
    Ok(deleted)
}

/// The buckets `q` asks for.
pub(crate) async fn read(pool: &PgPool, q: &StatsQuery) -> Result<Minutes, StoreError> {
    let (mut channels, mut latencies, mut destinations) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(name) = q.subject.channels() {
        channels = sqlx::query_as::<_, ChannelRow>(
            "SELECT channel, minute, received, processed, filtered, error, rejected FROM stats_channel_minutes
             WHERE minute BETWEEN $1 AND $2 AND ($3::text IS NULL OR channel = $3) ORDER BY channel, minute",
        )
        .bind(q.from_minute)
        .bind(q.to_minute)
        .bind(name)
        .fetch_all(pool)
        .await?;
        latencies = sqlx::query_as::<_, LatencyRow>(
            "SELECT channel, minute, bucket, count FROM stats_ack_latency_minutes
             WHERE minute BETWEEN $1 AND $2 AND ($3::text IS NULL OR channel = $3)",
        )
        .bind(q.from_minute)
        .bind(q.to_minute)
        .bind(name)
        .fetch_all(pool)
        .await?;
    }
    if let Some(name) = q.subject.destinations() {
        destinations = sqlx::query_as::<_, DestinationRow>(
            "SELECT destination, minute, sent, failed, dead, depth, oldest_pending_ms FROM stats_destination_minutes
             WHERE minute BETWEEN $1 AND $2 AND ($3::text IS NULL OR destination = $3) ORDER BY destination, minute",
        )
        .bind(q.from_minute)
        .bind(q.to_minute)
        .bind(name)
        .fetch_all(pool)
        .await?;
    }
    assemble(channels, latencies, destinations)
}
