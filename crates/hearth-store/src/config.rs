//! Which backend the journal uses, and its knobs.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;

use crate::StoreError;

/// Where the journal lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalConfig {
    /// One node, one file: the default.
    Sqlite(SqliteConfig),
    /// Any number of nodes sharing one database.
    Postgres(PostgresConfig),
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

/// A journal in a PostgreSQL database, shared by every node that names it.
///
/// What SQLite's knobs map to: `max_batch` and `queue_capacity` mean the same (one writer task per node, one
/// transaction per batch); `busy_timeout_ms` becomes `statement_timeout_ms` (the server cancels a statement
/// that runs longer, and the write fails as busy); `max_db_bytes` guards the journal's own tables and indexes
/// (the relations in its schema): past it, appends of new messages fail with [`StoreError::Full`] while
/// duplicates, status changes and outbox outcomes go on. The size is measured, not enforced by the server, so a
/// few appends may pass the limit before it is seen.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// `postgres://user@host:port/database`, with libpq-style parameters such as `sslmode` and `sslrootcert`.
    pub url: String,
    /// The password, already read from `password_env`/`password_file` (it overrides one in `url`). Never logged.
    pub password: Option<String>,
    /// The schema holding the journal's tables, created if missing; `None`: the server's default (`public`).
    pub schema: Option<String>,
    /// Read connections of this node (the writer and each leadership hold one more each).
    pub max_connections: u32,
    /// Longest a statement may run before the server cancels it ([`StoreError::Busy`]).
    pub statement_timeout_ms: u64,
    /// Longest to wait for a new connection or a free pooled one.
    pub connect_timeout_ms: u64,
    /// Most writes in one group commit (one transaction).
    pub max_batch: usize,
    /// Writes waiting for the writer. When full, `append` waits (backpressure); nothing is dropped.
    pub queue_capacity: usize,
    /// Upper bound on the journal's tables and indexes (see above).
    pub max_db_bytes: Option<u64>,
}

impl PostgresConfig {
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;
    pub const DEFAULT_STATEMENT_TIMEOUT_MS: u64 = 30_000;
    pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;

    /// A journal at `url` with the defaults: no separate password, the default schema, no size limit.
    pub fn new(url: impl Into<String>) -> Self {
        PostgresConfig {
            url: url.into(),
            password: None,
            schema: None,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            statement_timeout_ms: Self::DEFAULT_STATEMENT_TIMEOUT_MS,
            connect_timeout_ms: Self::DEFAULT_CONNECT_TIMEOUT_MS,
            max_batch: SqliteConfig::DEFAULT_MAX_BATCH,
            queue_capacity: SqliteConfig::DEFAULT_QUEUE_CAPACITY,
            max_db_bytes: None,
        }
    }

    /// Where the journal is, without credentials (for logs and `Debug`).
    pub fn location(&self) -> String {
        let url = redact_url(&self.url);
        match &self.schema {
            Some(schema) => format!("{url} (schema {schema})"),
            None => url,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        self.connect_options()?;
        if let Some(schema) = &self.schema
            && !valid_identifier(schema)
        {
            return Err(StoreError::Config(
                "schema must be 1 to 63 lowercase letters, digits or underscores, not starting with a digit".into(),
            ));
        }
        if self.max_connections == 0 {
            return Err(StoreError::Config("max_connections must be at least 1".into()));
        }
        if self.statement_timeout_ms == 0 || self.connect_timeout_ms == 0 {
            return Err(StoreError::Config("statement_timeout_ms and connect_timeout_ms must be at least 1".into()));
        }
        if self.max_batch == 0 {
            return Err(StoreError::Config("max_batch must be at least 1".into()));
        }
        if self.queue_capacity == 0 {
            return Err(StoreError::Config("queue_capacity must be at least 1".into()));
        }
        Ok(())
    }

    /// Parses the URL and applies the password, schema and timeouts. Pure: no connection is made.
    pub(crate) fn connect_options(&self) -> Result<PgConnectOptions, StoreError> {
        if !(self.url.starts_with("postgres://") || self.url.starts_with("postgresql://")) {
            return Err(StoreError::Config("url must start with postgres:// or postgresql://".into()));
        }
        // The parser's errors name what is wrong, not the URL, so they cannot leak a password.
        let mut opts = PgConnectOptions::from_str(&self.url).map_err(|e| StoreError::Config(format!("url: {e}")))?;
        if let Some(password) = &self.password {
            opts = opts.password(password);
        }
        let mut settings = vec![("statement_timeout", format!("{}", self.statement_timeout_ms))];
        if let Some(schema) = &self.schema {
            settings.push(("search_path", schema.clone()));
        }
        Ok(opts.application_name("hearth").options(settings))
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &redact_url(&self.url))
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("schema", &self.schema)
            .field("max_connections", &self.max_connections)
            .field("statement_timeout_ms", &self.statement_timeout_ms)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("max_batch", &self.max_batch)
            .field("queue_capacity", &self.queue_capacity)
            .field("max_db_bytes", &self.max_db_bytes)
            .finish()
    }
}

/// A lowercase SQL identifier that needs no quoting (and cannot inject anything when quoted).
fn valid_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && s.len() <= 63
}

/// The URL with any password replaced by `***`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') { format!("{user}:***") } else { user.to_owned() };
            format!("{scheme}://{masked}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_config_validates_without_connecting() {
        let ok = PostgresConfig::new("postgres://hearth@db.example:5432/hearth?sslmode=require");
        assert_eq!(ok.validate(), Ok(()));
        let bad_scheme = PostgresConfig::new("mysql://x@y/z");
        assert!(matches!(bad_scheme.validate(), Err(StoreError::Config(_))));
        let bad_port = PostgresConfig::new("postgres://x@y:notaport/z");
        assert!(matches!(bad_port.validate(), Err(StoreError::Config(_))));
        for schema in ["Hearth", "1abc", "a-b", "x; DROP TABLE messages", ""] {
            let cfg = PostgresConfig { schema: Some(schema.into()), ..ok.clone() };
            assert!(matches!(cfg.validate(), Err(StoreError::Config(_))), "{schema:?}");
        }
        let cfg = PostgresConfig { schema: Some("hearth_node_1".into()), ..ok.clone() };
        assert_eq!(cfg.validate(), Ok(()));
        assert!(PostgresConfig { max_connections: 0, ..ok.clone() }.validate().is_err());
        assert!(PostgresConfig { statement_timeout_ms: 0, ..ok.clone() }.validate().is_err());
        assert!(PostgresConfig { max_batch: 0, ..ok.clone() }.validate().is_err());
        assert!(PostgresConfig { queue_capacity: 0, ..ok }.validate().is_err());
    }

    #[test]
    fn secrets_stay_out_of_debug_and_location() {
        let cfg = PostgresConfig {
            password: Some("hunter2".into()),
            ..PostgresConfig::new("postgres://hearth:s3cret@db:5432/hearth?sslmode=require")
        };
        let shown = format!("{cfg:?} {}", cfg.location());
        assert!(!shown.contains("hunter2") && !shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://hearth:***@db:5432/hearth?sslmode=require"), "{shown}");
        assert_eq!(redact_url("postgres://u@h/d"), "postgres://u@h/d");
    }
}
