//! Group commit: the one task that writes.
//!
//! Callers send a [`Command`] with a oneshot reply into a bounded queue (a full queue makes them wait: nothing
//! is dropped). The writer blocks for the first command, then takes whatever else is already queued, up to
//! `max_batch`, and writes all of it in ONE transaction: one COMMIT, one fsync for the whole batch. Only after
//! COMMIT returns does it answer the waiters, so an `Ok` always means "on disk".
//!
//! A failure that concerns one write only (a constraint refused that row, an unknown id) answers that one caller
//! and its neighbours still commit: the batch is then run again with each write under its own SAVEPOINT, rolled
//! back to it alone (the first run, without savepoints, saves two statements per write in the common case). Any other failure (disk or size limit full, I/O, busy, corrupt) ends the batch:
//! the transaction is rolled back, every waiter of the batch gets the error, and the writer goes on with the
//! next batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hearth_core::events::JournalCommitted;
use hearth_core::{Envelope, MessageStatus};
use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Executor};
use time::OffsetDateTime;
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::audit::{self, NewAuditEvent};
use crate::outbox::{self, DeliveryOutcome, NewDelivery, ResendTarget};
use crate::patients::{self, PatientIndexUpdate};
use crate::retention::{self, Prune, PruneProgress};
use crate::sqlite::{self, to_micros};
use crate::{Appended, JournalStats, SqliteConfig, StoreError};

/// A request to the writer.
#[derive(Debug)]
pub(crate) enum Command {
    /// Joins the next group commit.
    Write(Write),
    /// `check_writable`: take the write lock, look at the free space, write nothing.
    Probe { reply: oneshot::Sender<Result<(), StoreError>> },
}

/// Counters shared with the `Journal` handle.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    appends: AtomicU64,
    duplicates: AtomicU64,
    commits: AtomicU64,
    failed_batches: AtomicU64,
}

impl Stats {
    pub(crate) fn snapshot(&self) -> JournalStats {
        JournalStats {
            appends: self.appends.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            failed_batches: self.failed_batches.load(Ordering::Relaxed),
        }
    }
}

pub(crate) struct Writer {
    conn: SqliteConnection,
    cfg: SqliteConfig,
    rx: mpsc::Receiver<Command>,
    stats: Arc<Stats>,
    /// Pinged after every commit that stored a new message, so the processing stage wakes without polling.
    appended: Arc<Notify>,
    /// Pinged after every commit that made deliveries due (new ones, resends), so the sinks wake.
    outbox: Arc<watch::Sender<u64>>,
}

impl Writer {
    pub(crate) fn new(
        conn: SqliteConnection,
        cfg: SqliteConfig,
        rx: mpsc::Receiver<Command>,
        stats: Arc<Stats>,
        appended: Arc<Notify>,
        outbox: Arc<watch::Sender<u64>>,
    ) -> Self {
        Writer { conn, cfg, rx, stats, appended, outbox }
    }

    /// Runs until every sender is gone (the journal was closed or dropped) and the queue is empty, then
    /// checkpoints the WAL into the database file and closes the connection.
    pub(crate) async fn run(mut self) {
        let mut batch = Vec::with_capacity(self.cfg.max_batch);
        let mut probes = Vec::new();
        while let Some(first) = self.rx.recv().await {
            let mut taken = 1;
            sort(first, &mut batch, &mut probes);
            while taken < self.cfg.max_batch {
                let Ok(next) = self.rx.try_recv() else { break };
                sort(next, &mut batch, &mut probes);
                taken += 1;
            }
            if !batch.is_empty() {
                self.commit(std::mem::take(&mut batch)).await;
            }
            for reply in probes.drain(..) {
                let _ = reply.send(self.probe().await);
            }
        }
        self.shutdown().await;
    }

    async fn commit(&mut self, batch: Vec<Write>) {
        let started = Instant::now();
        let now_us = to_micros(OffsetDateTime::now_utc());
        match self.write_batch(&batch, now_us).await {
            Ok(results) => {
                self.stats.commits.fetch_add(1, Ordering::Relaxed);
                let appended = batch.iter().filter(|w| matches!(w, Write::Append { .. })).count();
                if appended > 0 {
                    JournalCommitted { messages: appended, duration: started.elapsed() }.emit();
                }
                let mut new_messages = false;
                let mut outbox_due = false;
                for (write, result) in batch.into_iter().zip(results) {
                    new_messages |= matches!(&result, Ok(Done::Appended(a)) if !a.duplicate);
                    outbox_due |= result.is_ok() && write.makes_deliveries_due();
                    write.answer(result, &self.stats);
                }
                // `notify_one` keeps a permit when nobody waits: a wake-up is never lost.
                if new_messages {
                    self.appended.notify_one();
                }
                if outbox_due {
                    // Every sink watches; a watch keeps the latest value, so no wake-up is lost either.
                    self.outbox.send_modify(|n| *n = n.wrapping_add(1));
                }
            }
            Err(e) => {
                self.stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, writes = batch.len(), "journal group commit failed; nothing of it was kept");
                self.roll_back().await;
                for write in batch {
                    write.answer(Err(e.clone()), &self.stats);
                }
            }
        }
    }

    /// One transaction for the whole batch. `Err` means nothing of it is committed; `Ok` holds one result per
    /// write (per-row failures included) and means the rest is committed and fsynced.
    ///
    /// Every statement is a round trip to the connection's worker thread, and that round trip, not SQLite, is what
    /// a write costs. So the batch first runs without a savepoint per write; only when a write fails on its own
    /// (a refused row, an unknown id) is the transaction rolled back and the batch run again with a savepoint
    /// around each write, so that the failing one can be undone alone.
    async fn write_batch(&mut self, batch: &[Write], now_us: i64) -> Result<Vec<Result<Done, StoreError>>, StoreError> {
        if let Some(results) = self.try_batch(batch, now_us).await? {
            return Ok(results);
        }
        self.exec("ROLLBACK").await?;
        self.batch_with_savepoints(batch, now_us).await
    }

    /// The batch without savepoints; `Ok(None)` when a write failed on its own (the transaction is still open,
    /// for the caller to roll back).
    async fn try_batch(
        &mut self,
        batch: &[Write],
        now_us: i64,
    ) -> Result<Option<Vec<Result<Done, StoreError>>>, StoreError> {
        // IMMEDIATE: take the write lock now, so a competing process shows up as BUSY here, not mid-batch.
        self.exec("BEGIN IMMEDIATE").await?;
        let mut results = Vec::with_capacity(batch.len());
        for write in batch {
            match write.apply(&mut self.conn, now_us).await {
                Ok(done) => results.push(Ok(done)),
                Err(e) if e.is_per_row() => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        self.exec("COMMIT").await?;
        Ok(Some(results))
    }

    async fn batch_with_savepoints(
        &mut self,
        batch: &[Write],
        now_us: i64,
    ) -> Result<Vec<Result<Done, StoreError>>, StoreError> {
        self.exec("BEGIN IMMEDIATE").await?;
        let mut results = Vec::with_capacity(batch.len());
        for write in batch {
            self.exec("SAVEPOINT one_write").await?;
            match write.apply(&mut self.conn, now_us).await {
                Ok(done) => results.push(Ok(done)),
                Err(e) if e.is_per_row() => {
                    self.exec("ROLLBACK TO one_write").await?;
                    results.push(Err(e));
                }
                Err(e) => return Err(e),
            }
            self.exec("RELEASE one_write").await?;
        }
        self.exec("COMMIT").await?;
        Ok(results)
    }

    /// After a failed batch: make sure no transaction is left open. SQLite may already have rolled back by
    /// itself (it does on SQLITE_FULL and I/O errors); if even ROLLBACK fails, start over with a fresh
    /// connection so the next batch does not inherit a broken one.
    async fn roll_back(&mut self) {
        let Err(e) = self.exec("ROLLBACK").await else { return };
        if let StoreError::Schema(msg) = &e
            && msg.contains("no transaction is active")
        {
            return;
        }
        tracing::warn!(error = %e, "journal rollback failed; reopening the write connection");
        match reconnect(&self.cfg).await {
            Ok(conn) => {
                let old = std::mem::replace(&mut self.conn, conn);
                let _ = old.close_hard().await;
            }
            Err(e) => tracing::error!(error = %e, "journal write connection could not be reopened"),
        }
    }

    async fn probe(&mut self) -> Result<(), StoreError> {
        self.exec("BEGIN IMMEDIATE").await?;
        let space = sqlite::probe_space(&mut self.conn).await;
        let rolled_back = self.exec("ROLLBACK").await;
        space.and(rolled_back)
    }

    async fn shutdown(mut self) {
        // TRUNCATE: fold the WAL into the database file and empty it, so the file alone is a complete copy.
        match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&mut self.conn).await {
            Ok((busy, wal_pages, checkpointed)) => {
                tracing::debug!(busy, wal_pages, checkpointed, "journal checkpointed on close");
            }
            Err(e) => tracing::warn!(error = %StoreError::from(e), "journal checkpoint on close failed"),
        }
        if let Err(e) = self.conn.close().await {
            tracing::warn!(error = %StoreError::from(e), "journal write connection did not close cleanly");
        }
    }

    async fn exec(&mut self, sql: &'static str) -> Result<(), StoreError> {
        self.conn.execute(sql).await?;
        Ok(())
    }
}

async fn reconnect(cfg: &SqliteConfig) -> Result<SqliteConnection, StoreError> {
    let mut conn = sqlite::connect_writer(cfg).await?;
    sqlite::apply_size_limit(&mut conn, cfg.max_db_bytes).await?;
    Ok(conn)
}

/// One write of a batch, with the caller waiting for it.
#[derive(Debug)]
pub(crate) enum Write {
    /// Boxed: an envelope is large next to the other commands, and the queue holds thousands.
    Append {
        env: Box<Envelope>,
        reply: oneshot::Sender<Result<Appended, StoreError>>,
    },
    SetStatus {
        id: i64,
        status: MessageStatus,
        reason: Option<String>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Boxed like `Append`: a Bundle can be large.
    SetConversion {
        conversion: Box<Conversion>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// A sink's results for one batch of deliveries. Answers how many rows changed.
    RecordDeliveries {
        outcomes: Vec<DeliveryOutcome>,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
    Resend {
        target: ResendTarget,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
    Reprocess {
        id: i64,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// An audit event (operations surface); answers its id.
    Audit {
        event: Box<NewAuditEvent>,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
    /// One retention batch.
    Prune {
        prune: Prune,
        reply: oneshot::Sender<Result<PruneProgress, StoreError>>,
    },
    /// An operator's channel pause (`Some(reason)`) or resume (`None`).
    ChannelPause {
        channel: String,
        pause: Option<String>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Patient index entries and merges from one converted ADT Bundle. Answers how many rows changed.
    IndexPatients {
        update: Box<PatientIndexUpdate>,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
}

/// The outcome of converting one message, as the processing stage stores it.
#[derive(Debug)]
pub(crate) struct Conversion {
    pub(crate) id: i64,
    pub(crate) status: MessageStatus,
    pub(crate) bundle: Option<String>,
    pub(crate) report: Option<String>,
    pub(crate) reason: Option<String>,
    /// The router's deliveries, inserted in the same transaction as the status.
    pub(crate) deliveries: Vec<NewDelivery>,
    /// `system|value` of the Bundle's Patient identifiers: they replace the message's rows in the search index.
    pub(crate) patients: Vec<String>,
}

/// What a successful write did.
#[derive(Debug)]
enum Done {
    Appended(Appended),
    StatusSet,
    Count(u64),
    Pruned(PruneProgress),
}

fn sort(cmd: Command, batch: &mut Vec<Write>, probes: &mut Vec<oneshot::Sender<Result<(), StoreError>>>) {
    match cmd {
        Command::Write(write) => batch.push(write),
        Command::Probe { reply } => probes.push(reply),
    }
}

impl Write {
    async fn apply(&self, conn: &mut SqliteConnection, now_us: i64) -> Result<Done, StoreError> {
        match self {
            Write::Append { env, .. } => sqlite::insert(conn, env, now_us).await.map(Done::Appended),
            Write::SetStatus { id, status, reason, .. } => {
                sqlite::update_status(conn, *id, *status, reason.as_deref(), now_us).await.map(|()| Done::StatusSet)
            }
            Write::SetConversion { conversion, .. } => {
                sqlite::store_conversion(conn, conversion, now_us).await?;
                Ok(Done::StatusSet)
            }
            Write::RecordDeliveries { outcomes, .. } => {
                outbox::record_all(conn, outcomes, now_us).await.map(Done::Count)
            }
            Write::Resend { target, .. } => outbox::resend(conn, target, now_us).await.map(Done::Count),
            Write::Reprocess { id, .. } => outbox::reprocess(conn, *id, now_us).await.map(|()| Done::StatusSet),
            Write::Audit { event, .. } => audit::insert(conn, event).await.map(Done::Count),
            Write::Prune { prune, .. } => retention::prune(conn, prune).await.map(Done::Pruned),
            Write::IndexPatients { update, .. } => patients::apply(conn, update, now_us).await.map(Done::Count),
            Write::ChannelPause { channel, pause, .. } => {
                sqlite::store_channel_pause(conn, channel, pause.as_deref(), now_us).await.map(|()| Done::StatusSet)
            }
        }
    }

    /// Whether committing this write can make deliveries due now.
    fn makes_deliveries_due(&self) -> bool {
        match self {
            Write::SetConversion { conversion, .. } => !conversion.deliveries.is_empty(),
            Write::Resend { .. } => true,
            Write::Append { .. }
            | Write::SetStatus { .. }
            | Write::RecordDeliveries { .. }
            | Write::Reprocess { .. }
            | Write::Audit { .. }
            | Write::Prune { .. }
            | Write::ChannelPause { .. }
            | Write::IndexPatients { .. } => false,
        }
    }

    /// Answers the caller. A caller that stopped waiting (its task was cancelled) is not an error: the write
    /// is committed either way.
    fn answer(self, result: Result<Done, StoreError>, stats: &Stats) {
        match self {
            Write::Append { reply, .. } => {
                let result = result.and_then(|done| match done {
                    Done::Appended(a) => Ok(a),
                    Done::StatusSet | Done::Count(_) | Done::Pruned(_) => {
                        Err(StoreError::Database("writer answered an append with a status".into()))
                    }
                });
                if let Ok(a) = &result {
                    stats.appends.fetch_add(1, Ordering::Relaxed);
                    if a.duplicate {
                        stats.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let _ = reply.send(result);
            }
            Write::SetStatus { reply, .. }
            | Write::SetConversion { reply, .. }
            | Write::Reprocess { reply, .. }
            | Write::ChannelPause { reply, .. } => {
                let _ = reply.send(result.map(|_| ()));
            }
            Write::RecordDeliveries { reply, .. }
            | Write::Resend { reply, .. }
            | Write::IndexPatients { reply, .. } => {
                let _ = reply.send(result.map(|done| match done {
                    Done::Count(n) => n,
                    Done::Appended(_) | Done::StatusSet | Done::Pruned(_) => 0,
                }));
            }
            Write::Audit { reply, .. } => {
                let _ = reply.send(result.map(|done| if let Done::Count(id) = done { id } else { 0 }));
            }
            Write::Prune { reply, .. } => {
                let _ = reply
                    .send(result.map(|done| if let Done::Pruned(p) = done { p } else { PruneProgress::default() }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use hearth_core::{MessageMeta, PayloadKind};

    use super::*;

    fn env(channel: &str, key: Option<&str>) -> Envelope {
        Envelope {
            channel: channel.into(),
            kind: PayloadKind::Hl7v2,
            received_at: OffsetDateTime::UNIX_EPOCH,
            raw: b"MSH|".to_vec(),
            status: MessageStatus::Received,
            reason: None,
            dedup_key: key.map(str::to_owned),
            meta: MessageMeta::default(),
        }
    }

    /// Builds one batch by hand, so that "in the same transaction" is certain rather than likely.
    #[tokio::test]
    async fn one_batch_dedups_inside_itself_and_isolates_a_refused_row() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = SqliteConfig::new(dir.path().join("j.db"));
        let mut conn = sqlite::connect_writer(&cfg).await.unwrap();
        sqlite::MIGRATOR.run(&mut conn).await.unwrap();
        let (_tx, rx) = mpsc::channel(1);
        let stats = Arc::new(Stats::default());
        let mut writer =
            Writer::new(conn, cfg, rx, Arc::clone(&stats), Arc::new(Notify::new()), Arc::new(watch::channel(0).0));

        let mut answers = Vec::new();
        let mut batch = Vec::new();
        for e in [env("adt", Some("k")), env("adt", Some("k")), env("", Some("bad")), env("adt", None)] {
            let (reply, answer) = oneshot::channel();
            batch.push(Write::Append { env: Box::new(e), reply });
            answers.push(answer);
        }
        let (reply, missing) = oneshot::channel();
        batch.push(Write::SetStatus { id: 42, status: MessageStatus::Processed, reason: None, reply });
        writer.commit(batch).await;

        let mut got = Vec::new();
        for a in answers {
            got.push(a.await.unwrap());
        }
        let first = got[0].clone().unwrap();
        assert!(!first.duplicate);
        assert_eq!(got[1].clone().unwrap(), Appended { id: first.id, duplicate: true });
        assert!(matches!(got[2], Err(StoreError::Refused(_))), "{:?}", got[2]);
        assert!(!got[3].clone().unwrap().duplicate);
        assert_eq!(missing.await.unwrap(), Err(StoreError::NotFound(42)));
        let s = stats.snapshot();
        assert_eq!((s.commits, s.appends, s.duplicates, s.failed_batches), (1, 3, 1, 0));

        let rows: Vec<(i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT m.id, m.duplicates, length(c.raw) FROM messages m LEFT JOIN message_content c ON c.message_id = m.id ORDER BY m.id",
        )
        .fetch_all(&mut writer.conn)
        .await
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], (first.id, 1, Some(4)));
        assert_eq!(rows[1].1, 0);
    }
}
