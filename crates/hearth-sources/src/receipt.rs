//! One message's receipt as its trace sees it (docs/operations.md, "Traces"): the trace id the message is
//! journaled with, and the root span `receive`, from the message's arrival to its answer written. The journal's
//! own span (`journal`, a child of this one) is recorded by `hearth-store`; the processing stage and the sinks
//! parent theirs on this span through the trace id kept with the message.

use hearth_core::MessageMeta;
use hearth_core::events::ReceiveOutcome;
use hearth_core::trace::{Span, SpanKind, TraceId, message_type, now_unix_nanos};

/// A message being received: its trace id and what its `receive` span will say.
#[derive(Debug)]
pub(crate) struct Receipt {
    pub(crate) trace_id: TraceId,
    start_unix_nanos: u64,
    message_id: Option<i64>,
    message_type: Option<String>,
    outcome: Option<ReceiveOutcome>,
    error: Option<&'static str>,
}

impl Receipt {
    /// A message arriving now, with a new random trace id.
    pub(crate) fn new() -> Receipt {
        Receipt::with_trace(TraceId::random(), now_unix_nanos())
    }

    /// A message that arrived at `start_unix_nanos`, journaled under `trace_id`.
    pub(crate) fn with_trace(trace_id: TraceId, start_unix_nanos: u64) -> Receipt {
        Receipt { trace_id, start_unix_nanos, message_id: None, message_type: None, outcome: None, error: None }
    }

    /// The journal took the message (or counted it as a duplicate, or kept it as rejected).
    pub(crate) fn journaled(&mut self, id: i64, outcome: ReceiveOutcome, meta: &MessageMeta) {
        self.message_id = Some(id);
        self.outcome = Some(outcome);
        self.message_type = message_type(meta.message_code.as_deref(), meta.trigger_event.as_deref());
        if outcome == ReceiveOutcome::Rejected {
            self.error = Some("message rejected");
        }
    }

    /// The journal could not store the message: the sender is told to send it again.
    pub(crate) fn journal_failed(&mut self) {
        self.error = Some("the journal could not store the message");
    }

    /// The answer is written (`answer`: the ACK code, the HTTP status, or `none`): ends the `receive` span.
    pub(crate) fn answered(self, channel: &str, answer: &str) {
        let mut span = Span::root_at("receive", SpanKind::Server, self.trace_id, self.start_unix_nanos);
        if !span.is_recording() {
            return;
        }
        span.attr("hearth.channel", channel)
            .attr_opt("hearth.message_id", self.message_id)
            .attr_opt("hearth.message_type", self.message_type)
            .attr_opt("hearth.outcome", self.outcome.map(ReceiveOutcome::as_str))
            .attr("hearth.answer", answer);
        if let Some(e) = self.error {
            span.error(e);
        }
        span.end();
    }
}
