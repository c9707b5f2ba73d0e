//! The consume loop. Deliveries are handled concurrently (at most `prefetch`, which the broker enforces
//! anyway); each is journaled, then acknowledged. A journal failure hands the delivery back (`nack`, requeue)
//! and holds its slot for a backoff, which slows consumption while the journal is unwell.

use std::sync::Arc;
use std::time::Duration;

use hearth_amqp::{ConsumeError, Consumer, Delivery, Link, backoff_delay};
use hearth_core::events::{JournalFailed, MessageReceived, ReceiveOutcome};
use hearth_core::{Envelope, MessageMeta, MessageStatus, PayloadKind};
use hearth_hl7v2::ParseOptions;
use hearth_store::Journal;
use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::config::AmqpSourceConfig;
use crate::receipt::Receipt;

/// Messages larger than this are parsed on the blocking pool (as the MLLP listener does).
const PARSE_INLINE_MAX: usize = 256 * 1024;
/// Backoff after a journal failure.
const JOURNAL_BACKOFF_MIN: Duration = Duration::from_millis(100);
const JOURNAL_BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Why an AMQP source could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmqpSourceError {
    #[error("amqp source configuration: {0}")]
    Config(String),
}

/// An AMQP source for one channel.
#[derive(Debug)]
pub struct AmqpSource {
    ctx: Arc<Ctx>,
    cfg: AmqpSourceConfig,
}

#[derive(Debug)]
struct Ctx {
    channel: String,
    kind: PayloadKind,
    max_message_bytes: usize,
    parse: ParseOptions,
    journal: Journal,
    /// Consecutive journal failures, for the backoff.
    failures: std::sync::atomic::AtomicU32,
}

impl AmqpSource {
    pub fn new(channel: &str, cfg: AmqpSourceConfig, journal: Journal) -> Self {
        let ctx = Ctx {
            channel: channel.to_owned(),
            kind: cfg.kind,
            max_message_bytes: cfg.max_message_bytes,
            parse: ParseOptions::default(),
            journal,
            failures: Default::default(),
        };
        Self { ctx: Arc::new(ctx), cfg }
    }

    /// Consumes until `shutdown` fires: then stops taking deliveries, finishes (journals and acks) those in
    /// hand, closes the subscription (prefetched, untouched deliveries go back to the queue) and the link.
    /// The source owns its link so the connection outlives the drain.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), AmqpSourceError> {
        self.cfg.validate()?;
        let link = Link::start(self.cfg.link.clone(), CancellationToken::new());
        if let Some(consumer) = self.subscribe(&link, &shutdown).await {
            self.consume(consumer, &shutdown).await;
        }
        link.close().await;
        Ok(())
    }

    /// Subscribes, retrying while the broker refuses (e.g. the queue is not there yet). `None` on shutdown.
    async fn subscribe(&self, link: &Link, shutdown: &CancellationToken) -> Option<Consumer> {
        let mut attempt = 0;
        loop {
            let result = tokio::select! {
                r = link.consume(&self.cfg.queue, self.cfg.prefetch) => r,
                _ = shutdown.cancelled() => return None,
            };
            match result {
                Ok(consumer) => return Some(consumer),
                Err(ConsumeError::Closed) => return None,
                Err(e) => {
                    tracing::warn!(channel = %self.ctx.channel, error = %e, "amqp source cannot subscribe; retrying");
                    let delay = backoff_delay(attempt, self.cfg.link.reconnect_min, self.cfg.link.reconnect_max);
                    attempt += 1;
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.cancelled() => return None,
                    }
                }
            }
        }
    }

    async fn consume(&self, mut consumer: Consumer, shutdown: &CancellationToken) {
        let slots = Arc::new(Semaphore::new(usize::from(self.cfg.prefetch)));
        let tasks = TaskTracker::new();
        loop {
            let slot = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                s = Arc::clone(&slots).acquire_owned() => match s { Ok(s) => s, Err(_) => break },
            };
            let delivery = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                d = consumer.next() => match d { Some(d) => d, None => break },
            };
            tasks.spawn(handle(Arc::clone(&self.ctx), delivery, slot));
        }
        tasks.close();
        tasks.wait().await;
        consumer.close().await;
    }
}

/// Journal one delivery, then ack it; on a journal error nack it (requeue) and keep the slot for a backoff.
async fn handle(ctx: Arc<Ctx>, delivery: Delivery, _slot: OwnedSemaphorePermit) {
    use std::sync::atomic::Ordering;
    let bytes = delivery.body.len();
    let mut receipt = Receipt::new();
    let env = Envelope { trace_id: receipt.trace_id, ..envelope(&ctx, &delivery).await };
    let rejected = env.status == MessageStatus::Rejected;
    let meta = env.meta.clone();
    match ctx.journal.append(env).await {
        Ok(app) => {
            ctx.failures.store(0, Ordering::Relaxed);
            let outcome = match (rejected, app.duplicate) {
                (true, _) => ReceiveOutcome::Rejected,
                (false, true) => ReceiveOutcome::Duplicate,
                (false, false) => ReceiveOutcome::Accepted,
            };
            MessageReceived { channel: &ctx.channel, outcome, bytes, journal_id: Some(app.id) }.emit();
            receipt.journaled(app.id, outcome, &meta);
            if let Err(e) = delivery.ack().await {
                // Journaled but not acknowledged: the broker redelivers it and the journal counts a duplicate
                // (for messages with a dedup key).
                tracing::warn!(channel = %ctx.channel, error = %e, "amqp ack failed after journaling");
                receipt.answered(&ctx.channel, "ack_failed");
            } else {
                receipt.answered(&ctx.channel, "ack");
            }
        }
        Err(e) => {
            JournalFailed { channel: &ctx.channel, error: &e.to_string() }.emit();
            receipt.journal_failed();
            if let Err(e) = delivery.nack(true).await {
                tracing::warn!(channel = %ctx.channel, error = %e, "amqp nack failed; the broker redelivers on reconnect");
            }
            receipt.answered(&ctx.channel, "nack");
            let attempt = ctx.failures.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(backoff_delay(attempt, JOURNAL_BACKOFF_MIN, JOURNAL_BACKOFF_MAX)).await;
        }
    }
}

/// What the journal stores for a delivery: accepted with its dedup key, or rejected with the reason (never
/// dropped: the raw bytes are kept either way).
async fn envelope(ctx: &Ctx, d: &Delivery) -> Envelope {
    let received_at = OffsetDateTime::now_utc();
    let raw = d.body.clone();
    let verdict = if raw.len() > ctx.max_message_bytes {
        let reason = format!("message of {} bytes exceeds max_message_bytes = {}", raw.len(), ctx.max_message_bytes);
        rejected(reason, MessageMeta::default())
    } else {
        match ctx.kind {
            PayloadKind::Hl7v2 => hl7v2_identity(ctx, &raw).await,
            _ => fhir_identity(ctx, &raw, d.message_id.as_deref()),
        }
    };
    let (status, reason, dedup_key, meta) = match verdict {
        Verdict::Accepted { key, meta } => (MessageStatus::Received, None, key, meta),
        Verdict::Rejected { reason, meta } => (MessageStatus::Rejected, Some(reason), None, meta),
    };
    Envelope {
        channel: ctx.channel.clone(),
        kind: ctx.kind,
        received_at,
        raw,
        status,
        reason,
        dedup_key,
        meta,
        trace_id: hearth_core::trace::TraceId::random(),
    }
}

/// What the door decides about one message: accepted (with its dedup key) or rejected (with the reason).
enum Verdict {
    Accepted { key: Option<String>, meta: MessageMeta },
    Rejected { reason: String, meta: MessageMeta },
}

fn rejected(reason: impl Into<String>, meta: MessageMeta) -> Verdict {
    Verdict::Rejected { reason: reason.into(), meta }
}

/// The same parse, header facts and dedup key as the MLLP listener, so a message that arrives over both
/// paths is stored once.
async fn hl7v2_identity(ctx: &Ctx, raw: &[u8]) -> Verdict {
    let parsed = if raw.len() > PARSE_INLINE_MAX {
        let (opts, bytes) = (ctx.parse.clone(), raw.to_vec());
        match tokio::task::spawn_blocking(move || hearth_hl7v2::parse(&bytes, &opts)).await {
            Ok(r) => r,
            Err(_) => return rejected("internal error while parsing (a Hearth bug: please report it)", peek(raw)),
        }
    } else {
        hearth_hl7v2::parse(raw, &ctx.parse)
    };
    match parsed {
        Ok(msg) => {
            let h = msg.header();
            let (meta, key) = crate::hl7v2_intake::accepted(h, raw);
            Verdict::Accepted { key: Some(key), meta }
        }
        Err(err) => rejected(err.to_string(), peek(raw)),
    }
}

fn peek(raw: &[u8]) -> MessageMeta {
    hearth_hl7v2::peek_header(raw).as_ref().map(crate::hl7v2_intake::from_peek).unwrap_or_default()
}

/// FHIR is checked only for the shape of a JSON object here; the mapper validates it fully. The dedup key is
/// the sender's `message_id`, scoped to the channel.
fn fhir_identity(ctx: &Ctx, raw: &[u8], message_id: Option<&str>) -> Verdict {
    let Ok(text) = std::str::from_utf8(raw) else {
        return rejected("FHIR message is not valid UTF-8", MessageMeta::default());
    };
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if !(trimmed.starts_with('{') && trimmed.ends_with('}')) {
        return rejected("FHIR message is not a JSON object", MessageMeta::default());
    }
    let key = message_id.filter(|id| !id.is_empty()).map(|id| format!("{}:{id}", ctx.channel));
    Verdict::Accepted { key, meta: MessageMeta::default() }
}
