//! SQLite: nodes, claims and leases (semantics in `crate::node`). One node in practice; the same SQL shape as
//! PostgreSQL's, with the writer's batch time as the clock.

use std::collections::BTreeMap;

use sqlx::sqlite::{SqliteConnection, SqlitePool};
use time::OffsetDateTime;

use super::outbox::DUE_WHERE;
use crate::StoreError;
use crate::node::{NodeRecord, leads};
use crate::rows::{from_micros, to_micros};

/// Nodes dead this long are forgotten when another registers.
const FORGET_AFTER_US: i64 = 86_400_000_000;

pub(crate) async fn register(
    conn: &mut SqliteConnection,
    id: &str,
    host: &str,
    lease_us: i64,
    now_us: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM nodes WHERE expires_at < ?").bind(now_us - FORGET_AFTER_US).execute(&mut *conn).await?;
    // Taking over an id is allowed only from a node that expired.
    let done = sqlx::query(
        "INSERT INTO nodes (id, host, started_at, last_heartbeat, expires_at, leads) VALUES (?1, ?2, ?3, ?3, ?3 + ?4, '')
         ON CONFLICT (id) DO UPDATE SET host = excluded.host, started_at = excluded.started_at,
             last_heartbeat = excluded.last_heartbeat, expires_at = excluded.expires_at, leads = ''
         WHERE nodes.expires_at <= excluded.started_at",
    )
    .bind(id)
    .bind(host)
    .bind(now_us)
    .bind(lease_us)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Refused(format!("node id {id:?} belongs to a live node")));
    }
    Ok(())
}

pub(crate) async fn heartbeat(
    conn: &mut SqliteConnection,
    id: &str,
    lease_us: i64,
    leads: &str,
    now_us: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE nodes SET last_heartbeat = ?1, expires_at = ?1 + ?2, leads = ?3 WHERE id = ?4 AND expires_at > ?1",
    )
    .bind(now_us)
    .bind(lease_us)
    .bind(leads)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NodeLost(id.to_owned()));
    }
    Ok(())
}

pub(crate) async fn leave(conn: &mut SqliteConnection, id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM nodes WHERE id = ?").bind(id).execute(&mut *conn).await?;
    sqlx::query("UPDATE messages SET claimed_by = NULL WHERE claimed_by = ? AND status = 'received'")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE deliveries SET leased_by = NULL WHERE leased_by = ?").bind(id).execute(&mut *conn).await?;
    Ok(())
}

async fn require_alive(conn: &mut SqliteConnection, id: &str, now_us: i64) -> Result<(), StoreError> {
    let alive: Option<i64> = sqlx::query_scalar("SELECT 1 FROM nodes WHERE id = ? AND expires_at > ?")
        .bind(id)
        .bind(now_us)
        .fetch_optional(&mut *conn)
        .await?;
    alive.map(|_| ()).ok_or_else(|| StoreError::NodeLost(id.to_owned()))
}

pub(crate) async fn claim(
    conn: &mut SqliteConnection,
    node: &str,
    limit: u32,
    now_us: i64,
) -> Result<Vec<i64>, StoreError> {
    require_alive(conn, node, now_us).await?;
    let mut ids: Vec<i64> = sqlx::query_scalar(
        "UPDATE messages SET claimed_by = ?1 WHERE id IN (
             SELECT m.id FROM messages m
             WHERE m.status = 'received'
               AND (m.claimed_by IS NULL OR m.claimed_by = ?1
                    OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = m.claimed_by AND n.expires_at > ?2))
             ORDER BY m.id LIMIT ?3)
         RETURNING id",
    )
    .bind(node)
    .bind(now_us)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    ids.sort_unstable();
    Ok(ids)
}

pub(crate) async fn lease(
    conn: &mut SqliteConnection,
    node: &str,
    destination: &str,
    due_us: i64,
    limit: u32,
    now_us: i64,
) -> Result<Vec<i64>, StoreError> {
    require_alive(conn, node, now_us).await?;
    let mut ids: Vec<i64> = sqlx::query_scalar(&format!(
        "UPDATE deliveries SET leased_by = ?4 WHERE id IN (SELECT d.id FROM deliveries d{DUE_WHERE} ORDER BY d.id LIMIT ?5)
         RETURNING id"
    ))
    .bind(destination)
    .bind(due_us)
    .bind(now_us)
    .bind(node)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    ids.sort_unstable();
    Ok(ids)
}

// ---- reads ----

pub(crate) async fn list(pool: &SqlitePool) -> Result<Vec<NodeRecord>, StoreError> {
    let now = to_micros(OffsetDateTime::now_utc());
    let rows: Vec<(String, String, i64, i64, i64, String)> =
        sqlx::query_as("SELECT id, host, started_at, last_heartbeat, expires_at, leads FROM nodes ORDER BY id")
            .fetch_all(pool)
            .await?;
    rows.into_iter()
        .map(|(id, host, started, heartbeat, expires, led)| {
            Ok(NodeRecord {
                id,
                host,
                started_at: from_micros(started)?,
                last_heartbeat: from_micros(heartbeat)?,
                expires_at: from_micros(expires)?,
                alive: expires > now,
                leads: leads(&led),
            })
        })
        .collect()
}

pub(crate) async fn channel_pauses(pool: &SqlitePool) -> Result<BTreeMap<String, String>, StoreError> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT channel, reason FROM channel_pauses").fetch_all(pool).await?;
    Ok(rows.into_iter().collect())
}
