//! The outbox worker of one destination, whatever its kind: reads due deliveries, hands them to the
//! destination's [`Publisher`], and records every outcome (sent, retry with backoff, dead).
//!
//! With a node ([`Sink::leasing`]) the worker leases its deliveries ([`Node::lease_deliveries`]) instead of
//! reading them, so that several nodes on one journal share a destination's outbox: a row leased by one live
//! node is not due for the others, and an ordered (destination, patient) lane is drained by one node at a time.
//! Recording the outcome ends the lease. The engine always gives one (on SQLite there is simply one node).

use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use hearth_core::events::{DeliveriesAttempted, DestinationState, Metric};
use hearth_core::log_limit::{Admitted, LogLimiter};
use hearth_core::trace::{Span, SpanKind, TraceId};
use hearth_store::{DeliveryOutcome, DueDelivery, Journal, Node};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::registry::Publisher;

/// Safety-net poll when nothing wakes the sink (e.g. another process wrote the outbox).
const POLL: Duration = Duration::from_secs(1);
/// Shortest wait after a pass that found nothing to take (doubled per idle pass in a row, up to [`POLL`]).
const IDLE_FLOOR: Duration = Duration::from_millis(5);
/// Pause after a journal error before trying again.
const JOURNAL_RETRY: Duration = Duration::from_secs(1);

/// Exponential backoff: attempt `n` (1-based) waits `initial * 2^(n-1)`, capped at `max`, times a jitter factor
/// in `[0.5, 1]` ("equal jitter": never less than half, so retries spread without collapsing to zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait after attempt `attempt`; `draw` in `[0, 1]` picks the jitter (tests pass a fixed value).
    pub fn delay(&self, attempt: u32, draw: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(32);
        let full = self.initial.saturating_mul(2u32.saturating_pow(exp)).min(self.max);
        full.mul_f64(0.5 + 0.5 * draw.clamp(0.0, 1.0))
    }
}

/// How one destination's deliveries are attempted.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub destination: String,
    /// Attempts in all before a delivery goes `dead`.
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// Deliveries published and not yet confirmed, at most.
    pub max_in_flight: usize,
}

/// Why a delivery could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The destination is not reachable now (disconnected, blocked): not counted as an attempt.
    #[error("destination unavailable: {0}")]
    Unavailable(String),
    /// The destination refused or lost it: counts as an attempt.
    #[error("{0}")]
    Failed(String),
    /// Like `Failed`, and the destination asked to wait at least `after` (HTTP `Retry-After`).
    #[error("{error}")]
    Retry { error: String, after: Option<Duration> },
    /// The destination refuses this content for good (e.g. a FHIR server's 400/422): dead at once, the
    /// text (the server's OperationOutcome) kept as the failure.
    #[error("{0}")]
    Rejected(String),
}

/// The longest `Retry-After` honoured (a larger one is cut to this).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Why a destination cannot take deliveries now (never message content).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    #[error("connecting")]
    Connecting,
    /// The destination pushes back (a broker's memory or disk alarm): new input should wait.
    #[error("blocked by the broker: {0}")]
    Blocked(String),
    #[error("disconnected: {0}")]
    Disconnected(String),
    #[error("closed")]
    Closed,
    /// The destination refuses our credentials (after renewing them): an operator must act.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
}

/// Log conditions (see `hearth_core::log_limit`).
const READ_FAILED: &str = "outbox_read_failed";
const RECORD_FAILED: &str = "outbox_record_failed";

/// A destination's retry settings, replaceable while its sink runs (a configuration reload): each failed
/// attempt is judged by the settings current at that moment.
#[derive(Debug, Clone)]
pub struct RetrySettings(std::sync::Arc<std::sync::RwLock<(u32, Backoff)>>);

impl RetrySettings {
    fn new(max_attempts: u32, backoff: Backoff) -> Self {
        RetrySettings(std::sync::Arc::new(std::sync::RwLock::new((max_attempts, backoff))))
    }

    /// `(max_attempts, backoff)` now.
    pub fn get(&self) -> (u32, Backoff) {
        *self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn set(&self, max_attempts: u32, backoff: Backoff) {
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = (max_attempts, backoff);
    }
}

/// Drains one destination's outbox until shut down.
#[derive(Debug)]
pub struct Sink {
    cfg: SinkConfig,
    retry: RetrySettings,
    journal: Journal,
    publisher: Publisher,
    /// Lease through this node rather than read (several nodes on one journal).
    node: Option<Node>,
    /// A journal failure repeats every pass: logged once per condition and interval, with a count.
    log: LogLimiter,
}

/// What one pass over the outbox found.
enum Pass {
    /// Sent a batch: look again at once.
    Worked,
    /// Nothing due now.
    Idle,
    /// The destination is unavailable.
    Unavailable,
    /// The journal failed.
    JournalError,
}

impl Sink {
    pub fn new(cfg: SinkConfig, journal: Journal, publisher: Publisher) -> Sink {
        let retry = RetrySettings::new(cfg.max_attempts, cfg.backoff);
        Sink { cfg, retry, journal, publisher, node: None, log: LogLimiter::default() }
    }

    /// The sink's retry settings, shared: setting them changes how the next failures are retried.
    pub fn retry_settings(&self) -> RetrySettings {
        self.retry.clone()
    }

    /// Takes due deliveries as leases of `node` (see the module doc), whatever the destination's kind.
    #[must_use]
    pub fn leasing(mut self, node: Node) -> Sink {
        self.node = Some(node);
        self
    }

    /// Runs until `shutdown`. In-flight publishes finish (or time out) and their outcomes are recorded before it
    /// returns; what is left stays pending for the next start.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut outbox = self.journal.outbox_changes();
        let mut up = None;
        // Idle passes in a row: rows may be due that this sink cannot take (another node leases them, or an
        // ordered lane waits for an older message), so the wait for "the next due row" doubles each time
        // instead of polling at its floor.
        let mut idle = 0u32;
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            let state = self.publisher.ready();
            if up != Some(state.is_ok()) {
                let detail = state.as_ref().err().map_or_else(|| "connected".to_owned(), ToString::to_string);
                DestinationState { destination: &self.cfg.destination, up: state.is_ok(), detail: &detail }.emit();
                up = Some(state.is_ok());
            }
            let pass = if state.is_ok() { self.pass().await } else { Pass::Unavailable };
            if !matches!(pass, Pass::Idle) {
                idle = 0;
            }
            match pass {
                Pass::Worked => continue,
                Pass::Idle => {
                    let floor = IDLE_FLOOR.saturating_mul(1 << idle.min(8)).min(POLL);
                    idle = idle.saturating_add(1);
                    let wait = self.until_next_due().await.max(floor);
                    tokio::select! {
                        _ = outbox.changed() => {}
                        () = tokio::time::sleep(wait) => {}
                        () = self.publisher.changed() => {}
                        () = shutdown.cancelled() => {}
                    }
                }
                Pass::Unavailable => {
                    tokio::select! {
                        () = self.publisher.changed() => {}
                        () = tokio::time::sleep(POLL) => {}
                        () = shutdown.cancelled() => {}
                    }
                }
                Pass::JournalError => {
                    tokio::select! {
                        () = tokio::time::sleep(JOURNAL_RETRY) => {}
                        () = shutdown.cancelled() => {}
                    }
                }
            }
        }
    }

    async fn until_next_due(&self) -> Duration {
        match self.journal.next_due(&self.cfg.destination).await {
            Ok(Some(at)) => {
                let wait = at - OffsetDateTime::now_utc();
                Duration::try_from(wait).unwrap_or(Duration::ZERO).clamp(Duration::from_millis(5), POLL)
            }
            Ok(None) | Err(_) => POLL,
        }
    }

    /// Publishes one batch of due deliveries and records the outcomes.
    async fn pass(&self) -> Pass {
        let limit = u32::try_from(self.cfg.max_in_flight).unwrap_or(u32::MAX);
        let now = OffsetDateTime::now_utc();
        let due = match &self.node {
            Some(node) => node.lease_deliveries(&self.cfg.destination, now, limit).await,
            None => self.journal.due_deliveries(&self.cfg.destination, now, limit).await,
        };
        let due = match due {
            Ok(due) => due,
            Err(e) => {
                if let Some(Admitted { suppressed }) = self.log.admit(READ_FAILED) {
                    let destination = &self.cfg.destination;
                    tracing::warn!(%destination, error = %e, suppressed, "sink cannot read the outbox");
                }
                return Pass::JournalError;
            }
        };
        self.log.clear(READ_FAILED);
        if due.is_empty() {
            return Pass::Idle;
        }
        let started = Instant::now();
        let mut pending: FuturesUnordered<_> = due.iter().map(|d| self.attempt(d)).collect();
        let mut outcomes = Vec::with_capacity(due.len());
        let mut unavailable = false;
        while let Some(result) = pending.next().await {
            match result {
                Some(outcome) => outcomes.push(outcome),
                None => unavailable = true,
            }
        }
        drop(pending);
        let (sent, retried, dead) = outcomes.iter().fold((0, 0, 0), |(s, r, d), o| match o {
            DeliveryOutcome::Sent { .. } => (s + 1, r, d),
            DeliveryOutcome::Retry { .. } => (s, r + 1, d),
            DeliveryOutcome::Dead { .. } => (s, r, d + 1),
        });
        if !outcomes.is_empty() {
            if let Err(e) = self.journal.record_deliveries(outcomes).await {
                // Not recorded: the deliveries stay pending and are sent again (at least once, never lost).
                if let Some(Admitted { suppressed }) = self.log.admit(RECORD_FAILED) {
                    let destination = &self.cfg.destination;
                    tracing::warn!(%destination, error = %e, suppressed, "sink cannot record outcomes");
                }
                return Pass::JournalError;
            }
            self.log.clear(RECORD_FAILED);
            DeliveriesAttempted {
                destination: &self.cfg.destination,
                sent,
                retried,
                dead,
                duration: started.elapsed(),
            }
            .emit();
        }
        if unavailable { Pass::Unavailable } else { Pass::Worked }
    }

    /// One delivery's attempt. `None`: the destination was unavailable, nothing to record.
    async fn attempt(&self, d: &DueDelivery) -> Option<DeliveryOutcome> {
        let Some(body) = &d.body else {
            return Some(DeliveryOutcome::Dead { id: d.id, error: "content pruned by retention".into() });
        };
        let span = self.publish_span(d);
        let outcome = match self.publisher.send(d, body).await {
            Ok(()) => Some(DeliveryOutcome::Sent { id: d.id }),
            Err(SendError::Unavailable(_)) => None,
            Err(SendError::Rejected(error)) => Some(DeliveryOutcome::Dead { id: d.id, error }),
            Err(SendError::Failed(error)) => Some(self.retry_or_dead(d, error, None)),
            Err(SendError::Retry { error, after }) => Some(self.retry_or_dead(d, error, after)),
        };
        if let Some(mut span) = span {
            match &outcome {
                // Not an attempt: nothing was sent and nothing is recorded.
                None => span.discard(),
                Some(o) => {
                    let (status, error) = match o {
                        DeliveryOutcome::Sent { .. } => ("sent", None),
                        DeliveryOutcome::Retry { .. } => {
                            ("retry", Some("the destination did not take the delivery; it will be retried"))
                        }
                        DeliveryOutcome::Dead { .. } => {
                            ("dead", Some("the destination did not take the delivery; it is dead"))
                        }
                    };
                    span.attr("hearth.status", status);
                    if let Some(e) = error {
                        span.error(e);
                    }
                    span.end();
                }
            }
        }
        outcome
    }

    /// The `publish` span of one attempt, a child of the message's root span (docs/operations.md, "Traces").
    /// Only non-identifying facts: the destination's error text may quote what it refused, so it is not used.
    fn publish_span(&self, d: &DueDelivery) -> Option<Span> {
        let trace = d.trace_id.as_deref().and_then(TraceId::parse)?;
        let mut span = Span::under_root("publish", SpanKind::Producer, trace);
        if !span.is_recording() {
            return None;
        }
        span.attr("hearth.channel", d.channel.as_str())
            .attr("hearth.message_id", d.message_id)
            .attr("hearth.destination", self.cfg.destination.as_str())
            .attr("hearth.route", d.route.as_str())
            .attr("hearth.resource_type", d.resource_type.as_str())
            .attr("hearth.delivery_id", d.id)
            .attr("hearth.attempt", d.attempts.saturating_add(1));
        Some(span)
    }
}

impl Sink {
    /// A failed attempt: retry after the backoff (or the destination's `Retry-After` when longer), or dead
    /// after the last attempt.
    fn retry_or_dead(&self, d: &DueDelivery, error: String, after: Option<Duration>) -> DeliveryOutcome {
        let attempt = d.attempts.saturating_add(1);
        let (max_attempts, backoff) = self.retry.get();
        if attempt >= max_attempts {
            return DeliveryOutcome::Dead { id: d.id, error };
        }
        let backoff = backoff.delay(attempt, rand::random::<f64>());
        let wait = after.map_or(backoff, |a| backoff.max(a.min(MAX_RETRY_AFTER)));
        DeliveryOutcome::Retry { id: d.id, error, at: OffsetDateTime::now_utc() + wait }
    }
}

/// Sets the outbox gauge for each destination (called by the monitor).
pub fn report_pending(destination: &str, pending: u64) {
    metrics::gauge!(Metric::OutboxPending.name(), "destination" => destination.to_owned()).set(pending as f64);
}
