//! SQLite: the per-minute buckets behind the dashboard's charts (see `crate::stats`).

use sqlx::sqlite::{SqliteConnection, SqlitePool};

use crate::StoreError;
use crate::stats::{ChannelRow, DestinationRow, LatencyRow, Minutes, StatsQuery, assemble, db};

/// Adds `minutes` into the buckets; answers how many rows were written.
pub(crate) async fn record(conn: &mut SqliteConnection, minutes: &Minutes) -> Result<u64, StoreError> {
    let mut rows = 0;
    for ((channel, minute), c) in &minutes.channels {
        if c.received + c.processed + c.filtered + c.error + c.rejected > 0 {
            sqlx::query(
                "INSERT INTO stats_channel_minutes (channel, minute, received, processed, filtered, error, rejected)
                 VALUES (?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (channel, minute) DO UPDATE SET
                   received = received + excluded.received, processed = processed + excluded.processed,
                   filtered = filtered + excluded.filtered, error = error + excluded.error,
                   rejected = rejected + excluded.rejected",
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
                "INSERT INTO stats_ack_latency_minutes (channel, minute, bucket, count) VALUES (?, ?, ?, ?)
                 ON CONFLICT (channel, minute, bucket) DO UPDATE SET count = count + excluded.count",
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
        // SQLite's two-argument max() is NULL when either is: keep whichever sample exists.
        sqlx::query(
            "INSERT INTO stats_destination_minutes (destination, minute, sent, failed, dead, depth, oldest_pending_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (destination, minute) DO UPDATE SET
               sent = sent + excluded.sent, failed = failed + excluded.failed, dead = dead + excluded.dead,
               depth = max(coalesce(depth, excluded.depth), coalesce(excluded.depth, depth)),
               oldest_pending_ms = max(coalesce(oldest_pending_ms, excluded.oldest_pending_ms),
                                       coalesce(excluded.oldest_pending_ms, oldest_pending_ms))",
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
pub(crate) async fn prune(conn: &mut SqliteConnection, before_minute: i64) -> Result<u64, StoreError> {
    let mut deleted = 0;
    for table in ["stats_channel_minutes", "stats_ack_latency_minutes", "stats_destination_minutes"] {
        // `table` is one of three constants above, never input.
        let sql = format!("DELETE FROM {table} WHERE minute < ?");
        deleted += sqlx::query(&sql).bind(before_minute).execute(&mut *conn).await?.rows_affected();
    }
    Ok(deleted)
}

/// The buckets `q` asks for.
pub(crate) async fn read(pool: &SqlitePool, q: &StatsQuery) -> Result<Minutes, StoreError> {
    let (mut channels, mut latencies, mut destinations) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(name) = q.subject.channels() {
        channels = sqlx::query_as::<_, ChannelRow>(
            "SELECT channel, minute, received, processed, filtered, error, rejected FROM stats_channel_minutes
             WHERE minute BETWEEN ?1 AND ?2 AND (?3 IS NULL OR channel = ?3) ORDER BY channel, minute",
        )
        .bind(q.from_minute)
        .bind(q.to_minute)
        .bind(name)
        .fetch_all(pool)
        .await?;
        latencies = sqlx::query_as::<_, LatencyRow>(
            "SELECT channel, minute, bucket, count FROM stats_ack_latency_minutes
             WHERE minute BETWEEN ?1 AND ?2 AND (?3 IS NULL OR channel = ?3)",
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
             WHERE minute BETWEEN ?1 AND ?2 AND (?3 IS NULL OR destination = ?3) ORDER BY destination, minute",
        )
        .bind(q.from_minute)
        .bind(q.to_minute)
        .bind(name)
        .fetch_all(pool)
        .await?;
    }
    assemble(channels, latencies, destinations)
}
