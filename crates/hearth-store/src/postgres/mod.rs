//! PostgreSQL, the backend several nodes share: connections, migrations, and the writer's side of group commit
//! ([`PgBackend`]). The SQL of each part of the journal is in the submodules, parallel to `crate::sqlite`.
//!
//! Each node keeps SQLite's shape: one writer connection running whole batches in one transaction each, and a
//! read pool. What changes is that other nodes write too: the unique dedup key decides duplicates between them
//! (`INSERT ... ON CONFLICT`), a batch that deadlocks with another node's is run again (see `writer`), and the
//! multi-node primitives (claims, leases, leadership) live in `nodes`.
//!
//! Round trips per write (the socket, not PostgreSQL's work, is most of the cost on a local server): a run of
//! consecutive appends is two statements whatever its length (the ids, then messages and content in one CTE;
//! a lone append is one), a conversion one (status, content, deliveries and index rows in one CTE), a batch of
//! sent outcomes one, a retry or a dead outcome one each; plus BEGIN and COMMIT.

pub(crate) mod messages;
pub(crate) mod nodes;
pub(crate) mod ops;
pub(crate) mod outbox;
pub(crate) mod stats;

use std::time::Instant;

use hearth_core::Envelope;
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor};

use crate::migrate::{self, MigrationReport};
use crate::write::{Done, Write};
use crate::writer::Backend;
use crate::{PostgresConfig, StoreError};

/// Version N here is the same schema change as version N in `migrations/sqlite`.
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// What `Journal::open` needs from a freshly opened PostgreSQL journal.
pub(crate) struct Opened {
    pub(crate) backend: PgBackend,
    pub(crate) reads: PgPool,
    pub(crate) pauses: Vec<(String, String)>,
}

pub(crate) async fn open(cfg: &PostgresConfig) -> Result<Opened, StoreError> {
    let mut conn = prepare(cfg).await?;
    MIGRATOR.run(&mut conn).await?;
    let (last_id, backlog): (Option<i64>, i64) = sqlx::query_as(
        "SELECT (SELECT max(id) FROM messages), (SELECT count(*) FROM messages WHERE status = 'received')",
    )
    .fetch_one(&mut conn)
    .await?;
    tracing::info!(last_id, backlog, location = %cfg.location(), "journal opened");
    let pauses = sqlx::query_as("SELECT channel, reason FROM channel_pauses").fetch_all(&mut conn).await?;
    let reads = PgPoolOptions::new()
        .max_connections(cfg.max_connections)
        .min_connections(0)
        .acquire_timeout(cfg.connect_timeout())
        .connect_with(cfg.connect_options()?)
        .await?;
    let backend = PgBackend { conn: Some(conn), cfg: cfg.clone(), size: SizeGuard::new(cfg.max_db_bytes) };
    Ok(Opened { backend, reads, pauses })
}

pub(crate) async fn migrate(cfg: &PostgresConfig) -> Result<MigrationReport, StoreError> {
    let mut conn = prepare(cfg).await?;
    let from = applied_version(&mut conn).await?;
    MIGRATOR.run(&mut conn).await?;
    conn.close().await?;
    Ok(MigrationReport { from, to: migrate::known_version(&MIGRATOR) })
}

/// Validates, connects, creates the schema if it is missing, and refuses a schema newer than this build.
async fn prepare(cfg: &PostgresConfig) -> Result<PgConnection, StoreError> {
    cfg.validate()?;
    let mut conn = connect(cfg).await?;
    if let Some(schema) = &cfg.schema {
        // `validate` allows only [a-z_][a-z0-9_]*: nothing to escape.
        conn.execute(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"").as_str()).await?;
    }
    migrate::refuse_newer(applied_version(&mut conn).await?, &MIGRATOR)?;
    Ok(conn)
}

/// A connection of its own (the writer's, a leadership's), with the node's settings.
pub(crate) async fn connect(cfg: &PostgresConfig) -> Result<PgConnection, StoreError> {
    let opts = cfg.connect_options()?;
    let mut conn = tokio::time::timeout(cfg.connect_timeout(), opts.connect())
        .await
        .map_err(|_| StoreError::Io("timed out connecting to PostgreSQL".into()))??;
    // An acknowledgement means "durable": a server configured with synchronous_commit=off would lose the last
    // commits in a crash. Stronger settings (remote_write, remote_apply) are kept as they are.
    let sync: String = sqlx::query_scalar("SHOW synchronous_commit").fetch_one(&mut conn).await?;
    if sync == "off" {
        conn.execute("SET synchronous_commit = on").await?;
        tracing::warn!("PostgreSQL has synchronous_commit=off; the journal turns it on for its own connections");
    }
    Ok(conn)
}

/// The newest migration applied to this database (in the configured schema); `None` for a new one.
async fn applied_version(conn: &mut PgConnection) -> Result<Option<i64>, StoreError> {
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(&mut *conn).await?;
    if !exists {
        return Ok(None);
    }
    Ok(sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success").fetch_one(&mut *conn).await?)
}

/// How big the journal is: its tables with their indexes and TOAST, in its schema.
pub(crate) const JOURNAL_SIZE: &str = "\
SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'";

/// `max_db_bytes` on PostgreSQL: the journal's size is measured (at most every [`SizeGuard::EVERY`], sooner
/// when the appends since the last measurement may have crossed the limit), and new messages are refused past it.
pub(crate) struct SizeGuard {
    limit: Option<u64>,
    measured: u64,
    at: Option<Instant>,
    added: u64,
    /// The last new message was refused for size: readiness says full until one fits again.
    full: bool,
}

impl SizeGuard {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(1);
    const SOONEST: std::time::Duration = std::time::Duration::from_millis(50);

    fn new(limit: Option<u64>) -> Self {
        SizeGuard { limit, measured: 0, at: None, added: 0, full: false }
    }

    /// `Err(Full)` if a new message of `bytes` would not fit.
    pub(crate) async fn admit(&mut self, conn: &mut PgConnection, bytes: usize) -> Result<(), StoreError> {
        let Some(limit) = self.limit else { return Ok(()) };
        let bytes = bytes as u64;
        let stale = self.at.is_none_or(|at| at.elapsed() >= Self::EVERY);
        let may_cross = self.measured + self.added + bytes > limit;
        if stale || (may_cross && self.at.is_none_or(|at| at.elapsed() >= Self::SOONEST)) {
            self.measure(conn).await?;
        }
        self.full = self.measured + self.added + bytes > limit;
        if self.full {
            return Err(full(limit));
        }
        self.added += bytes;
        Ok(())
    }

    /// For `check_writable`: whether a new message would still be admitted, as far as the last measurement
    /// (refreshed when stale) tells.
    async fn probe(&mut self, conn: &mut PgConnection) -> Result<(), StoreError> {
        let Some(limit) = self.limit else { return Ok(()) };
        if self.at.is_none_or(|at| at.elapsed() >= Self::EVERY) {
            self.measure(conn).await?;
        }
        if self.full || self.measured + self.added >= limit {
            return Err(full(limit));
        }
        Ok(())
    }

    async fn measure(&mut self, conn: &mut PgConnection) -> Result<(), StoreError> {
        let size: i64 = sqlx::query_scalar(JOURNAL_SIZE).fetch_one(&mut *conn).await?;
        self.measured = u64::try_from(size).unwrap_or(0);
        self.at = Some(Instant::now());
        self.added = 0;
        Ok(())
    }
}

fn full(limit: u64) -> StoreError {
    StoreError::Full(format!("the journal's tables reached max_db_bytes ({limit} bytes)"))
}

/// The writer's side of PostgreSQL: one connection of its own, reopened when it breaks (the server restarted, a
/// network cut): while the server is away every batch fails with a transient error, and the first batch after
/// it is back reconnects by itself.
pub(crate) struct PgBackend {
    pub(crate) conn: Option<PgConnection>,
    cfg: PostgresConfig,
    size: SizeGuard,
}

impl PgBackend {
    async fn conn(&mut self) -> Result<&mut PgConnection, StoreError> {
        if self.conn.is_none() {
            let conn = connect(&self.cfg).await?;
            tracing::info!("journal write connection to PostgreSQL reopened");
            self.conn = Some(conn);
        }
        self.conn.as_mut().ok_or(StoreError::Closed)
    }
}

impl Backend for PgBackend {
    async fn begin(&mut self) -> Result<(), StoreError> {
        self.exec("BEGIN").await
    }

    async fn exec(&mut self, sql: &'static str) -> Result<(), StoreError> {
        self.conn().await?.execute(sql).await?;
        Ok(())
    }

    async fn apply(&mut self, write: &Write, now_us: i64) -> Result<Done, StoreError> {
        let Some(conn) = self.conn.as_mut() else { return Err(StoreError::Io("no connection".into())) };
        match write {
            Write::Append { env, .. } => {
                let appended = messages::insert(conn, env, now_us).await?;
                if !appended.duplicate {
                    // Checked after the insert, like SQLite's page limit: a duplicate takes no room and passes.
                    self.size.admit(conn, env.raw.len()).await?;
                }
                Ok(Done::Appended(appended))
            }
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
                nodes::register(conn, id, host, *lease_us).await.map(|()| Done::StatusSet)
            }
            Write::Heartbeat { id, lease_us, leads, .. } => {
                nodes::heartbeat(conn, id, *lease_us, leads).await.map(|()| Done::StatusSet)
            }
            Write::LeaveNode { id, .. } => nodes::leave(conn, id).await.map(|()| Done::StatusSet),
            Write::Claim { node, limit, .. } => nodes::claim(conn, node, *limit).await.map(Done::Ids),
            Write::Lease { node, destination, due_us, limit, .. } => {
                nodes::lease(conn, node, destination, *due_us, *limit).await.map(Done::Ids)
            }
        }
    }

    async fn apply_appends(&mut self, writes: &[Write], now_us: i64) -> Result<Vec<Done>, StoreError> {
        let envs: Vec<&Envelope> =
            writes.iter().filter_map(|w| if let Write::Append { env, .. } = w { Some(&**env) } else { None }).collect();
        let Some(conn) = self.conn.as_mut() else { return Err(StoreError::Io("no connection".into())) };
        let appended = messages::insert_all(conn, &envs, now_us).await?;
        let new_bytes: usize = envs.iter().zip(&appended).filter(|(_, a)| !a.duplicate).map(|(e, _)| e.raw.len()).sum();
        if new_bytes > 0 {
            self.size.admit(conn, new_bytes).await?;
        }
        Ok(appended.into_iter().map(Done::Appended).collect())
    }

    async fn probe(&mut self) -> Result<(), StoreError> {
        self.conn().await?;
        let Some(conn) = self.conn.as_mut() else { return Err(StoreError::Closed) };
        sqlx::query("SELECT 1").execute(&mut *conn).await?;
        self.size.probe(conn).await
    }

    /// Rolls back; a connection that cannot even do that (or that failed at the transport) is dropped, and
    /// the next batch opens a new one.
    async fn repair(&mut self, error: &StoreError) {
        let Some(conn) = self.conn.as_mut() else { return };
        let broken = matches!(error, StoreError::Io(_) | StoreError::Closed);
        if !broken && conn.execute("ROLLBACK").await.is_ok() {
            return;
        }
        tracing::warn!(error = %error, "journal write connection to PostgreSQL dropped; the next batch reconnects");
        if let Some(conn) = self.conn.take() {
            let _ = conn.close_hard().await;
        }
    }

    async fn shutdown(self) {
        if let Some(conn) = self.conn
            && let Err(e) = conn.close().await
        {
            tracing::warn!(error = %StoreError::from(e), "journal write connection did not close cleanly");
        }
    }
}
