//! Group commit: the one task that writes, whatever the backend.
//!
//! Callers send a [`Command`] with a oneshot reply into a bounded queue (a full queue makes them wait: nothing
//! is dropped). The writer blocks for the first command, then takes whatever else is already queued, up to
//! `max_batch`, and writes all of it in ONE transaction: one COMMIT (one fsync on SQLite, one WAL flush on
//! PostgreSQL) for the whole batch. Only after COMMIT returns does it answer the waiters, so an `Ok` always means
//! "durable".
//!
//! A failure that concerns one write only (a constraint refused that row, an unknown id) answers that one caller
//! and its neighbours still commit: the batch is then run again with each write under its own SAVEPOINT, rolled
//! back to it alone (the first run, without savepoints, saves two statements per write in the common case).
//! A conflict with another node's transaction (PostgreSQL: deadlock, serialization failure) reruns the whole
//! batch a few times before giving up. Any other failure (disk or size limit full, I/O, server gone, busy,
//! corrupt) ends the batch: the transaction is rolled back, every waiter of the batch gets the error, the
//! backend repairs its connection (reconnecting if need be), and the writer goes on with the next batch.
//!
//! The backend ([`Backend`]) only knows how to run one write and how to start, probe and repair its
//! connection; batching, savepoints, retries and answers are here, once for both backends.
//!
//! Round trips: every statement is one round trip to the database (SQLite: to sqlx's worker thread; PostgreSQL:
//! over the socket). A batch costs BEGIN + COMMIT plus what its writes cost (see each backend's `apply`):
//! a run of consecutive appends is 3 statements on SQLite (the last id, the messages, their content) and 2 on
//! PostgreSQL (the ids, then one statement), whatever its length (`apply_appends`, planned once for both in
//! `appends`); a conversion is 2 statements on SQLite, 1 on PostgreSQL.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hearth_core::events::JournalCommitted;
use time::OffsetDateTime;
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::refusal::Refusal;
use crate::rows::to_micros;
use crate::write::{Done, Write};
use crate::{JournalStats, StoreError};

/// How often a batch that conflicted with another node's transaction is run again before its waiters get the
/// error.
const CONFLICT_RETRIES: u32 = 5;

/// A request to the writer.
#[derive(Debug)]
pub(crate) enum Command {
    /// Joins the next group commit.
    Write(Write),
    /// `check_writable`: take the write lock, look at the free space, write nothing.
    Probe { reply: oneshot::Sender<Result<(), StoreError>> },
}

/// What the writer needs from a backend: one connection that writes, and the SQL of each write.
pub(crate) trait Backend: Send + 'static {
    /// Opens the batch's transaction.
    fn begin(&mut self) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Runs a statement without parameters (COMMIT, ROLLBACK, SAVEPOINT ...).
    fn exec(&mut self, sql: &'static str) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Runs one write inside the open transaction.
    fn apply(&mut self, write: &Write, now_us: i64) -> impl Future<Output = Result<Done, StoreError>> + Send;
    /// Runs consecutive appends (every write an `Append`) inside the open transaction, all or none: an error,
    /// even one that concerns a single row, fails them all (the writer then runs the batch write by write).
    /// By default one by one; a backend whose round trips cost more than its statements does them at once.
    fn apply_appends(
        &mut self,
        writes: &[Write],
        now_us: i64,
    ) -> impl Future<Output = Result<Vec<Done>, StoreError>> + Send {
        async move {
            let mut done = Vec::with_capacity(writes.len());
            for write in writes {
                done.push(self.apply(write, now_us).await?);
            }
            Ok(done)
        }
    }
    /// `check_writable`: the write path works and the size limit leaves room; writes nothing.
    fn probe(&mut self) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// After a failed batch: leave no transaction open and, if the connection is broken, open a new one.
    fn repair(&mut self, error: &StoreError) -> impl Future<Output = ()> + Send;
    /// The queue ended: final housekeeping, then close the connection.
    fn shutdown(self) -> impl Future<Output = ()> + Send;
}

/// Counters shared with the `Journal` handle.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) appends: AtomicU64,
    pub(crate) duplicates: AtomicU64,
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

/// What the writer tells the rest of the journal after a commit.
#[derive(Debug, Clone)]
pub(crate) struct Signals {
    pub(crate) stats: Arc<Stats>,
    /// Pinged after every commit that stored a new message, so the processing stage wakes without polling.
    pub(crate) appended: Arc<Notify>,
    /// Pinged after every commit that made deliveries due (new ones, resends), so the sinks wake.
    pub(crate) outbox: Arc<watch::Sender<u64>>,
    /// Set while commits fail; read by `/readyz` (see refusal.rs).
    pub(crate) refusal: Arc<Refusal>,
}

pub(crate) struct Writer<B> {
    pub(crate) backend: B,
    max_batch: usize,
    rx: mpsc::Receiver<Command>,
    signals: Signals,
}

impl<B: Backend> Writer<B> {
    pub(crate) fn new(backend: B, max_batch: usize, rx: mpsc::Receiver<Command>, signals: Signals) -> Self {
        Writer { backend, max_batch: max_batch.max(1), rx, signals }
    }

    /// Runs until every sender is gone (the journal was closed or dropped) and the queue is empty, then lets
    /// the backend shut down.
    pub(crate) async fn run(mut self) {
        let mut batch = Vec::with_capacity(self.max_batch);
        let mut probes = Vec::new();
        while let Some(first) = self.rx.recv().await {
            let mut taken = 1;
            sort(first, &mut batch, &mut probes);
            while taken < self.max_batch {
                let Ok(next) = self.rx.try_recv() else { break };
                sort(next, &mut batch, &mut probes);
                taken += 1;
            }
            if !batch.is_empty() {
                self.commit(std::mem::take(&mut batch)).await;
            }
            for reply in probes.drain(..) {
                let probed = self.backend.probe().await;
                if let Err(e) = &probed {
                    self.backend.repair(e).await;
                }
                let _ = reply.send(probed);
            }
        }
        self.backend.shutdown().await;
    }

    pub(crate) async fn commit(&mut self, batch: Vec<Write>) {
        let started = Instant::now();
        let now_us = to_micros(OffsetDateTime::now_utc());
        let mut retries = 0;
        let outcome = loop {
            match self.write_batch(&batch, now_us).await {
                Err(e @ StoreError::Conflict(_)) if retries < CONFLICT_RETRIES => {
                    retries += 1;
                    tracing::debug!(retries, "journal batch conflicted with another transaction; running it again");
                    self.backend.repair(&e).await;
                }
                other => break other,
            }
        };
        match outcome {
            Ok(results) => {
                let s = &self.signals;
                s.stats.commits.fetch_add(1, Ordering::Relaxed);
                // A new message stored or content pruned shows the journal has room (see refusal.rs).
                let room = results.iter().any(|r| match r {
                    Ok(Done::Appended(a)) => !a.duplicate,
                    Ok(Done::Pruned(p)) => p.pruned > 0,
                    _ => false,
                });
                s.refusal.committed(room);
                let appended = batch.iter().filter(|w| matches!(w, Write::Append { .. })).count();
                if appended > 0 {
                    JournalCommitted { messages: appended, duration: started.elapsed() }.emit();
                }
                let mut new_messages = false;
                let mut outbox_due = false;
                for (write, result) in batch.into_iter().zip(results) {
                    new_messages |= matches!(&result, Ok(Done::Appended(a)) if !a.duplicate);
                    outbox_due |= result.is_ok() && write.makes_deliveries_due();
                    write.answer(result, &s.stats);
                }
                // `notify_one` keeps a permit when nobody waits: a wake-up is never lost.
                if new_messages {
                    s.appended.notify_one();
                }
                if outbox_due {
                    // Every sink watches; a watch keeps the latest value, so no wake-up is lost either.
                    s.outbox.send_modify(|n| *n = n.wrapping_add(1));
                }
            }
            Err(e) => {
                self.signals.stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                self.signals.refusal.failed(&e, batch.len());
                self.backend.repair(&e).await;
                for write in batch {
                    write.answer(Err(e.clone()), &self.signals.stats);
                }
            }
        }
    }

    /// One transaction for the whole batch. `Err` means nothing of it is committed; `Ok` holds one result per
    /// write (per-row failures included) and means the rest is committed and durable.
    ///
    /// The batch first runs without a savepoint per write; only when a write fails on its own (a refused row,
    /// an unknown id) is the transaction rolled back and the batch run again with a savepoint around each
    /// write, so that the failing one can be undone alone.
    async fn write_batch(&mut self, batch: &[Write], now_us: i64) -> Result<Vec<Result<Done, StoreError>>, StoreError> {
        if let Some(results) = self.try_batch(batch, now_us).await? {
            return Ok(results);
        }
        self.backend.exec("ROLLBACK").await?;
        self.batch_with_savepoints(batch, now_us).await
    }

    /// The batch without savepoints; `Ok(None)` when a write failed on its own (the transaction is still open,
    /// for the caller to roll back).
    async fn try_batch(
        &mut self,
        batch: &[Write],
        now_us: i64,
    ) -> Result<Option<Vec<Result<Done, StoreError>>>, StoreError> {
        self.backend.begin().await?;
        let mut results = Vec::with_capacity(batch.len());
        let mut rest = batch;
        while let Some(write) = rest.first() {
            // Consecutive appends (the common case under load) go to the backend together.
            let appends = rest.iter().take_while(|w| matches!(w, Write::Append { .. })).count();
            let (applied, taken) = if appends > 1 {
                (self.backend.apply_appends(&rest[..appends], now_us).await, appends)
            } else {
                (self.backend.apply(write, now_us).await.map(|done| vec![done]), 1)
            };
            match applied {
                Ok(done) => results.extend(done.into_iter().map(Ok)),
                Err(e) if e.is_per_row() => return Ok(None),
                Err(e) => return Err(e),
            }
            rest = &rest[taken..];
        }
        self.backend.exec("COMMIT").await?;
        Ok(Some(results))
    }

    async fn batch_with_savepoints(
        &mut self,
        batch: &[Write],
        now_us: i64,
    ) -> Result<Vec<Result<Done, StoreError>>, StoreError> {
        self.backend.begin().await?;
        let mut results = Vec::with_capacity(batch.len());
        for write in batch {
            self.backend.exec("SAVEPOINT one_write").await?;
            match self.backend.apply(write, now_us).await {
                Ok(done) => results.push(Ok(done)),
                Err(e) if e.is_per_row() => {
                    self.backend.exec("ROLLBACK TO SAVEPOINT one_write").await?;
                    results.push(Err(e));
                }
                Err(e) => return Err(e),
            }
            self.backend.exec("RELEASE SAVEPOINT one_write").await?;
        }
        self.backend.exec("COMMIT").await?;
        Ok(results)
    }
}

fn sort(cmd: Command, batch: &mut Vec<Write>, probes: &mut Vec<oneshot::Sender<Result<(), StoreError>>>) {
    match cmd {
        Command::Write(write) => batch.push(write),
        Command::Probe { reply } => probes.push(reply),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use hearth_core::{Envelope, MessageMeta, MessageStatus, PayloadKind};

    use super::*;
    use crate::{Appended, SqliteConfig, sqlite};

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
            trace_id: hearth_core::trace::TraceId::random(),
        }
    }

    fn signals() -> Signals {
        Signals {
            stats: Arc::new(Stats::default()),
            appended: Arc::new(Notify::new()),
            outbox: Arc::new(watch::channel(0).0),
            refusal: Arc::default(),
        }
    }

    /// Builds one batch by hand, so that "in the same transaction" is certain rather than likely.
    async fn one_batch<B: Backend>(backend: B) -> (Writer<B>, Signals, i64) {
        let (_tx, rx) = mpsc::channel(1);
        let signals = signals();
        let mut writer = Writer::new(backend, 16, rx, signals.clone());
        let mut answers = Vec::new();
        let mut batch = Vec::new();
        for e in [env("adt", Some("k")), env("adt", Some("k")), env("", Some("bad")), env("adt", None)] {
            let (reply, answer) = oneshot::channel();
            batch.push(Write::Append { env: Box::new(e), reply });
            answers.push(answer);
        }
        let (reply, missing) = oneshot::channel();
        batch.push(Write::SetStatus { id: 42_000, status: MessageStatus::Processed, reason: None, reply });
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
        assert_eq!(missing.await.unwrap(), Err(StoreError::NotFound(42_000)));
        let s = signals.stats.snapshot();
        assert_eq!((s.commits, s.appends, s.duplicates, s.failed_batches), (1, 3, 1, 0));
        (writer, signals, first.id)
    }

    /// A run of appends without failures: repeated keys inside the run and a key already stored.
    async fn one_run<B: Backend>(backend: B) {
        let (_tx, rx) = mpsc::channel(1);
        let signals = signals();
        let mut writer = Writer::new(backend, 16, rx, signals.clone());
        let (reply, stored) = oneshot::channel();
        writer.commit(vec![Write::Append { env: Box::new(env("adt", Some("old"))), reply }]).await;
        let old = stored.await.unwrap().unwrap().id;
        let keys = [Some("a"), Some("b"), Some("a"), None, Some("old"), Some("a"), None, Some("old")];
        let mut answers = Vec::new();
        let mut batch = Vec::new();
        for key in keys {
            let (reply, answer) = oneshot::channel();
            batch.push(Write::Append { env: Box::new(env("adt", key)), reply });
            answers.push(answer);
        }
        writer.commit(batch).await;
        let mut got = Vec::new();
        for a in answers {
            let a = a.await.unwrap().unwrap();
            got.push((a.id, a.duplicate));
        }
        let (a, b, n1, n2) = (got[0].0, got[1].0, got[3].0, got[6].0);
        assert!(old < a && a < b && b < n1 && n1 < n2, "ids in queue order: {got:?}");
        let want = [(a, false), (b, false), (a, true), (n1, false), (old, true), (a, true), (n2, false), (old, true)];
        assert_eq!(got, want);
        let s = signals.stats.snapshot();
        assert_eq!((s.commits, s.appends, s.duplicates, s.failed_batches), (2, 9, 4, 0));
    }

    #[tokio::test]
    async fn sqlite_a_run_of_appends_dedups_inside_itself_and_against_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        one_run(sqlite::open(&SqliteConfig::new(dir.path().join("j.db"))).await.unwrap().backend).await;
    }

    #[tokio::test]
    async fn postgres_a_run_of_appends_dedups_inside_itself_and_against_the_journal() {
        let Some(url) = hearth_testkit::postgres("postgres_a_run_of_appends_dedups") else { return };
        let schema = hearth_testkit::unique_name("hs");
        let cfg = crate::PostgresConfig { schema: Some(schema.clone()), ..crate::PostgresConfig::new(&url) };
        let opened = crate::postgres::open(&cfg).await.unwrap();
        one_run(opened.backend).await;
        let mut conn = crate::postgres::connect(&cfg).await.unwrap();
        let counted: Vec<(String, i64)> =
            sqlx::query_as("SELECT dedup_key, duplicates FROM messages WHERE dedup_key IS NOT NULL ORDER BY dedup_key")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE")).execute(&mut conn).await.unwrap();
        assert_eq!(counted, [("a".into(), 2), ("b".into(), 0), ("old".into(), 2)]);
        opened.reads.close().await;
    }

    #[tokio::test]
    async fn sqlite_one_batch_dedups_inside_itself_and_isolates_a_refused_row() {
        let dir = tempfile::tempdir().unwrap();
        let opened = sqlite::open(&SqliteConfig::new(dir.path().join("j.db"))).await.unwrap();
        let (mut writer, _, first) = one_batch(opened.backend).await;
        let rows: Vec<(i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT m.id, m.duplicates, length(c.raw) FROM messages m LEFT JOIN message_content c ON c.message_id = m.id ORDER BY m.id",
        )
        .fetch_all(&mut writer.backend.conn)
        .await
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], (first, 1, Some(4)));
        assert_eq!(rows[1].1, 0);
    }

    #[tokio::test]
    async fn postgres_one_batch_dedups_inside_itself_and_isolates_a_refused_row() {
        let Some(url) = hearth_testkit::postgres("postgres_one_batch_dedups_inside_itself") else { return };
        let schema = hearth_testkit::unique_name("hs");
        let cfg = crate::PostgresConfig { schema: Some(schema.clone()), ..crate::PostgresConfig::new(&url) };
        let opened = crate::postgres::open(&cfg).await.unwrap();
        opened.reads.close().await;
        let (mut writer, _, first) = one_batch(opened.backend).await;
        let conn = writer.backend.conn.as_mut().unwrap();
        let rows: Vec<(i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT m.id, m.duplicates, length(c.raw)::bigint FROM messages m LEFT JOIN message_content c ON c.message_id = m.id ORDER BY m.id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE")).execute(&mut *conn).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], (first, 1, Some(4)));
        assert_eq!(rows[1].1, 0);
    }
}
