//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use hearth_core::{Envelope, MessageMeta, MessageStatus, PayloadKind};
use hearth_store::{Journal, JournalConfig, SqliteConfig};
use time::OffsetDateTime;

pub fn config(path: &Path) -> JournalConfig {
    JournalConfig::Sqlite(SqliteConfig::new(path))
}

pub fn limited(path: &Path, max_db_bytes: u64) -> JournalConfig {
    JournalConfig::Sqlite(SqliteConfig { max_db_bytes: Some(max_db_bytes), ..SqliteConfig::new(path) })
}

pub async fn open(path: &Path) -> Journal {
    Journal::open(&config(path)).await.expect("open journal")
}

/// A fixed instant with microseconds, which the journal keeps exactly.
pub fn at(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(1_700_000_000_000_000 + micros) * 1_000).unwrap()
}

/// An accepted HL7 v2 message on `channel`.
pub fn envelope(channel: &str, control_id: &str, dedup_key: Option<&str>, raw: &[u8]) -> Envelope {
    Envelope {
        channel: channel.to_owned(),
        kind: PayloadKind::Hl7v2,
        received_at: at(0),
        raw: raw.to_vec(),
        status: MessageStatus::Received,
        reason: None,
        dedup_key: dedup_key.map(str::to_owned),
        meta: MessageMeta {
            message_code: Some("ADT".into()),
            trigger_event: Some("A01".into()),
            structure: Some("ADT_A01".into()),
            control_id: Some(control_id.to_owned()),
            sending_application: Some("LAB".into()),
            sending_facility: Some("NORTH".into()),
        },
    }
}

/// A message refused at the door: no dedup key, a reason.
pub fn rejected(channel: &str, raw: &[u8]) -> Envelope {
    Envelope {
        status: MessageStatus::Rejected,
        reason: Some("MSH-9 missing".into()),
        dedup_key: None,
        meta: MessageMeta::default(),
        ..envelope(channel, "", None, raw)
    }
}
