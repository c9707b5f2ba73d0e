//! A read-only view of a journal, for `hearth replay`: it pages through converted messages with what the
//! processing stage stored for each (the Bundle and the planned deliveries), and can never change the journal.
//!
//! SQLite: the file is opened read-only (`SQLITE_OPEN_READONLY`, plus `query_only`), without migrating or
//! recovering, so the database file is not written (a WAL journal still needs its `-shm` index beside it, as
//! every reader does). PostgreSQL: every connection sets `default_transaction_read_only`, so each statement
//! runs in a read-only transaction and the server refuses any write.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use time::OffsetDateTime;

use crate::rows::{Cols, FROM_MESSAGES, SELECT_SUMMARY, stored, to_micros};
use crate::{JournalConfig, MAX_PAGE, StoreError, StoredMessage};

/// Which converted messages to read; every `Some` narrows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayFilter {
    pub channel: Option<String>,
    /// Received at or after.
    pub since: Option<OffsetDateTime>,
    /// Received before.
    pub until: Option<OffsetDateTime>,
}

/// One delivery the processing stage planned (the outbox row without its body and delivery state).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PlannedRow {
    pub route: String,
    pub destination: String,
    pub routing_key: String,
    pub resource_type: String,
    pub content_id: String,
}

/// A converted (or failed) message with its stored conversion and its planned deliveries (cancelled rows,
/// superseded by a reprocessing, left out).
#[derive(Debug, Clone)]
pub struct Converted {
    pub message: StoredMessage,
    pub deliveries: Vec<PlannedRow>,
}

/// A journal opened read-only.
#[derive(Debug, Clone)]
pub enum JournalReader {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl JournalReader {
    /// Opens the journal read-only: no migration, no recovery, no writer. A journal that does not exist is an
    /// error (it is never created).
    pub async fn open(cfg: &JournalConfig) -> Result<JournalReader, StoreError> {
        match cfg {
            JournalConfig::Sqlite(cfg) => {
                cfg.validate()?;
                let opts = SqliteConnectOptions::new()
                    .filename(&cfg.path)
                    .create_if_missing(false)
                    .read_only(true)
                    .busy_timeout(Duration::from_millis(cfg.busy_timeout_ms))
                    .pragma("query_only", "ON");
                let pool = SqlitePoolOptions::new().max_connections(2).min_connections(0).connect_with(opts).await?;
                Ok(JournalReader::Sqlite(pool))
            }
            JournalConfig::Postgres(cfg) => {
                cfg.validate()?;
                let opts = cfg.connect_options()?.options([("default_transaction_read_only", "on")]);
                let pool = PgPoolOptions::new()
                    .max_connections(2)
                    .min_connections(0)
                    .acquire_timeout(cfg.connect_timeout())
                    .connect_with(opts)
                    .await?;
                Ok(JournalReader::Postgres(pool))
            }
        }
    }

    /// Up to `limit` (at most [`MAX_PAGE`]) messages with id > `after_id` in id order whose status is
    /// `processed`, `filtered` or `error` (converted, or refused by the conversion), with their deliveries.
    /// Each message carries its raw bytes but not its stored Bundle nor its report (`bundle` and `report` are
    /// `None`): a replay compares planned deliveries, whose content ids digest the content, and reading every
    /// Bundle, only to drop it, was ~7 % of a replay's time (docs/performance.md).
    pub async fn converted(
        &self,
        filter: &ReplayFilter,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<Converted>, StoreError> {
        let limit = i64::from(limit.clamp(1, MAX_PAGE));
        let since = filter.since.map(to_micros).unwrap_or(i64::MIN);
        let until = filter.until.map(to_micros).unwrap_or(i64::MAX);
        // A page is a range of ids read in id order. On SQLite the status term is written `+m.status` so that it
        // cannot use the `(status, id)` index: without ANALYZE statistics the planner preferred that index and
        // sorted, reading (and joining the content of) every remaining message for each page, quadratic in the
        // journal's size (100,000 messages: 50 s instead of a few; docs/performance.md).
        let messages_sql = |status: &str| {
            format!(
                "{SELECT_SUMMARY}, c.raw, CAST(NULL AS TEXT) AS bundle, CAST(NULL AS TEXT) AS report{FROM_MESSAGES} \
                 WHERE m.id > $1 AND m.received_at >= $2 AND m.received_at < $3 AND ($4 IS NULL OR m.channel = $4) \
                 AND {status} IN ('processed', 'filtered', 'error') ORDER BY m.id LIMIT $5"
            )
        };
        let deliveries_sql = "SELECT message_id, route, destination, routing_key, resource_type, content_id \
             FROM deliveries WHERE message_id >= $1 AND message_id <= $2 AND status <> 'cancelled' ORDER BY id";
        let (messages, rows) = match self {
            JournalReader::Sqlite(pool) => {
                let sql = messages_sql("+m.status");
                let q = sqlx::query(&sql).bind(after_id).bind(since).bind(until);
                let q = q.bind(filter.channel.as_deref()).bind(limit);
                let messages = q.fetch_all(pool).await?.iter().map(stored).collect::<Result<Vec<_>, _>>()?;
                let (first, last) = bounds(&messages);
                let rows = sqlx::query(deliveries_sql).bind(first).bind(last).fetch_all(pool).await?;
                (messages, rows.iter().map(planned).collect::<Result<Vec<_>, _>>()?)
            }
            JournalReader::Postgres(pool) => {
                let sql = messages_sql("m.status");
                let q = sqlx::query(&sql).bind(after_id).bind(since).bind(until);
                let q = q.bind(filter.channel.as_deref()).bind(limit);
                let messages = q.fetch_all(pool).await?.iter().map(stored).collect::<Result<Vec<_>, _>>()?;
                let (first, last) = bounds(&messages);
                let rows = sqlx::query(deliveries_sql).bind(first).bind(last).fetch_all(pool).await?;
                (messages, rows.iter().map(planned).collect::<Result<Vec<_>, _>>()?)
            }
        };
        let mut out: Vec<Converted> =
            messages.into_iter().map(|message| Converted { message, deliveries: Vec::new() }).collect();
        // Both lists are in id order: attach each delivery to its message by binary search.
        for (message_id, row) in rows {
            if let Ok(i) = out.binary_search_by_key(&message_id, |c| c.message.summary.id) {
                out[i].deliveries.push(row);
            }
        }
        Ok(out)
    }

    pub async fn close(&self) {
        match self {
            JournalReader::Sqlite(pool) => pool.close().await,
            JournalReader::Postgres(pool) => pool.close().await,
        }
    }
}

/// The first and last id of a page (an empty range when the page is empty).
fn bounds(messages: &[StoredMessage]) -> (i64, i64) {
    match (messages.first(), messages.last()) {
        (Some(f), Some(l)) => (f.summary.id, l.summary.id),
        _ => (1, 0),
    }
}

fn planned(r: &impl Cols) -> Result<(i64, PlannedRow), StoreError> {
    Ok((
        r.int("message_id")?,
        PlannedRow {
            route: r.text("route")?,
            destination: r.text("destination")?,
            routing_key: r.text("routing_key")?,
            resource_type: r.text("resource_type")?,
            content_id: r.text("content_id")?,
        },
    ))
}
