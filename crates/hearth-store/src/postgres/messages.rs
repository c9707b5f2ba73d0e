//! PostgreSQL: the messages, their content and conversion, channel pauses (parallel to `sqlite::messages`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use hearth_core::{Envelope, MessageStatus};
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::{Postgres, QueryBuilder};

use crate::appends::AppendRun;
use crate::rows::{FROM_MESSAGES, SELECT_SUMMARY, non_negative, status_counts, stored, summary, to_micros};
use crate::write::Conversion;
use crate::{Appended, MAX_PAGE, MessageFilter, MessageSummary, StoreError, StoredMessage};

/// The message and its content in one round trip; a duplicate only counts (its content is not stored again).
/// Two appends of one key in one transaction: the second sees the first's row. Between nodes the unique index
/// decides: an append waits for another node's uncommitted insert of the same key, then counts as a duplicate.
const INSERT_MESSAGE: &str = "\
WITH m AS (
    INSERT INTO messages (channel, kind, received_at, status, reason, dedup_key, message_code, trigger_event,
                          structure, control_id, sending_application, sending_facility, updated_at, trace_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $15)
    ON CONFLICT (dedup_key) DO UPDATE SET duplicates = messages.duplicates + 1, updated_at = EXCLUDED.updated_at
    RETURNING id, duplicates
), c AS (
    INSERT INTO message_content (message_id, raw) SELECT id, $14 FROM m WHERE duplicates = 0
)
SELECT id, duplicates FROM m";

/// PostgreSQL text cannot hold NUL; SQLite's can. The raw bytes (BYTEA) are kept exactly either way; only the
/// metadata a NUL would make unstorable is changed, so that such a message is still journaled (and
/// acknowledged) rather than refused.
pub(crate) fn pg_text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') { Cow::Owned(s.replace('\0', "\u{FFFD}")) } else { Cow::Borrowed(s) }
}

fn pg_opt(s: &Option<String>) -> Option<Cow<'_, str>> {
    s.as_deref().map(pg_text)
}

pub(crate) async fn insert(conn: &mut PgConnection, env: &Envelope, now_us: i64) -> Result<Appended, StoreError> {
    let m = &env.meta;
    let (id, duplicates): (i64, i64) = sqlx::query_as(INSERT_MESSAGE)
        .bind(pg_text(&env.channel))
        .bind(env.kind.as_str())
        .bind(to_micros(env.received_at))
        .bind(env.status.as_str())
        .bind(pg_opt(&env.reason))
        .bind(pg_opt(&env.dedup_key))
        .bind(pg_opt(&m.message_code))
        .bind(pg_opt(&m.trigger_event))
        .bind(pg_opt(&m.structure))
        .bind(pg_opt(&m.control_id))
        .bind(pg_opt(&m.sending_application))
        .bind(pg_opt(&m.sending_facility))
        .bind(now_us)
        .bind(env.raw.as_slice())
        .bind(env.trace_id.to_hex())
        .fetch_one(&mut *conn)
        .await?;
    Ok(Appended { id, duplicate: duplicates > 0 })
}

/// Many appends (one run of a batch, in queue order) in two round trips: the ids first, then every message and
/// its content in one statement. Within the run, a repeated dedup key is a duplicate of its first occurrence
/// (one statement cannot insert and update the same row); against the journal, the unique index decides as in
/// [`insert`]. All or nothing: an error in any row fails the run (the writer then appends one by one).
pub(crate) async fn insert_all(
    conn: &mut PgConnection,
    envs: &[&Envelope],
    now_us: i64,
) -> Result<Vec<Appended>, StoreError> {
    let run = AppendRun::plan(envs, pg_text);
    // Ids in queue order, taken before the insert: they are what tells an inserted row from a conflicting one.
    let mut ids: Vec<i64> =
        sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('messages', 'id')) FROM generate_series(1, $1)")
            .bind(i64::try_from(run.rows.len()).unwrap_or(i64::MAX))
            .fetch_all(&mut *conn)
            .await?;
    ids.sort_unstable();
    let text = |f: fn(&Envelope) -> Option<&str>| -> Vec<Option<String>> {
        run.row_envs().map(|e| f(e).map(|t| pg_text(t).into_owned())).collect()
    };
    let returned: Vec<(i64, Option<String>)> = sqlx::query_as(INSERT_ALL)
        .bind(&ids)
        .bind(text(|e| Some(&e.channel)))
        .bind(text(|e| Some(e.kind.as_str())))
        .bind(run.row_envs().map(|e| to_micros(e.received_at)).collect::<Vec<_>>())
        .bind(text(|e| Some(e.status.as_str())))
        .bind(text(|e| e.reason.as_deref()))
        .bind(text(|e| e.dedup_key.as_deref()))
        .bind(text(|e| e.meta.message_code.as_deref()))
        .bind(text(|e| e.meta.trigger_event.as_deref()))
        .bind(text(|e| e.meta.structure.as_deref()))
        .bind(text(|e| e.meta.control_id.as_deref()))
        .bind(text(|e| e.meta.sending_application.as_deref()))
        .bind(text(|e| e.meta.sending_facility.as_deref()))
        .bind(&run.extra)
        .bind(run.row_envs().map(|e| e.raw.as_slice()).collect::<Vec<_>>())
        .bind(now_us)
        .bind(run.row_envs().map(|e| e.trace_id.to_hex()).collect::<Vec<_>>())
        .fetch_all(&mut *conn)
        .await?;
    run.answer(&ids, returned)
}

/// The run's messages with the ids taken for them, and the content of those actually inserted (a conflicting
/// row returns its existing id, which is none of ours).
const INSERT_ALL: &str = "WITH m AS (
    INSERT INTO messages (id, channel, kind, received_at, status, reason, dedup_key, message_code, trigger_event,
                          structure, control_id, sending_application, sending_facility, duplicates, updated_at,
                          trace_id)
    SELECT u.id, u.channel, u.kind, u.received_at, u.status, u.reason, u.dedup_key, u.message_code,
           u.trigger_event, u.structure, u.control_id, u.sending_application, u.sending_facility, u.extra, $16,
           u.trace_id
    FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[],
                $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bigint[], $17::text[])
         AS u(id, channel, kind, received_at, status, reason, dedup_key, message_code, trigger_event, structure,
              control_id, sending_application, sending_facility, extra, trace_id)
    ORDER BY u.id
    ON CONFLICT (dedup_key) DO UPDATE
        SET duplicates = messages.duplicates + 1 + EXCLUDED.duplicates, updated_at = EXCLUDED.updated_at
    RETURNING id, duplicates, dedup_key
), c AS (
    INSERT INTO message_content (message_id, raw)
    SELECT r.id, r.raw FROM UNNEST($1::bigint[], $15::bytea[]) AS r(id, raw) JOIN m ON m.id = r.id
)
SELECT id, dedup_key FROM m";

pub(crate) async fn update_status(
    conn: &mut PgConnection,
    id: i64,
    status: MessageStatus,
    reason: Option<&str>,
    now_us: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE messages SET status = $1, reason = $2, updated_at = $3 WHERE id = $4")
        .bind(status.as_str())
        .bind(reason.map(pg_text))
        .bind(now_us)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(id));
    }
    Ok(())
}

/// Status, content, deliveries (in the router's order: ids follow the ordinality) and the identifier index in
/// one statement. Every part hangs off `s`, the status update: an unknown id changes nothing, nor does a
/// conversion under a claim (`$15`) the node no longer holds.
const STORE_CONVERSION: &str = "\
WITH s AS (
    UPDATE messages SET status = $2, reason = $3, updated_at = $4, claimed_by = NULL
    WHERE id = $1 AND ($15::text IS NULL OR (status = 'received' AND claimed_by = $15))
    RETURNING id
), c AS (
    UPDATE message_content SET bundle = $5, report = $6 WHERE message_id IN (SELECT id FROM s)
), d AS (
    INSERT INTO deliveries (message_id, destination, route, routing_key, resource_type, content_id, lane, body,
                            status, next_attempt_at, created_at, updated_at)
    SELECT s.id, u.destination, u.route, u.routing_key, u.resource_type, u.content_id, u.lane, u.body,
           'pending', $4, $4, $4
    FROM s, UNNEST($7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])
            WITH ORDINALITY AS u(destination, route, routing_key, resource_type, content_id, lane, body, n)
    ORDER BY u.n
), gone AS (
    DELETE FROM patient_identifiers
    WHERE message_id IN (SELECT id FROM s) AND NOT (identifier = ANY($14::text[]))
), added AS (
    INSERT INTO patient_identifiers (identifier, message_id)
    SELECT DISTINCT i, s.id FROM s, UNNEST($14::text[]) AS i
    ON CONFLICT DO NOTHING
)
SELECT count(*) FROM s";

pub(crate) async fn store_conversion(conn: &mut PgConnection, c: &Conversion, now_us: i64) -> Result<(), StoreError> {
    let column = |f: fn(&crate::NewDelivery) -> &str| c.deliveries.iter().map(|d| f(d).to_owned()).collect::<Vec<_>>();
    let lanes: Vec<Option<String>> = c.deliveries.iter().map(|d| d.lane.clone()).collect();
    let found: i64 = sqlx::query_scalar(STORE_CONVERSION)
        .bind(c.id)
        .bind(c.status.as_str())
        .bind(c.reason.as_deref().map(pg_text))
        .bind(now_us)
        .bind(c.bundle.as_deref())
        .bind(c.report.as_deref())
        .bind(column(|d| &d.destination))
        .bind(column(|d| &d.route))
        .bind(column(|d| &d.routing_key))
        .bind(column(|d| &d.resource_type))
        .bind(column(|d| &d.content_id))
        .bind(lanes)
        .bind(column(|d| &d.body))
        .bind(&c.patients)
        .bind(c.claim.as_deref())
        .fetch_one(&mut *conn)
        .await?;
    if found == 0 {
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT id FROM messages WHERE id = $1").bind(c.id).fetch_optional(&mut *conn).await?;
        return Err(if exists.is_some() { StoreError::ClaimLost(c.id) } else { StoreError::NotFound(c.id) });
    }
    Ok(())
}

pub(crate) async fn store_channel_pause(
    conn: &mut PgConnection,
    channel: &str,
    pause: Option<&str>,
    now_us: i64,
) -> Result<(), StoreError> {
    match pause {
        Some(reason) => {
            sqlx::query(
                "INSERT INTO channel_pauses (channel, reason, paused_at) VALUES ($1, $2, $3)
                 ON CONFLICT (channel) DO UPDATE SET reason = EXCLUDED.reason, paused_at = EXCLUDED.paused_at",
            )
            .bind(pg_text(channel))
            .bind(pg_text(reason))
            .bind(now_us)
            .execute(&mut *conn)
            .await?
        }
        None => {
            sqlx::query("DELETE FROM channel_pauses WHERE channel = $1")
                .bind(pg_text(channel))
                .execute(&mut *conn)
                .await?
        }
    };
    Ok(())
}

// ---- reads ----

pub(crate) async fn get(pool: &PgPool, id: i64) -> Result<Option<StoredMessage>, StoreError> {
    let row = sqlx::query(&format!("{SELECT_SUMMARY}, c.raw, c.bundle, c.report{FROM_MESSAGES} WHERE m.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(stored).transpose()
}

pub(crate) async fn list(
    pool: &PgPool,
    filter: &MessageFilter,
    after_id: Option<i64>,
    limit: u32,
) -> Result<Vec<MessageSummary>, StoreError> {
    let mut q = QueryBuilder::<Postgres>::new(format!("{SELECT_SUMMARY}{FROM_MESSAGES} WHERE m.id > "));
    q.push_bind(after_id.unwrap_or(0));
    if let Some(channel) = &filter.channel {
        q.push(" AND m.channel = ").push_bind(channel.as_str());
    }
    if let Some(status) = filter.status {
        q.push(" AND m.status = ").push_bind(status.as_str());
    }
    if let Some(control_id) = &filter.control_id {
        q.push(" AND m.control_id = ").push_bind(control_id.as_str());
    }
    q.push(" ORDER BY m.id LIMIT ").push_bind(i64::from(limit.min(MAX_PAGE)));
    let rows = q.build().fetch_all(pool).await?;
    rows.iter().map(summary).collect()
}

pub(crate) async fn next_received(pool: &PgPool, after_id: i64, limit: u32) -> Result<Vec<StoredMessage>, StoreError> {
    let rows = sqlx::query(&format!(
        "{SELECT_SUMMARY}, c.raw, c.bundle, c.report{FROM_MESSAGES} WHERE m.status = 'received' AND m.id > $1 ORDER BY m.id LIMIT $2"
    ))
    .bind(after_id)
    .bind(i64::from(limit.min(MAX_PAGE)))
    .fetch_all(pool)
    .await?;
    rows.iter().map(stored).collect()
}

/// Messages by id (a claim's), ascending, with their bytes.
pub(crate) async fn by_ids(pool: &PgPool, ids: &[i64]) -> Result<Vec<StoredMessage>, StoreError> {
    let rows = sqlx::query(&format!(
        "{SELECT_SUMMARY}, c.raw, c.bundle, c.report{FROM_MESSAGES} WHERE m.id = ANY($1) ORDER BY m.id"
    ))
    .bind(ids)
    .fetch_all(pool)
    .await?;
    rows.iter().map(stored).collect()
}

pub(crate) async fn count_by_status(
    pool: &PgPool,
    channel: Option<&str>,
) -> Result<BTreeMap<MessageStatus, u64>, StoreError> {
    let rows: Vec<(String, i64)> = match channel {
        Some(ch) => {
            sqlx::query_as("SELECT status, count(*) FROM messages WHERE channel = $1 GROUP BY status")
                .bind(ch)
                .fetch_all(pool)
                .await?
        }
        None => sqlx::query_as("SELECT status, count(*) FROM messages GROUP BY status").fetch_all(pool).await?,
    };
    status_counts(rows)
}

pub(crate) async fn count_all(pool: &PgPool) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM messages").fetch_one(pool).await?;
    non_negative(n, "count")
}
