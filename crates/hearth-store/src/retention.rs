//! Retention: message content (raw bytes, Bundle, report, delivery bodies) pruned after a channel's age limit,
//! metadata and counts kept.
//!
//! Pruning walks one channel's messages in id order from a cursor the caller keeps, a small batch per call,
//! inside one group commit beside ingest: a call examines at most `limit` messages, so it never holds the writer
//! long, and it never scans what earlier calls already passed. Ids grow with receive time, so the walk stops at
//! the first message younger than the cut-off. A message is left alone while it still waits for processing or
//! has a pending delivery (its content is still needed); the cursor passes it, so it is pruned only after the
//! next restart's first walk.

use time::OffsetDateTime;

use crate::rows::to_micros;

/// What one pruning call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneProgress {
    /// Messages whose content was removed.
    pub pruned: u64,
    /// Pass this as the next call's `after_id`.
    pub cursor: i64,
    /// The walk reached messages younger than the cut-off (or the end): wait before calling again.
    pub caught_up: bool,
}

/// A pruning request, run by the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prune {
    pub(crate) channel: String,
    pub(crate) older_than: OffsetDateTime,
    pub(crate) after_id: i64,
    pub(crate) limit: u32,
}

/// One examined message: (id, received at, status, has content, has a pending delivery).
pub(crate) type Candidate = (i64, i64, String, bool, bool);

/// Which of `rows` (one channel's messages above the cursor, in id order, at most `limit`) lose their content,
/// and how far the walk got. The same decision for both backends; they only differ in how they delete.
pub(crate) fn plan(p: &Prune, rows: Vec<Candidate>) -> (Vec<i64>, PruneProgress) {
    let cutoff = to_micros(p.older_than);
    let mut progress = PruneProgress { pruned: 0, cursor: p.after_id, caught_up: rows.len() < p.limit as usize };
    let mut prune = Vec::new();
    for (id, received_at, status, has_content, pending) in rows {
        if received_at >= cutoff {
            progress.caught_up = true;
            break;
        }
        progress.cursor = id;
        if !has_content || pending || status == "received" {
            continue;
        }
        prune.push(id);
    }
    progress.pruned = prune.len() as u64;
    (prune, progress)
}
