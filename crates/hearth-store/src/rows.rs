//! From stored rows to the journal's types, once for both backends: they store the same columns with the same
//! types (integers as 64-bit, times as unix microseconds, text, raw bytes as BLOB/BYTEA), so one decoder serves.

use hearth_core::{MessageMeta, MessageStatus, PayloadKind};
use sqlx::Row;
use time::OffsetDateTime;

use crate::audit::AuditRecord;
use crate::outbox::{DeliveryRecord, DeliveryStatus, DueDelivery};
use crate::{MessageSummary, StoreError, StoredMessage};

/// The columns of a message summary, portable SQL; `m` is `messages`, `c` its `message_content`. The length is
/// cast because PostgreSQL's `length(bytea)` is a 32-bit integer.
pub(crate) const SELECT_SUMMARY: &str = "\
SELECT m.id, m.channel, m.kind, m.received_at, m.status, m.reason, m.dedup_key, m.duplicates, m.message_code,
       m.trigger_event, m.structure, m.control_id, m.sending_application, m.sending_facility, m.updated_at,
       m.trace_id, CAST(length(c.raw) AS BIGINT) AS raw_len";
pub(crate) const FROM_MESSAGES: &str = " FROM messages m LEFT JOIN message_content c ON c.message_id = m.id";

/// Typed column access, the same on both backends' rows.
pub(crate) trait Cols {
    fn int(&self, col: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError>;
    fn text(&self, col: &str) -> Result<String, StoreError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;
    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

macro_rules! cols_for {
    ($row:ty) => {
        impl Cols for $row {
            fn int(&self, col: &str) -> Result<i64, StoreError> {
                Ok(self.try_get(col)?)
            }
            fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
                Ok(self.try_get(col)?)
            }
            fn text(&self, col: &str) -> Result<String, StoreError> {
                Ok(self.try_get(col)?)
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
                Ok(self.try_get(col)?)
            }
            fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, StoreError> {
                Ok(self.try_get(col)?)
            }
        }
    };
}

cols_for!(sqlx::sqlite::SqliteRow);
cols_for!(sqlx::postgres::PgRow);

pub(crate) fn summary(row: &impl Cols) -> Result<MessageSummary, StoreError> {
    let kind = row.text("kind")?;
    let raw_len = row.opt_int("raw_len")?;
    Ok(MessageSummary {
        id: row.int("id")?,
        channel: row.text("channel")?,
        kind: PayloadKind::parse(&kind)
            .ok_or_else(|| StoreError::InvalidData(format!("unknown payload kind {kind:?}")))?,
        received_at: from_micros(row.int("received_at")?)?,
        status: parse_status(&row.text("status")?)?,
        reason: row.opt_text("reason")?,
        dedup_key: row.opt_text("dedup_key")?,
        duplicates: non_negative(row.int("duplicates")?, "duplicates")?,
        meta: MessageMeta {
            message_code: row.opt_text("message_code")?,
            trigger_event: row.opt_text("trigger_event")?,
            structure: row.opt_text("structure")?,
            control_id: row.opt_text("control_id")?,
            sending_application: row.opt_text("sending_application")?,
            sending_facility: row.opt_text("sending_facility")?,
        },
        updated_at: from_micros(row.int("updated_at")?)?,
        raw_len: raw_len.map(|n| non_negative(n, "raw length")).transpose()?,
        trace_id: row.opt_text("trace_id")?,
    })
}

/// A summary with `raw`, `bundle` and `report`.
pub(crate) fn stored(row: &impl Cols) -> Result<StoredMessage, StoreError> {
    Ok(StoredMessage {
        summary: summary(row)?,
        raw: row.opt_bytes("raw")?,
        bundle: row.opt_text("bundle")?,
        report: row.opt_text("report")?,
    })
}

/// The columns [`due_delivery`] reads, portable SQL; `d` is `deliveries`, `m` its message.
pub(crate) const SELECT_DUE: &str = "\
SELECT d.id, d.message_id, m.channel, coalesce(m.trigger_event, m.message_code) AS event, d.route, d.routing_key,
       d.resource_type, d.content_id, d.lane, d.body, d.attempts, m.trace_id
FROM deliveries d JOIN messages m ON m.id = d.message_id";

pub(crate) fn due_delivery(r: &impl Cols) -> Result<DueDelivery, StoreError> {
    Ok(DueDelivery {
        id: r.int("id")?,
        message_id: r.int("message_id")?,
        channel: r.text("channel")?,
        event: r.opt_text("event")?,
        route: r.text("route")?,
        routing_key: r.text("routing_key")?,
        resource_type: r.text("resource_type")?,
        content_id: r.text("content_id")?,
        lane: r.opt_text("lane")?,
        body: r.opt_text("body")?,
        attempts: attempts(r)?,
        trace_id: r.opt_text("trace_id")?,
    })
}

/// The columns [`delivery_record`] reads, portable SQL.
pub(crate) const SELECT_DELIVERY: &str = "\
SELECT id, message_id, destination, route, routing_key, resource_type, content_id, lane, status, attempts,
       next_attempt_at, last_error, created_at, updated_at, sent_at FROM deliveries";

pub(crate) fn delivery_record(r: &impl Cols) -> Result<DeliveryRecord, StoreError> {
    let status = r.text("status")?;
    Ok(DeliveryRecord {
        id: r.int("id")?,
        message_id: r.int("message_id")?,
        destination: r.text("destination")?,
        route: r.text("route")?,
        routing_key: r.text("routing_key")?,
        resource_type: r.text("resource_type")?,
        content_id: r.text("content_id")?,
        lane: r.opt_text("lane")?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| StoreError::InvalidData(format!("unknown delivery status {status:?}")))?,
        attempts: attempts(r)?,
        next_attempt_at: from_micros(r.int("next_attempt_at")?)?,
        last_error: r.opt_text("last_error")?,
        created_at: from_micros(r.int("created_at")?)?,
        updated_at: from_micros(r.int("updated_at")?)?,
        sent_at: r.opt_int("sent_at")?.map(from_micros).transpose()?,
    })
}

pub(crate) fn audit_record(r: &impl Cols) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        id: r.int("id")?,
        at: from_micros(r.int("at")?)?,
        actor: r.text("actor")?,
        role: r.text("role")?,
        action: r.text("action")?,
        message_id: r.opt_int("message_id")?,
        event: r.text("event")?,
    })
}

fn attempts(r: &impl Cols) -> Result<u32, StoreError> {
    u32::try_from(r.int("attempts")?).map_err(|_| StoreError::InvalidData("attempts out of range".into()))
}

pub(crate) fn parse_status(s: &str) -> Result<MessageStatus, StoreError> {
    MessageStatus::parse(s).ok_or_else(|| StoreError::InvalidData(format!("unknown status {s:?}")))
}

pub(crate) fn non_negative(n: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::InvalidData(format!("negative {what}")))
}

/// Unix microseconds: the journal's time unit (`received_at`, `updated_at`, ...), on both backends.
pub(crate) fn to_micros(t: OffsetDateTime) -> i64 {
    // OffsetDateTime spans years ±9999, well inside i64 microseconds.
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000)).unwrap_or(i64::MAX)
}

pub(crate) fn from_micros(us: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .map_err(|_| StoreError::InvalidData("timestamp out of range".into()))
}

/// Per-status counts with every status present (zero included).
pub(crate) fn status_counts(
    rows: Vec<(String, i64)>,
) -> Result<std::collections::BTreeMap<MessageStatus, u64>, StoreError> {
    let mut counts: std::collections::BTreeMap<MessageStatus, u64> =
        MessageStatus::ALL.into_iter().map(|s| (s, 0)).collect();
    for (status, n) in rows {
        counts.insert(parse_status(&status)?, non_negative(n, "count")?);
    }
    Ok(counts)
}
