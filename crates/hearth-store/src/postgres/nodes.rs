//! PostgreSQL: nodes, claims and leases (semantics in `crate::node`, parallel to `sqlite::nodes`).
//!
//! Expiry is judged by the server's clock ([`NOW_US`]), so nodes with skewed clocks still agree on whose lease
//! ran out. Claims and leases pick rows with `FOR UPDATE SKIP LOCKED`: two nodes asking at the same moment get
//! different rows, and neither waits for the other.

use std::collections::BTreeMap;

use sqlx::postgres::{PgConnection, PgPool};

use super::outbox::DUE_WHERE;
use crate::StoreError;
use crate::node::{NodeRecord, leads};
use crate::rows::from_micros;

/// The server's time in unix microseconds (the time of the call, not of the transaction's start).
pub(crate) const NOW_US: &str = "(extract(epoch from clock_timestamp()) * 1000000)::bigint";

/// Nodes dead this long are forgotten when another registers.
const FORGET_AFTER_US: i64 = 86_400_000_000;

pub(crate) async fn register(conn: &mut PgConnection, id: &str, host: &str, lease_us: i64) -> Result<(), StoreError> {
    sqlx::query(&format!("DELETE FROM nodes WHERE expires_at < {NOW_US} - $1"))
        .bind(FORGET_AFTER_US)
        .execute(&mut *conn)
        .await?;
    // Taking over an id is allowed only from a node that expired.
    let done = sqlx::query(&format!(
        "INSERT INTO nodes (id, host, started_at, last_heartbeat, expires_at, leads)
         SELECT $1, $2, t.us, t.us, t.us + $3, '' FROM (SELECT {NOW_US} AS us) t
         ON CONFLICT (id) DO UPDATE SET host = EXCLUDED.host, started_at = EXCLUDED.started_at,
             last_heartbeat = EXCLUDED.last_heartbeat, expires_at = EXCLUDED.expires_at, leads = ''
         WHERE nodes.expires_at <= EXCLUDED.started_at"
    ))
    .bind(id)
    .bind(host)
    .bind(lease_us)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Refused(format!("node id {id:?} belongs to a live node")));
    }
    Ok(())
}

pub(crate) async fn heartbeat(conn: &mut PgConnection, id: &str, lease_us: i64, leads: &str) -> Result<(), StoreError> {
    let done = sqlx::query(&format!(
        "UPDATE nodes SET last_heartbeat = t.us, expires_at = t.us + $2, leads = $3
         FROM (SELECT {NOW_US} AS us) t WHERE id = $1 AND expires_at > t.us"
    ))
    .bind(id)
    .bind(lease_us)
    .bind(leads)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NodeLost(id.to_owned()));
    }
    Ok(())
}

pub(crate) async fn leave(conn: &mut PgConnection, id: &str) -> Result<(), StoreError> {
    sqlx::query(
        "WITH n AS (DELETE FROM nodes WHERE id = $1),
              m AS (UPDATE messages SET claimed_by = NULL WHERE claimed_by = $1 AND status = 'received')
         UPDATE deliveries SET leased_by = NULL WHERE leased_by = $1",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn require_alive(conn: &mut PgConnection, id: &str) -> Result<(), StoreError> {
    let alive: Option<i32> =
        sqlx::query_scalar(&format!("SELECT 1 FROM nodes WHERE id = $1 AND expires_at > {NOW_US}"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    alive.map(|_| ()).ok_or_else(|| StoreError::NodeLost(id.to_owned()))
}

pub(crate) async fn claim(conn: &mut PgConnection, node: &str, limit: u32) -> Result<Vec<i64>, StoreError> {
    require_alive(conn, node).await?;
    let mut ids: Vec<i64> = sqlx::query_scalar(&format!(
        "WITH c AS (
             SELECT m.id FROM messages m
             WHERE m.status = 'received'
               AND (m.claimed_by IS NULL OR m.claimed_by = $1
                    OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = m.claimed_by AND n.expires_at > {NOW_US}))
             ORDER BY m.id LIMIT $2
             FOR UPDATE OF m SKIP LOCKED
         )
         UPDATE messages m SET claimed_by = $1 FROM c WHERE m.id = c.id RETURNING m.id"
    ))
    .bind(node)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    ids.sort_unstable();
    Ok(ids)
}

pub(crate) async fn lease(
    conn: &mut PgConnection,
    node: &str,
    destination: &str,
    due_us: i64,
    limit: u32,
) -> Result<Vec<i64>, StoreError> {
    require_alive(conn, node).await?;
    let mut ids: Vec<i64> = sqlx::query_scalar(&format!(
        "WITH c AS (SELECT d.id FROM deliveries d{DUE_WHERE} ORDER BY d.id LIMIT $4 FOR UPDATE OF d SKIP LOCKED)
         UPDATE deliveries d SET leased_by = $3 FROM c WHERE d.id = c.id RETURNING d.id"
    ))
    .bind(destination)
    .bind(due_us)
    .bind(node)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    ids.sort_unstable();
    Ok(ids)
}

// ---- reads ----

pub(crate) async fn list(pool: &PgPool) -> Result<Vec<NodeRecord>, StoreError> {
    let rows: Vec<(String, String, i64, i64, i64, String, bool)> = sqlx::query_as(&format!(
        "SELECT id, host, started_at, last_heartbeat, expires_at, leads, expires_at > {NOW_US}
         FROM nodes ORDER BY id COLLATE \"C\""
    ))
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(id, host, started, heartbeat, expires, led, alive)| {
            Ok(NodeRecord {
                id,
                host,
                started_at: from_micros(started)?,
                last_heartbeat: from_micros(heartbeat)?,
                expires_at: from_micros(expires)?,
                alive,
                leads: leads(&led),
            })
        })
        .collect()
}

pub(crate) async fn channel_pauses(pool: &PgPool) -> Result<BTreeMap<String, String>, StoreError> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT channel, reason FROM channel_pauses").fetch_all(pool).await?;
    Ok(rows.into_iter().collect())
}
