//! The store's one error type.
//!
//! Every message text here comes from the database's own primary error message (SQLite's and PostgreSQL's name
//! tables, columns and constraints, never bound values; PostgreSQL's data errors, which can quote a value, are
//! cut before it) or from fixed strings: a `StoreError` never carries payload, so it is safe to log and to put in
//! a negative ACK.

use hearth_core::ErrorClass;

/// Why a journal operation failed. `Clone` because one failed group commit answers every waiter in the batch
/// with the same error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database reached `max_db_bytes` or the disk is full. Nothing of the failed write was kept.
    #[error("journal is full (max_db_bytes reached or disk full): {0}")]
    Full(String),
    /// Another process holds the database lock longer than `busy_timeout_ms`, or no read connection was free.
    #[error("journal is busy: {0}")]
    Busy(String),
    /// The operating system refused a read or write.
    #[error("journal I/O error: {0}")]
    Io(String),
    /// The file is not a SQLite database or is damaged.
    #[error("journal database is corrupt: {0}")]
    Corrupt(String),
    /// Migrations failed or the schema is not what this version expects.
    #[error("journal schema error: {0}")]
    Schema(String),
    /// This one message cannot be stored (a constraint refused it, or it is too big); its neighbours in the
    /// same group commit were not affected.
    #[error("message refused by the journal: {0}")]
    Refused(String),
    /// `set_status` named an id the journal does not have.
    #[error("no message with id {0}")]
    NotFound(i64),
    /// A stored value could not be read back (unknown status, timestamp out of range).
    #[error("journal holds invalid data: {0}")]
    InvalidData(String),
    /// The configuration cannot work (zero batch size, zero queue capacity, a bad path).
    #[error("journal configuration is invalid: {0}")]
    Config(String),
    /// A concurrent transaction (another node's) conflicted with this one: a deadlock or a serialization
    /// failure. The writer runs the batch again a few times before answering with this.
    #[error("journal write conflicted with a concurrent transaction: {0}")]
    Conflict(String),
    /// This node's registration is gone (it left, or it stopped heartbeating long enough to be forgotten), or
    /// its lease ran out: what it held may be another node's now. Register again.
    #[error("journal node {0} is not registered or its lease ran out")]
    NodeLost(String),
    /// A conversion was stored under a claim this node no longer holds: another node has the message now, or
    /// it was converted already. The result must be dropped.
    #[error("message {0} is no longer claimed by this node")]
    ClaimLost(i64),
    /// `close` was called, or the writer task stopped.
    #[error("journal is closed")]
    Closed,
    /// Any other database failure.
    #[error("journal database error: {0}")]
    Database(String),
}

impl StoreError {
    /// Whether retrying the same operation later may succeed.
    pub fn class(&self) -> ErrorClass {
        match self {
            StoreError::Full(_)
            | StoreError::Busy(_)
            | StoreError::Io(_)
            | StoreError::Conflict(_)
            | StoreError::NodeLost(_)
            | StoreError::Closed
            | StoreError::Database(_) => ErrorClass::Transient,
            StoreError::Corrupt(_)
            | StoreError::Schema(_)
            | StoreError::Refused(_)
            | StoreError::NotFound(_)
            | StoreError::ClaimLost(_)
            | StoreError::InvalidData(_)
            | StoreError::Config(_) => ErrorClass::Permanent,
        }
    }

    /// A failure that concerns one write only: the rest of its group commit goes on.
    pub(crate) fn is_per_row(&self) -> bool {
        matches!(
            self,
            StoreError::Refused(_) | StoreError::NotFound(_) | StoreError::NodeLost(_) | StoreError::ClaimLost(_)
        )
    }

    /// Classify a PostgreSQL SQLSTATE with the server's primary message.
    fn from_postgres(code: &str, message: &str) -> Self {
        let class = code.get(..2).unwrap_or("");
        // Data exceptions may quote the offending value after a colon ("invalid input syntax for type ...: "):
        // keep what went wrong, not the value.
        let message = if class == "22" {
            format!("{} (SQLSTATE {code})", message.split(':').next().unwrap_or(message))
        } else {
            message.to_owned()
        };
        // https://www.postgresql.org/docs/15/errcodes-appendix.html
        match (class, code) {
            (_, "40001" | "40P01") => StoreError::Conflict(message), // serialization failure, deadlock
            (_, "53100") => StoreError::Full(message),               // disk full
            // Out of resources, a lock or a statement timeout, a read-only standby (during a failover).
            ("53", _) | (_, "55P03" | "57014" | "55006" | "25006") => StoreError::Busy(message),
            // The connection failed, the server is shutting down or starting.
            ("08", _) | (_, "57P01" | "57P02" | "57P03") => StoreError::Io(message),
            ("XX", "XX001" | "XX002") => StoreError::Corrupt(message),
            // Constraints, values that cannot be stored, a key too large for its index: this row only.
            ("23" | "22", _) | (_, "54000") => StoreError::Refused(message),
            // Unknown table or column, a missing schema, a feature the server lacks.
            ("42" | "3F" | "0A", _) => StoreError::Schema(message),
            // Bad credentials, a database that does not exist: the configuration.
            ("28" | "3D", _) => StoreError::Config(message),
            _ => StoreError::Database(message),
        }
    }

    /// Classify a SQLite result code (primary or extended) with SQLite's message.
    fn from_sqlite(code: i64, message: &str) -> Self {
        let message = message.to_owned();
        // Primary result codes, https://www.sqlite.org/rescode.html; extended codes keep the primary one in the
        // low byte.
        match code & 0xff {
            5 | 6 => StoreError::Busy(message),                // BUSY, LOCKED
            7 | 8 | 10 | 14 | 15 => StoreError::Io(message),   // NOMEM, READONLY, IOERR, CANTOPEN, PROTOCOL
            11 | 24 | 26 => StoreError::Corrupt(message),      // CORRUPT, FORMAT, NOTADB
            13 => StoreError::Full(message),                   // FULL
            1 | 17 => StoreError::Schema(message),             // ERROR (bad SQL / missing table), SCHEMA
            18 | 19 | 20 | 25 => StoreError::Refused(message), // TOOBIG, CONSTRAINT, MISMATCH, RANGE
            _ => StoreError::Database(message),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Database(db) => {
                if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                    return StoreError::from_postgres(pg.code(), pg.message());
                }
                let code = db.code().and_then(|c| c.parse::<i64>().ok()).unwrap_or(0);
                StoreError::from_sqlite(code, db.message())
            }
            sqlx::Error::Io(io) => StoreError::Io(io.to_string()),
            // A handshake that failed now may work later (a server restarting); a wrong certificate keeps
            // failing and says so in the message.
            sqlx::Error::Tls(tls) => StoreError::Io(format!("TLS: {tls}")),
            sqlx::Error::Configuration(c) => StoreError::Config(c.to_string()),
            sqlx::Error::Migrate(m) => StoreError::from(*m),
            sqlx::Error::PoolTimedOut => StoreError::Busy("timed out waiting for a read connection".into()),
            sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => StoreError::Closed,
            // Decode errors can quote the value they failed on: keep only where it happened.
            sqlx::Error::ColumnDecode { index, .. } => {
                StoreError::InvalidData(format!("column {index} could not be decoded"))
            }
            sqlx::Error::ColumnNotFound(c) => StoreError::Schema(format!("column {c} not found")),
            _ => StoreError::Database("unexpected database driver error".into()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        match e {
            sqlx::migrate::MigrateError::Execute(inner) | sqlx::migrate::MigrateError::ExecuteMigration(inner, _) => {
                // A full disk stays `Full` (transient); anything else unexpected while migrating is a schema
                // problem.
                match StoreError::from(inner) {
                    StoreError::Database(m) => StoreError::Schema(m),
                    other => other,
                }
            }
            // Version mismatches, dirty or missing migrations: the text names versions, not data.
            other => StoreError::Schema(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_codes_classify() {
        assert_eq!(StoreError::from_sqlite(13, "database or disk is full").class(), ErrorClass::Transient);
        assert!(matches!(StoreError::from_sqlite(13, "x"), StoreError::Full(_)));
        // SQLITE_IOERR_FSYNC (extended) is still I/O.
        assert!(matches!(StoreError::from_sqlite(1034, "x"), StoreError::Io(_)));
        assert!(matches!(StoreError::from_sqlite(5, "x"), StoreError::Busy(_)));
        assert_eq!(StoreError::from_sqlite(11, "x").class(), ErrorClass::Permanent);
        assert_eq!(StoreError::from_sqlite(26, "x").class(), ErrorClass::Permanent);
        // SQLITE_CONSTRAINT_CHECK concerns one row.
        assert!(StoreError::from_sqlite(275, "x").is_per_row());
        assert!(!StoreError::from_sqlite(13, "x").is_per_row());
    }

    #[test]
    fn postgres_codes_classify() {
        assert!(matches!(StoreError::from_postgres("40P01", "deadlock detected"), StoreError::Conflict(_)));
        assert!(matches!(StoreError::from_postgres("57P01", "terminating connection"), StoreError::Io(_)));
        assert!(matches!(StoreError::from_postgres("08006", "connection failure"), StoreError::Io(_)));
        assert!(matches!(StoreError::from_postgres("53100", "could not extend file"), StoreError::Full(_)));
        assert!(matches!(StoreError::from_postgres("57014", "canceling statement"), StoreError::Busy(_)));
        assert!(StoreError::from_postgres("23514", "violates check constraint").is_per_row());
        assert!(matches!(StoreError::from_postgres("42P01", "relation does not exist"), StoreError::Schema(_)));
        assert_eq!(StoreError::from_postgres("28P01", "password authentication failed").class(), ErrorClass::Permanent);
        assert_eq!(StoreError::from_postgres("40001", "could not serialize").class(), ErrorClass::Transient);
        // A data error quoting a value keeps only what went wrong.
        let e = StoreError::from_postgres("22P02", "invalid input syntax for type bigint: \"MRN-12345\"");
        assert!(!e.to_string().contains("MRN-12345"), "{e}");
        assert!(e.is_per_row());
    }

    #[test]
    fn display_is_one_line() {
        let e = StoreError::Full("database or disk is full".into());
        assert_eq!(e.to_string(), "journal is full (max_db_bytes reached or disk full): database or disk is full");
    }
}
