//! The writes the writer task batches, and how each one is answered.

use std::sync::atomic::Ordering;

use hearth_core::{Envelope, MessageStatus};
use tokio::sync::oneshot;

use crate::audit::NewAuditEvent;
use crate::outbox::{DeliveryOutcome, NewDelivery, ResendTarget};
use crate::patients::PatientIndexUpdate;
use crate::retention::{Prune, PruneProgress};
use crate::writer::Stats;
use crate::{Appended, StoreError};

/// One write of a batch, with the caller waiting for it.
#[derive(Debug)]
pub(crate) enum Write {
    /// Boxed: an envelope is large next to the other commands, and the queue holds thousands.
    Append {
        env: Box<Envelope>,
        reply: oneshot::Sender<Result<Appended, StoreError>>,
    },
    SetStatus {
        id: i64,
        status: MessageStatus,
        reason: Option<String>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Boxed like `Append`: a Bundle can be large.
    SetConversion {
        conversion: Box<Conversion>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// A sink's results for one batch of deliveries. Answers how many rows changed.
    RecordDeliveries {
        outcomes: Vec<DeliveryOutcome>,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
    Resend {
        target: ResendTarget,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
    Reprocess {
        id: i64,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// An audit event (operations surface); answers its id.
    Audit {
        event: Box<NewAuditEvent>,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
    /// One retention batch.
    Prune {
        prune: Prune,
        reply: oneshot::Sender<Result<PruneProgress, StoreError>>,
    },
    /// The dashboard's per-minute counts, added into their buckets (see `crate::stats`). Answers rows written.
    RecordMinutes {
        minutes: Box<crate::stats::Minutes>,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
    /// Deletes per-minute buckets older than `before_minute`. Answers rows deleted.
    PruneStats {
        before_minute: i64,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
    /// An operator's channel pause (`Some(reason)`) or resume (`None`).
    ChannelPause {
        channel: String,
        pause: Option<String>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Patient index entries and merges from one converted ADT Bundle. Answers how many rows changed.
    IndexPatients {
        update: Box<PatientIndexUpdate>,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
    /// A node joins (refused if a live node has the id).
    RegisterNode {
        id: String,
        host: String,
        lease_us: i64,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// A node extends its lease and says what it leads.
    Heartbeat {
        id: String,
        lease_us: i64,
        leads: String,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// A node leaves: its row goes, its claims and leases are freed.
    LeaveNode {
        id: String,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// The processing stage claims received messages; answers their ids.
    Claim {
        node: String,
        limit: u32,
        reply: oneshot::Sender<Result<Vec<i64>, StoreError>>,
    },
    /// A sink leases due deliveries (due at `due_us`); answers their ids.
    Lease {
        node: String,
        destination: String,
        due_us: i64,
        limit: u32,
        reply: oneshot::Sender<Result<Vec<i64>, StoreError>>,
    },
}

/// The outcome of converting one message, as the processing stage stores it.
#[derive(Debug)]
pub(crate) struct Conversion {
    pub(crate) id: i64,
    pub(crate) status: MessageStatus,
    pub(crate) bundle: Option<String>,
    pub(crate) report: Option<String>,
    pub(crate) reason: Option<String>,
    /// The router's deliveries, inserted in the same transaction as the status.
    pub(crate) deliveries: Vec<NewDelivery>,
    /// `system|value` of the Bundle's Patient identifiers: they replace the message's rows in the search index.
    pub(crate) patients: Vec<String>,
    /// The node whose claim this conversion is stored under: stored only if the message is still `received`
    /// and claimed by it. `None`: unconditionally (the single-node API).
    pub(crate) claim: Option<String>,
}

/// What a successful write did.
#[derive(Debug)]
pub(crate) enum Done {
    Appended(Appended),
    StatusSet,
    Count(u64),
    Pruned(PruneProgress),
    Ids(Vec<i64>),
}

impl Write {
    /// Whether committing this write can make deliveries due now.
    pub(crate) fn makes_deliveries_due(&self) -> bool {
        match self {
            Write::SetConversion { conversion, .. } => !conversion.deliveries.is_empty(),
            // A node that leaves frees its leases.
            Write::Resend { .. } | Write::LeaveNode { .. } => true,
            Write::Append { .. }
            | Write::SetStatus { .. }
            | Write::RecordDeliveries { .. }
            | Write::Reprocess { .. }
            | Write::Audit { .. }
            | Write::Prune { .. }
            | Write::RecordMinutes { .. }
            | Write::PruneStats { .. }
            | Write::ChannelPause { .. }
            | Write::IndexPatients { .. }
            | Write::RegisterNode { .. }
            | Write::Heartbeat { .. }
            | Write::Claim { .. }
            | Write::Lease { .. } => false,
        }
    }

    /// Answers the caller. A caller that stopped waiting (its task was cancelled) is not an error: the write
    /// is committed either way.
    pub(crate) fn answer(self, result: Result<Done, StoreError>, stats: &Stats) {
        match self {
            Write::Append { reply, .. } => {
                let result = result.and_then(|done| match done {
                    Done::Appended(a) => Ok(a),
                    Done::StatusSet | Done::Count(_) | Done::Pruned(_) | Done::Ids(_) => {
                        Err(StoreError::Database("writer answered an append with a status".into()))
                    }
                });
                if let Ok(a) = &result {
                    stats.appends.fetch_add(1, Ordering::Relaxed);
                    if a.duplicate {
                        stats.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let _ = reply.send(result);
            }
            Write::SetStatus { reply, .. }
            | Write::SetConversion { reply, .. }
            | Write::Reprocess { reply, .. }
            | Write::ChannelPause { reply, .. }
            | Write::RegisterNode { reply, .. }
            | Write::Heartbeat { reply, .. }
            | Write::LeaveNode { reply, .. } => {
                let _ = reply.send(result.map(|_| ()));
            }
            Write::RecordDeliveries { reply, .. }
            | Write::Resend { reply, .. }
            | Write::IndexPatients { reply, .. }
            | Write::RecordMinutes { reply, .. }
            | Write::PruneStats { reply, .. }
            | Write::Audit { reply, .. } => {
                let _ = reply.send(result.map(|done| match done {
                    Done::Count(n) => n,
                    Done::Appended(_) | Done::StatusSet | Done::Pruned(_) | Done::Ids(_) => 0,
                }));
            }
            Write::Claim { reply, .. } | Write::Lease { reply, .. } => {
                let _ = reply.send(result.map(|done| if let Done::Ids(ids) = done { ids } else { Vec::new() }));
            }
            Write::Prune { reply, .. } => {
                let _ = reply
                    .send(result.map(|done| if let Done::Pruned(p) = done { p } else { PruneProgress::default() }));
            }
        }
    }
}
