//! `[journal]`: where messages are kept before they are acknowledged.

use std::path::PathBuf;

use hearth_core::config::{Problems, check_range};

use crate::raw::RawJournal;

/// A validated journal.
#[derive(Debug, Clone, PartialEq)]
pub enum JournalPlan {
    Sqlite { path: PathBuf, max_batch: usize, queue_capacity: usize, max_size_bytes: Option<u64>, busy_timeout_ms: u64 },
}

pub(crate) fn validate(raw: RawJournal, problems: &mut Problems) -> JournalPlan {
    match raw {
        RawJournal::Sqlite(j) => {
            let max_batch = j.max_batch.unwrap_or(512);
            check_range(max_batch, 1..=10_000, "journal.max_batch", problems);
            let queue_capacity = j.queue_capacity.unwrap_or(4096);
            check_range(queue_capacity, 1..=1_000_000, "journal.queue_capacity", problems);
            if j.path.as_os_str().is_empty() {
                problems.add("journal.path", "must not be empty");
            }
            if let Some(m) = j.max_size_bytes
                && m < 128 * 1024
            {
                problems.add(
                    "journal.max_size_bytes",
                    format!("must be at least 131072 (the empty schema takes about 80 KiB), got {m}"),
                );
            }
            JournalPlan::Sqlite {
                path: j.path,
                max_batch,
                queue_capacity,
                max_size_bytes: j.max_size_bytes,
                busy_timeout_ms: j.busy_timeout_ms.unwrap_or(5000),
            }
        }
    }
}

impl JournalPlan {
    /// The journal's line in `hearth check`'s topology.
    pub fn describe(&self) -> String {
        match self {
            JournalPlan::Sqlite { path, max_batch, max_size_bytes, .. } => format!(
                "journal  sqlite {} (group commit up to {max_batch}{})\n",
                path.display(),
                max_size_bytes.map(|b| format!(", max {b} bytes")).unwrap_or_default()
            ),
        }
    }

    /// The store's configuration.
    pub fn store_config(&self) -> hearth_store::JournalConfig {
        match self {
            JournalPlan::Sqlite { path, max_batch, queue_capacity, max_size_bytes, busy_timeout_ms } => {
                hearth_store::JournalConfig::Sqlite(hearth_store::SqliteConfig {
                    path: path.clone(),
                    max_batch: *max_batch,
                    queue_capacity: *queue_capacity,
                    max_db_bytes: *max_size_bytes,
                    busy_timeout_ms: *busy_timeout_ms,
                })
            }
        }
    }
}
