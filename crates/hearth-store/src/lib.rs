//! The journal: every message a source receives, durably stored before it is acknowledged.
//!
//! This crate owns the only SQL in Hearth. [`Journal::append`] returning `Ok` means the message is committed
//! and fsynced, which is what allows a source to send its positive ACK. Appends from all sources are grouped
//! into one transaction per batch (group commit: one fsync for many messages, see the `writer` module), and a
//! resent message (same dedup key) is counted, not stored twice. Reads (lists, counts, the processing stage's
//! backlog) use their own connections and run beside the writer.
//!
//! One backend today: SQLite in WAL mode, `synchronous=FULL`. PostgreSQL comes later as a second
//! [`JournalConfig`] variant behind the same [`Journal`].
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

mod audit;
mod config;
mod error;
mod outbox;
mod patients;
mod retention;
mod search;
mod sqlite;
mod types;
mod writer;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use hearth_core::{Envelope, MessageStatus};
use sqlx::SqlitePool;
use time::OffsetDateTime;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use audit::{AuditRecord, NewAuditEvent};
pub use config::{JournalConfig, SqliteConfig};
pub use error::StoreError;
pub use outbox::{
    DeliveryFilter, DeliveryOutcome, DeliveryRecord, DeliveryStatus, DueDelivery, NewDelivery, OutboxStats,
    ResendTarget,
};
pub use patients::{IndexedPatient, MAX_CANDIDATES, PatientIndexUpdate, PatientMerge, PhoneEntry};
pub use retention::PruneProgress;
pub use search::{ChannelStats, ConversionOutcome, DestinationStats, RECENT_WINDOW, SearchPage, SearchQuery};
pub use sqlite::MAX_PAGE;
pub use types::{Appended, JournalStats, MessageFilter, MessageSummary, StoredMessage};
use writer::{Command, Conversion, Stats, Write, Writer};

/// A handle on the journal. Cheap to clone; every clone talks to the same writer task and read pool.
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// `None` once `close` started: new writes are refused, the writer drains what is queued.
    queue: Mutex<Option<mpsc::Sender<Command>>>,
    /// Taken by the first `close`, which waits for the writer to finish.
    writer: tokio::sync::Mutex<Option<JoinHandle<()>>>,
    /// Checkpoints the WAL beside the writer; stopped by `close` before the writer's final checkpoint.
    checkpointer: JoinHandle<()>,
    reads: SqlitePool,
    stats: Arc<Stats>,
    appended: Arc<Notify>,
    outbox: Arc<watch::Sender<u64>>,
    /// `Some(reason)` while new input must wait (a destination is blocked, the outbox is over its limit).
    ingest: watch::Sender<Option<String>>,
    /// Channels an operator paused (channel → reason): their appends wait like a global pause.
    channel_pauses: watch::Sender<BTreeMap<String, String>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A journal dropped without `close` must not leave its checkpointer (and its connection) behind.
        self.checkpointer.abort();
    }
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.inner.path)
            .field("closed", &self.sender().is_err())
            .field("stats", &self.stats())
            .finish()
    }
}

impl Journal {
    /// Opens (creating the file and its parent directories if needed) and migrates the journal, then starts the
    /// writer. Recovery after a crash is SQLite's WAL replay: every acknowledged message is there, no
    /// unacknowledged batch is half there (see `sqlite::recover`).
    pub async fn open(cfg: &JournalConfig) -> Result<Journal, StoreError> {
        match cfg {
            JournalConfig::Sqlite(cfg) => Self::open_sqlite(cfg).await,
        }
    }

    async fn open_sqlite(cfg: &SqliteConfig) -> Result<Journal, StoreError> {
        cfg.validate()?;
        if let Some(parent) = cfg.path.parent()
            && !parent.as_os_str().is_empty()
        {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| StoreError::Io(format!("cannot create {}: {e}", parent.display())))?;
        }
        let mut conn = sqlite::connect_writer(cfg).await?;
        sqlite::MIGRATOR.run(&mut conn).await?;
        sqlite::recover(&mut conn).await?;
        sqlite::apply_size_limit(&mut conn, cfg.max_db_bytes).await?;
        let pauses: Vec<(String, String)> =
            sqlx::query_as("SELECT channel, reason FROM channel_pauses").fetch_all(&mut conn).await?;
        let reads = sqlite::open_read_pool(cfg).await?;

        let (tx, rx) = mpsc::channel(cfg.queue_capacity);
        let stats = Arc::new(Stats::default());
        let appended = Arc::new(Notify::new());
        let outbox = Arc::new(watch::channel(0).0);
        let writer = Writer::new(conn, cfg.clone(), rx, Arc::clone(&stats), Arc::clone(&appended), Arc::clone(&outbox));
        let writer = tokio::spawn(writer.run());
        let checkpointer = tokio::spawn(sqlite::checkpointer(cfg.clone()));
        Ok(Journal {
            inner: Arc::new(Inner {
                path: cfg.path.clone(),
                queue: Mutex::new(Some(tx)),
                writer: tokio::sync::Mutex::new(Some(writer)),
                checkpointer,
                reads,
                stats,
                appended,
                outbox,
                ingest: watch::channel(None).0,
                channel_pauses: watch::channel(pauses.into_iter().collect()).0,
            }),
        })
    }

    /// Stores one message. `Ok` means committed and fsynced (safe to acknowledge); a message whose dedup key is
    /// already stored gets the earlier id and `duplicate: true`. Waits while the write queue is full, and while
    /// ingest is paused (see [`Journal::pause_ingest`]): a source then holds its sender instead of acknowledging.
    pub async fn append(&self, env: Envelope) -> Result<Appended, StoreError> {
        self.ingest_open().await;
        self.channel_open(&env.channel).await;
        self.send(|reply| Command::Write(Write::Append { env: Box::new(env), reply })).await
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

    /// Sets a message's status and reason (`None` clears the reason). Goes through the group commit like an
    /// append, so status changes from the processing stage batch too.
    pub async fn set_status(&self, id: i64, status: MessageStatus, reason: Option<&str>) -> Result<(), StoreError> {
        let reason = reason.map(str::to_owned);
        self.send(|reply| Command::Write(Write::SetStatus { id, status, reason, reply })).await
    }

    /// Stores the outcome of converting message `id`: its new status (`mapped`, or `error` with the reason) and
    /// the Bundle and report as JSON text (`None` clears them). Group committed like every write.
    pub async fn set_conversion(
        &self,
        id: i64,
        status: MessageStatus,
        bundle: Option<&str>,
        report: Option<&str>,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        self.set_outcome(id, status, bundle, report, reason, Vec::new()).await
    }

    /// [`Journal::set_conversion`] plus the router's deliveries for the message, in the same transaction: a
    /// message is never `processed` without its outbox rows.
    pub async fn set_outcome(
        &self,
        id: i64,
        status: MessageStatus,
        bundle: Option<&str>,
        report: Option<&str>,
        reason: Option<&str>,
        deliveries: Vec<NewDelivery>,
    ) -> Result<(), StoreError> {
        let conversion = Box::new(Conversion {
            id,
            status,
            bundle: bundle.map(str::to_owned),
            report: report.map(str::to_owned),
            reason: reason.map(str::to_owned),
            deliveries,
            patients: Vec::new(),
        });
        self.send(|reply| Command::Write(Write::SetConversion { conversion, reply })).await
    }

    /// [`Journal::set_outcome`] that also replaces the message's Patient identifiers in the search index, in the
    /// same transaction.
    pub async fn set_outcome_indexed(&self, id: i64, outcome: ConversionOutcome) -> Result<(), StoreError> {
        let ConversionOutcome { status, bundle, report, reason, deliveries, patient_identifiers } = outcome;
        let conversion =
            Box::new(Conversion { id, status, bundle, report, reason, deliveries, patients: patient_identifiers });
        self.send(|reply| Command::Write(Write::SetConversion { conversion, reply })).await
    }

    /// Makes appends for `channel` wait (like [`Journal::pause_ingest`], for one channel): an operator's pause.
    /// Stored: the channel stays paused across restarts until [`Journal::resume_channel`].
    pub async fn pause_channel(&self, channel: &str, reason: &str) -> Result<(), StoreError> {
        let (channel, reason) = (channel.to_owned(), reason.to_owned());
        let pause = Some(reason.clone());
        let stored = channel.clone();
        self.send(|reply| Command::Write(Write::ChannelPause { channel: stored, pause, reply })).await?;
        self.inner.channel_pauses.send_if_modified(|m| m.insert(channel, reason.clone()).as_deref() != Some(&reason));
        Ok(())
    }

    /// Lets `channel`'s waiting and new appends through again.
    pub async fn resume_channel(&self, channel: &str) -> Result<(), StoreError> {
        let stored = channel.to_owned();
        self.send(|reply| Command::Write(Write::ChannelPause { channel: stored, pause: None, reply })).await?;
        self.inner.channel_pauses.send_if_modified(|m| m.remove(channel).is_some());
        Ok(())
    }

    /// Paused channels and why.
    pub fn paused_channels(&self) -> BTreeMap<String, String> {
        self.inner.channel_pauses.borrow().clone()
    }

    async fn channel_open(&self, channel: &str) {
        let mut rx = self.inner.channel_pauses.subscribe();
        let _ = rx.wait_for(|m| !m.contains_key(channel)).await;
    }

    /// Messages matching `query`, one page (see [`SearchPage`]). A patient identifier is answered from its index.
    pub async fn search(&self, query: &SearchQuery, page: SearchPage) -> Result<Vec<MessageSummary>, StoreError> {
        search::search(&self.inner.reads, query, page).await
    }

    /// The `system|value` Patient identifiers indexed for message `id`.
    pub async fn patient_identifiers(&self, id: i64) -> Result<Vec<String>, StoreError> {
        search::identifiers_of(&self.inner.reads, id).await
    }

    /// A channel at a glance: counts, last message, error rate and latency over its latest messages.
    pub async fn channel_stats(&self, channel: &str) -> Result<ChannelStats, StoreError> {
        search::channel_stats(&self.inner.reads, channel).await
    }

    /// Messages of `channel` that went to `error` at or after `since`.
    pub async fn errors_since(&self, channel: &str, since: OffsetDateTime) -> Result<u64, StoreError> {
        search::errors_since(&self.inner.reads, channel, since).await
    }

    /// A destination's outbox depth, dead count and oldest pending delivery (index reads only).
    pub async fn destination_stats(&self, destination: &str) -> Result<DestinationStats, StoreError> {
        search::destination_stats(&self.inner.reads, destination).await
    }

    /// Records an audit event (group committed); answers its id.
    pub async fn audit(&self, event: NewAuditEvent) -> Result<u64, StoreError> {
        let event = Box::new(event);
        self.send(|reply| Command::Write(Write::Audit { event, reply })).await
    }

    /// Audit events, newest first, with id below `before_id`; only those about `message_id` when given.
    pub async fn audit_events(
        &self,
        message_id: Option<i64>,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        audit::list(&self.inner.reads, message_id, before_id, limit).await
    }

    /// One retention batch: prunes the content of at most `limit` of `channel`'s messages with id above
    /// `after_id` received before `older_than` (see the `retention` module). Group committed beside ingest.
    pub async fn prune_content(
        &self,
        channel: &str,
        older_than: OffsetDateTime,
        after_id: i64,
        limit: u32,
    ) -> Result<PruneProgress, StoreError> {
        let prune = retention::Prune { channel: channel.to_owned(), older_than, after_id, limit };
        self.send(|reply| Command::Write(Write::Prune { prune, reply })).await
    }

    /// Records a sink's outcomes for a batch of deliveries; answers how many rows changed (an outcome for a
    /// delivery cancelled meanwhile changes nothing).
    pub async fn record_deliveries(&self, outcomes: Vec<DeliveryOutcome>) -> Result<u64, StoreError> {
        self.send(|reply| Command::Write(Write::RecordDeliveries { outcomes, reply })).await
    }

    /// Puts one delivery, or every dead delivery of a destination, back into the outbox, due now, with a fresh
    /// retry budget. Answers how many.
    pub async fn resend(&self, target: ResendTarget) -> Result<u64, StoreError> {
        self.send(|reply| Command::Write(Write::Resend { target, reply })).await
    }

    /// Sends message `id` through mapping and routing again from its raw bytes (status back to `received`;
    /// deliveries not yet sent are cancelled). Fails if the raw bytes were pruned.
    pub async fn reprocess(&self, id: i64) -> Result<(), StoreError> {
        self.send(|reply| Command::Write(Write::Reprocess { id, reply })).await?;
        self.inner.appended.notify_one();
        Ok(())
    }

    /// Adds or refreshes patient-index numbers and applies merges (numbers of a merged Patient move to the
    /// survivor), in one group-committed write. Answers how many rows changed.
    pub async fn index_patients(&self, update: PatientIndexUpdate) -> Result<u64, StoreError> {
        let update = Box::new(update);
        self.send(|reply| Command::Write(Write::IndexPatients { update, reply })).await
    }

    /// The Patients the index holds for `phone` (E.164): none, one, or several (then nobody may guess which).
    pub async fn patients_by_phone(&self, phone: &str) -> Result<Vec<IndexedPatient>, StoreError> {
        patients::by_phone(&self.inner.reads, phone).await
    }

    /// Changes whenever deliveries may have become due (new ones committed, resends). Sinks wait on it.
    pub fn outbox_changes(&self) -> watch::Receiver<u64> {
        self.inner.outbox.subscribe()
    }

    /// Due deliveries of `destination` (next attempt time reached), oldest first; of an ordered lane only its
    /// head. At most `limit` (and [`MAX_PAGE`]).
    pub async fn due_deliveries(
        &self,
        destination: &str,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        outbox::due(&self.inner.reads, destination, now, limit).await
    }

    /// When the next pending delivery of `destination` falls due; `None` if nothing is pending.
    pub async fn next_due(&self, destination: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        outbox::next_due(&self.inner.reads, destination).await
    }

    /// Deliveries matching `filter` with id greater than `after_id`, ascending; at most `limit` (and [`MAX_PAGE`]).
    pub async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        after_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        outbox::list(&self.inner.reads, filter, after_id, limit).await
    }

    /// The failed attempts of a delivery: (attempt number, time, error), oldest first.
    pub async fn delivery_failures(&self, id: i64) -> Result<Vec<(u32, OffsetDateTime, String)>, StoreError> {
        outbox::failures(&self.inner.reads, id).await
    }

    /// Pending deliveries per destination (destinations with none are absent). Cheap: for polling.
    pub async fn pending_deliveries(&self) -> Result<Vec<(String, u64)>, StoreError> {
        outbox::pending(&self.inner.reads).await
    }

    /// Per destination: pending, sent and dead counts and the oldest pending delivery.
    pub async fn outbox_stats(&self) -> Result<Vec<OutboxStats>, StoreError> {
        outbox::stats(&self.inner.reads).await
    }

    /// Notified after each commit that stored at least one new message (a permit is kept if nobody is waiting).
    /// The processing stage waits on it instead of polling the journal.
    pub fn appended(&self) -> Arc<Notify> {
        Arc::clone(&self.inner.appended)
    }

    /// A cheap probe of the write path for readiness checks: the writer task is running, the write lock can be
    /// taken, and `max_db_bytes` still leaves a free page. Writes nothing. Waits behind queued writes, so give it
    /// a timeout.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        self.send(|reply| Command::Probe { reply }).await
    }

    /// A message with its raw bytes.
    pub async fn get(&self, id: i64) -> Result<Option<StoredMessage>, StoreError> {
        sqlite::get(&self.inner.reads, id).await
    }

    /// Messages matching `filter` with id greater than `after_id`, ascending by id: pass the last id of one
    /// page as `after_id` of the next. At most `limit` rows, and never more than [`MAX_PAGE`].
    pub async fn list(
        &self,
        filter: &MessageFilter,
        after_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<MessageSummary>, StoreError> {
        sqlite::list(&self.inner.reads, filter, after_id, limit).await
    }

    /// Message counts per status (every status present, zero included), for one channel or all.
    pub async fn count_by_status(&self, channel: Option<&str>) -> Result<BTreeMap<MessageStatus, u64>, StoreError> {
        sqlite::count_by_status(&self.inner.reads, channel).await
    }

    /// Number of messages in the journal (duplicates are not separate messages).
    pub async fn count_all(&self) -> Result<u64, StoreError> {
        sqlite::count_all(&self.inner.reads).await
    }

    /// The processing stage's next page: messages with status `received` and id greater than `after_id`,
    /// ascending, with raw bytes. At most `limit` (and [`MAX_PAGE`]); the backlog is never loaded whole.
    pub async fn next_received(&self, after_id: i64, limit: u32) -> Result<Vec<StoredMessage>, StoreError> {
        sqlite::next_received(&self.inner.reads, after_id, limit).await
    }

    /// Counters since `open`.
    pub fn stats(&self) -> JournalStats {
        self.inner.stats.snapshot()
    }

    /// Stops accepting writes (later calls get [`StoreError::Closed`]), commits everything already queued and
    /// answers its waiters, checkpoints the WAL into the database file, and closes the read connections.
    /// Idempotent; every clone sees the journal closed.
    pub async fn close(&self) {
        // Dropping our sender lets the writer's queue end once in-flight `append`s (which hold clones) are in.
        drop(self.inner.queue.lock().unwrap_or_else(PoisonError::into_inner).take());
        self.inner.checkpointer.abort();
        if let Some(writer) = self.inner.writer.lock().await.take()
            && let Err(e) = writer.await
        {
            tracing::error!(error = %e, "journal writer task ended abnormally");
        }
        self.inner.reads.close().await;
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
