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
}

/// What a successful write did.
#[derive(Debug)]
pub(crate) enum Done {
    Appended(Appended),
    StatusSet,
    Count(u64),
    Pruned(PruneProgress),
}

impl Write {
    /// Whether committing this write can make deliveries due now.
    pub(crate) fn makes_deliveries_due(&self) -> bool {
        match self {
            Write::SetConversion { conversion, .. } => !conversion.deliveries.is_empty(),
            Write::Resend { .. } => true,
            Write::Append { .. }
            | Write::SetStatus { .. }
            | Write::RecordDeliveries { .. }
            | Write::Reprocess { .. }
            | Write::Audit { .. }
            | Write::Prune { .. }
            | Write::ChannelPause { .. }
            | Write::IndexPatients { .. } => false,
        }
    }

    /// Answers the caller. A caller that stopped waiting (its task was cancelled) is not an error: the write
    /// is committed either way.
    pub(crate) fn answer(self, result: Result<Done, StoreError>, stats: &Stats) {
        match self {
            Write::Append { reply, .. } => {
                let result = result.and_then(|done| match done {
                    Done::Appended(a) => Ok(a),
                    Done::StatusSet | Done::Count(_) | Done::Pruned(_) => {
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
            | Write::ChannelPause { reply, .. } => {
                let _ = reply.send(result.map(|_| ()));
            }
            Write::RecordDeliveries { reply, .. }
            | Write::Resend { reply, .. }
            | Write::IndexPatients { reply, .. }
            | Write::Audit { reply, .. } => {
                let _ = reply.send(result.map(|done| match done {
                    Done::Count(n) => n,
                    Done::Appended(_) | Done::StatusSet | Done::Pruned(_) => 0,
                }));
            }
            Write::Prune { reply, .. } => {
                let _ = reply
                    .send(result.map(|done| if let Done::Pruned(p) = done { p } else { PruneProgress::default() }));
            }
        }
    }
}
