//! What every HL7 v2 source (MLLP, HTTP, AMQP) journals about a message besides its bytes: the header facts
//! (message code, trigger, structure, control id, sender) and the dedup key, computed the same way everywhere so
//! that a message arriving over two paths is stored once. The MLLP listener and the HTTP upload, which both answer
//! with an HL7 ACK, also journal and answer through [`journal_and_answer`] and [`Acks`] here.

use std::sync::atomic::{AtomicU64, Ordering};

use hearth_core::events::{JournalFailed, MessageReceived, ReceiveOutcome};
use hearth_core::{Envelope, MessageMeta, MessageStatus, PayloadKind, dedup_key_hl7v2};
use hearth_hl7v2::ack::{AckContext, AckError, AckSubject, Outcome};
use hearth_hl7v2::{AckPolicy, Charset, ErrorCode, Hd, Header, Hl7Error, Message, PartialHeader};
use hearth_store::Journal;
use time::OffsetDateTime;

use crate::receipt::Receipt;

/// How a source signs its ACKs (MSH-3/MSH-4 when the sender named no receiver) and numbers them.
#[derive(Debug)]
pub(crate) struct Acks {
    application: String,
    facility: String,
    /// ACK control ids: unique across restarts without coordination (start time in ms, then a counter).
    seq: AtomicU64,
}

impl Acks {
    pub(crate) fn new(application: &str, facility: &str) -> Self {
        let seed = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as u64 * 1000;
        Acks { application: application.to_owned(), facility: facility.to_owned(), seq: AtomicU64::new(seed) }
    }

    /// The accept acknowledgement for an outcome, in the sender's character set: its code and its bytes.
    /// `None` when the policy (MSH-15) says not to answer this outcome.
    pub(crate) fn respond(
        &self,
        subject: AckSubject<'_>,
        charset: Charset,
        outcome: &Outcome,
        policy: AckPolicy,
    ) -> Option<(&'static str, Vec<u8>)> {
        let now = OffsetDateTime::now_utc();
        let stamp = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}+0000",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        let mut ctx = AckContext::new(stamp, format!("H{}", self.seq.fetch_add(1, Ordering::Relaxed)));
        ctx.application = Hd::named(&self.application);
        if !self.facility.is_empty() {
            ctx.facility = Hd::named(&self.facility);
        }
        let (code, text) = hearth_hl7v2::respond(subject, outcome, &ctx, policy)?;
        Some((code.as_str(), charset.encode(&text).into_owned()))
    }
}

/// Journals a parsed message as `received`, or one that failed to parse as `rejected` with its reason and what
/// its header says, and builds the answer.
pub(crate) async fn journal_and_answer(
    journal: &Journal,
    channel: &str,
    received_at: OffsetDateTime,
    bytes: &[u8],
    parsed: Result<Message, Hl7Error>,
    (acks, policy): (&Acks, AckPolicy),
    receipt: &mut Receipt,
) -> Option<(&'static str, Vec<u8>)> {
    match parsed {
        Ok(msg) => {
            let h = msg.header();
            let outcome = journal_accepted(journal, channel, received_at, bytes.to_vec(), h, receipt).await;
            acks.respond(h.into(), msg.charset(), &outcome, policy)
        }
        Err(err) => {
            let peek = hearth_hl7v2::peek_header(bytes);
            let meta = peek.as_ref().map(from_peek).unwrap_or_default();
            journal_rejected(journal, channel, bytes.to_vec(), &err.to_string(), meta, receipt).await;
            let subject = peek.as_ref().map(AckSubject::from).unwrap_or_default();
            acks.respond(subject, Charset::Ascii, &Outcome::for_parse_error(&err), policy)
        }
    }
}

/// The metadata and dedup key (MSH-3, MSH-4, MSH-10 and the SHA-256 of the bytes) of a parsed message.
pub fn accepted(h: &Header, raw: &[u8]) -> (MessageMeta, String) {
    let meta = MessageMeta {
        message_code: non_empty(&h.message_code),
        trigger_event: non_empty(&h.trigger_event),
        structure: non_empty(&h.structure),
        control_id: non_empty(&h.control_id),
        sending_application: non_empty(&h.sending_application.namespace_id),
        sending_facility: non_empty(&h.sending_facility.namespace_id),
    };
    (meta, dedup_key_hl7v2(&h.sending_application.raw, &h.sending_facility.raw, &h.control_id, raw))
}

/// What can be read from the header of a message that failed to parse (for the operator's copy).
pub(crate) fn from_peek(p: &PartialHeader) -> MessageMeta {
    MessageMeta {
        message_code: non_empty(&p.message_code),
        trigger_event: non_empty(&p.trigger_event),
        structure: None,
        control_id: non_empty(&p.control_id),
        sending_application: non_empty(&p.sending_application.namespace_id),
        sending_facility: non_empty(&p.sending_facility.namespace_id),
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// Journals a parsed message (status `received`, with its metadata and dedup key) and reports it; answers the
/// ACK outcome: accepted once it is on disk, an application error (resend later) when the journal failed.
pub(crate) async fn journal_accepted(
    journal: &Journal,
    channel: &str,
    received_at: OffsetDateTime,
    raw: Vec<u8>,
    h: &Header,
    receipt: &mut Receipt,
) -> Outcome {
    let (meta, key) = accepted(h, &raw);
    let bytes = raw.len();
    let env = Envelope {
        channel: channel.to_owned(),
        kind: PayloadKind::Hl7v2,
        received_at,
        raw,
        status: MessageStatus::Received,
        reason: None,
        dedup_key: Some(key),
        meta: meta.clone(),
        trace_id: receipt.trace_id,
    };
    match journal.append(env).await {
        Ok(app) => {
            let outcome = if app.duplicate { ReceiveOutcome::Duplicate } else { ReceiveOutcome::Accepted };
            MessageReceived { channel, outcome, bytes, journal_id: Some(app.id) }.emit();
            receipt.journaled(app.id, outcome, &meta);
            Outcome::Accepted
        }
        Err(e) => {
            JournalFailed { channel, error: &e.to_string() }.emit();
            receipt.journal_failed();
            let text = "the journal could not store the message; resend it later";
            Outcome::Error(AckError::new(ErrorCode::ApplicationInternalError, text))
        }
    }
}

/// Keeps a refused message with its reason for the operator (status `rejected`). The sender gets its negative
/// ACK either way; when the journal fails only the operator's copy is missing, and the log says so.
pub(crate) async fn journal_rejected(
    journal: &Journal,
    channel: &str,
    raw: Vec<u8>,
    reason: &str,
    meta: MessageMeta,
    receipt: &mut Receipt,
) {
    let bytes = raw.len();
    let env = Envelope {
        channel: channel.to_owned(),
        kind: PayloadKind::Hl7v2,
        received_at: OffsetDateTime::now_utc(),
        raw,
        status: MessageStatus::Rejected,
        reason: Some(reason.to_owned()),
        dedup_key: None,
        meta: meta.clone(),
        trace_id: receipt.trace_id,
    };
    match journal.append(env).await {
        Ok(app) => {
            MessageReceived { channel, outcome: ReceiveOutcome::Rejected, bytes, journal_id: Some(app.id) }.emit();
            receipt.journaled(app.id, ReceiveOutcome::Rejected, &meta);
        }
        Err(e) => {
            JournalFailed { channel, error: &e.to_string() }.emit();
            receipt.journal_failed();
        }
    }
}
