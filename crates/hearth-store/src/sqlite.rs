//! SQLite: connections, migrations and every SQL statement of the journal.

use std::collections::BTreeMap;
use std::time::Duration;

use hearth_core::{Envelope, MessageMeta, MessageStatus, PayloadKind};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, QueryBuilder, Row, Sqlite};
use time::OffsetDateTime;

use crate::writer::Conversion;
use crate::{Appended, MessageFilter, MessageSummary, SqliteConfig, StoreError, StoredMessage};

/// Migrations live per backend (`migrations/sqlite`, later `migrations/postgres`): the SQL dialects differ.
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Read connections. Two cores, and reads are short: a few are enough, and WAL lets them run beside the writer.
const READ_CONNECTIONS: u32 = 4;

/// Largest page `list` and `next_received` return, whatever the caller asks (bounds memory per call).
pub const MAX_PAGE: u32 = 1_000;

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

// ---- writes (only the writer task calls these, inside its transaction) ----

const INSERT_MESSAGE: &str = "\
INSERT INTO messages (channel, kind, received_at, status, reason, dedup_key, message_code, trigger_event,
                      structure, control_id, sending_application, sending_facility, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (dedup_key) DO UPDATE SET duplicates = duplicates + 1, updated_at = excluded.updated_at
RETURNING id, duplicates";

/// Stores one envelope, or counts it as a duplicate of the row with the same dedup key. Identical envelopes in
/// one transaction behave the same way: the second sees the first's row.
pub(crate) async fn insert(conn: &mut SqliteConnection, env: &Envelope, now_us: i64) -> Result<Appended, StoreError> {
    let m = &env.meta;
    let (id, duplicates): (i64, i64) = sqlx::query_as(INSERT_MESSAGE)
        .bind(&env.channel)
        .bind(env.kind.as_str())
        .bind(to_micros(env.received_at))
        .bind(env.status.as_str())
        .bind(&env.reason)
        .bind(&env.dedup_key)
        .bind(&m.message_code)
        .bind(&m.trigger_event)
        .bind(&m.structure)
        .bind(&m.control_id)
        .bind(&m.sending_application)
        .bind(&m.sending_facility)
        .bind(now_us)
        .fetch_one(&mut *conn)
        .await?;
    let duplicate = duplicates > 0;
    if !duplicate {
        sqlx::query("INSERT INTO message_content (message_id, raw) VALUES (?, ?)")
            .bind(id)
            .bind(env.raw.as_slice())
            .execute(&mut *conn)
            .await?;
    }
    Ok(Appended { id, duplicate })
}

pub(crate) async fn update_status(
    conn: &mut SqliteConnection,
    id: i64,
    status: MessageStatus,
    reason: Option<&str>,
    now_us: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE messages SET status = ?, reason = ?, updated_at = ? WHERE id = ?")
        .bind(status.as_str())
        .bind(reason)
        .bind(now_us)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(id));
    }
    Ok(())
}

/// Sets status and reason like [`update_status`], stores the conversion's Bundle and report (`None` clears them,
/// e.g. on a failed reprocessing; a message whose content retention already pruned keeps its status), inserts
/// the router's deliveries and replaces the message's patient-identifier index rows.
///
/// Two round trips to the connection's worker thread, whatever the number of rows: the status update alone
/// (its row count says whether the message exists), then everything else as one multi-statement query.
pub(crate) async fn store_conversion(
    conn: &mut SqliteConnection,
    c: &Conversion,
    now_us: i64,
) -> Result<(), StoreError> {
    update_status(conn, c.id, c.status, c.reason.as_deref(), now_us).await?;
    let mut sql = String::from("UPDATE message_content SET bundle = ?, report = ? WHERE message_id = ?;\n");
    crate::outbox::push_inserts(&mut sql, c.deliveries.len());
    crate::search::push_identifiers(&mut sql, c.patients.len());
    let query = sqlx::query(&sql).bind(c.bundle.as_deref()).bind(c.report.as_deref()).bind(c.id);
    let query = crate::outbox::bind_inserts(query, c.id, &c.deliveries, now_us);
    let query = crate::search::bind_identifiers(query, c.id, &c.patients);
    query.execute(&mut *conn).await?;
    Ok(())
}

/// Stores an operator's pause of `channel` (`Some(reason)`), or removes it (`None`).
pub(crate) async fn store_channel_pause(
    conn: &mut SqliteConnection,
    channel: &str,
    pause: Option<&str>,
    now_us: i64,
) -> Result<(), StoreError> {
    match pause {
        Some(reason) => {
            sqlx::query(
                "INSERT INTO channel_pauses (channel, reason, paused_at) VALUES (?, ?, ?)
                 ON CONFLICT (channel) DO UPDATE SET reason = excluded.reason, paused_at = excluded.paused_at",
            )
            .bind(channel)
            .bind(reason)
            .bind(now_us)
            .execute(&mut *conn)
            .await?
        }
        None => sqlx::query("DELETE FROM channel_pauses WHERE channel = ?").bind(channel).execute(&mut *conn).await?,
    };
    Ok(())
}

/// Evidence for `check_writable`, taken inside `BEGIN IMMEDIATE` (so the write lock is known to be obtainable):
/// fails when the size limit leaves no free page.
pub(crate) async fn probe_space(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    let (pages, free, max): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT page_count FROM pragma_page_count()), (SELECT freelist_count FROM pragma_freelist_count()),
                (SELECT max_page_count FROM pragma_max_page_count())",
    )
    .fetch_one(&mut *conn)
    .await?;
    if pages >= max && free == 0 {
        return Err(StoreError::Full("no free page left under max_db_bytes".into()));
    }
    Ok(())
}

// ---- reads ----

pub(crate) const SELECT_SUMMARY: &str = "\
SELECT m.id, m.channel, m.kind, m.received_at, m.status, m.reason, m.dedup_key, m.duplicates, m.message_code,
       m.trigger_event, m.structure, m.control_id, m.sending_application, m.sending_facility, m.updated_at,
       length(c.raw) AS raw_len";
pub(crate) const FROM_MESSAGES: &str = " FROM messages m LEFT JOIN message_content c ON c.message_id = m.id";

pub(crate) async fn get(pool: &SqlitePool, id: i64) -> Result<Option<StoredMessage>, StoreError> {
    let row = sqlx::query(&format!("{SELECT_SUMMARY}, c.raw, c.bundle, c.report{FROM_MESSAGES} WHERE m.id = ?"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(stored).transpose()
}

pub(crate) async fn list(
    pool: &SqlitePool,
    filter: &MessageFilter,
    after_id: Option<i64>,
    limit: u32,
) -> Result<Vec<MessageSummary>, StoreError> {
    let mut q = QueryBuilder::<Sqlite>::new(format!("{SELECT_SUMMARY}{FROM_MESSAGES} WHERE m.id > "));
    // Ids start at 1, so 0 means "from the start".
    q.push_bind(after_id.unwrap_or(0));
    if let Some(channel) = &filter.channel {
        q.push(" AND m.channel = ").push_bind(channel.as_str());
    }
    if let Some(status) = filter.status {
        q.push(" AND m.status = ").push_bind(status.as_str());
    }
    if let Some(control_id) = &filter.control_id {
        q.push(" AND m.control_id = ").push_bind(control_id.as_str());
    }
    q.push(" ORDER BY m.id LIMIT ").push_bind(i64::from(limit.min(MAX_PAGE)));
    let rows = q.build().fetch_all(pool).await?;
    rows.iter().map(summary).collect()
}

pub(crate) async fn next_received(
    pool: &SqlitePool,
    after_id: i64,
    limit: u32,
) -> Result<Vec<StoredMessage>, StoreError> {
    // Served by the (status, id) index: reads one page of the backlog, never all of it.
    let rows = sqlx::query(&format!(
        "{SELECT_SUMMARY}, c.raw, c.bundle, c.report{FROM_MESSAGES} WHERE m.status = 'received' AND m.id > ? ORDER BY m.id LIMIT ?"
    ))
    .bind(after_id)
    .bind(i64::from(limit.min(MAX_PAGE)))
    .fetch_all(pool)
    .await?;
    rows.iter().map(stored).collect()
}

pub(crate) async fn count_by_status(
    pool: &SqlitePool,
    channel: Option<&str>,
) -> Result<BTreeMap<MessageStatus, u64>, StoreError> {
    let rows: Vec<(String, i64)> = match channel {
        Some(ch) => {
            sqlx::query_as("SELECT status, count(*) FROM messages WHERE channel = ? GROUP BY status")
                .bind(ch)
                .fetch_all(pool)
                .await?
        }
        None => sqlx::query_as("SELECT status, count(*) FROM messages GROUP BY status").fetch_all(pool).await?,
    };
    let mut counts: BTreeMap<MessageStatus, u64> = MessageStatus::ALL.into_iter().map(|s| (s, 0)).collect();
    for (status, n) in rows {
        counts.insert(parse_status(&status)?, non_negative(n, "count")?);
    }
    Ok(counts)
}

pub(crate) async fn count_all(pool: &SqlitePool) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM messages").fetch_one(pool).await?;
    non_negative(n, "count")
}

fn stored(row: &SqliteRow) -> Result<StoredMessage, StoreError> {
    Ok(StoredMessage {
        summary: summary(row)?,
        raw: row.try_get("raw")?,
        bundle: row.try_get("bundle")?,
        report: row.try_get("report")?,
    })
}

pub(crate) fn summary(row: &SqliteRow) -> Result<MessageSummary, StoreError> {
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let raw_len: Option<i64> = row.try_get("raw_len")?;
    Ok(MessageSummary {
        id: row.try_get("id")?,
        channel: row.try_get("channel")?,
        kind: PayloadKind::parse(&kind)
            .ok_or_else(|| StoreError::InvalidData(format!("unknown payload kind {kind:?}")))?,
        received_at: from_micros(row.try_get("received_at")?)?,
        status: parse_status(&status)?,
        reason: row.try_get("reason")?,
        dedup_key: row.try_get("dedup_key")?,
        duplicates: non_negative(row.try_get("duplicates")?, "duplicates")?,
        meta: MessageMeta {
            message_code: row.try_get("message_code")?,
            trigger_event: row.try_get("trigger_event")?,
            structure: row.try_get("structure")?,
            control_id: row.try_get("control_id")?,
            sending_application: row.try_get("sending_application")?,
            sending_facility: row.try_get("sending_facility")?,
        },
        updated_at: from_micros(row.try_get("updated_at")?)?,
        raw_len: raw_len.map(|n| non_negative(n, "raw length")).transpose()?,
    })
}

fn parse_status(s: &str) -> Result<MessageStatus, StoreError> {
    MessageStatus::parse(s).ok_or_else(|| StoreError::InvalidData(format!("unknown status {s:?}")))
}

pub(crate) fn non_negative(n: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::InvalidData(format!("negative {what}")))
}

/// Unix microseconds: the journal's time unit (`received_at`, `updated_at`).
pub(crate) fn to_micros(t: OffsetDateTime) -> i64 {
    // OffsetDateTime spans years ±9999, well inside i64 microseconds.
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000)).unwrap_or(i64::MAX)
}

pub(crate) fn from_micros(us: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .map_err(|_| StoreError::InvalidData("timestamp out of range".into()))
}
