//! Whether the journal refuses writes right now, and the rate-limited log of it.
//!
//! A failed group commit (size limit or disk full, I/O error, database gone) marks the journal as refusing,
//! with the error as the reason; `/readyz` reports it (docs/operations.md, "Readiness"). The mark is lifted
//! when a commit shows space again: a batch that stored a new message, or one that pruned content (retention
//! freeing room). Commits that only update rows in place (statuses, duplicates) leave it: they may still fit
//! where a new message does not. One ERROR line per condition and interval, with the number of failures left
//! out, instead of one per refused message.

use std::sync::{Mutex, PoisonError};

use hearth_core::log_limit::LogLimiter;

use crate::StoreError;

#[derive(Debug, Default)]
pub(crate) struct Refusal {
    reason: Mutex<Option<String>>,
    log: LogLimiter,
}

impl Refusal {
    /// Why the journal refuses writes, if it does.
    pub(crate) fn reason(&self) -> Option<String> {
        self.reason.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// A batch of `writes` writes failed as a whole with `error`.
    pub(crate) fn failed(&self, error: &StoreError, writes: usize) {
        let condition = condition(error);
        // The reason is shown without authentication (`/readyz`): a full journal says so, anything else points
        // to the log, where the error is.
        let reason = match error {
            StoreError::Full(_) => error.to_string(),
            _ => "the last journal commit failed (see the log)".to_owned(),
        };
        *self.reason.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason);
        if let Some(admitted) = self.log.admit(condition) {
            tracing::error!(
                condition,
                error = %error,
                writes,
                suppressed = admitted.suppressed,
                "journal group commit failed; nothing of it was kept (one line per condition and 10 s; \
                 `suppressed` failures since the previous line)"
            );
        }
    }

    /// A batch committed; `room` when it stored a new message or pruned content, which lifts the mark.
    pub(crate) fn committed(&self, room: bool) {
        if !room {
            return;
        }
        let was = self.reason.lock().unwrap_or_else(PoisonError::into_inner).take();
        if was.is_some() {
            let suppressed: u64 = [CONDITION_FULL, CONDITION_OTHER].iter().filter_map(|c| self.log.clear(c)).sum();
            tracing::info!(suppressed, "journal accepts writes again");
        }
    }
}

const CONDITION_FULL: &str = "journal_full";
const CONDITION_OTHER: &str = "journal_write_failed";

fn condition(error: &StoreError) -> &'static str {
    match error {
        StoreError::Full(_) => CONDITION_FULL,
        _ => CONDITION_OTHER,
    }
}
