//! Trace vocabulary (docs/operations.md, "Traces"): W3C trace ids, span ids, finished spans, and the one
//! process-wide hook spans are handed to. Recording here costs nothing while no exporter is installed (traces
//! are off by default); the exporter itself (batching, OTLP over HTTP) lives in `hearth-engine`.
//!
//! One message is one trace. Its root span `receive` has a span id derived from the trace id
//! ([`TraceId::root_span`]), so the stages that run later, maybe on another node or after a restart, parent their
//! spans on the root knowing only the trace id the journal keeps with the message.
//!
//! Attributes are chosen by the caller from a fixed set of non-identifying facts (channel, journal id,
//! destination, route, status, message type): never a control id, a name, an identifier or a payload.

use std::fmt;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::events::Metric;

/// A W3C trace id: 16 bytes, never all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId([u8; 16]);

/// A span id: 8 bytes, never all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId([u8; 8]);

impl TraceId {
    /// 16 random bytes, not all zero (W3C trace-context).
    pub fn random() -> TraceId {
        loop {
            let b: [u8; 16] = rand::random();
            if b != [0; 16] {
                return TraceId(b);
            }
        }
    }

    /// From bytes; `None` when all zero (an invalid trace id).
    pub fn from_bytes(b: [u8; 16]) -> Option<TraceId> {
        (b != [0; 16]).then_some(TraceId(b))
    }

    pub fn bytes(&self) -> [u8; 16] {
        self.0
    }

    /// From the journal's form: 32 lowercase hex characters, not all zero.
    pub fn parse(s: &str) -> Option<TraceId> {
        let b = lower_hex::<16>(s)?;
        TraceId::from_bytes(b)
    }

    /// The trace id of a W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`), when the header is valid:
    /// a known layout, lowercase hex, neither id all zero, version not `ff`. A later version may append fields.
    pub fn from_traceparent(header: &str) -> Option<TraceId> {
        let h = header.trim();
        let mut parts = h.split('-');
        let version = parts.next()?;
        let trace = parts.next()?;
        let parent = parts.next()?;
        let flags = parts.next()?;
        let version = lower_hex::<1>(version)?[0];
        if version == 0xff || (version == 0 && parts.next().is_some()) {
            return None;
        }
        lower_hex::<1>(flags)?;
        if lower_hex::<8>(parent)? == [0; 8] {
            return None;
        }
        TraceId::parse(trace)
    }

    /// 32 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The span id of the message's root span (`receive`): the first 8 bytes of SHA-256 over the trace id (the
    /// next 8 in the unlikely case those are all zero), so that later stages find it from the trace id alone.
    pub fn root_span(&self) -> SpanId {
        let d = Sha256::digest(self.0);
        for chunk in d.chunks_exact(8) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            if b != [0; 8] {
                return SpanId(b);
            }
        }
        SpanId([0, 0, 0, 0, 0, 0, 0, 1])
    }
}

impl SpanId {
    /// 8 random bytes, not all zero.
    pub fn random() -> SpanId {
        loop {
            let b: [u8; 8] = rand::random();
            if b != [0; 8] {
                return SpanId(b);
            }
        }
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// `N` bytes from exactly `2N` lowercase hex characters.
fn lower_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// OTLP's span kinds (the numbers are the protobuf enum's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

/// An attribute value: text or an integer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue {
    Str(String),
    Int(i64),
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> Self {
        AttrValue::Str(s.to_owned())
    }
}

impl From<String> for AttrValue {
    fn from(s: String) -> Self {
        AttrValue::Str(s)
    }
}

impl From<i64> for AttrValue {
    fn from(n: i64) -> Self {
        AttrValue::Int(n)
    }
}

impl From<u32> for AttrValue {
    fn from(n: u32) -> Self {
        AttrValue::Int(i64::from(n))
    }
}

impl From<usize> for AttrValue {
    fn from(n: usize) -> Self {
        AttrValue::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

/// A finished span, as handed to the exporter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanData {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent: Option<SpanId>,
    pub name: &'static str,
    pub kind: SpanKind,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
    pub attributes: Vec<(&'static str, AttrValue)>,
    /// `Some(description)`: the span's status is error, with a short description that names no patient data.
    pub error: Option<String>,
}

/// Where finished spans go: returns `false` when the span was dropped (the exporter's queue is full).
pub type ExportFn = Box<dyn Fn(SpanData) -> bool + Send + Sync>;

static EXPORTER: OnceLock<ExportFn> = OnceLock::new();

/// Installs the process's exporter (once: `false` if one was already installed). Until then, and forever if
/// tracing is off, spans are not even built.
pub fn install(export: ExportFn) -> bool {
    EXPORTER.set(export).is_ok()
}

/// Whether spans are exported.
pub fn enabled() -> bool {
    EXPORTER.get().is_some()
}

/// Now, in unix nanoseconds.
pub fn now_unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn export(span: SpanData) {
    if let Some(f) = EXPORTER.get()
        && !f(span)
    {
        SpansDropped { reason: "queue_full", count: 1 }.emit();
    }
}

/// Spans dropped instead of exported: the queue was full, or the collector refused or could not be reached.
#[derive(Debug)]
pub struct SpansDropped {
    /// `queue_full` or `export_failed`.
    pub reason: &'static str,
    pub count: u64,
}

impl SpansDropped {
    pub fn emit(&self) {
        metrics::counter!(Metric::TraceSpansDroppedTotal.name(), "reason" => self.reason).increment(self.count);
    }
}

/// A span being timed. Exported when ended or dropped; a no-op (nothing allocated) while tracing is off.
#[derive(Debug)]
pub struct Span {
    data: Option<SpanData>,
}

impl Span {
    /// A span starting now, with a random id, under `parent`.
    pub fn start(name: &'static str, kind: SpanKind, trace_id: TraceId, parent: Option<SpanId>) -> Span {
        Span::start_at(name, kind, trace_id, parent, now_unix_nanos())
    }

    /// A span that started at `start_unix_nanos`.
    pub fn start_at(
        name: &'static str,
        kind: SpanKind,
        trace_id: TraceId,
        parent: Option<SpanId>,
        start_unix_nanos: u64,
    ) -> Span {
        Span::build(name, kind, trace_id, SpanId::random, parent, start_unix_nanos)
    }

    /// The message's root span (its id is [`TraceId::root_span`]), started at `start_unix_nanos`.
    pub fn root_at(name: &'static str, kind: SpanKind, trace_id: TraceId, start_unix_nanos: u64) -> Span {
        Span::build(name, kind, trace_id, || trace_id.root_span(), None, start_unix_nanos)
    }

    /// A child of the message's root span, starting now.
    pub fn under_root(name: &'static str, kind: SpanKind, trace_id: TraceId) -> Span {
        Span::start(name, kind, trace_id, Some(trace_id.root_span()))
    }

    fn build(
        name: &'static str,
        kind: SpanKind,
        trace_id: TraceId,
        span_id: impl FnOnce() -> SpanId,
        parent: Option<SpanId>,
        start_unix_nanos: u64,
    ) -> Span {
        if !enabled() {
            return Span { data: None };
        }
        Span {
            data: Some(SpanData {
                trace_id,
                span_id: span_id(),
                parent,
                name,
                kind,
                start_unix_nanos,
                end_unix_nanos: start_unix_nanos,
                attributes: Vec::new(),
                error: None,
            }),
        }
    }

    /// Whether this span will be exported (tracing is on).
    pub fn is_recording(&self) -> bool {
        self.data.is_some()
    }

    /// Adds an attribute (a non-identifying fact: see the module doc).
    pub fn attr(&mut self, key: &'static str, value: impl Into<AttrValue>) -> &mut Self {
        if let Some(d) = &mut self.data {
            d.attributes.push((key, value.into()));
        }
        self
    }

    /// Adds an attribute when there is a value.
    pub fn attr_opt<V: Into<AttrValue>>(&mut self, key: &'static str, value: Option<V>) -> &mut Self {
        if let Some(v) = value {
            self.attr(key, v);
        }
        self
    }

    /// Marks the span failed, with a short description that names no patient data.
    pub fn error(&mut self, description: &str) -> &mut Self {
        if let Some(d) = &mut self.data {
            d.error = Some(description.to_owned());
        }
        self
    }

    /// Ends the span now and hands it to the exporter.
    pub fn end(self) {
        drop(self);
    }

    /// Ends the span at `end_unix_nanos` (not before its start) and hands it to the exporter.
    pub fn end_at(mut self, end_unix_nanos: u64) {
        if let Some(mut d) = self.data.take() {
            d.end_unix_nanos = end_unix_nanos.max(d.start_unix_nanos);
            export(d);
        }
    }

    /// Forgets the span: nothing is exported (e.g. an attempt that did not happen).
    pub fn discard(mut self) {
        self.data = None;
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(mut d) = self.data.take() {
            d.end_unix_nanos = now_unix_nanos().max(d.start_unix_nanos);
            export(d);
        }
    }
}

/// The message type an attribute may carry: `ADT^A01` (message code and trigger event), or either alone. Each
/// part must look like a code (at most 16 letters, digits or `_`): anything else read from a malformed header is
/// left out rather than exported.
pub fn message_type(code: Option<&str>, event: Option<&str>) -> Option<String> {
    let code_like = |s: &&str| s.len() <= 16 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    match (code.filter(code_like), event.filter(code_like)) {
        (Some(c), Some(e)) => Some(format!("{c}^{e}")),
        (Some(x), None) | (None, Some(x)) => Some(x.to_owned()),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_are_random_nonzero_lowercase_hex_and_round_trip() {
        let a = TraceId::random();
        let b = TraceId::random();
        assert_ne!(a, b);
        let h = a.to_hex();
        assert_eq!(h.len(), 32);
        assert!(h.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)), "{h}");
        assert_eq!(TraceId::parse(&h), Some(a));
        assert_eq!(TraceId::parse(&h.to_uppercase()), None, "the journal form is lowercase");
        assert_eq!(TraceId::parse(&"0".repeat(32)), None, "all zero is invalid");
        assert_eq!(TraceId::parse(&h[..31]), None);
    }

    #[test]
    fn the_root_span_id_is_derived_from_the_trace_id() {
        let t = TraceId::parse("4bf92f3577b34da6a3ce929d0e0e4736").unwrap_or_else(|| unreachable!());
        // SHA-256 of those 16 bytes, first 8 bytes (computed independently with Python's hashlib).
        assert_eq!(t.root_span().to_hex(), ROOT_OF_EXAMPLE);
        assert_eq!(t.root_span(), t.root_span());
        assert_ne!(TraceId::random().root_span(), t.root_span());
    }

    const ROOT_OF_EXAMPLE: &str = "6fa5491b80f54f40";

    #[test]
    fn traceparent_headers() {
        let ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            TraceId::from_traceparent(ok).map(|t| t.to_hex()).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        // A later version may add fields; version 00 may not.
        assert!(TraceId::from_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x").is_some());
        for bad in [
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "",
        ] {
            assert_eq!(TraceId::from_traceparent(bad), None, "{bad}");
        }
    }

    #[test]
    fn spans_are_not_built_while_tracing_is_off() {
        // No exporter is installed in this test binary.
        let mut s = Span::under_root("map", SpanKind::Internal, TraceId::random());
        s.attr("hearth.channel", "adt");
        assert!(!s.is_recording());
    }

    #[test]
    fn message_types() {
        assert_eq!(message_type(Some("ADT"), Some("A01")).as_deref(), Some("ADT^A01"));
        assert_eq!(message_type(None, Some("A01")).as_deref(), Some("A01"));
        assert_eq!(message_type(None, None), None);
        assert_eq!(message_type(Some("ADT"), Some("DOE JOHN")).as_deref(), Some("ADT"), "not a code: left out");
    }
}
