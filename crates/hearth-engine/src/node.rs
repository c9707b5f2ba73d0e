//! This process as a node of the journal: its id, its heartbeat, and the singleton work it may lead.
//!
//! Every `hearth run` registers a node when it starts (id `host-pid-start`), heartbeats every third of its lease,
//! and leaves on drain. With PostgreSQL several nodes share one journal (docs/scale-out.md); on SQLite the same
//! code runs with one node. Singleton work (a file inbox, alert evaluation, retention) runs only while this node
//! holds its leadership ([`Node::try_lead`]); when the leadership is lost the work is stopped at once and
//! leadership is tried again every [`LEAD_RETRY`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use hearth_store::{Journal, Node, NodeRegistration, StoreError};
use tokio_util::sync::CancellationToken;

/// How often a node that does not lead a singleton tries to take it.
pub const LEAD_RETRY: Duration = Duration::from_secs(2);

/// Work that runs on one node at a time: started with a token that is cancelled when the leadership ends.
pub type Singleton = Box<dyn Fn(CancellationToken) -> BoxFuture<'static, ()> + Send + Sync>;

/// This process's registration: `host-pid-start` (the start in Unix seconds), unique per process start.
pub fn registration(lease: Duration) -> NodeRegistration {
    let host = hostname();
    let started = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    NodeRegistration { id: format!("{host}-{}-{started}", std::process::id()), host, lease }
}

/// The kernel's host name (Linux), else `$HOSTNAME`, else `localhost`.
fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    // The id is 1 to 200 bytes; keep the host short and printable.
    let name: String = name.chars().filter(|c| c.is_ascii_graphic()).take(100).collect();
    if name.is_empty() { "localhost".to_owned() } else { name }
}

/// Registers the node, retrying while the journal is unreachable (a node starting during a database restart
/// waits rather than exits) until `shutdown`.
pub async fn join(journal: &Journal, reg: &NodeRegistration, shutdown: &CancellationToken) -> Result<Node, StoreError> {
    loop {
        match journal.register_node(reg.clone()).await {
            Ok(node) => {
                tracing::info!(node = %reg.id, lease_ms = reg.lease.as_millis() as u64, "node registered");
                return Ok(node);
            }
            Err(e) if e.class() == hearth_core::ErrorClass::Transient && !shutdown.is_cancelled() => {
                tracing::warn!(error = %e, "cannot register the node yet; retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = shutdown.cancelled() => {}
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Heartbeats every third of the lease until `shutdown`. A node found expired (`NodeLost`: it could not
/// heartbeat for a whole lease, e.g. while the database was down) registers again under the same id; what it
/// held meanwhile may have been taken over, and the claims and leases it still uses are refused or re-leased.
pub async fn heartbeat(node: Node, reg: NodeRegistration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(reg.lease / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let beat = match node.heartbeat().await {
            Err(StoreError::NodeLost(_)) => {
                tracing::warn!(node = %reg.id, "node registration lost (expired); registering again");
                node.journal().register_node(reg.clone()).await.map(drop)
            }
            other => other,
        };
        match beat {
            Ok(()) if failing => {
                tracing::info!(node = %reg.id, "heartbeat resumed");
                failing = false;
            }
            Ok(()) => {}
            Err(e) => {
                if !failing {
                    tracing::warn!(node = %reg.id, error = %e, "heartbeat failed");
                }
                failing = true;
            }
        }
    }
}

/// Runs `work` while this node leads `name`, until `shutdown` or until the work ends by itself. Leadership lost
/// (PostgreSQL connection gone): the work's token is cancelled and the work awaited before leadership is tried
/// again.
pub async fn lead(node: Node, name: String, work: Singleton, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        match node.try_lead(&name).await {
            Ok(Some(mut leadership)) => {
                tracing::info!(node = %node.id(), leadership = %name, "leading");
                let stop = shutdown.child_token();
                let mut task = tokio::spawn(work(stop.clone()));
                let finished = tokio::select! {
                    () = leadership.lost() => {
                        tracing::warn!(node = %node.id(), leadership = %name, "leadership lost: stopping the work");
                        false
                    }
                    () = shutdown.cancelled() => false,
                    _ = &mut task => true,
                };
                stop.cancel();
                if !finished {
                    let _ = task.await;
                }
                leadership.release().await;
                if finished {
                    // The work ended by itself (it has nothing to do, e.g. no retention configured).
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(leadership = %name, error = %e, "cannot try leadership"),
        }
        tokio::select! {
            () = tokio::time::sleep(LEAD_RETRY) => {}
            () = shutdown.cancelled() => {}
        }
    }
}
