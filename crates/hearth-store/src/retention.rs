//! Retention: message content (raw bytes, Bundle, report, delivery bodies) pruned after a channel's age limit,
//! metadata and counts kept.
//!
//! Pruning walks one channel's messages in id order from a cursor the caller keeps, a small batch per call,
//! inside one group commit beside ingest: a call examines at most `limit` messages, so it never holds the writer
//! long, and it never scans what earlier calls already passed. Ids grow with receive time, so the walk stops at
//! the first message younger than the cut-off. A message is left alone while it still waits for processing or
//! has a pending delivery (its content is still needed); the cursor passes it, so it is pruned only after the
//! next restart's first walk.

use sqlx::sqlite::SqliteConnection;
use time::OffsetDateTime;

use crate::StoreError;
use crate::sqlite::to_micros;

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

pub(crate) async fn prune(conn: &mut SqliteConnection, p: &Prune) -> Result<PruneProgress, StoreError> {
    let rows: Vec<(i64, i64, String, bool, bool)> = sqlx::query_as(
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
    let cutoff = to_micros(p.older_than);
    let mut progress = PruneProgress { pruned: 0, cursor: p.after_id, caught_up: rows.len() < p.limit as usize };
    for (id, received_at, status, has_content, pending) in rows {
        if received_at >= cutoff {
            progress.caught_up = true;
            break;
        }
        progress.cursor = id;
        if !has_content || pending || status == "received" {
            continue;
        }
        sqlx::query("DELETE FROM message_content WHERE message_id = ?").bind(id).execute(&mut *conn).await?;
        sqlx::query("UPDATE deliveries SET body = NULL WHERE message_id = ? AND status <> 'pending'")
            .bind(id)
            .execute(&mut *conn)
            .await?;
        progress.pruned += 1;
    }
    Ok(progress)
}
