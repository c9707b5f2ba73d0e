//! The outbox: deliveries planned by the router, drained by the sinks. The types; each backend has its SQL.
//!
//! A sink reads the due rows of its destination (`Journal::due_deliveries`, or leases them with
//! `Node::lease_deliveries` when several nodes share the journal), publishes them, and records each outcome
//! through the writer (`Journal::record_deliveries`): `sent`, a retry at a later time, or `dead`.
//!
//! Ordered lanes: a row with a lane is due only when no earlier pending row of the same (destination, lane)
//! exists, "earlier" meaning a lower message id (then a lower delivery id), so one lane never has two rows in
//! flight and a failing head holds its lane back (not the others). A laned row is also held back while any
//! message with a lower id still waits for conversion: a node converting an older message of the same patient
//! may be about to add a row in front of it (see docs/specs/guarantees.md, "Several nodes").

use time::OffsetDateTime;

/// A delivery the router planned, stored with the message's conversion.
pub use hearth_core::PlannedDelivery as NewDelivery;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or for a retry.
    Pending,
    /// Confirmed by the destination.
    Sent,
    /// Gave up after the retry limit; can be resent.
    Dead,
    /// Superseded: its message was reprocessed before it was sent.
    Cancelled,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 4] =
        [DeliveryStatus::Pending, DeliveryStatus::Sent, DeliveryStatus::Dead, DeliveryStatus::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Dead => "dead",
            DeliveryStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        DeliveryStatus::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

impl std::fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A due delivery, with what a sink needs to publish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    pub id: i64,
    pub message_id: i64,
    pub channel: String,
    /// The message's trigger event (or message code), for headers.
    pub event: Option<String>,
    pub route: String,
    pub routing_key: String,
    pub resource_type: String,
    pub content_id: String,
    pub lane: Option<String>,
    /// `None` if retention pruned it: the sink records that as a permanent failure.
    pub body: Option<String>,
    /// Attempts made so far.
    pub attempts: u32,
    /// The message's trace id, so that each attempt's span joins the message's trace.
    pub trace_id: Option<String>,
}

/// One stored delivery, for the CLI and the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: i64,
    pub message_id: i64,
    pub destination: String,
    pub route: String,
    pub routing_key: String,
    pub resource_type: String,
    pub content_id: String,
    pub lane: Option<String>,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: OffsetDateTime,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub sent_at: Option<OffsetDateTime>,
}

/// The result of one attempt, recorded by a sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Sent {
        id: i64,
    },
    /// Failed; try again at `at`.
    Retry {
        id: i64,
        error: String,
        at: OffsetDateTime,
    },
    /// Failed for the last time (retry limit reached, or a permanent error).
    Dead {
        id: i64,
        error: String,
    },
}

/// What `resend` puts back into the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResendTarget {
    /// One delivery, whatever its status except `pending` (a pending one is due anyway).
    Delivery(i64),
    /// Every dead delivery of a destination.
    DeadFor(String),
}

/// One destination's outbox at a glance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxStats {
    pub destination: String,
    pub pending: u64,
    pub sent: u64,
    pub dead: u64,
    /// Creation time of the oldest pending delivery.
    pub oldest_pending: Option<OffsetDateTime>,
}

/// Which deliveries `list` returns; every `Some` narrows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub destination: Option<String>,
    pub status: Option<DeliveryStatus>,
    pub message_id: Option<i64>,
}
