//! The audit trail: who viewed which message content and who acted, stored as FHIR AuditEvent JSON.
//!
//! The store does not build the AuditEvent (it knows no FHIR); it keeps the resource text beside the columns
//! the trail is read by. Rows are written through the group commit like every write.

use time::OffsetDateTime;

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
