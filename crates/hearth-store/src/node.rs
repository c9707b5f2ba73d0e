//! Several nodes on one journal: registration and heartbeat, claims on received messages, leases on outbox
//! rows, and singleton leadership. The semantics are the same on both backends (docs/specs/guarantees.md,
//! "Several nodes"); on SQLite there is simply only ever one node.
//!
//! A node's claims and leases last as long as the node is alive: until its last heartbeat plus its lease. A
//! node that dies stops heartbeating, and once its lease has run out what it held is free for the others. On
//! PostgreSQL that time is the server's clock, so the nodes' clocks do not need to agree.
//!
//! ```no_run
//! # async fn run(journal: hearth_store::Journal) -> Result<(), hearth_store::StoreError> {
//! use std::time::Duration;
//! use hearth_store::NodeRegistration;
//!
//! let node = journal
//!     .register_node(NodeRegistration { id: "hearth-a-4242".into(), host: "hearth-a".into(), lease: Duration::from_secs(15) })
//!     .await?;
//! // Every lease/3 or so: node.heartbeat().await?
//! for message in node.claim_received(64).await? {
//!     // convert, route, then store the outcome under the claim:
//!     // node.set_outcome(message.summary.id, outcome).await?  (ClaimLost: another node has it now; drop it)
//! }
//! if let Some(mut inbox) = node.try_lead("inbox").await? {
//!     // poll the inbox until `inbox.lost()` resolves
//! }
//! node.leave().await?;
//! # Ok(()) }
//! ```

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;

use crate::leader::{self, Leadership};
use crate::write::{Conversion, Write};
use crate::writer::Command;
use crate::{ConversionOutcome, DueDelivery, Journal, MAX_PAGE, StoreError, StoredMessage, read};

/// What a node says about itself when it joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRegistration {
    /// Unique among the nodes alive on this journal; one per process start is simplest (e.g. host, pid and
    /// start time): registering an id that a live node holds is refused.
    pub id: String,
    /// Shown in the nodes view.
    pub host: String,
    /// How long the node's claims and leases outlive its last heartbeat. Heartbeat several times per lease.
    pub lease: Duration,
}

/// One row of the nodes view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    pub id: String,
    pub host: String,
    pub started_at: OffsetDateTime,
    pub last_heartbeat: OffsetDateTime,
    /// When its claims and leases lapse unless it heartbeats again.
    pub expires_at: OffsetDateTime,
    /// Still within its lease.
    pub alive: bool,
    /// The singleton work it led at its last heartbeat.
    pub leads: Vec<String>,
}

/// One node's handle on the journal: what only makes sense for a registered node. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    pub(crate) journal: Journal,
    pub(crate) id: Arc<str>,
    lease: Duration,
    /// The leaderships this node holds now, written to its row at each heartbeat.
    pub(crate) leads: Arc<Mutex<BTreeSet<String>>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("id", &self.id).field("lease", &self.lease).finish()
    }
}

/// Longest lease accepted: a dead node's claims must not wait for ever.
const MAX_LEASE: Duration = Duration::from_secs(3600);

pub(crate) fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Journal {
    /// Registers this process as a node of the journal and answers its handle. Refused
    /// ([`StoreError::Refused`]) if a live node already has the id.
    pub async fn register_node(&self, reg: NodeRegistration) -> Result<Node, StoreError> {
        if reg.id.is_empty() || reg.id.len() > 200 {
            return Err(StoreError::Config("node id must be 1 to 200 bytes".into()));
        }
        if reg.lease.is_zero() || reg.lease > MAX_LEASE {
            return Err(StoreError::Config("node lease must be between 1 ms and 1 hour".into()));
        }
        let (id, host, lease_us) = (reg.id.clone(), reg.host.clone(), micros(reg.lease));
        self.send(|reply| Command::Write(Write::RegisterNode { id, host, lease_us, reply })).await?;
        Ok(Node { journal: self.clone(), id: reg.id.into(), lease: reg.lease, leads: Arc::default() })
    }

    /// Every registered node (alive or not, until it left or has been dead for a day), by id.
    pub async fn nodes(&self) -> Result<Vec<NodeRecord>, StoreError> {
        read!(self, nodes::list())
    }
}

impl Node {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Extends the node's claims and leases by its lease, records what it leads, and picks up channel pauses
    /// made on other nodes. [`StoreError::NodeLost`] if the node's registration is gone (it left, or it was
    /// dead for a day): register again.
    pub async fn heartbeat(&self) -> Result<(), StoreError> {
        let leads = self.leads.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect::<Vec<_>>();
        let (id, lease_us, leads) = (self.id.to_string(), micros(self.lease), leads.join(","));
        self.journal.send(|reply| Command::Write(Write::Heartbeat { id, lease_us, leads, reply })).await?;
        let pauses = read!(self.journal, nodes::channel_pauses())?;
        self.journal.inner.channel_pauses.send_if_modified(|current| {
            let changed = *current != pauses;
            if changed {
                current.clone_from(&pauses);
            }
            changed
        });
        Ok(())
    }

    /// Claims up to `limit` (and [`MAX_PAGE`]) received messages for this node, oldest first, and answers them
    /// with their raw bytes: messages nobody claims, claims of expired nodes, and this node's own earlier claims
    /// still unconverted. Each message is converted by one node at a time; store the result with
    /// [`Node::set_outcome`].
    pub async fn claim_received(&self, limit: u32) -> Result<Vec<StoredMessage>, StoreError> {
        let (node, limit) = (self.id.to_string(), limit.clamp(1, MAX_PAGE));
        let ids = self.journal.send(|reply| Command::Write(Write::Claim { node, limit, reply })).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        read!(self.journal, messages::by_ids(&ids))
    }

    /// [`Journal::set_outcome_indexed`] under this node's claim: stored only if the message is still
    /// `received` and claimed by this node, else [`StoreError::ClaimLost`] (this node's lease ran out and another
    /// node took the message, or it was converted already): drop the result, it is someone else's now.
    pub async fn set_outcome(&self, id: i64, outcome: ConversionOutcome) -> Result<(), StoreError> {
        let ConversionOutcome { status, bundle, report, reason, deliveries, patient_identifiers } = outcome;
        let claim = Some(self.id.to_string());
        let conversion = Box::new(Conversion {
            id,
            status,
            bundle,
            report,
            reason,
            deliveries,
            patients: patient_identifiers,
            claim,
        });
        self.journal.send(|reply| Command::Write(Write::SetConversion { conversion, reply })).await
    }

    /// Leases up to `limit` (and [`MAX_PAGE`]) due deliveries of `destination` for this node: what
    /// [`Journal::due_deliveries`] answers, minus what other live nodes lease. A lane's head is leased by one
    /// node at a time and the next one is not due before it is `sent` or `dead`, so a lane is drained by one
    /// node at a time, in order. Record the outcomes with [`Journal::record_deliveries`] (which ends the lease).
    pub async fn lease_deliveries(
        &self,
        destination: &str,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let (node, destination) = (self.id.to_string(), destination.to_owned());
        let (due_us, limit) = (crate::rows::to_micros(now), limit.clamp(1, MAX_PAGE));
        let ids =
            self.journal.send(|reply| Command::Write(Write::Lease { node, destination, due_us, limit, reply })).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        read!(self.journal, outbox::due_by_ids(&ids))
    }

    /// Tries to become the one node doing `name` (`inbox`, `retention`, ...: lowercase letters, digits, `_`,
    /// `-`, `.`). `None`: another node leads it. PostgreSQL: an advisory lock held by a connection of its own,
    /// lost when that connection dies (the leadership then reports it); SQLite: granted unless this journal
    /// already leads `name`.
    pub async fn try_lead(&self, name: &str) -> Result<Option<Leadership>, StoreError> {
        leader::try_lead(self, name).await
    }

    /// Leaves the journal: removes the node's row and frees its claims and leases at once (instead of after its
    /// lease). Its leaderships are not affected (drop them).
    pub async fn leave(&self) -> Result<(), StoreError> {
        let id = self.id.to_string();
        self.journal.send(|reply| Command::Write(Write::LeaveNode { id, reply })).await?;
        self.journal.inner.appended.notify_one();
        Ok(())
    }
}

/// Splits the `leads` column.
pub(crate) fn leads(column: &str) -> Vec<String> {
    column.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}
