//! The outbox: deliveries planned by the router, drained by the sinks. Types and SQL.
//!
//! A sink reads the due rows of its destination ([`due`]), publishes them, and records each outcome through the
//! writer ([`record`]): `sent`, a retry at a later time, or `dead`. Ordered lanes: a row with a lane is due only
//! when no earlier pending row of the same (destination, lane) exists, so one lane never has two rows in flight
//! and a failing head holds its lane back (not the others).

use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteConnection, SqlitePool, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite};
use time::OffsetDateTime;

use crate::sqlite::{from_micros, non_negative, to_micros};
use crate::{MAX_PAGE, StoreError};

/// A delivery the router planned, stored with the message's conversion.
pub use hearth_core::PlannedDelivery as NewDelivery;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or for a retry.
    Pending,
    /// Confirmed by the destination.
    Sent,
    /// Gave up after the retry limit; can be resent.
    Dead,
    /// Superseded: its message was reprocessed before it was sent.
    Cancelled,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 4] =
        [DeliveryStatus::Pending, DeliveryStatus::Sent, DeliveryStatus::Dead, DeliveryStatus::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Dead => "dead",
            DeliveryStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        DeliveryStatus::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

impl std::fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A due delivery, with what a sink needs to publish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    pub id: i64,
    pub message_id: i64,
    pub channel: String,
    /// The message's trigger event (or message code), for headers.
    pub event: Option<String>,
    pub route: String,
    pub routing_key: String,
    pub resource_type: String,
    pub content_id: String,
    pub lane: Option<String>,
    /// `None` if retention pruned it: the sink records that as a permanent failure.
    pub body: Option<String>,
    /// Attempts made so far.
    pub attempts: u32,
}

/// One stored delivery, for the CLI and the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: i64,
    pub message_id: i64,
    pub destination: String,
    pub route: String,
    pub routing_key: String,
    pub resource_type: String,
    pub content_id: String,
    pub lane: Option<String>,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: OffsetDateTime,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub sent_at: Option<OffsetDateTime>,
}

/// The result of one attempt, recorded by a sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Sent {
        id: i64,
    },
    /// Failed; try again at `at`.
    Retry {
        id: i64,
        error: String,
        at: OffsetDateTime,
    },
    /// Failed for the last time (retry limit reached, or a permanent error).
    Dead {
        id: i64,
        error: String,
    },
}

/// What `resend` puts back into the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResendTarget {
    /// One delivery, whatever its status except `pending` (a pending one is due anyway).
    Delivery(i64),
    /// Every dead delivery of a destination.
    DeadFor(String),
}

/// One destination's outbox at a glance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxStats {
    pub destination: String,
    pub pending: u64,
    pub sent: u64,
    pub dead: u64,
    /// Creation time of the oldest pending delivery.
    pub oldest_pending: Option<OffsetDateTime>,
}

/// Which deliveries `list` returns; every `Some` narrows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub destination: Option<String>,
    pub status: Option<DeliveryStatus>,
    pub message_id: Option<i64>,
}

// ---- writes (the writer task, inside its transaction) ----

/// Rows per INSERT statement: 11 parameters a row stays far below SQLite's limit of 32,766 variables.
const INSERT_CHUNK: usize = 64;

/// Appends to `sql` the statements inserting `n` deliveries (pending, due now), one multi-row INSERT per
/// [`INSERT_CHUNK`] rows; [`bind_inserts`] binds their parameters in the same order.
pub(crate) fn push_inserts(sql: &mut String, n: usize) {
    let mut left = n;
    while left > 0 {
        let rows = left.min(INSERT_CHUNK);
        sql.push_str(
            "INSERT INTO deliveries (message_id, destination, route, routing_key, resource_type, content_id, lane, \
             body, status, next_attempt_at, created_at, updated_at) VALUES ",
        );
        for i in 0..rows {
            sql.push_str(if i == 0 { "" } else { ", " });
            sql.push_str("(?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)");
        }
        sql.push_str(";\n");
        left -= rows;
    }
}

pub(crate) fn bind_inserts<'q>(
    mut query: Query<'q, Sqlite, SqliteArguments<'q>>,
    message_id: i64,
    deliveries: &'q [NewDelivery],
    now_us: i64,
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    for d in deliveries {
        query = query
            .bind(message_id)
            .bind(&d.destination)
            .bind(&d.route)
            .bind(&d.routing_key)
            .bind(&d.resource_type)
            .bind(&d.content_id)
            .bind(&d.lane)
            .bind(&d.body)
            .bind(now_us)
            .bind(now_us)
            .bind(now_us);
    }
    query
}

/// Records a batch of outcomes; returns how many rows changed. Every `Sent` of the batch is one statement (the
/// common case: a sink's whole window confirmed); retries and dead ones, which also log their failure, one by one.
pub(crate) async fn record_all(
    conn: &mut SqliteConnection,
    outcomes: &[DeliveryOutcome],
    now_us: i64,
) -> Result<u64, StoreError> {
    let sent: Vec<i64> =
        outcomes.iter().filter_map(|o| if let DeliveryOutcome::Sent { id } = o { Some(*id) } else { None }).collect();
    let mut changed = 0;
    if !sent.is_empty() {
        let ids = format!("[{}]", sent.iter().map(i64::to_string).collect::<Vec<_>>().join(","));
        changed += sqlx::query(
            "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, sent_at = ?, updated_at = ?
             WHERE id IN (SELECT value FROM json_each(?)) AND status = 'pending'",
        )
        .bind(now_us)
        .bind(now_us)
        .bind(ids)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    for o in outcomes.iter().filter(|o| !matches!(o, DeliveryOutcome::Sent { .. })) {
        changed += u64::from(record(conn, o, now_us).await?);
    }
    Ok(changed)
}

/// Records one attempt's outcome. Only a `pending` row changes: an outcome for a row that was cancelled or
/// resent meanwhile is ignored (`Ok(false)`).
pub(crate) async fn record(
    conn: &mut SqliteConnection,
    outcome: &DeliveryOutcome,
    now_us: i64,
) -> Result<bool, StoreError> {
    let done = match outcome {
        DeliveryOutcome::Sent { id } => {
            sqlx::query(
                "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, sent_at = ?, updated_at = ?
                 WHERE id = ? AND status = 'pending'",
            )
            .bind(now_us)
            .bind(now_us)
            .bind(id)
            .execute(&mut *conn)
            .await?
        }
        DeliveryOutcome::Retry { id, error, at } => {
            let done = sqlx::query(
                "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, updated_at = ?
                 WHERE id = ? AND status = 'pending'",
            )
            .bind(to_micros(*at))
            .bind(error)
            .bind(now_us)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() > 0 {
                log_failure(conn, *id, error, now_us).await?;
            }
            done
        }
        DeliveryOutcome::Dead { id, error } => {
            let done = sqlx::query(
                "UPDATE deliveries SET status = 'dead', attempts = attempts + 1, last_error = ?, updated_at = ?
                 WHERE id = ? AND status = 'pending'",
            )
            .bind(error)
            .bind(now_us)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() > 0 {
                log_failure(conn, *id, error, now_us).await?;
            }
            done
        }
    };
    Ok(done.rows_affected() > 0)
}

async fn log_failure(conn: &mut SqliteConnection, id: i64, error: &str, now_us: i64) -> Result<(), StoreError> {
    // `attempts` was just incremented: it numbers this attempt. A row that is gone inserts nothing.
    sqlx::query(
        "INSERT INTO delivery_failures (delivery_id, seq, attempt, at, error)
         SELECT id, (SELECT count(*) FROM delivery_failures WHERE delivery_id = ?) + 1, attempts, ?, ?
         FROM deliveries WHERE id = ?",
    )
    .bind(id)
    .bind(now_us)
    .bind(error)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Puts deliveries back to `pending`, due now, with a fresh retry budget. Returns how many.
pub(crate) async fn resend(conn: &mut SqliteConnection, target: &ResendTarget, now_us: i64) -> Result<u64, StoreError> {
    let done = match target {
        ResendTarget::Delivery(id) => {
            let done = sqlx::query(
                "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?
                 WHERE id = ? AND status <> 'pending' AND body IS NOT NULL",
            )
            .bind(now_us)
            .bind(now_us)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() == 0 {
                let exists: Option<String> = sqlx::query_scalar("SELECT status FROM deliveries WHERE id = ?")
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?;
                return match exists {
                    None => Err(StoreError::NotFound(*id)),
                    Some(s) if s == "pending" => Ok(0),
                    Some(_) => Err(StoreError::Refused(format!("delivery {id}: its content was pruned"))),
                };
            }
            done
        }
        ResendTarget::DeadFor(destination) => {
            sqlx::query(
                "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?
                 WHERE destination = ? AND status = 'dead' AND body IS NOT NULL",
            )
            .bind(now_us)
            .bind(now_us)
            .bind(destination)
            .execute(&mut *conn)
            .await?
        }
    };
    Ok(done.rows_affected())
}

/// Reprocessing a message: back to `received` (the processing stage maps and routes it again from the raw
/// bytes), its conversion cleared, and its deliveries not yet sent cancelled (the new routing plans fresh ones;
/// consumers deduplicate what was already sent by `content_id`).
pub(crate) async fn reprocess(conn: &mut SqliteConnection, message_id: i64, now_us: i64) -> Result<(), StoreError> {
    let raw: Option<Option<i64>> = sqlx::query_scalar(
        "SELECT length(c.raw) FROM messages m LEFT JOIN message_content c ON c.message_id = m.id WHERE m.id = ?",
    )
    .bind(message_id)
    .fetch_optional(&mut *conn)
    .await?;
    match raw {
        None => return Err(StoreError::NotFound(message_id)),
        Some(None) => {
            return Err(StoreError::Refused(format!("message {message_id}: its raw content was pruned")));
        }
        Some(Some(_)) => {}
    }
    sqlx::query("UPDATE messages SET status = 'received', reason = NULL, updated_at = ? WHERE id = ?")
        .bind(now_us)
        .bind(message_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE message_content SET bundle = NULL, report = NULL WHERE message_id = ?")
        .bind(message_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE deliveries SET status = 'cancelled', updated_at = ? WHERE message_id = ? AND status IN ('pending', 'dead')",
    )
    .bind(now_us)
    .bind(message_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ---- reads ----

/// Due deliveries of `destination`, oldest first, lane heads only.
pub(crate) async fn due(
    pool: &SqlitePool,
    destination: &str,
    now: OffsetDateTime,
    limit: u32,
) -> Result<Vec<DueDelivery>, StoreError> {
    let rows = sqlx::query(
        "SELECT d.id, d.message_id, m.channel, coalesce(m.trigger_event, m.message_code) AS event, d.route,
                d.routing_key, d.resource_type, d.content_id, d.lane, d.body, d.attempts
         FROM deliveries d JOIN messages m ON m.id = d.message_id
         WHERE d.destination = ? AND d.status = 'pending' AND d.next_attempt_at <= ?
           AND (d.lane IS NULL OR NOT EXISTS (
                 SELECT 1 FROM deliveries e
                 WHERE e.destination = d.destination AND e.lane = d.lane AND e.status = 'pending' AND e.id < d.id))
         ORDER BY d.id LIMIT ?",
    )
    .bind(destination)
    .bind(to_micros(now))
    .bind(i64::from(limit.min(MAX_PAGE)))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DueDelivery {
                id: r.try_get("id")?,
                message_id: r.try_get("message_id")?,
                channel: r.try_get("channel")?,
                event: r.try_get("event")?,
                route: r.try_get("route")?,
                routing_key: r.try_get("routing_key")?,
                resource_type: r.try_get("resource_type")?,
                content_id: r.try_get("content_id")?,
                lane: r.try_get("lane")?,
                body: r.try_get("body")?,
                attempts: attempts(r)?,
            })
        })
        .collect()
}

/// When the next pending delivery of `destination` falls due (`None`: nothing pending).
pub(crate) async fn next_due(pool: &SqlitePool, destination: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    let at: Option<i64> =
        sqlx::query_scalar("SELECT min(next_attempt_at) FROM deliveries WHERE destination = ? AND status = 'pending'")
            .bind(destination)
            .fetch_one(pool)
            .await?;
    at.map(from_micros).transpose()
}

pub(crate) async fn list(
    pool: &SqlitePool,
    filter: &DeliveryFilter,
    after_id: Option<i64>,
    limit: u32,
) -> Result<Vec<DeliveryRecord>, StoreError> {
    let mut q = QueryBuilder::<Sqlite>::new(
        "SELECT id, message_id, destination, route, routing_key, resource_type, content_id, lane, status, attempts,
                next_attempt_at, last_error, created_at, updated_at, sent_at FROM deliveries WHERE id > ",
    );
    q.push_bind(after_id.unwrap_or(0));
    if let Some(d) = &filter.destination {
        q.push(" AND destination = ").push_bind(d.as_str());
    }
    if let Some(s) = filter.status {
        q.push(" AND status = ").push_bind(s.as_str());
    }
    if let Some(m) = filter.message_id {
        q.push(" AND message_id = ").push_bind(m);
    }
    q.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit.min(MAX_PAGE)));
    let rows = q.build().fetch_all(pool).await?;
    rows.iter().map(record_row).collect()
}

/// The failed attempts of one delivery, oldest first: (attempt, time, error).
pub(crate) async fn failures(pool: &SqlitePool, id: i64) -> Result<Vec<(u32, OffsetDateTime, String)>, StoreError> {
    let rows: Vec<(i64, i64, String)> =
        sqlx::query_as("SELECT attempt, at, error FROM delivery_failures WHERE delivery_id = ? ORDER BY seq")
            .bind(id)
            .fetch_all(pool)
            .await?;
    rows.into_iter().map(|(a, at, e)| Ok((u32::try_from(a).unwrap_or(u32::MAX), from_micros(at)?, e))).collect()
}

pub(crate) async fn stats(pool: &SqlitePool) -> Result<Vec<OutboxStats>, StoreError> {
    let rows: Vec<(String, i64, i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT destination,
                sum(status = 'pending'), sum(status = 'sent'), sum(status = 'dead'),
                min(CASE WHEN status = 'pending' THEN created_at END)
         FROM deliveries GROUP BY destination ORDER BY destination",
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(destination, pending, sent, dead, oldest)| {
            Ok(OutboxStats {
                destination,
                pending: non_negative(pending, "count")?,
                sent: non_negative(sent, "count")?,
                dead: non_negative(dead, "count")?,
                oldest_pending: oldest.map(from_micros).transpose()?,
            })
        })
        .collect()
}

/// Pending deliveries per destination (served by the partial index on pending rows: cheap to poll).
pub(crate) async fn pending(pool: &SqlitePool) -> Result<Vec<(String, u64)>, StoreError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT destination, count(*) FROM deliveries WHERE status = 'pending' GROUP BY destination ORDER BY destination",
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(|(d, n)| Ok((d, non_negative(n, "count")?))).collect()
}

fn attempts(r: &SqliteRow) -> Result<u32, StoreError> {
    let n: i64 = r.try_get("attempts")?;
    u32::try_from(n).map_err(|_| StoreError::InvalidData("attempts out of range".into()))
}

fn record_row(r: &SqliteRow) -> Result<DeliveryRecord, StoreError> {
    let status: String = r.try_get("status")?;
    let sent_at: Option<i64> = r.try_get("sent_at")?;
    Ok(DeliveryRecord {
        id: r.try_get("id")?,
        message_id: r.try_get("message_id")?,
        destination: r.try_get("destination")?,
        route: r.try_get("route")?,
        routing_key: r.try_get("routing_key")?,
        resource_type: r.try_get("resource_type")?,
        content_id: r.try_get("content_id")?,
        lane: r.try_get("lane")?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| StoreError::InvalidData(format!("unknown delivery status {status:?}")))?,
        attempts: attempts(r)?,
        next_attempt_at: from_micros(r.try_get("next_attempt_at")?)?,
        last_error: r.try_get("last_error")?,
        created_at: from_micros(r.try_get("created_at")?)?,
        updated_at: from_micros(r.try_get("updated_at")?)?,
        sent_at: sent_at.map(from_micros).transpose()?,
    })
}
