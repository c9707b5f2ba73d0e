//! The one list of metric names, and small event structs that log and count together.
//!
//! Rules (docs/specs/component.md, "Metrics and logs"): names are `hearth_<noun>_<unit>[_total]`; labels come from bounded sets only (channel,
//! destination, status, code, stage). Never a message id, MRN, name or payload in a label or a log line.

use std::time::Duration;

/// Every metric Hearth emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Messages a source took in, by `channel` and `outcome` (accepted, duplicate, rejected).
    MessagesReceivedTotal,
    /// Payload bytes a source took in, by `channel`.
    ReceivedBytesTotal,
    /// Acknowledgements sent, by `channel` and `code` (AA, AE, AR, CA, CE, CR, none).
    AcksTotal,
    /// Time from a complete frame to its ACK being written, by `channel`.
    AckLatencySeconds,
    /// Journal writes that failed, by `channel`.
    JournalErrorsTotal,
    /// Messages per group commit.
    JournalBatchMessages,
    /// Duration of one group commit.
    JournalCommitSeconds,
    /// Open MLLP connections, by `channel`.
    MllpConnections,
    /// MLLP connections accepted since start, by `channel`.
    MllpConnectionsTotal,
    /// Bytes skipped outside MLLP frames, by `channel`.
    MllpJunkBytesTotal,
    /// Messages the processing stage converted, by `channel` and `status` (mapped, error).
    ConversionsTotal,
    /// Time to parse, map and serialise one message, by `channel`.
    ConversionSeconds,
    /// Deliveries planned by the router, by `destination`.
    DeliveriesPlannedTotal,
    /// Delivery attempts, by `destination` and `outcome` (sent, retry, dead).
    DeliveryAttemptsTotal,
    /// Time from publish to the destination's confirmation, by `destination`.
    DeliveryConfirmSeconds,
    /// 1 while a destination is connected (and not blocked), else 0, by `destination`.
    DestinationUp,
    /// Pending deliveries in the outbox, by `destination`.
    OutboxPending,
    /// 1 while new input waits because a destination is blocked or the outbox is over its limit, else 0.
    IngestPaused,
    /// Seconds until the certificate a TLS listener presents expires (negative once expired), by `listener`.
    TlsCertificateExpirySeconds,
    /// TLS handshakes a listener failed, by `listener` and `reason` (refused, handshake, handshake_timeout).
    TlsHandshakeFailuresTotal,
    /// Spans dropped instead of exported, by `reason` (queue_full, export_failed).
    TraceSpansDroppedTotal,
    /// Spans the collector accepted.
    TraceSpansExportedTotal,
}

impl Metric {
    pub const fn name(self) -> &'static str {
        match self {
            Metric::MessagesReceivedTotal => "hearth_messages_received_total",
            Metric::ReceivedBytesTotal => "hearth_received_bytes_total",
            Metric::AcksTotal => "hearth_acks_total",
            Metric::AckLatencySeconds => "hearth_ack_latency_seconds",
            Metric::JournalErrorsTotal => "hearth_journal_errors_total",
            Metric::JournalBatchMessages => "hearth_journal_batch_messages",
            Metric::JournalCommitSeconds => "hearth_journal_commit_seconds",
            Metric::MllpConnections => "hearth_mllp_connections",
            Metric::MllpConnectionsTotal => "hearth_mllp_connections_total",
            Metric::MllpJunkBytesTotal => "hearth_mllp_junk_bytes_total",
            Metric::ConversionsTotal => "hearth_conversions_total",
            Metric::ConversionSeconds => "hearth_conversion_seconds",
            Metric::DeliveriesPlannedTotal => "hearth_deliveries_planned_total",
            Metric::DeliveryAttemptsTotal => "hearth_delivery_attempts_total",
            Metric::DeliveryConfirmSeconds => "hearth_delivery_confirm_seconds",
            Metric::DestinationUp => "hearth_destination_up",
            Metric::OutboxPending => "hearth_outbox_pending",
            Metric::IngestPaused => "hearth_ingest_paused",
            Metric::TlsCertificateExpirySeconds => "hearth_tls_certificate_expiry_seconds",
            Metric::TlsHandshakeFailuresTotal => "hearth_tls_handshake_failures_total",
            Metric::TraceSpansDroppedTotal => "hearth_trace_spans_dropped_total",
            Metric::TraceSpansExportedTotal => "hearth_trace_spans_exported_total",
        }
    }
}

/// How a received message was taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiveOutcome {
    Accepted,
    Duplicate,
    Rejected,
}

impl ReceiveOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            ReceiveOutcome::Accepted => "accepted",
            ReceiveOutcome::Duplicate => "duplicate",
            ReceiveOutcome::Rejected => "rejected",
        }
    }
}

/// A message was journaled (or refused) by a source.
#[derive(Debug)]
pub struct MessageReceived<'a> {
    pub channel: &'a str,
    pub outcome: ReceiveOutcome,
    pub bytes: usize,
    /// Journal id: an opaque number, not patient data.
    pub journal_id: Option<i64>,
}

impl MessageReceived<'_> {
    pub fn emit(&self) {
        tracing::debug!(
            channel = self.channel,
            outcome = self.outcome.as_str(),
            bytes = self.bytes,
            journal_id = self.journal_id,
            "message received"
        );
        let ch = self.channel.to_owned();
        metrics::counter!(Metric::MessagesReceivedTotal.name(), "channel" => ch.clone(),
            "outcome" => self.outcome.as_str())
        .increment(1);
        metrics::counter!(Metric::ReceivedBytesTotal.name(), "channel" => ch).increment(self.bytes as u64);
        let status = match self.outcome {
            ReceiveOutcome::Accepted | ReceiveOutcome::Duplicate => crate::MessageStatus::Received,
            ReceiveOutcome::Rejected => crate::MessageStatus::Rejected,
        };
        crate::minutes::count_status(self.channel, status);
    }
}

/// An acknowledgement went back to a sender.
#[derive(Debug)]
pub struct AckSent<'a> {
    pub channel: &'a str,
    /// MSA-1 code, or "none" when MSH-15 said not to answer.
    pub code: &'static str,
    pub latency: Duration,
}

impl AckSent<'_> {
    pub fn emit(&self) {
        let ch = self.channel.to_owned();
        metrics::counter!(Metric::AcksTotal.name(), "channel" => ch.clone(), "code" => self.code).increment(1);
        metrics::histogram!(Metric::AckLatencySeconds.name(), "channel" => ch).record(self.latency.as_secs_f64());
        crate::minutes::count_ack(self.channel, self.latency);
    }
}

/// The journal refused a write; the sender gets a negative answer and will resend.
#[derive(Debug)]
pub struct JournalFailed<'a> {
    pub channel: &'a str,
    /// The store's error text: must never contain payload.
    pub error: &'a str,
}

impl JournalFailed<'_> {
    pub fn emit(&self) {
        tracing::error!(channel = self.channel, error = self.error, "journal write failed; answering negatively");
        metrics::counter!(Metric::JournalErrorsTotal.name(), "channel" => self.channel.to_owned()).increment(1);
    }
}

/// A group commit finished.
#[derive(Debug)]
pub struct JournalCommitted {
    pub messages: usize,
    pub duration: Duration,
}

impl JournalCommitted {
    pub fn emit(&self) {
        metrics::histogram!(Metric::JournalBatchMessages.name()).record(self.messages as f64);
        metrics::histogram!(Metric::JournalCommitSeconds.name()).record(self.duration.as_secs_f64());
    }
}

/// The processing stage converted one message (or kept it as `error`).
#[derive(Debug)]
pub struct MessageConverted<'a> {
    pub channel: &'a str,
    pub status: crate::MessageStatus,
    pub duration: Duration,
}

impl MessageConverted<'_> {
    pub fn emit(&self) {
        let channel = self.channel.to_owned();
        metrics::counter!(Metric::ConversionsTotal.name(), "channel" => channel.clone(), "status" => self.status.as_str())
            .increment(1);
        metrics::histogram!(Metric::ConversionSeconds.name(), "channel" => channel).record(self.duration.as_secs_f64());
        crate::minutes::count_status(self.channel, self.status);
    }
}

/// An MLLP connection opened or closed.
#[derive(Debug)]
pub struct MllpConnection<'a> {
    pub channel: &'a str,
    pub opened: bool,
}

impl MllpConnection<'_> {
    pub fn emit(&self) {
        let ch = self.channel.to_owned();
        if self.opened {
            tracing::debug!(channel = self.channel, "mllp connection opened");
            metrics::counter!(Metric::MllpConnectionsTotal.name(), "channel" => ch.clone()).increment(1);
            metrics::gauge!(Metric::MllpConnections.name(), "channel" => ch).increment(1.0);
        } else {
            tracing::debug!(channel = self.channel, "mllp connection closed");
            metrics::gauge!(Metric::MllpConnections.name(), "channel" => ch).decrement(1.0);
        }
    }
}

/// Bytes outside MLLP frames were skipped.
#[derive(Debug)]
pub struct MllpJunkSkipped<'a> {
    pub channel: &'a str,
    pub bytes: u64,
}

impl MllpJunkSkipped<'_> {
    pub fn emit(&self) {
        tracing::warn!(channel = self.channel, bytes = self.bytes, "skipped bytes outside MLLP frames");
        metrics::counter!(Metric::MllpJunkBytesTotal.name(), "channel" => self.channel.to_owned())
            .increment(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_follow_the_convention() {
        let all = [
            Metric::MessagesReceivedTotal,
            Metric::ReceivedBytesTotal,
            Metric::AcksTotal,
            Metric::AckLatencySeconds,
            Metric::JournalErrorsTotal,
            Metric::JournalBatchMessages,
            Metric::JournalCommitSeconds,
            Metric::MllpConnections,
            Metric::MllpConnectionsTotal,
            Metric::MllpJunkBytesTotal,
            Metric::ConversionsTotal,
            Metric::ConversionSeconds,
            Metric::TlsCertificateExpirySeconds,
            Metric::TlsHandshakeFailuresTotal,
        ];
        for m in all {
            let n = m.name();
            assert!(n.starts_with("hearth_"), "{n}");
            assert!(n.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{n}");
        }
    }
}

/// A sink recorded the outcomes of one batch of deliveries.
#[derive(Debug)]
pub struct DeliveriesAttempted<'a> {
    pub destination: &'a str,
    pub sent: u64,
    pub retried: u64,
    pub dead: u64,
    /// From the first publish of the batch to the last confirmation.
    pub duration: Duration,
}

impl DeliveriesAttempted<'_> {
    pub fn emit(&self) {
        let d = self.destination.to_owned();
        for (outcome, n) in [("sent", self.sent), ("retry", self.retried), ("dead", self.dead)] {
            if n > 0 {
                metrics::counter!(Metric::DeliveryAttemptsTotal.name(), "destination" => d.clone(), "outcome" => outcome)
                    .increment(n);
            }
        }
        metrics::histogram!(Metric::DeliveryConfirmSeconds.name(), "destination" => d)
            .record(self.duration.as_secs_f64());
        crate::minutes::count_deliveries(self.destination, self.sent, self.retried, self.dead);
        if self.dead > 0 {
            tracing::warn!(destination = %self.destination, dead = self.dead, "deliveries dead: retry limit reached or refused by the destination");
        }
        if self.retried > 0 {
            tracing::info!(destination = %self.destination, retried = self.retried, "deliveries failed; will retry");
        }
    }
}

/// A destination connected, disconnected or was blocked by its broker.
#[derive(Debug)]
pub struct DestinationState<'a> {
    pub destination: &'a str,
    pub up: bool,
    /// What the state is ("connected", "disconnected", "blocked") and why, free of message content.
    pub detail: &'a str,
}

impl DestinationState<'_> {
    pub fn emit(&self) {
        metrics::gauge!(Metric::DestinationUp.name(), "destination" => self.destination.to_owned()).set(if self.up {
            1.0
        } else {
            0.0
        });
        if self.up {
            tracing::info!(destination = %self.destination, detail = %self.detail, "destination up");
        } else {
            tracing::warn!(destination = %self.destination, detail = %self.detail, "destination down");
        }
    }
}

/// The certificate a TLS listener presents, as last loaded: its seconds until expiry.
#[derive(Debug)]
pub struct TlsCertificate<'a> {
    /// `channels.<name>` or `http`: a configuration key, never a peer's name.
    pub listener: &'a str,
    pub seconds_until_expiry: i64,
}

impl TlsCertificate<'_> {
    pub fn emit(&self) {
        let left = self.seconds_until_expiry as f64;
        metrics::gauge!(Metric::TlsCertificateExpirySeconds.name(), "listener" => self.listener.to_owned()).set(left);
    }
}

/// A TLS handshake on a listener failed. Counted only: the listener logs it with the peer address and the
/// certificate subject (never message content).
#[derive(Debug)]
pub struct TlsHandshakeFailed<'a> {
    pub listener: &'a str,
    /// A bounded label: `refused`, `handshake`, `handshake_timeout`.
    pub reason: &'static str,
}

impl TlsHandshakeFailed<'_> {
    pub fn emit(&self) {
        metrics::counter!(Metric::TlsHandshakeFailuresTotal.name(), "listener" => self.listener.to_owned(), "reason" => self.reason)
            .increment(1);
    }
}
