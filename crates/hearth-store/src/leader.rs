//! Singleton leadership: which node polls the file inbox, evaluates alerts, runs retention.
//!
//! PostgreSQL: a session advisory lock, keyed by the journal's schema and the work's name, held by a connection
//! of the leadership's own. The lock is the server's: it is released when that session ends, whatever ended it
//! (the leadership dropped, the process killed, the connection cut), and then another node's `try_lead` gets
//! it. The holder checks its connection every [`CHECK_EVERY`]; when the check fails it reports the leadership
//! lost, and must stop the work at once (the server may already have let another node take it).
//!
//! SQLite: one node by construction; a leadership is granted unless this journal already holds it.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::{Connection, PgConnection};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::node::Node;
use crate::{JournalConfig, PostgresConfig, Reads, StoreError};

/// How often a PostgreSQL leadership checks that its connection (hence its lock) is still there.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long one check may take before the leadership is considered lost.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Held singleton work. Dropping it gives the work up (on PostgreSQL by closing its connection).
pub struct Leadership {
    name: String,
    lost: watch::Receiver<bool>,
    /// This node's set of names it leads (for the nodes view).
    node_leads: Arc<Mutex<BTreeSet<String>>>,
    hold: Hold,
}

enum Hold {
    /// The journal's own set of held names; `_never` keeps `lost` waiting for ever.
    Sqlite { held: Arc<Mutex<BTreeSet<String>>>, _never: watch::Sender<bool> },
    /// The task owning the lock's connection; `stop` asks it to unlock and close.
    Postgres { task: JoinHandle<()>, stop: Option<oneshot::Sender<()>> },
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership").field("name", &self.name).field("held", &self.is_held()).finish()
    }
}

impl Leadership {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the leadership is still held (as of the last check).
    pub fn is_held(&self) -> bool {
        !*self.lost.borrow()
    }

    /// Resolves when the leadership is lost (its connection died). Never resolves on SQLite.
    pub async fn lost(&mut self) {
        // The sender lives in the task; its end (the task stopped) counts as lost too.
        let _ = self.lost.wait_for(|lost| *lost).await;
    }

    /// Gives the work up now and waits until the lock is released.
    pub async fn release(mut self) {
        if let Hold::Postgres { task, stop } = &mut self.hold
            && let Some(stop) = stop.take()
        {
            let _ = stop.send(());
            let _ = task.await;
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        self.node_leads.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.name);
        match &self.hold {
            Hold::Sqlite { held, .. } => {
                held.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.name);
            }
            // Dropping the task's connection ends the session, which releases the lock.
            Hold::Postgres { task, .. } => task.abort(),
        }
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-' | '.'))
}

pub(crate) async fn try_lead(node: &Node, name: &str) -> Result<Option<Leadership>, StoreError> {
    if !valid_name(name) {
        return Err(StoreError::Config(format!("leadership name {name:?}: use a-z, 0-9, _, -, . (at most 64)")));
    }
    let inner = &node.journal.inner;
    let (lost_tx, lost) = watch::channel(false);
    let hold = match (&inner.reads, &inner.config) {
        (Reads::Sqlite(_), _) => {
            let mut held = inner.leaders.lock().unwrap_or_else(PoisonError::into_inner);
            if !held.insert(name.to_owned()) {
                return Ok(None);
            }
            Hold::Sqlite { held: Arc::clone(&inner.leaders), _never: lost_tx }
        }
        (Reads::Postgres(_), JournalConfig::Postgres(cfg)) => {
            let Some(conn) = lock(cfg, name).await? else { return Ok(None) };
            let (stop, stopped) = oneshot::channel();
            let task = tokio::spawn(watch_lock(conn, name.to_owned(), lost_tx, stopped));
            Hold::Postgres { task, stop: Some(stop) }
        }
        (Reads::Postgres(_), JournalConfig::Sqlite(_)) => {
            return Err(StoreError::Database("journal backend and configuration disagree".into()));
        }
    };
    node.leads.lock().unwrap_or_else(PoisonError::into_inner).insert(name.to_owned());
    Ok(Some(Leadership { name: name.to_owned(), lost, node_leads: Arc::clone(&node.leads), hold }))
}

/// The lock's key: the journal's schema and the name, hashed by the server into the 64-bit key space.
const KEY: &str = "hashtextextended('hearth:' || current_schema() || ':' || $1, 0)";

/// A connection holding the lock for `name`, or `None` if another session holds it.
async fn lock(cfg: &PostgresConfig, name: &str) -> Result<Option<PgConnection>, StoreError> {
    let mut conn = crate::postgres::connect(cfg).await?;
    let got: bool =
        sqlx::query_scalar(&format!("SELECT pg_try_advisory_lock({KEY})")).bind(name).fetch_one(&mut conn).await?;
    if got {
        Ok(Some(conn))
    } else {
        let _ = conn.close().await;
        Ok(None)
    }
}

async fn watch_lock(mut conn: PgConnection, name: String, lost: watch::Sender<bool>, mut stop: oneshot::Receiver<()>) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => {
                let unlock = format!("SELECT pg_advisory_unlock({KEY})");
                let _ = sqlx::query(&unlock).bind(&name).execute(&mut conn).await;
                let _ = conn.close().await;
                lost.send_replace(true);
                return;
            }
            _ = tick.tick() => {
                let check = tokio::time::timeout(CHECK_TIMEOUT, sqlx::query("SELECT 1").execute(&mut conn)).await;
                if !matches!(check, Ok(Ok(_))) {
                    tracing::warn!(leadership = %name, "leadership lost: its PostgreSQL connection failed");
                    lost.send_replace(true);
                    return;
                }
            }
        }
    }
}
