//! SQLite: the outbox's SQL (types and semantics in `crate::outbox`).

use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteConnection, SqlitePool};
use sqlx::{QueryBuilder, Sqlite};
use time::OffsetDateTime;

use crate::outbox::{
    DeliveryFilter, DeliveryOutcome, DeliveryRecord, DueDelivery, NewDelivery, OutboxStats, ResendTarget,
};
use crate::rows::{SELECT_DELIVERY, SELECT_DUE, delivery_record, due_delivery, from_micros, non_negative, to_micros};
use crate::{MAX_PAGE, StoreError};

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
        changed += sqlx::query(
            "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, sent_at = ?, updated_at = ?,
                    leased_by = NULL
             WHERE id IN (SELECT value FROM json_each(?)) AND status = 'pending'",
        )
        .bind(now_us)
        .bind(now_us)
        .bind(super::json_ids(&sent))
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
                "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, sent_at = ?, updated_at = ?,
                        leased_by = NULL
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
                "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, updated_at = ?,
                        leased_by = NULL
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
                "UPDATE deliveries SET status = 'dead', attempts = attempts + 1, last_error = ?, updated_at = ?,
                        leased_by = NULL
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
                "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?,
                        leased_by = NULL
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
                "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?,
                        leased_by = NULL
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
    sqlx::query(
        "UPDATE messages SET status = 'received', reason = NULL, updated_at = ?, claimed_by = NULL WHERE id = ?",
    )
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

/// Due rows of destination `?1` at time `?2` (unix microseconds), seen by node `?4` (NULL: by nobody in
/// particular) at lease clock `?3`: pending, their time reached, not leased by another live node, and of a lane
/// only its head, once every older message is converted (see `crate::outbox`).
pub(crate) const DUE_WHERE: &str = "
WHERE d.destination = ?1 AND d.status = 'pending' AND d.next_attempt_at <= ?2
  AND (d.leased_by IS NULL OR d.leased_by = ?4
       OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = d.leased_by AND n.expires_at > ?3))
  AND (d.lane IS NULL OR (
        d.message_id < coalesce((SELECT min(id) FROM messages WHERE status = 'received'), 9223372036854775807)
        AND NOT EXISTS (
            SELECT 1 FROM deliveries e
            WHERE e.destination = d.destination AND e.lane = d.lane AND e.status = 'pending'
              AND (e.message_id < d.message_id OR (e.message_id = d.message_id AND e.id < d.id)))))";

/// Due deliveries of `destination`, oldest first, lane heads only.
pub(crate) async fn due(
    pool: &SqlitePool,
    destination: &str,
    now: OffsetDateTime,
    limit: u32,
) -> Result<Vec<DueDelivery>, StoreError> {
    let rows = sqlx::query(&format!("{SELECT_DUE}{DUE_WHERE} ORDER BY d.id LIMIT ?5"))
        .bind(destination)
        .bind(to_micros(now))
        .bind(to_micros(OffsetDateTime::now_utc()))
        .bind(None::<&str>)
        .bind(i64::from(limit.min(MAX_PAGE)))
        .fetch_all(pool)
        .await?;
    rows.iter().map(due_delivery).collect()
}

/// The deliveries a lease just took, in id order.
pub(crate) async fn due_by_ids(pool: &SqlitePool, ids: &[i64]) -> Result<Vec<DueDelivery>, StoreError> {
    let rows = sqlx::query(&format!("{SELECT_DUE} WHERE d.id IN (SELECT value FROM json_each(?)) ORDER BY d.id"))
        .bind(super::json_ids(ids))
        .fetch_all(pool)
        .await?;
    rows.iter().map(due_delivery).collect()
}

/// When the next pending delivery of `destination` falls due (`None`: nothing pending).
///
/// Read through the partial index of pending deliveries, named: with `ANALYZE` statistics of a journal whose
/// deliveries are nearly all sent, SQLite's planner took a full scan of `deliveries` instead (1.0–1.5 s a call on
/// 1,000,000 sent deliveries; docs/performance.md), where the pending rows alone are a few.
pub(crate) async fn next_due(pool: &SqlitePool, destination: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    let at: Option<i64> = sqlx::query_scalar(
        "SELECT min(next_attempt_at) FROM deliveries INDEXED BY deliveries_pending \
         WHERE destination = ? AND status = 'pending'",
    )
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
    let mut q = QueryBuilder::<Sqlite>::new(format!("{SELECT_DELIVERY} WHERE id > "));
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
    rows.iter().map(delivery_record).collect()
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
