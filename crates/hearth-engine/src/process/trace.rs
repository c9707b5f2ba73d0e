//! The processing stage's spans in each message's trace (docs/operations.md, "Traces"): `map` (the conversion)
//! and `route` (rule evaluation and the journal write of the outcome and its outbox rows), both children of the
//! message's root span `receive`, found from the trace id the journal keeps with the message.

use hearth_core::trace::{Span, SpanKind, TraceId, message_type};
use hearth_store::MessageSummary;

use super::job::{ConversionError, Outcome, Timings};

/// The message's trace, when it has one (messages journaled before traces have none).
pub(super) fn trace_of(summary: &MessageSummary) -> Option<TraceId> {
    summary.trace_id.as_deref().and_then(TraceId::parse)
}

/// Facts every span of the stage carries: channel, journal id, message type.
fn describe(span: &mut Span, summary: &MessageSummary) {
    let kind = message_type(summary.meta.message_code.as_deref(), summary.meta.trigger_event.as_deref());
    span.attr("hearth.channel", summary.channel.as_str())
        .attr("hearth.message_id", summary.id)
        .attr_opt("hearth.message_type", kind);
}

/// Records the `map` span of a finished conversion and starts the `route` span (when the conversion worked);
/// the caller ends `route` once the outcome is stored.
pub(super) fn map_and_start_route(summary: &MessageSummary, timings: Timings, outcome: &Outcome) -> Option<Span> {
    let trace = trace_of(summary)?;
    let parent = Some(trace.root_span());
    let mut map = Span::start_at("map", SpanKind::Internal, trace, parent, timings.started);
    if !map.is_recording() {
        return None;
    }
    describe(&mut map, summary);
    let failed: Option<&ConversionError> = match outcome {
        Outcome::Failed(e) => Some(e),
        Outcome::Routed(_) => None,
    };
    match failed {
        Some(e) if !e.in_routing() => {
            map.attr("hearth.status", "error").error(e.trace_description());
            map.end_at(timings.converted);
            return None;
        }
        _ => {
            map.attr("hearth.status", "mapped");
            map.end_at(timings.converted);
        }
    }
    let mut route = Span::start_at("route", SpanKind::Internal, trace, parent, timings.converted);
    describe(&mut route, summary);
    match outcome {
        Outcome::Routed(r) => {
            route.attr("hearth.status", outcome.status().as_str()).attr("hearth.deliveries", r.deliveries.len());
        }
        Outcome::Failed(e) => {
            route.attr("hearth.status", "error").error(e.trace_description());
        }
    }
    Some(route)
}
