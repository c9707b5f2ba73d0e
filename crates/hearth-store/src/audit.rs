//! The audit trail: who viewed which message content and who acted, stored as FHIR AuditEvent JSON.
//!
//! The store does not build the AuditEvent (it knows no FHIR); it keeps the resource text beside the columns
//! the trail is read by. Rows are written through the group commit like every write.

use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use time::OffsetDateTime;

use crate::sqlite::{from_micros, to_micros};
use crate::{MAX_PAGE, StoreError};

/// An audit event to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent {
    pub at: OffsetDateTime,
    /// The caller's configured token name (never the token itself).
    pub actor: String,
    pub role: String,
    /// `view`, `reprocess`, `resend`, `pause`, `resume`, ...
    pub action: String,
    pub message_id: Option<i64>,
    /// The FHIR AuditEvent resource, JSON.
    pub event: String,
}

/// A recorded audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: i64,
    pub at: OffsetDateTime,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub message_id: Option<i64>,
    pub event: String,
}

pub(crate) async fn insert(conn: &mut SqliteConnection, e: &NewAuditEvent) -> Result<u64, StoreError> {
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
pub(crate) async fn list(
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
    rows.iter()
        .map(|r| {
            Ok(AuditRecord {
                id: r.try_get("id")?,
                at: from_micros(r.try_get("at")?)?,
                actor: r.try_get("actor")?,
                role: r.try_get("role")?,
                action: r.try_get("action")?,
                message_id: r.try_get("message_id")?,
                event: r.try_get("event")?,
            })
        })
        .collect()
}
