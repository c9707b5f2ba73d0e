//! SQLite: the messages, their content and conversion, channel pauses.

use std::borrow::Cow;
use std::collections::BTreeMap;

use hearth_core::{Envelope, MessageStatus};
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use sqlx::{QueryBuilder, Sqlite};

use crate::appends::AppendRun;
use crate::rows::{FROM_MESSAGES, SELECT_SUMMARY, non_negative, status_counts, stored, summary, to_micros};
use crate::write::Conversion;
use crate::{Appended, MAX_PAGE, MessageFilter, MessageSummary, StoreError, StoredMessage};

// ---- writes (only the writer task calls these, inside its transaction) ----

const INSERT_MESSAGE: &str = "\
INSERT INTO messages (channel, kind, received_at, status, reason, dedup_key, message_code, trigger_event,
                      structure, control_id, sending_application, sending_facility, updated_at, trace_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (dedup_key) DO UPDATE SET duplicates = duplicates + 1, updated_at = excluded.updated_at
RETURNING id, duplicates";

/// Stores one envelope, or counts it as a duplicate of the row with the same dedup key. Identical envelopes in
/// one transaction behave the same way: the second sees the first's row.
pub(crate) async fn insert(conn: &mut SqliteConnection, env: &Envelope, now_us: i64) -> Result<Appended, StoreError> {
    let m = &env.meta;
    let (id, duplicates): (i64, i64) = sqlx::query_as(INSERT_MESSAGE)
        .bind(&env.channel)
        .bind(env.kind.as_str())
        .bind(to_micros(env.received_at))
        .bind(env.status.as_str())
        .bind(&env.reason)
        .bind(&env.dedup_key)
        .bind(&m.message_code)
        .bind(&m.trigger_event)
        .bind(&m.structure)
        .bind(&m.control_id)
        .bind(&m.sending_application)
        .bind(&m.sending_facility)
        .bind(now_us)
        .bind(env.trace_id.to_hex())
        .fetch_one(&mut *conn)
        .await?;
    let duplicate = duplicates > 0;
    if !duplicate {
        sqlx::query("INSERT INTO message_content (message_id, raw) VALUES (?, ?)")
            .bind(id)
            .bind(env.raw.as_slice())
            .execute(&mut *conn)
            .await?;
    }
    Ok(Appended { id, duplicate })
}

/// Rows per statement of a batched append: 16 variables a row (16,000 a statement) stays below SQLite's limit of
/// 32,766.
const APPEND_ROWS: usize = 1_000;

/// Many appends (one run of a batch, in queue order) in a few statements instead of two per message: the last
/// id, the messages, their content. Duplicates are decided as in [`insert`] (see [`AppendRun`]). All or
/// nothing: an error in any row fails the run (the writer then appends one by one).
pub(crate) async fn insert_all(
    conn: &mut SqliteConnection,
    envs: &[&Envelope],
    now_us: i64,
) -> Result<Vec<Appended>, StoreError> {
    let run = AppendRun::plan(envs, Cow::Borrowed);
    // AUTOINCREMENT never reuses an id: start past both the sequence and the largest row. The writer holds
    // the write lock (BEGIN IMMEDIATE), so nobody else takes these ids.
    let last: i64 = sqlx::query_scalar(
        "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0),
                    coalesce((SELECT max(id) FROM messages), 0))",
    )
    .fetch_one(&mut *conn)
    .await?;
    let ids: Vec<i64> = (1..=i64::try_from(run.rows.len()).unwrap_or(i64::MAX)).map(|i| last + i).collect();
    let mut returned: Vec<(i64, Option<String>)> = Vec::with_capacity(ids.len());
    for start in (0..ids.len()).step_by(APPEND_ROWS) {
        let end = (start + APPEND_ROWS).min(ids.len());
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO messages (id, channel, kind, received_at, status, reason, dedup_key, message_code,
                                   trigger_event, structure, control_id, sending_application, sending_facility,
                                   duplicates, updated_at, trace_id) ",
        );
        q.push_values(start..end, |mut b, row| {
            let e = run.envs[run.rows[row]];
            let m = &e.meta;
            b.push_bind(ids[row])
                .push_bind(e.channel.as_str())
                .push_bind(e.kind.as_str())
                .push_bind(to_micros(e.received_at))
                .push_bind(e.status.as_str())
                .push_bind(e.reason.as_deref())
                .push_bind(e.dedup_key.as_deref())
                .push_bind(m.message_code.as_deref())
                .push_bind(m.trigger_event.as_deref())
                .push_bind(m.structure.as_deref())
                .push_bind(m.control_id.as_deref())
                .push_bind(m.sending_application.as_deref())
                .push_bind(m.sending_facility.as_deref())
                .push_bind(run.extra[row])
                .push_bind(now_us)
                .push_bind(e.trace_id.to_hex());
        });
        q.push(
            " ON CONFLICT (dedup_key) DO UPDATE
                SET duplicates = duplicates + 1 + excluded.duplicates, updated_at = excluded.updated_at
              RETURNING id, dedup_key",
        );
        returned.extend(q.build_query_as::<(i64, Option<String>)>().fetch_all(&mut *conn).await?);
    }
    // The content of the rows this run stored (a conflicting row came back with an id that is none of ours).
    let stored: Vec<(i64, &[u8])> = returned
        .iter()
        .filter_map(|&(id, _)| {
            let row = usize::try_from(id - last - 1).ok().filter(|&row| row < ids.len())?;
            Some((id, run.envs[run.rows[row]].raw.as_slice()))
        })
        .collect();
    for chunk in stored.chunks(APPEND_ROWS) {
        let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO message_content (message_id, raw) ");
        q.push_values(chunk, |mut b, &(id, raw)| {
            b.push_bind(id).push_bind(raw);
        });
        q.build().execute(&mut *conn).await?;
    }
    run.answer(&ids, returned)
}

pub(crate) async fn update_status(
    conn: &mut SqliteConnection,
    id: i64,
    status: MessageStatus,
    reason: Option<&str>,
    now_us: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE messages SET status = ?, reason = ?, updated_at = ? WHERE id = ?")
        .bind(status.as_str())
        .bind(reason)
        .bind(now_us)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(id));
    }
    Ok(())
}

/// Sets status and reason like [`update_status`], stores the conversion's Bundle and report (`None` clears them,
/// e.g. on a failed reprocessing; a message whose content retention already pruned keeps its status), inserts
/// the router's deliveries and replaces the message's patient-identifier index rows.
///
/// Under a node's claim (`c.claim`), only a message still `received` and claimed by that node changes. The
/// claim is released either way.
///
/// Two round trips to the connection's worker thread, whatever the number of rows: the status update alone
/// (its row count says whether the message exists), then everything else as one multi-statement query.
pub(crate) async fn store_conversion(
    conn: &mut SqliteConnection,
    c: &Conversion,
    now_us: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE messages SET status = ?1, reason = ?2, updated_at = ?3, claimed_by = NULL
         WHERE id = ?4 AND (?5 IS NULL OR (status = 'received' AND claimed_by = ?5))",
    )
    .bind(c.status.as_str())
    .bind(c.reason.as_deref())
    .bind(now_us)
    .bind(c.id)
    .bind(c.claim.as_deref())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT id FROM messages WHERE id = ?").bind(c.id).fetch_optional(&mut *conn).await?;
        return Err(if exists.is_some() { StoreError::ClaimLost(c.id) } else { StoreError::NotFound(c.id) });
    }
    let mut sql = String::from("UPDATE message_content SET bundle = ?, report = ? WHERE message_id = ?;\n");
    super::outbox::push_inserts(&mut sql, c.deliveries.len());
    super::ops::push_identifiers(&mut sql, c.patients.len());
    let query = sqlx::query(&sql).bind(c.bundle.as_deref()).bind(c.report.as_deref()).bind(c.id);
    let query = super::outbox::bind_inserts(query, c.id, &c.deliveries, now_us);
    let query = super::ops::bind_identifiers(query, c.id, &c.patients);
    query.execute(&mut *conn).await?;
    Ok(())
}

/// Stores an operator's pause of `channel` (`Some(reason)`), or removes it (`None`).
pub(crate) async fn store_channel_pause(
    conn: &mut SqliteConnection,
    channel: &str,
    pause: Option<&str>,
    now_us: i64,
) -> Result<(), StoreError> {
    match pause {
        Some(reason) => {
            sqlx::query(
                "INSERT INTO channel_pauses (channel, reason, paused_at) VALUES (?, ?, ?)
                 ON CONFLICT (channel) DO UPDATE SET reason = excluded.reason, paused_at = excluded.paused_at",
            )
            .bind(channel)
            .bind(reason)
            .bind(now_us)
            .execute(&mut *conn)
            .await?
        }
        None => sqlx::query("DELETE FROM channel_pauses WHERE channel = ?").bind(channel).execute(&mut *conn).await?,
    };
    Ok(())
}

/// Evidence for `check_writable`, taken inside `BEGIN IMMEDIATE` (so the write lock is known to be obtainable):
/// fails when the size limit leaves no free page.
pub(crate) async fn probe_space(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    let (pages, free, max): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT page_count FROM pragma_page_count()), (SELECT freelist_count FROM pragma_freelist_count()),
                (SELECT max_page_count FROM pragma_max_page_count())",
    )
    .fetch_one(&mut *conn)
    .await?;
    if pages >= max && free == 0 {
        return Err(StoreError::Full("no free page left under max_db_bytes".into()));
    }
    Ok(())
}

// ---- reads ----

pub(crate) async fn get(pool: &SqlitePool, id: i64) -> Result<Option<StoredMessage>, StoreError> {
    let row = sqlx::query(&format!("{SELECT_SUMMARY}, c.raw, c.bundle, c.report{FROM_MESSAGES} WHERE m.id = ?"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(stored).transpose()
}

pub(crate) async fn list(
    pool: &SqlitePool,
    filter: &MessageFilter,
    after_id: Option<i64>,
    limit: u32,
) -> Result<Vec<MessageSummary>, StoreError> {
    let mut q = QueryBuilder::<Sqlite>::new(format!("{SELECT_SUMMARY}{FROM_MESSAGES} WHERE m.id > "));
    // Ids start at 1, so 0 means "from the start".
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

pub(crate) async fn next_received(
    pool: &SqlitePool,
    after_id: i64,
    limit: u32,
) -> Result<Vec<StoredMessage>, StoreError> {
    // Served by the (status, id) index: reads one page of the backlog, never all of it.
    let rows = sqlx::query(&format!(
        "{SELECT_SUMMARY}, c.raw, c.bundle, c.report{FROM_MESSAGES} WHERE m.status = 'received' AND m.id > ? ORDER BY m.id LIMIT ?"
    ))
    .bind(after_id)
    .bind(i64::from(limit.min(MAX_PAGE)))
    .fetch_all(pool)
    .await?;
    rows.iter().map(stored).collect()
}

/// Messages by id (a claim's), ascending, with their bytes.
pub(crate) async fn by_ids(pool: &SqlitePool, ids: &[i64]) -> Result<Vec<StoredMessage>, StoreError> {
    let rows = sqlx::query(&format!(
        "{SELECT_SUMMARY}, c.raw, c.bundle, c.report{FROM_MESSAGES} WHERE m.id IN (SELECT value FROM json_each(?)) ORDER BY m.id"
    ))
    .bind(super::json_ids(ids))
    .fetch_all(pool)
    .await?;
    rows.iter().map(stored).collect()
}

pub(crate) async fn count_by_status(
    pool: &SqlitePool,
    channel: Option<&str>,
) -> Result<BTreeMap<MessageStatus, u64>, StoreError> {
    let rows: Vec<(String, i64)> = match channel {
        Some(ch) => {
            sqlx::query_as("SELECT status, count(*) FROM messages WHERE channel = ? GROUP BY status")
                .bind(ch)
                .fetch_all(pool)
                .await?
        }
        None => sqlx::query_as("SELECT status, count(*) FROM messages GROUP BY status").fetch_all(pool).await?,
    };
    status_counts(rows)
}

pub(crate) async fn count_all(pool: &SqlitePool) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM messages").fetch_one(pool).await?;
    non_negative(n, "count")
}
