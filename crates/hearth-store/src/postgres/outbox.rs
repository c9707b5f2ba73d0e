//! PostgreSQL: the outbox's SQL (types and semantics in `crate::outbox`, parallel to `sqlite::outbox`).

use sqlx::postgres::{PgConnection, PgPool};
use sqlx::{Postgres, QueryBuilder};
use time::OffsetDateTime;

use super::messages::pg_text;
use crate::outbox::{DeliveryFilter, DeliveryOutcome, DeliveryRecord, DueDelivery, OutboxStats, ResendTarget};
use crate::rows::{SELECT_DELIVERY, SELECT_DUE, delivery_record, due_delivery, from_micros, non_negative, to_micros};
use crate::{MAX_PAGE, StoreError};

/// Every `Sent` of a batch in one statement (the common case: a sink's whole window confirmed); each retry and
/// dead one in one statement that also logs its failure. Only a `pending` row changes: an outcome for a row that
/// was cancelled or resent meanwhile is ignored.
pub(crate) async fn record_all(
    conn: &mut PgConnection,
    outcomes: &[DeliveryOutcome],
    now_us: i64,
) -> Result<u64, StoreError> {
    let sent: Vec<i64> =
        outcomes.iter().filter_map(|o| if let DeliveryOutcome::Sent { id } = o { Some(*id) } else { None }).collect();
    let mut changed = 0;
    if !sent.is_empty() {
        changed += sqlx::query(
            "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, sent_at = $1, updated_at = $1,
                    leased_by = NULL
             WHERE id = ANY($2) AND status = 'pending'",
        )
        .bind(now_us)
        .bind(&sent)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    for o in outcomes {
        let (id, error, next, status) = match o {
            DeliveryOutcome::Sent { .. } => continue,
            DeliveryOutcome::Retry { id, error, at } => (*id, error, Some(to_micros(*at)), "pending"),
            DeliveryOutcome::Dead { id, error } => (*id, error, None, "dead"),
        };
        // `attempts` is incremented by the update: it numbers this attempt in the failure log.
        changed += sqlx::query(
            "WITH u AS (
                UPDATE deliveries SET status = $2, attempts = attempts + 1,
                       next_attempt_at = coalesce($3, next_attempt_at), last_error = $4, updated_at = $5,
                       leased_by = NULL
                WHERE id = $1 AND status = 'pending' RETURNING id, attempts
             )
             INSERT INTO delivery_failures (delivery_id, seq, attempt, at, error)
             SELECT u.id, (SELECT count(*) FROM delivery_failures f WHERE f.delivery_id = u.id) + 1, u.attempts, $5, $4
             FROM u",
        )
        .bind(id)
        .bind(status)
        .bind(next)
        .bind(pg_text(error))
        .bind(now_us)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok(changed)
}

/// Puts deliveries back to `pending`, due now, with a fresh retry budget. Returns how many.
pub(crate) async fn resend(conn: &mut PgConnection, target: &ResendTarget, now_us: i64) -> Result<u64, StoreError> {
    let done = match target {
        ResendTarget::Delivery(id) => {
            let done = sqlx::query(
                "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, updated_at = $1,
                        leased_by = NULL
                 WHERE id = $2 AND status <> 'pending' AND body IS NOT NULL",
            )
            .bind(now_us)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() == 0 {
                let exists: Option<String> = sqlx::query_scalar("SELECT status FROM deliveries WHERE id = $1")
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
                "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, updated_at = $1,
                        leased_by = NULL
                 WHERE destination = $2 AND status = 'dead' AND body IS NOT NULL",
            )
            .bind(now_us)
            .bind(destination)
            .execute(&mut *conn)
            .await?
        }
    };
    Ok(done.rows_affected())
}

/// Reprocessing a message: back to `received`, its conversion cleared, its deliveries not yet sent cancelled.
pub(crate) async fn reprocess(conn: &mut PgConnection, message_id: i64, now_us: i64) -> Result<(), StoreError> {
    let raw: Option<Option<i64>> = sqlx::query_scalar(
        "SELECT length(c.raw)::bigint FROM messages m LEFT JOIN message_content c ON c.message_id = m.id
         WHERE m.id = $1",
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
        "WITH m AS (UPDATE messages SET status = 'received', reason = NULL, updated_at = $2, claimed_by = NULL
                    WHERE id = $1),
              c AS (UPDATE message_content SET bundle = NULL, report = NULL WHERE message_id = $1)
         UPDATE deliveries SET status = 'cancelled', updated_at = $2
         WHERE message_id = $1 AND status IN ('pending', 'dead')",
    )
    .bind(message_id)
    .bind(now_us)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ---- reads ----

/// Due rows of destination `$1` at time `$2` (unix microseconds), seen by node `$3` (NULL: by nobody in
/// particular): pending, their time reached, not leased by another live node (by the server's clock), and of a
/// lane only its head, once every older message is converted (see `crate::outbox`).
pub(crate) const DUE_WHERE: &str = "
WHERE d.destination = $1 AND d.status = 'pending' AND d.next_attempt_at <= $2
  AND (d.leased_by IS NULL OR d.leased_by = $3::text
       OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = d.leased_by
                      AND n.expires_at > (extract(epoch from clock_timestamp()) * 1000000)::bigint))
  AND (d.lane IS NULL OR (
        d.message_id < coalesce((SELECT min(id) FROM messages WHERE status = 'received'), 9223372036854775807)
        AND NOT EXISTS (
            SELECT 1 FROM deliveries e
            WHERE e.destination = d.destination AND e.lane = d.lane AND e.status = 'pending'
              AND (e.message_id < d.message_id OR (e.message_id = d.message_id AND e.id < d.id)))))";

pub(crate) async fn due(
    pool: &PgPool,
    destination: &str,
    now: OffsetDateTime,
    limit: u32,
) -> Result<Vec<DueDelivery>, StoreError> {
    let rows = sqlx::query(&format!("{SELECT_DUE}{DUE_WHERE} ORDER BY d.id LIMIT $4"))
        .bind(destination)
        .bind(to_micros(now))
        .bind(None::<&str>)
        .bind(i64::from(limit.min(MAX_PAGE)))
        .fetch_all(pool)
        .await?;
    rows.iter().map(due_delivery).collect()
}

/// The deliveries a lease just took, in id order.
pub(crate) async fn due_by_ids(pool: &PgPool, ids: &[i64]) -> Result<Vec<DueDelivery>, StoreError> {
    let rows =
        sqlx::query(&format!("{SELECT_DUE} WHERE d.id = ANY($1) ORDER BY d.id")).bind(ids).fetch_all(pool).await?;
    rows.iter().map(due_delivery).collect()
}

pub(crate) async fn next_due(pool: &PgPool, destination: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    let at: Option<i64> =
        sqlx::query_scalar("SELECT min(next_attempt_at) FROM deliveries WHERE destination = $1 AND status = 'pending'")
            .bind(destination)
            .fetch_one(pool)
            .await?;
    at.map(from_micros).transpose()
}

pub(crate) async fn list(
    pool: &PgPool,
    filter: &DeliveryFilter,
    after_id: Option<i64>,
    limit: u32,
) -> Result<Vec<DeliveryRecord>, StoreError> {
    let mut q = QueryBuilder::<Postgres>::new(format!("{SELECT_DELIVERY} WHERE id > "));
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

pub(crate) async fn failures(pool: &PgPool, id: i64) -> Result<Vec<(u32, OffsetDateTime, String)>, StoreError> {
    let rows: Vec<(i64, i64, String)> =
        sqlx::query_as("SELECT attempt, at, error FROM delivery_failures WHERE delivery_id = $1 ORDER BY seq")
            .bind(id)
            .fetch_all(pool)
            .await?;
    rows.into_iter().map(|(a, at, e)| Ok((u32::try_from(a).unwrap_or(u32::MAX), from_micros(at)?, e))).collect()
}

pub(crate) async fn stats(pool: &PgPool) -> Result<Vec<OutboxStats>, StoreError> {
    let rows: Vec<(String, i64, i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT destination,
                count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'sent'),
                count(*) FILTER (WHERE status = 'dead'), min(created_at) FILTER (WHERE status = 'pending')
         FROM deliveries GROUP BY destination ORDER BY destination COLLATE \"C\"",
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

pub(crate) async fn pending(pool: &PgPool) -> Result<Vec<(String, u64)>, StoreError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT destination, count(*) FROM deliveries WHERE status = 'pending' GROUP BY destination ORDER BY destination COLLATE \"C\"",
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(|(d, n)| Ok((d, non_negative(n, "count")?))).collect()
}
