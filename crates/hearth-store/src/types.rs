//! What the journal hands back.

use hearth_core::{MessageMeta, MessageStatus, PayloadKind};
use time::OffsetDateTime;

/// The answer to `append`: the message is committed and fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Journal id of the message, or of the earlier message this one duplicates.
    pub id: i64,
    /// The dedup key was already in the journal: nothing new was stored, the row's `duplicates` counter went up.
    pub duplicate: bool,
}

/// One journaled message without its bytes (what lists and dashboards need).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSummary {
    pub id: i64,
    pub channel: String,
    pub kind: PayloadKind,
    /// Microsecond precision (the journal stores unix microseconds).
    pub received_at: OffsetDateTime,
    pub status: MessageStatus,
    pub reason: Option<String>,
    pub dedup_key: Option<String>,
    /// How many times the same message was sent again after the first.
    pub duplicates: u64,
    pub meta: MessageMeta,
    /// Last change of status or duplicate count.
    pub updated_at: OffsetDateTime,
    /// Size of the stored raw bytes; `None` once retention has pruned them.
    pub raw_len: Option<u64>,
    /// The message's trace id (32 lowercase hex characters); `None` for messages journaled before traces.
    pub trace_id: Option<String>,
}

/// One journaled message with its bytes exactly as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub summary: MessageSummary,
    /// `None` once retention has pruned the content (the metadata stays).
    pub raw: Option<Vec<u8>>,
    /// The FHIR R4 Bundle (JSON) the processing stage made of it; `None` until converted, or if conversion failed.
    pub bundle: Option<String>,
    /// The conversion report (JSON): unmapped fields, warnings. `None` until converted.
    pub report: Option<String>,
}

/// Which messages `list` returns; every `Some` narrows, `None` matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFilter {
    pub channel: Option<String>,
    pub status: Option<MessageStatus>,
    /// MSH-10 (exact match).
    pub control_id: Option<String>,
}

/// Counters since `open`, for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Appends answered `Ok` (duplicates included).
    pub appends: u64,
    /// Of those, duplicates.
    pub duplicates: u64,
    /// Transactions committed by the writer (each one fsync).
    pub commits: u64,
    /// Group commits that failed as a whole (every waiter got the error).
    pub failed_batches: u64,
}
