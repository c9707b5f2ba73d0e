//! SQLite: what the operations surface reads and writes (search and its identifier index, figures, audit,
//! retention, the patient index).

use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteConnection, SqlitePool};
use sqlx::{QueryBuilder, Sqlite};
use time::OffsetDateTime;

use crate::audit::{AuditRecord, NewAuditEvent};
use crate::patients::{IdentifierEntry, IndexedPatient, MAX_CANDIDATES, PatientIndexUpdate};
use crate::retention::{Prune, PruneProgress};
use crate::rows::{FROM_MESSAGES, SELECT_SUMMARY, audit_record, from_micros, non_negative, summary, to_micros};
use crate::search::{ChannelStats, DestinationStats, RECENT_WINDOW, SearchPage, SearchQuery};
use crate::{MAX_PAGE, MessageSummary, StoreError};

// ---- search ----

pub(crate) async fn search(
    pool: &SqlitePool,
    q: &SearchQuery,
    page: SearchPage,
) -> Result<Vec<MessageSummary>, StoreError> {
    let mut b = QueryBuilder::<Sqlite>::new(SELECT_SUMMARY);
    // With an identifier, the identifier's index drives the query and yields message ids in order. CROSS JOIN
    // makes it the outer loop whatever else is filtered: otherwise SQLite may prefer a channel or status index
    // and walk a whole channel (measured: 0.6 s among 1,000,000 messages instead of under a millisecond).
    if let Some(ident) = &q.patient_identifier {
        b.push(" FROM patient_identifiers p CROSS JOIN messages m ON m.id = p.message_id");
        b.push(" LEFT JOIN message_content c ON c.message_id = m.id WHERE p.identifier = ").push_bind(ident.as_str());
    } else {
        b.push(FROM_MESSAGES);
        b.push(" WHERE 1 = 1");
    }
    if let Some(cursor) = page.cursor {
        b.push(if page.newest_first { " AND m.id < " } else { " AND m.id > " }).push_bind(cursor);
    }
    push_filters(&mut b, q);
    b.push(if page.newest_first { " ORDER BY m.id DESC LIMIT " } else { " ORDER BY m.id LIMIT " });
    b.push_bind(i64::from(page.limit.clamp(1, MAX_PAGE)));
    let rows = b.build().fetch_all(pool).await?;
    rows.iter().map(summary).collect()
}

fn push_filters<'a>(b: &mut QueryBuilder<'a, Sqlite>, q: &'a SearchQuery) {
    if let Some(channel) = &q.channel {
        b.push(" AND m.channel = ").push_bind(channel.as_str());
    }
    if let Some(status) = q.status {
        b.push(" AND m.status = ").push_bind(status.as_str());
    }
    if let Some(from) = q.received_from {
        b.push(" AND m.received_at >= ").push_bind(to_micros(from));
    }
    if let Some(to) = q.received_to {
        b.push(" AND m.received_at < ").push_bind(to_micros(to));
    }
    if let Some(event) = &q.event {
        b.push(" AND coalesce(m.trigger_event, m.message_code) = ").push_bind(event.as_str());
    }
    if let Some(control_id) = &q.control_id {
        b.push(" AND m.control_id = ").push_bind(control_id.as_str());
    }
}

/// Appends to `sql` the statements replacing a message's rows in the patient-identifier index with `n`
/// identifiers; [`bind_identifiers`] binds their parameters in the same order.
pub(crate) fn push_identifiers(sql: &mut String, n: usize) {
    sql.push_str("DELETE FROM patient_identifiers WHERE message_id = ?;\n");
    if n > 0 {
        // A Patient has a handful of identifiers; 2 variables a row.
        sql.push_str("INSERT OR IGNORE INTO patient_identifiers (identifier, message_id) VALUES ");
        sql.push_str(&vec!["(?, ?)"; n].join(", "));
        sql.push_str(";\n");
    }
}

pub(crate) fn bind_identifiers<'q>(
    mut query: Query<'q, Sqlite, SqliteArguments<'q>>,
    message_id: i64,
    identifiers: &'q [String],
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    query = query.bind(message_id);
    for ident in identifiers {
        query = query.bind(ident).bind(message_id);
    }
    query
}

/// The Patient identifiers indexed for a message, sorted.
pub(crate) async fn identifiers_of(pool: &SqlitePool, message_id: i64) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT identifier FROM patient_identifiers WHERE message_id = ? ORDER BY identifier")
        .bind(message_id)
        .fetch_all(pool)
        .await?)
}

pub(crate) async fn channel_stats(pool: &SqlitePool, channel: &str) -> Result<ChannelStats, StoreError> {
    let counts = super::messages::count_by_status(pool, Some(channel)).await?;
    // The latest messages through the (channel, id) index: bounded, whatever the journal holds.
    let recent: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT status, received_at, updated_at FROM messages WHERE channel = ? ORDER BY id DESC LIMIT ?",
    )
    .bind(channel)
    .bind(i64::from(RECENT_WINDOW))
    .fetch_all(pool)
    .await?;
    crate::search::channel_stats(channel, counts, &recent)
}

/// Messages of `channel` whose status became `error` at or after `since`.
pub(crate) async fn errors_since(pool: &SqlitePool, channel: &str, since: OffsetDateTime) -> Result<u64, StoreError> {
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM messages WHERE channel = ? AND status = 'error' AND updated_at >= ?")
            .bind(channel)
            .bind(to_micros(since))
            .fetch_one(pool)
            .await?;
    non_negative(n, "count")
}

pub(crate) async fn destination_stats(pool: &SqlitePool, destination: &str) -> Result<DestinationStats, StoreError> {
    // Three index reads: pending rows through the partial index, dead ones through (destination, status, id).
    let (pending, dead, oldest): (i64, i64, Option<i64>) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM deliveries WHERE destination = ?1 AND status = 'pending'),
                (SELECT count(*) FROM deliveries WHERE destination = ?1 AND status = 'dead'),
                (SELECT created_at FROM deliveries WHERE destination = ?1 AND status = 'pending' ORDER BY id LIMIT 1)",
    )
    .bind(destination)
    .fetch_one(pool)
    .await?;
    Ok(DestinationStats {
        destination: destination.to_owned(),
        pending: non_negative(pending, "count")?,
        dead: non_negative(dead, "count")?,
        oldest_pending: oldest.map(from_micros).transpose()?,
    })
}

// ---- audit ----

pub(crate) async fn insert_audit(conn: &mut SqliteConnection, e: &NewAuditEvent) -> Result<u64, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO audit_events (at, actor, role, action, message_id, event) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(to_micros(e.at))
    .bind(&e.actor)
    .bind(&e.role)
    .bind(&e.action)
    .bind(e.message_id)
    .bind(&e.event)
    .fetch_one(&mut *conn)
    .await?;
    Ok(u64::try_from(id).unwrap_or(0))
}

/// Newest first; ids below `before_id`; only those about `message_id` when given.
pub(crate) async fn audit_events(
    pool: &SqlitePool,
    message_id: Option<i64>,
    before_id: Option<i64>,
    limit: u32,
) -> Result<Vec<AuditRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, at, actor, role, action, message_id, event FROM audit_events
         WHERE id < ?1 AND (?2 IS NULL OR message_id = ?2) ORDER BY id DESC LIMIT ?3",
    )
    .bind(before_id.unwrap_or(i64::MAX))
    .bind(message_id)
    .bind(i64::from(limit.clamp(1, MAX_PAGE)))
    .fetch_all(pool)
    .await?;
    rows.iter().map(audit_record).collect()
}

// ---- retention ----

pub(crate) async fn prune(conn: &mut SqliteConnection, p: &Prune) -> Result<PruneProgress, StoreError> {
    let rows: Vec<crate::retention::Candidate> = sqlx::query_as(
        "SELECT m.id, m.received_at, m.status,
                EXISTS (SELECT 1 FROM message_content c WHERE c.message_id = m.id),
                EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id AND d.status = 'pending')
         FROM messages m WHERE m.channel = ? AND m.id > ? ORDER BY m.id LIMIT ?",
    )
    .bind(&p.channel)
    .bind(p.after_id)
    .bind(i64::from(p.limit.max(1)))
    .fetch_all(&mut *conn)
    .await?;
    let (ids, progress) = crate::retention::plan(p, rows);
    for id in ids {
        sqlx::query("DELETE FROM message_content WHERE message_id = ?").bind(id).execute(&mut *conn).await?;
        sqlx::query("UPDATE deliveries SET body = NULL WHERE message_id = ? AND status <> 'pending'")
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(progress)
}

// ---- the patient index ----

// An unchanged row is not rewritten (and not counted), as on PostgreSQL.
const UPSERT: &str = "INSERT INTO patient_phones (phone, patient_id, identifier_system, identifier_value, updated_at) \
     VALUES (?, ?, ?, ?, ?) \
     ON CONFLICT (phone, patient_id) DO UPDATE SET identifier_system = excluded.identifier_system, \
     identifier_value = excluded.identifier_value, updated_at = excluded.updated_at \
     WHERE (identifier_system, identifier_value) IS NOT (excluded.identifier_system, excluded.identifier_value)";

// `WHERE` before `ON CONFLICT` is required by SQLite's grammar for INSERT ... SELECT ... ON CONFLICT.
const MOVE: &str = "INSERT INTO patient_phones (phone, patient_id, identifier_system, identifier_value, updated_at) \
     SELECT phone, ?, ?, ?, ? FROM patient_phones WHERE patient_id = ? \
     ON CONFLICT (phone, patient_id) DO UPDATE SET identifier_system = excluded.identifier_system, \
     identifier_value = excluded.identifier_value, updated_at = excluded.updated_at";

const UPSERT_ID: &str = "INSERT INTO patient_index_identifiers (system, value, patient_id, identifier_system, \
     identifier_value, family, birth_date, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
     ON CONFLICT (system, value, patient_id) DO UPDATE SET identifier_system = excluded.identifier_system, \
     identifier_value = excluded.identifier_value, family = excluded.family, birth_date = excluded.birth_date, \
     updated_at = excluded.updated_at \
     WHERE (identifier_system, identifier_value, family, birth_date) \
     IS NOT (excluded.identifier_system, excluded.identifier_value, excluded.family, excluded.birth_date)";

// The moved rows take the survivor's name and birth date when the index knows them (the merged record's otherwise).
const MOVE_IDS: &str = "INSERT INTO patient_index_identifiers (system, value, patient_id, identifier_system, \
     identifier_value, family, birth_date, updated_at) \
     SELECT system, value, ?, ?, ?, \
     COALESCE((SELECT s.family FROM patient_index_identifiers s WHERE s.patient_id = ? AND s.family IS NOT NULL LIMIT 1), family), \
     COALESCE((SELECT s.birth_date FROM patient_index_identifiers s WHERE s.patient_id = ? AND s.birth_date IS NOT NULL LIMIT 1), birth_date), \
     ? FROM patient_index_identifiers WHERE patient_id = ? \
     ON CONFLICT (system, value, patient_id) DO UPDATE SET identifier_system = excluded.identifier_system, \
     identifier_value = excluded.identifier_value, family = excluded.family, birth_date = excluded.birth_date, \
     updated_at = excluded.updated_at";

/// Applies an update inside the writer's transaction. Answers how many rows changed.
pub(crate) async fn index_patients(
    conn: &mut SqliteConnection,
    update: &PatientIndexUpdate,
    now_us: i64,
) -> Result<u64, StoreError> {
    let mut changed = 0;
    for e in &update.phones {
        let done = sqlx::query(UPSERT)
            .bind(&e.phone)
            .bind(&e.patient.patient_id)
            .bind(&e.patient.identifier_system)
            .bind(&e.patient.identifier_value)
            .bind(now_us)
            .execute(&mut *conn)
            .await?;
        changed += done.rows_affected();
    }
    for e in &update.identifiers {
        let done = sqlx::query(UPSERT_ID)
            .bind(e.system.as_deref().unwrap_or(""))
            .bind(&e.value)
            .bind(&e.patient.patient_id)
            .bind(&e.patient.identifier_system)
            .bind(&e.patient.identifier_value)
            .bind(&e.family)
            .bind(&e.birth_date)
            .bind(now_us)
            .execute(&mut *conn)
            .await?;
        changed += done.rows_affected();
    }
    for m in &update.merges {
        if m.merged_id == m.survivor.patient_id {
            continue;
        }
        let s = &m.survivor;
        let moved = sqlx::query(MOVE)
            .bind(&s.patient_id)
            .bind(&s.identifier_system)
            .bind(&s.identifier_value)
            .bind(now_us)
            .bind(&m.merged_id)
            .execute(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM patient_phones WHERE patient_id = ?").bind(&m.merged_id).execute(&mut *conn).await?;
        let moved_ids = sqlx::query(MOVE_IDS)
            .bind(&s.patient_id)
            .bind(&s.identifier_system)
            .bind(&s.identifier_value)
            .bind(&s.patient_id)
            .bind(&s.patient_id)
            .bind(now_us)
            .bind(&m.merged_id)
            .execute(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM patient_index_identifiers WHERE patient_id = ?")
            .bind(&m.merged_id)
            .execute(&mut *conn)
            .await?;
        changed += moved_ids.rows_affected();
        changed += moved.rows_affected();
    }
    Ok(changed)
}

/// The Patients holding `phone` (E.164), by patient id; at most [`MAX_CANDIDATES`].
pub(crate) async fn patients_by_phone(pool: &SqlitePool, phone: &str) -> Result<Vec<IndexedPatient>, StoreError> {
    let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT patient_id, identifier_system, identifier_value FROM patient_phones WHERE phone = ? \
         ORDER BY patient_id LIMIT ?",
    )
    .bind(phone)
    .bind(MAX_CANDIDATES)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(patient_id, identifier_system, identifier_value)| IndexedPatient {
            patient_id,
            identifier_system,
            identifier_value,
        })
        .collect())
}

type IdentifierRow = (String, String, String, Option<String>, Option<String>, Option<String>, Option<String>);

/// The Patients holding an identifier (`system` + `value`, or `value` under any system), each once, by patient
/// id; at most [`MAX_CANDIDATES`].
pub(crate) async fn patients_by_identifier(
    pool: &SqlitePool,
    system: Option<&str>,
    value: &str,
) -> Result<Vec<IdentifierEntry>, StoreError> {
    const COLUMNS: &str = "SELECT system, value, patient_id, identifier_system, identifier_value, family, birth_date \
         FROM patient_index_identifiers";
    let rows: Vec<IdentifierRow> = match system {
        Some(system) => {
            let sql = format!("{COLUMNS} WHERE system = ? AND value = ? ORDER BY patient_id LIMIT ?");
            sqlx::query_as(&sql).bind(system).bind(value).bind(MAX_CANDIDATES).fetch_all(pool).await?
        }
        None => {
            // One Patient may hold the value under several systems: fetch a few more rows than patients needed.
            let sql = format!("{COLUMNS} WHERE value = ? ORDER BY patient_id, system LIMIT ?");
            sqlx::query_as(&sql).bind(value).bind(MAX_CANDIDATES * 4).fetch_all(pool).await?
        }
    };
    let mut out: Vec<IdentifierEntry> = Vec::new();
    for (system, value, patient_id, identifier_system, identifier_value, family, birth_date) in rows {
        if out.last().is_some_and(|e| e.patient.patient_id == patient_id) || out.len() >= MAX_CANDIDATES as usize {
            continue;
        }
        out.push(IdentifierEntry {
            system: (!system.is_empty()).then_some(system),
            value,
            patient: IndexedPatient { patient_id, identifier_system, identifier_value },
            family,
            birth_date,
        });
    }
    Ok(out)
}
