//! Which backend the journal uses, and its knobs.

use std::path::PathBuf;

use crate::StoreError;

/// Where the journal lives. PostgreSQL becomes a second variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalConfig {
    Sqlite(SqliteConfig),
}

/// A single-node journal in one SQLite file (plus its `-wal` and `-shm` companions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteConfig {
    /// The database file; missing parent directories are created.
    pub path: PathBuf,
    /// Most writes in one group commit (one transaction, one fsync).
    pub max_batch: usize,
    /// Writes waiting for the writer. When full, `append` waits (backpressure); nothing is dropped.
    pub queue_capacity: usize,
    /// Upper bound on the database size. Past it writes fail with [`StoreError::Full`] and keep nothing; it
    /// cannot shrink a database that is already bigger (the file then simply stops growing).
    pub max_db_bytes: Option<u64>,
    /// How long to wait for a lock held by another process before failing with [`StoreError::Busy`].
    pub busy_timeout_ms: u64,
}

impl SqliteConfig {
    pub const DEFAULT_MAX_BATCH: usize = 512;
    pub const DEFAULT_QUEUE_CAPACITY: usize = 4096;
    pub const DEFAULT_BUSY_TIMEOUT_MS: u64 = 5_000;

    /// A journal at `path` with the default batch size, queue capacity and busy timeout, and no size limit.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteConfig {
            path: path.into(),
            max_batch: Self::DEFAULT_MAX_BATCH,
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY,
            max_db_bytes: None,
            busy_timeout_ms: Self::DEFAULT_BUSY_TIMEOUT_MS,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        if self.path.as_os_str().is_empty() {
            return Err(StoreError::Config("path is empty".into()));
        }
        if self.max_batch == 0 {
            return Err(StoreError::Config("max_batch must be at least 1".into()));
        }
        if self.queue_capacity == 0 {
            return Err(StoreError::Config("queue_capacity must be at least 1".into()));
        }
        Ok(())
    }
}
