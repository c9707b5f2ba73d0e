//! PostgreSQL: what the operations surface reads and writes (parallel to `sqlite::ops`).

use sqlx::postgres::{PgConnection, PgPool};
use sqlx::{Postgres, QueryBuilder};
use time::OffsetDateTime;

use super::messages::pg_text;
use crate::audit::{AuditRecord, NewAuditEvent};
use crate::patients::{IdentifierEntry, IndexedPatient, MAX_CANDIDATES, PatientIndexUpdate};
use crate::retention::{Prune, PruneProgress};
use crate::rows::{FROM_MESSAGES, SELECT_SUMMARY, audit_record, from_micros, non_negative, summary, to_micros};
use crate::search::{ChannelStats, DestinationStats, RECENT_WINDOW, SearchPage, SearchQuery};
use crate::{MAX_PAGE, MessageSummary, StoreError};

// ---- search ----

pub(crate) async fn search(
    pool: &PgPool,
    q: &SearchQuery,
    page: SearchPage,
) -> Result<Vec<MessageSummary>, StoreError> {
    let mut b = QueryBuilder::<Postgres>::new(SELECT_SUMMARY);
    if let Some(ident) = &q.patient_identifier {
        // The identifier's primary key drives the query: one range read, then the messages by id.
        b.push(" FROM patient_identifiers p JOIN messages m ON m.id = p.message_id");
        b.push(" LEFT JOIN message_content c ON c.message_id = m.id WHERE p.identifier = ").push_bind(ident.as_str());
    } else {
        b.push(FROM_MESSAGES);
        b.push(" WHERE TRUE");
    }
    if let Some(cursor) = page.cursor {
        b.push(if page.newest_first { " AND m.id < " } else { " AND m.id > " }).push_bind(cursor);
    }
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
    b.push(if page.newest_first { " ORDER BY m.id DESC LIMIT " } else { " ORDER BY m.id LIMIT " });
    b.push_bind(i64::from(page.limit.clamp(1, MAX_PAGE)));
    let rows = b.build().fetch_all(pool).await?;
    rows.iter().map(summary).collect()
}

pub(crate) async fn identifiers_of(pool: &PgPool, message_id: i64) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT identifier FROM patient_identifiers WHERE message_id = $1 ORDER BY identifier COLLATE \"C\"",
    )
    .bind(message_id)
    .fetch_all(pool)
    .await?)
}

pub(crate) async fn channel_stats(pool: &PgPool, channel: &str) -> Result<ChannelStats, StoreError> {
    let counts = super::messages::count_by_status(pool, Some(channel)).await?;
    let recent: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT status, received_at, updated_at FROM messages WHERE channel = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(channel)
    .bind(i64::from(RECENT_WINDOW))
    .fetch_all(pool)
    .await?;
    crate::search::channel_stats(channel, counts, &recent)
}

pub(crate) async fn errors_since(pool: &PgPool, channel: &str, since: OffsetDateTime) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages WHERE channel = $1 AND status = 'error' AND updated_at >= $2",
    )
    .bind(channel)
    .bind(to_micros(since))
    .fetch_one(pool)
    .await?;
    non_negative(n, "count")
}

pub(crate) async fn destination_stats(pool: &PgPool, destination: &str) -> Result<DestinationStats, StoreError> {
    let (pending, dead, oldest): (i64, i64, Option<i64>) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM deliveries WHERE destination = $1 AND status = 'pending'),
                (SELECT count(*) FROM deliveries WHERE destination = $1 AND status = 'dead'),
                (SELECT created_at FROM deliveries WHERE destination = $1 AND status = 'pending' ORDER BY id LIMIT 1)",
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

pub(crate) async fn insert_audit(conn: &mut PgConnection, e: &NewAuditEvent) -> Result<u64, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO audit_events (at, actor, role, action, message_id, event) VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id",
    )
    .bind(to_micros(e.at))
    .bind(pg_text(&e.actor))
    .bind(pg_text(&e.role))
    .bind(pg_text(&e.action))
    .bind(e.message_id)
    .bind(pg_text(&e.event))
    .fetch_one(&mut *conn)
    .await?;
    Ok(u64::try_from(id).unwrap_or(0))
}

pub(crate) async fn audit_events(
    pool: &PgPool,
    message_id: Option<i64>,
    before_id: Option<i64>,
    limit: u32,
) -> Result<Vec<AuditRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, at, actor, role, action, message_id, event FROM audit_events
         WHERE id < $1 AND ($2::bigint IS NULL OR message_id = $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(before_id.unwrap_or(i64::MAX))
    .bind(message_id)
    .bind(i64::from(limit.clamp(1, MAX_PAGE)))
    .fetch_all(pool)
    .await?;
    rows.iter().map(audit_record).collect()
}

// ---- retention ----

pub(crate) async fn prune(conn: &mut PgConnection, p: &Prune) -> Result<PruneProgress, StoreError> {
    let rows: Vec<crate::retention::Candidate> = sqlx::query_as(
        "SELECT m.id, m.received_at, m.status,
                EXISTS (SELECT 1 FROM message_content c WHERE c.message_id = m.id),
                EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id AND d.status = 'pending')
         FROM messages m WHERE m.channel = $1 AND m.id > $2 ORDER BY m.id LIMIT $3",
    )
    .bind(&p.channel)
    .bind(p.after_id)
    .bind(i64::from(p.limit.max(1)))
    .fetch_all(&mut *conn)
    .await?;
    let (ids, progress) = crate::retention::plan(p, rows);
    if !ids.is_empty() {
        sqlx::query(
            "WITH c AS (DELETE FROM message_content WHERE message_id = ANY($1))
             UPDATE deliveries SET body = NULL WHERE message_id = ANY($1) AND status <> 'pending'",
        )
        .bind(&ids)
        .execute(&mut *conn)
        .await?;
    }
    Ok(progress)
}

// ---- the patient index ----

// Index rows are written as "insert if new" then "update if different", never as an upsert: `ON CONFLICT DO
// UPDATE` locks the existing row even when nothing changes, and every node refreshes the same patients' rows with
// every message about them, so an upsert would serialise the nodes' write transactions on those rows (and
// deadlock them when two batches meet the same patients in another order). An unchanged row is neither
// locked nor rewritten.
const INSERT_PHONE: &str = "INSERT INTO patient_phones (phone, patient_id, identifier_system, identifier_value, \
     updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (phone, patient_id) DO NOTHING";
const UPDATE_PHONE: &str = "UPDATE patient_phones SET identifier_system = $3, identifier_value = $4, updated_at = $5 \
     WHERE phone = $1 AND patient_id = $2 \
     AND (identifier_system, identifier_value) IS DISTINCT FROM ($3::text, $4::text)";

const MOVE: &str = "INSERT INTO patient_phones (phone, patient_id, identifier_system, identifier_value, updated_at) \
     SELECT phone, $1, $2, $3, $4 FROM patient_phones WHERE patient_id = $5 \
     ON CONFLICT (phone, patient_id) DO UPDATE SET identifier_system = EXCLUDED.identifier_system, \
     identifier_value = EXCLUDED.identifier_value, updated_at = EXCLUDED.updated_at";

const INSERT_ID: &str = "INSERT INTO patient_index_identifiers (system, value, patient_id, identifier_system, \
     identifier_value, family, birth_date, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT (system, value, patient_id) DO NOTHING";
const UPDATE_ID: &str = "UPDATE patient_index_identifiers SET identifier_system = $4, identifier_value = $5, \
     family = $6, birth_date = $7, updated_at = $8 WHERE system = $1 AND value = $2 AND patient_id = $3 \
     AND (identifier_system, identifier_value, family, birth_date) \
     IS DISTINCT FROM ($4::text, $5::text, $6::text, $7::text)";

// The moved rows take the survivor's name and birth date when the index knows them (the merged record's otherwise).
const MOVE_IDS: &str = "INSERT INTO patient_index_identifiers (system, value, patient_id, identifier_system, \
     identifier_value, family, birth_date, updated_at) \
     SELECT system, value, $1, $2, $3, \
     COALESCE((SELECT s.family FROM patient_index_identifiers s WHERE s.patient_id = $4 AND s.family IS NOT NULL LIMIT 1), family), \
     COALESCE((SELECT s.birth_date FROM patient_index_identifiers s WHERE s.patient_id = $5 AND s.birth_date IS NOT NULL LIMIT 1), birth_date), \
     $6 FROM patient_index_identifiers WHERE patient_id = $7 \
     ON CONFLICT (system, value, patient_id) DO UPDATE SET identifier_system = EXCLUDED.identifier_system, \
     identifier_value = EXCLUDED.identifier_value, family = EXCLUDED.family, birth_date = EXCLUDED.birth_date, \
     updated_at = EXCLUDED.updated_at";

pub(crate) async fn index_patients(
    conn: &mut PgConnection,
    update: &PatientIndexUpdate,
    now_us: i64,
) -> Result<u64, StoreError> {
    let mut changed = 0;
    for e in &update.phones {
        for statement in [INSERT_PHONE, UPDATE_PHONE] {
            let done = sqlx::query(statement)
                .bind(&e.phone)
                .bind(&e.patient.patient_id)
                .bind(&e.patient.identifier_system)
                .bind(&e.patient.identifier_value)
                .bind(now_us)
                .execute(&mut *conn)
                .await?;
            changed += done.rows_affected();
        }
    }
    for e in &update.identifiers {
        for statement in [INSERT_ID, UPDATE_ID] {
            let done = sqlx::query(statement)
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
        sqlx::query("DELETE FROM patient_phones WHERE patient_id = $1").bind(&m.merged_id).execute(&mut *conn).await?;
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
        sqlx::query("DELETE FROM patient_index_identifiers WHERE patient_id = $1")
            .bind(&m.merged_id)
            .execute(&mut *conn)
            .await?;
        changed += moved_ids.rows_affected();
        changed += moved.rows_affected();
    }
    Ok(changed)
}

pub(crate) async fn patients_by_phone(pool: &PgPool, phone: &str) -> Result<Vec<IndexedPatient>, StoreError> {
    let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT patient_id, identifier_system, identifier_value FROM patient_phones WHERE phone = $1 \
         ORDER BY patient_id COLLATE \"C\" LIMIT $2",
    )
    .bind(phone)
    .bind(i64::from(MAX_CANDIDATES))
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
    pool: &PgPool,
    system: Option<&str>,
    value: &str,
) -> Result<Vec<IdentifierEntry>, StoreError> {
    const COLUMNS: &str = "SELECT system, value, patient_id, identifier_system, identifier_value, family, birth_date \
         FROM patient_index_identifiers";
    let rows: Vec<IdentifierRow> = match system {
        Some(system) => {
            let sql = format!("{COLUMNS} WHERE system = $1 AND value = $2 ORDER BY patient_id COLLATE \"C\" LIMIT $3");
            sqlx::query_as(&sql).bind(system).bind(value).bind(i64::from(MAX_CANDIDATES)).fetch_all(pool).await?
        }
        None => {
            // One Patient may hold the value under several systems: fetch a few more rows than patients needed.
            let sql = format!("{COLUMNS} WHERE value = $1 ORDER BY patient_id COLLATE \"C\", system LIMIT $2");
            sqlx::query_as(&sql).bind(value).bind(i64::from(MAX_CANDIDATES) * 4).fetch_all(pool).await?
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
