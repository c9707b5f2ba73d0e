//! `[journal]`: where messages are kept before they are acknowledged. SQLite (one node, the default) or
//! PostgreSQL (any number of nodes sharing one database: docs/scale-out.md).

use std::path::PathBuf;
use std::time::Duration;

use hearth_core::config::{Problems, SecretError, SecretSource, check_range};

use crate::raw::{RawJournal, RawPostgres};

/// How long a node's claims and leases outlive its last heartbeat unless configured (`node_lease_ms`).
pub const DEFAULT_NODE_LEASE_MS: u64 = 15_000;

/// A validated journal.
#[derive(Debug, Clone, PartialEq)]
pub enum JournalPlan {
    Sqlite { path: PathBuf, max_batch: usize, queue_capacity: usize, max_size_bytes: Option<u64>, busy_timeout_ms: u64 },
    Postgres(PostgresPlan),
}

/// `[journal] type = "postgres"`, validated. The password is named here and read when the engine starts.
#[derive(Debug, Clone, PartialEq)]
pub struct PostgresPlan {
    /// `postgres://user@host:port/db?sslmode=...`; a password should come from `password_env`/`password_file`.
    pub url: String,
    pub password: SecretSource,
    pub schema: Option<String>,
    /// Read connections of this node (the writer and each leadership hold one more each).
    pub pool_size: u32,
    pub statement_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// How long this node's claims and leases outlive its last heartbeat (it heartbeats every third of it).
    pub node_lease_ms: u64,
    pub max_batch: usize,
    pub queue_capacity: usize,
    pub max_size_bytes: Option<u64>,
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
        RawJournal::Postgres(p) => JournalPlan::Postgres(validate_postgres(p, problems)),
    }
}

fn validate_postgres(p: RawPostgres, problems: &mut Problems) -> PostgresPlan {
    if !(p.url.starts_with("postgres://") || p.url.starts_with("postgresql://")) {
        // The URL itself is not repeated: it may carry a password.
        problems.add("journal.url", "must start with postgres:// or postgresql://");
    }
    let password = SecretSource::from_keys(p.password_env, p.password_file, "journal", "password", None, problems);
    if let Some(schema) = &p.schema {
        let mut chars = schema.chars();
        let ok = matches!(chars.next(), Some('a'..='z' | '_'))
            && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
            && schema.len() <= 63;
        if !ok {
            problems.add("journal.schema", "1 to 63 lowercase letters, digits or _, not starting with a digit");
        }
    }
    let pool_size = p.pool_size.unwrap_or(8);
    check_range(pool_size, 1..=200, "journal.pool_size", problems);
    let statement_timeout_ms = p.statement_timeout_ms.unwrap_or(30_000);
    check_range(statement_timeout_ms, 100..=3_600_000, "journal.statement_timeout_ms", problems);
    let connect_timeout_ms = p.connect_timeout_ms.unwrap_or(5_000);
    check_range(connect_timeout_ms, 100..=600_000, "journal.connect_timeout_ms", problems);
    let node_lease_ms = p.node_lease_ms.unwrap_or(DEFAULT_NODE_LEASE_MS);
    check_range(node_lease_ms, 300..=3_600_000, "journal.node_lease_ms", problems);
    let max_batch = p.max_batch.unwrap_or(512);
    check_range(max_batch, 1..=10_000, "journal.max_batch", problems);
    let queue_capacity = p.queue_capacity.unwrap_or(4096);
    check_range(queue_capacity, 1..=1_000_000, "journal.queue_capacity", problems);
    PostgresPlan {
        url: p.url,
        password,
        schema: p.schema,
        pool_size,
        statement_timeout_ms,
        connect_timeout_ms,
        node_lease_ms,
        max_batch,
        queue_capacity,
        max_size_bytes: p.max_size_bytes,
    }
}

impl JournalPlan {
    /// The journal's line in `hearth check`'s topology (never a password).
    pub fn describe(&self) -> String {
        match self {
            JournalPlan::Sqlite { path, max_batch, max_size_bytes, .. } => format!(
                "journal  sqlite {} (group commit up to {max_batch}{})\n",
                path.display(),
                max_size_bytes.map(|b| format!(", max {b} bytes")).unwrap_or_default()
            ),
            JournalPlan::Postgres(p) => {
                let location = hearth_store::PostgresConfig {
                    schema: p.schema.clone(),
                    ..hearth_store::PostgresConfig::new(&p.url)
                }
                .location();
                let password = match &p.password {
                    SecretSource::None => String::new(),
                    SecretSource::Env(var) => format!(", password from ${var}"),
                    SecretSource::File(path) => format!(", password from {}", path.display()),
                };
                format!(
                    "journal  postgres {location} (pool {}, statement timeout {} ms, node lease {} ms, group commit up to {}{password})\n",
                    p.pool_size, p.statement_timeout_ms, p.node_lease_ms, p.max_batch
                )
            }
        }
    }

    /// How long a node's claims and leases outlive its last heartbeat. SQLite has one node; the lease only
    /// matters for the nodes view there.
    pub fn node_lease(&self) -> Duration {
        match self {
            JournalPlan::Sqlite { .. } => Duration::from_millis(DEFAULT_NODE_LEASE_MS),
            JournalPlan::Postgres(p) => Duration::from_millis(p.node_lease_ms),
        }
    }

    /// The store's configuration. Reads the PostgreSQL password (the only IO).
    pub fn store_config(&self) -> Result<hearth_store::JournalConfig, SecretError> {
        Ok(match self {
            JournalPlan::Sqlite { path, max_batch, queue_capacity, max_size_bytes, busy_timeout_ms } => {
                hearth_store::JournalConfig::Sqlite(hearth_store::SqliteConfig {
                    path: path.clone(),
                    max_batch: *max_batch,
                    queue_capacity: *queue_capacity,
                    max_db_bytes: *max_size_bytes,
                    busy_timeout_ms: *busy_timeout_ms,
                })
            }
            JournalPlan::Postgres(p) => hearth_store::JournalConfig::Postgres(hearth_store::PostgresConfig {
                url: p.url.clone(),
                password: p.password.resolve()?,
                schema: p.schema.clone(),
                max_connections: p.pool_size,
                statement_timeout_ms: p.statement_timeout_ms,
                connect_timeout_ms: p.connect_timeout_ms,
                max_batch: p.max_batch,
                queue_capacity: p.queue_capacity,
                max_db_bytes: p.max_size_bytes,
            }),
        })
    }
}
