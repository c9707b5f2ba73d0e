//! SQLite, the single-node backend: connections, migrations, recovery, the WAL checkpointer, and the writer's
//! side of group commit ([`SqliteBackend`]). The SQL of each part of the journal is in the submodules.

pub(crate) mod messages;
pub(crate) mod nodes;
pub(crate) mod ops;
pub(crate) mod outbox;
pub(crate) mod stats;

use std::time::Duration;

use hearth_core::Envelope;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Executor};

use crate::migrate::{self, MigrationReport};
use crate::write::{Done, Write};
use crate::writer::Backend;
use crate::{SqliteConfig, StoreError};

/// Migrations live per backend (`migrations/sqlite`, `migrations/postgres`): the SQL dialects differ, the
/// versions match (version N is the same schema change on both).
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Read connections. Two cores, and reads are short: a few are enough, and WAL lets them run beside the writer.
const READ_CONNECTIONS: u32 = 4;

/// WAL pages beyond which the checkpointer stops being polite (RESTART waits for the writer briefly) so the WAL
/// cannot grow without bound under sustained load.
const WAL_RESTART_PAGES: i64 = 16_384;

/// Copies the WAL into the database file from its own connection, once a second, so commits never pay for it.
/// PASSIVE runs beside the writer and readers; when the WAL has grown past [`WAL_RESTART_PAGES`] a RESTART
/// checkpoint lets the next commit start the WAL from the beginning.
pub(crate) async fn checkpointer(cfg: SqliteConfig) {
    let opts = SqliteConnectOptions::new()
        .filename(&cfg.path)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_millis(cfg.busy_timeout_ms))
        // A RESTART checkpoint waits (off the write path) for the writer and readers to let go; that wait is
        // expected under load and is not worth sqlx's slow-statement warning every few seconds.
        .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
    let mut conn = match SqliteConnection::connect_with(&opts).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %StoreError::from(e), "journal checkpointer cannot connect; the WAL will grow");
            return;
        }
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut mode = "PASSIVE";
    loop {
        tick.tick().await;
        let sql = format!("PRAGMA wal_checkpoint({mode})");
        match sqlx::query_as::<_, (i64, i64, i64)>(&sql).fetch_one(&mut conn).await {
            Ok((_busy, wal_pages, _done)) => {
                // Under a steady stream of commits a PASSIVE checkpoint may copy every frame it sees and the WAL
                // still never starts over (a new frame is always appended first): its size, not the backlog,
                // decides.
                mode = if wal_pages > WAL_RESTART_PAGES { "RESTART" } else { "PASSIVE" };
            }
            Err(e) => tracing::warn!(error = %StoreError::from(e), "journal checkpoint failed; will retry"),
        }
    }
}

/// Opens the one connection that writes. Every write of the journal goes through it (see `writer`).
pub(crate) async fn connect_writer(cfg: &SqliteConfig) -> Result<SqliteConnection, StoreError> {
    let opts = SqliteConnectOptions::new()
        .filename(&cfg.path)
        .create_if_missing(true)
        // WAL: readers and the writer do not block each other, and a crash mid-commit leaves the database as of
        // the last completed commit.
        .journal_mode(SqliteJournalMode::Wal)
        // FULL, not NORMAL: in WAL mode NORMAL skips the fsync at commit and can lose the last commits on power
        // loss. A source sends its positive ACK as soon as `append` returns Ok, so Ok must mean "fsynced".
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        // No automatic checkpoints on the write path: copying the WAL into the database file (and fsyncing it)
        // inside a commit stalls every waiting ACK for tens of milliseconds. `checkpointer` does it beside.
        .pragma("wal_autocheckpoint", "0")
        // After a checkpoint lets the WAL restart, truncate the file back to this size.
        .pragma("journal_size_limit", "67108864")
        .busy_timeout(Duration::from_millis(cfg.busy_timeout_ms));
    let mut conn = SqliteConnection::connect_with(&opts).await?;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut conn).await?;
    if !mode.eq_ignore_ascii_case("wal") {
        // Still durable (synchronous=FULL applies to every journal mode), but readers now block the writer.
        tracing::warn!(journal_mode = %mode, "journal could not switch to WAL; reads will block writes");
    }
    Ok(conn)
}

/// Caps the database at `max_db_bytes` with `PRAGMA max_page_count`: a write that would need one more page
/// fails with SQLITE_FULL and its transaction keeps nothing. The pragma is per connection, so it is applied to
/// the writer, after migrations (which must be able to run on a fresh file whatever the limit).
pub(crate) async fn apply_size_limit(conn: &mut SqliteConnection, max_db_bytes: Option<u64>) -> Result<(), StoreError> {
    let Some(bytes) = max_db_bytes else { return Ok(()) };
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(&mut *conn).await?;
    let page_size = u64::try_from(page_size).unwrap_or(4096).max(1);
    // SQLite's own ceiling for max_page_count; it also refuses to go below the current size.
    let pages = (bytes / page_size).clamp(1, 0xFFFF_FFFE);
    let applied: Option<i64> =
        sqlx::query_scalar(&format!("PRAGMA max_page_count = {pages}")).fetch_optional(&mut *conn).await?;
    tracing::debug!(max_db_bytes = bytes, pages, applied, "journal size limit applied");
    Ok(())
}

/// Read-only pool for every query that does not write.
pub(crate) async fn open_read_pool(cfg: &SqliteConfig) -> Result<SqlitePool, StoreError> {
    let opts = SqliteConnectOptions::new()
        .filename(&cfg.path)
        .create_if_missing(false)
        .busy_timeout(Duration::from_millis(cfg.busy_timeout_ms))
        // A guard: writes from these connections would race the writer and bypass group commit.
        .pragma("query_only", "ON");
    Ok(SqlitePoolOptions::new().max_connections(READ_CONNECTIONS).min_connections(0).connect_with(opts).await?)
}

/// What "recovery" means for this journal, done when it opens.
///
/// A group commit is one SQLite transaction, and waiters are answered only after its COMMIT returned, i.e.
/// after the WAL was fsynced. So after SIGKILL or power loss:
/// - every acknowledged message is in a committed transaction, which SQLite replays from the WAL on open;
/// - a batch whose COMMIT had not completed was never acknowledged, and SQLite discards its frames;
/// - metadata and content are written in the same transaction, so there is no half-written message to repair.
///
/// Nothing therefore needs fixing by hand: this only reads (which makes SQLite run its WAL recovery now rather
/// than on the first append) and reports the backlog the processing stage will resume from.
pub(crate) async fn recover(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    let (last_id, backlog): (Option<i64>, i64) = sqlx::query_as(
        "SELECT (SELECT max(id) FROM messages), (SELECT count(*) FROM messages WHERE status = 'received')",
    )
    .fetch_one(&mut *conn)
    .await?;
    tracing::info!(last_id, backlog, "journal opened");
    Ok(())
}

/// What `Journal::open` needs from a freshly opened SQLite journal.
pub(crate) struct Opened {
    pub(crate) backend: SqliteBackend,
    pub(crate) reads: SqlitePool,
    pub(crate) pauses: Vec<(String, String)>,
}

/// Creates the file (and its directories) if needed, migrates, recovers, and opens the read pool.
pub(crate) async fn open(cfg: &SqliteConfig) -> Result<Opened, StoreError> {
    let mut conn = prepare(cfg).await?;
    MIGRATOR.run(&mut conn).await?;
    recover(&mut conn).await?;
    apply_size_limit(&mut conn, cfg.max_db_bytes).await?;
    let pauses = sqlx::query_as("SELECT channel, reason FROM channel_pauses").fetch_all(&mut conn).await?;
    let reads = open_read_pool(cfg).await?;
    Ok(Opened { backend: SqliteBackend { conn, cfg: cfg.clone() }, reads, pauses })
}

/// `Journal::migrate`: brings the schema to this version and says from which.
pub(crate) async fn migrate(cfg: &SqliteConfig) -> Result<MigrationReport, StoreError> {
    let mut conn = prepare(cfg).await?;
    let from = applied_version(&mut conn).await?;
    MIGRATOR.run(&mut conn).await?;
    conn.close().await?;
    Ok(MigrationReport { from, to: migrate::known_version(&MIGRATOR) })
}

/// Validates, creates the parent directories, connects the writer and refuses a schema newer than this build.
async fn prepare(cfg: &SqliteConfig) -> Result<SqliteConnection, StoreError> {
    cfg.validate()?;
    if let Some(parent) = cfg.path.parent()
        && !parent.as_os_str().is_empty()
    {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| StoreError::Io(format!("cannot create {}: {e}", parent.display())))?;
    }
    let mut conn = connect_writer(cfg).await?;
    let applied = applied_version(&mut conn).await?;
    migrate::refuse_newer(applied, &MIGRATOR)?;
    Ok(conn)
}

/// The newest migration applied to this database; `None` for a new one.
async fn applied_version(conn: &mut SqliteConnection) -> Result<Option<i64>, StoreError> {
    let table: Option<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
            .fetch_optional(&mut *conn)
            .await?;
    if table.is_none() {
        return Ok(None);
    }
    Ok(sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success").fetch_one(&mut *conn).await?)
}

/// The writer's side of SQLite: one connection, `BEGIN IMMEDIATE` per batch.
pub(crate) struct SqliteBackend {
    pub(crate) conn: SqliteConnection,
    cfg: SqliteConfig,
}

impl Backend for SqliteBackend {
    async fn begin(&mut self) -> Result<(), StoreError> {
        // IMMEDIATE: take the write lock now, so a competing process shows up as BUSY here, not mid-batch.
        self.exec("BEGIN IMMEDIATE").await
    }

    async fn exec(&mut self, sql: &'static str) -> Result<(), StoreError> {
        self.conn.execute(sql).await?;
        Ok(())
    }

    async fn apply(&mut self, write: &Write, now_us: i64) -> Result<Done, StoreError> {
        let conn = &mut self.conn;
        match write {
            Write::Append { env, .. } => messages::insert(conn, env, now_us).await.map(Done::Appended),
            Write::SetStatus { id, status, reason, .. } => {
                messages::update_status(conn, *id, *status, reason.as_deref(), now_us).await.map(|()| Done::StatusSet)
            }
            Write::SetConversion { conversion, .. } => {
                messages::store_conversion(conn, conversion, now_us).await.map(|()| Done::StatusSet)
            }
            Write::RecordDeliveries { outcomes, .. } => {
                outbox::record_all(conn, outcomes, now_us).await.map(Done::Count)
            }
            Write::Resend { target, .. } => outbox::resend(conn, target, now_us).await.map(Done::Count),
            Write::Reprocess { id, .. } => outbox::reprocess(conn, *id, now_us).await.map(|()| Done::StatusSet),
            Write::Audit { event, .. } => ops::insert_audit(conn, event).await.map(Done::Count),
            Write::Prune { prune, .. } => ops::prune(conn, prune).await.map(Done::Pruned),
            Write::RecordMinutes { minutes, .. } => stats::record(conn, minutes).await.map(Done::Count),
            Write::PruneStats { before_minute, .. } => stats::prune(conn, *before_minute).await.map(Done::Count),
            Write::IndexPatients { update, .. } => ops::index_patients(conn, update, now_us).await.map(Done::Count),
            Write::ChannelPause { channel, pause, .. } => {
                messages::store_channel_pause(conn, channel, pause.as_deref(), now_us).await.map(|()| Done::StatusSet)
            }
            Write::RegisterNode { id, host, lease_us, .. } => {
                nodes::register(conn, id, host, *lease_us, now_us).await.map(|()| Done::StatusSet)
            }
            Write::Heartbeat { id, lease_us, leads, .. } => {
                nodes::heartbeat(conn, id, *lease_us, leads, now_us).await.map(|()| Done::StatusSet)
            }
            Write::LeaveNode { id, .. } => nodes::leave(conn, id).await.map(|()| Done::StatusSet),
            Write::Claim { node, limit, .. } => nodes::claim(conn, node, *limit, now_us).await.map(Done::Ids),
            Write::Lease { node, destination, due_us, limit, .. } => {
                nodes::lease(conn, node, destination, *due_us, *limit, now_us).await.map(Done::Ids)
            }
        }
    }

    async fn apply_appends(&mut self, writes: &[Write], now_us: i64) -> Result<Vec<Done>, StoreError> {
        let envs: Vec<&Envelope> =
            writes.iter().filter_map(|w| if let Write::Append { env, .. } = w { Some(&**env) } else { None }).collect();
        let appended = messages::insert_all(&mut self.conn, &envs, now_us).await?;
        Ok(appended.into_iter().map(Done::Appended).collect())
    }

    async fn probe(&mut self) -> Result<(), StoreError> {
        self.begin().await?;
        let space = messages::probe_space(&mut self.conn).await;
        let rolled_back = self.exec("ROLLBACK").await;
        space.and(rolled_back)
    }

    /// SQLite may already have rolled back by itself (it does on SQLITE_FULL and I/O errors); if even ROLLBACK
    /// fails, start over with a fresh connection so the next batch does not inherit a broken one.
    async fn repair(&mut self, _error: &StoreError) {
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
}

async fn reconnect(cfg: &SqliteConfig) -> Result<SqliteConnection, StoreError> {
    let mut conn = connect_writer(cfg).await?;
    apply_size_limit(&mut conn, cfg.max_db_bytes).await?;
    Ok(conn)
}

/// Ids as a JSON array, for `IN (SELECT value FROM json_each(?))`: one parameter whatever the count.
pub(crate) fn json_ids(ids: &[i64]) -> String {
    format!("[{}]", ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","))
}
