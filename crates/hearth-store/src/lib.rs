//! The journal: every message a source receives, durably stored before it is acknowledged.
//!
//! This crate owns the only SQL in Hearth. [`Journal::append`] returning `Ok` means the message is committed
//! and fsynced, which is what allows a source to send its positive ACK. Appends from all sources are grouped
//! into one transaction per batch (group commit: one fsync for many messages, see the `writer` module), and a
//! resent message (same dedup key) is counted, not stored twice. Reads (lists, counts, the processing stage's
//! backlog) use their own connections and run beside the writer.
//!
//! Backends: SQLite in WAL mode with `synchronous=FULL` (one node, the default), and PostgreSQL (several nodes
//! on one journal). Both sit behind the same [`Journal`] with the same semantics (docs/specs/guarantees.md):
//! the writer task, the batching and the answers are one piece of code (`writer`), each backend supplies its SQL.
//!
//! Several nodes: a process registers as a [`Node`] ([`Journal::register_node`]) and heartbeats; the processing
//! stage claims received messages ([`Node::claim_received`], [`Node::set_outcome`]), the sinks lease outbox rows
//! ([`Node::lease_deliveries`]), and singleton work is led by one node at a time ([`Node::try_lead`]). See the
//! `node` module and docs/specs/guarantees.md, "Several nodes".
//!
//! ```
//! use hearth_core::{Envelope, MessageMeta, MessageStatus, PayloadKind};
//! use hearth_store::{Journal, JournalConfig, SqliteConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("hearth-store-doc-{}", std::process::id()));
//! let rt = tokio::runtime::Runtime::new()?;
//! rt.block_on(async {
//!     let journal = Journal::open(&JournalConfig::Sqlite(SqliteConfig::new(dir.join("journal.db")))).await?;
//!     let env = Envelope {
//!         channel: "adt".into(),
//!         kind: PayloadKind::Hl7v2,
//!         received_at: time::OffsetDateTime::UNIX_EPOCH,
//!         raw: b"MSH|^~\\&|LAB|NORTH|...".to_vec(),
//!         status: MessageStatus::Received,
//!         reason: None,
//!         dedup_key: Some("LAB|NORTH|MSG0001".into()),
//!         meta: MessageMeta::default(),
//!         trace_id: hearth_core::trace::TraceId::random(),
//!     };
//!     let first = journal.append(env.clone()).await?; // committed and fsynced: safe to ACK
//!     let again = journal.append(env).await?;         // the sender resent it
//!     assert_eq!((again.id, again.duplicate), (first.id, true));
//!
//!     let stored = journal.get(first.id).await?.expect("just appended");
//!     assert_eq!(stored.raw.as_deref(), Some(&b"MSH|^~\\&|LAB|NORTH|..."[..]));
//!     assert_eq!(stored.summary.duplicates, 1);
//!     journal.close().await;
//!     Ok::<_, hearth_store::StoreError>(())
//! })?;
//! std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod appends;
mod audit;
mod config;
mod error;
mod journal;
mod leader;
mod migrate;
mod node;
mod outbox;
mod patients;
mod postgres;
mod reader;
mod refusal;
mod retention;
mod rows;
mod search;
mod sqlite;
mod stats;
mod types;
mod write;
mod writer;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use audit::{AuditRecord, NewAuditEvent};
pub use config::{JournalConfig, PostgresConfig, SqliteConfig};
pub use error::StoreError;
pub use leader::Leadership;
pub use migrate::MigrationReport;
pub use node::{Node, NodeRecord, NodeRegistration};
pub use outbox::{
    DeliveryFilter, DeliveryOutcome, DeliveryRecord, DeliveryStatus, DueDelivery, NewDelivery, OutboxStats,
    ResendTarget,
};
pub use patients::{IdentifierEntry, IndexedPatient, MAX_CANDIDATES, PatientIndexUpdate, PatientMerge, PhoneEntry};
pub use reader::{Converted, JournalReader, PlannedRow, ReplayFilter};
pub use retention::PruneProgress;
pub use search::{ChannelStats, ConversionOutcome, DestinationStats, RECENT_WINDOW, SearchPage, SearchQuery};
pub use stats::{ChannelMinute, DestinationMinute, Minutes, StatsQuery, StatsSubject};
pub use types::{Appended, JournalStats, MessageFilter, MessageSummary, StoredMessage};
use writer::{Backend, Command, Signals, Stats, Writer};

/// Largest page `list`, `next_received` and the other paged reads return, whatever the caller asks (bounds
/// memory per call).
pub const MAX_PAGE: u32 = 1_000;

/// A handle on the journal. Cheap to clone; every clone talks to the same writer task and read pool.
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

struct Inner {
    /// Where the journal is, for `Debug` (a path, or a PostgreSQL address without credentials).
    location: String,
    /// `None` once `close` started: new writes are refused, the writer drains what is queued.
    queue: Mutex<Option<mpsc::Sender<Command>>>,
    /// Taken by the first `close`, which waits for the writer to finish.
    writer: tokio::sync::Mutex<Option<JoinHandle<()>>>,
    /// Backend housekeeping beside the writer (SQLite's WAL checkpointer); stopped by `close` first.
    helper: Option<JoinHandle<()>>,
    reads: Reads,
    stats: Arc<Stats>,
    appended: Arc<Notify>,
    outbox: Arc<watch::Sender<u64>>,
    refusal: Arc<refusal::Refusal>,
    /// `Some(reason)` while new input must wait (a destination is blocked, the outbox is over its limit).
    ingest: watch::Sender<Option<String>>,
    /// Channels an operator paused (channel → reason): their appends wait like a global pause.
    channel_pauses: watch::Sender<BTreeMap<String, String>>,
    /// How the journal was opened (leaderships on PostgreSQL open connections of their own with it).
    config: JournalConfig,
    /// The leaderships held through this journal (what SQLite's leadership consults).
    leaders: Arc<Mutex<BTreeSet<String>>>,
}

/// The read connections, per backend. Reads never go through the writer.
pub(crate) enum Reads {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Runs a read on whichever backend the journal has: `read!(self, module::function(args))` calls the function
/// of that name in the backend's module with the read pool first.
macro_rules! read {
    ($journal:expr, $module:ident :: $function:ident ( $($arg:expr),* )) => {
        match &$journal.inner.reads {
            $crate::Reads::Sqlite(pool) => $crate::sqlite::$module::$function(pool, $($arg),*).await,
            $crate::Reads::Postgres(pool) => $crate::postgres::$module::$function(pool, $($arg),*).await,
        }
    };
}
pub(crate) use read;

impl Drop for Inner {
    fn drop(&mut self) {
        // A journal dropped without `close` must not leave its housekeeping (and its connection) behind.
        if let Some(helper) = &self.helper {
            helper.abort();
        }
    }
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("location", &self.inner.location)
            .field("closed", &self.sender().is_err())
            .field("stats", &self.stats())
            .finish()
    }
}

/// What a backend hands over once it is open, migrated and recovered.
struct Parts<B> {
    config: JournalConfig,
    backend: B,
    reads: Reads,
    pauses: Vec<(String, String)>,
    helper: Option<JoinHandle<()>>,
    location: String,
    max_batch: usize,
    queue_capacity: usize,
}

impl Journal {
    /// Opens the journal, migrates its schema (refusing one newer than this build knows), then starts the
    /// writer. SQLite: creates the file and its parent directories if needed; recovery after a crash is
    /// SQLite's WAL replay: every acknowledged message is there, no unacknowledged batch is half there.
    /// PostgreSQL: creates the schema if it is missing; recovery is the server's.
    pub async fn open(cfg: &JournalConfig) -> Result<Journal, StoreError> {
        match cfg {
            JournalConfig::Sqlite(cfg) => {
                let opened = sqlite::open(cfg).await?;
                Ok(Self::start(Parts {
                    config: JournalConfig::Sqlite(cfg.clone()),
                    backend: opened.backend,
                    reads: Reads::Sqlite(opened.reads),
                    pauses: opened.pauses,
                    helper: Some(tokio::spawn(sqlite::checkpointer(cfg.clone()))),
                    location: cfg.path.display().to_string(),
                    max_batch: cfg.max_batch,
                    queue_capacity: cfg.queue_capacity,
                }))
            }
            JournalConfig::Postgres(cfg) => {
                let opened = postgres::open(cfg).await?;
                Ok(Self::start(Parts {
                    config: JournalConfig::Postgres(cfg.clone()),
                    backend: opened.backend,
                    reads: Reads::Postgres(opened.reads),
                    pauses: opened.pauses,
                    helper: None,
                    location: cfg.location(),
                    max_batch: cfg.max_batch,
                    queue_capacity: cfg.queue_capacity,
                }))
            }
        }
    }

    /// Brings the journal's schema to the newest version this build knows, without starting anything (what
    /// `hearth migrate` runs). Refuses a schema newer than this build's. Safe to run while nodes are up.
    pub async fn migrate(cfg: &JournalConfig) -> Result<MigrationReport, StoreError> {
        match cfg {
            JournalConfig::Sqlite(cfg) => sqlite::migrate(cfg).await,
            JournalConfig::Postgres(cfg) => postgres::migrate(cfg).await,
        }
    }

    fn start<B: Backend>(parts: Parts<B>) -> Journal {
        let (tx, rx) = mpsc::channel(parts.queue_capacity);
        let signals = Signals {
            stats: Arc::new(Stats::default()),
            appended: Arc::new(Notify::new()),
            outbox: Arc::new(watch::channel(0).0),
            refusal: Arc::default(),
        };
        let writer = Writer::new(parts.backend, parts.max_batch, rx, signals.clone());
        Journal {
            inner: Arc::new(Inner {
                location: parts.location,
                queue: Mutex::new(Some(tx)),
                writer: tokio::sync::Mutex::new(Some(tokio::spawn(writer.run()))),
                helper: parts.helper,
                reads: parts.reads,
                stats: signals.stats,
                refusal: signals.refusal,
                appended: signals.appended,
                outbox: signals.outbox,
                ingest: watch::channel(None).0,
                channel_pauses: watch::channel(parts.pauses.into_iter().collect()).0,
                config: parts.config,
                leaders: Arc::default(),
            }),
        }
    }

    /// Makes new appends wait (they are not refused: the sender simply gets no acknowledgement yet). Used when
    /// a destination cannot take more (a broker's memory or disk alarm, an outbox over its limit), so Hearth
    /// stops acknowledging instead of buffering without bound. Idempotent; the latest reason wins.
    pub fn pause_ingest(&self, reason: &str) {
        self.inner.ingest.send_if_modified(|r| {
            let changed = r.as_deref() != Some(reason);
            *r = Some(reason.to_owned());
            changed
        });
    }

    /// Lets waiting and new appends through again.
    pub fn resume_ingest(&self) {
        self.inner.ingest.send_if_modified(|r| r.take().is_some());
    }

    /// Why ingest is paused, if it is.
    pub fn ingest_paused(&self) -> Option<String> {
        self.inner.ingest.borrow().clone()
    }

    async fn ingest_open(&self) {
        let mut rx = self.inner.ingest.subscribe();
        // `wait_for` returns at once when already open; the sender lives as long as `self`, so it cannot error.
        let _ = rx.wait_for(Option::is_none).await;
    }

    async fn channel_open(&self, channel: &str) {
        let mut rx = self.inner.channel_pauses.subscribe();
        let _ = rx.wait_for(|m| !m.contains_key(channel)).await;
    }

    /// Notified after each commit that stored at least one new message (a permit is kept if nobody is waiting).
    /// The processing stage waits on it instead of polling the journal.
    pub fn appended(&self) -> Arc<Notify> {
        Arc::clone(&self.inner.appended)
    }

    /// `Some(why)` while the journal refuses writes: the last group commit failed (size limit or disk full,
    /// I/O) and no commit since stored or pruned messages. `/readyz` answers 503 meanwhile.
    pub fn refusing_writes(&self) -> Option<String> {
        self.inner.refusal.reason()
    }

    /// A cheap probe of the write path for readiness checks: the writer task is running, the write lock can be
    /// taken, and `max_db_bytes` still leaves room. Writes nothing. Waits behind queued writes, so give it a
    /// timeout.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        self.send(|reply| Command::Probe { reply }).await
    }

    /// Counters since `open`.
    pub fn stats(&self) -> JournalStats {
        self.inner.stats.snapshot()
    }

    /// Stops accepting writes (later calls get [`StoreError::Closed`]), commits everything already queued and
    /// answers its waiters, lets the backend finish (SQLite checkpoints the WAL into the database file), and
    /// closes the read connections. Idempotent; every clone sees the journal closed.
    pub async fn close(&self) {
        // Dropping our sender lets the writer's queue end once in-flight `append`s (which hold clones) are in.
        drop(self.inner.queue.lock().unwrap_or_else(PoisonError::into_inner).take());
        if let Some(helper) = &self.inner.helper {
            helper.abort();
        }
        if let Some(writer) = self.inner.writer.lock().await.take()
            && let Err(e) = writer.await
        {
            tracing::error!(error = %e, "journal writer task ended abnormally");
        }
        match &self.inner.reads {
            Reads::Sqlite(pool) => pool.close().await,
            Reads::Postgres(pool) => pool.close().await,
        }
    }

    fn sender(&self) -> Result<mpsc::Sender<Command>, StoreError> {
        self.inner.queue.lock().unwrap_or_else(PoisonError::into_inner).clone().ok_or(StoreError::Closed)
    }

    /// Queues a command for the writer and waits for its answer.
    async fn send<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Command,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        // A send error or a dropped reply means the writer is gone: closed, or it stopped abnormally.
        self.sender()?.send(command(reply)).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}
