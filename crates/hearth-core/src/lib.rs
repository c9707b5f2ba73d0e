//! Shared vocabulary of Hearth: the message envelope that travels from a source to the journal, message
//! statuses, the transient/permanent error classification, the clock abstraction pure code takes as an
//! argument, and the one list of metric names with the small event structs that log and count together.
//!
//! ```
//! use hearth_core::{dedup_key_hl7v2, MessageStatus};
//!
//! let a = dedup_key_hl7v2("LAB", "NORTH", "MSG0001", b"MSH|^~\\&|LAB|NORTH|...");
//! let b = dedup_key_hl7v2("LAB", "NORTH", "MSG0001", b"MSH|^~\\&|LAB|NORTH|...");
//! assert_eq!(a, b);
//! assert_eq!(MessageStatus::parse("rejected"), Some(MessageStatus::Rejected));
//! ```
#![forbid(unsafe_code)]

pub mod config;
pub mod events;
pub mod log_limit;
pub mod minutes;
mod status;
pub mod trace;

use sha2::{Digest, Sha256};
pub use status::{ErrorClass, MessageStatus};
use time::OffsetDateTime;

/// The code system naming a Hearth mapping: the `meta.tag` of every resource Hearth converts and the identifier
/// system of the transformation Provenance's agent. Routing recognises that Provenance by it.
pub const MAPPING_SYSTEM: &str = "urn:hearth:mapping";

/// The resource types R4 allows as `Task.owner` (a `Group` is not one of them).
pub const TASK_OWNER_TYPES: &[&str] = &[
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "CareTeam",
    "HealthcareService",
    "Patient",
    "Device",
    "RelatedPerson",
];

/// Whether a literal reference (`CareTeam/outreach`) may be a `Task.owner` in R4.
///
/// ```
/// assert!(hearth_core::task_owner_allowed("CareTeam/outreach"));
/// assert!(!hearth_core::task_owner_allowed("Group/outreach"));
/// ```
pub fn task_owner_allowed(reference: &str) -> bool {
    reference.split_once('/').is_some_and(|(t, id)| {
        TASK_OWNER_TYPES.contains(&t)
            && !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    })
}

/// What a FHIR search value written by Hearth keeps literally: RFC 3986's unreserved characters, `:` and `/`
/// (so that `urn:oid:…` and URL systems stay readable); `|`, `&`, `#`, `%`, spaces and non-ASCII are encoded.
const SEARCH_VALUE: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b':').remove(b'/');

/// Percent-encodes one search parameter value (a system or a value of `identifier=system|value`).
///
/// ```
/// assert_eq!(hearth_core::search_value("urn:oid:1.2|A B&C"), "urn:oid:1.2%7CA%20B%26C");
/// ```
pub fn search_value(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEARCH_VALUE).to_string()
}

/// Where the current time comes from. Pure code (mapping, routing) takes a `&dyn Clock` so that golden tests
/// can pin time; the engine passes [`SystemClock`].
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that always answers the same instant (tests, golden files).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub OffsetDateTime);

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        self.0
    }
}

/// The kind of payload a source received. Decides which mapper runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadKind {
    Hl7v2,
    Csv,
    Webhook,
    Fhir,
}

impl PayloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadKind::Hl7v2 => "hl7v2",
            PayloadKind::Csv => "csv",
            PayloadKind::Webhook => "webhook",
            PayloadKind::Fhir => "fhir",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "hl7v2" => PayloadKind::Hl7v2,
            "csv" => PayloadKind::Csv,
            "webhook" => PayloadKind::Webhook,
            "fhir" => PayloadKind::Fhir,
            _ => return None,
        })
    }
}

/// Header facts a source extracted from a message, kept beside the raw bytes so the journal can be searched
/// without re-parsing. None of these is patient data; they identify the message, not the person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageMeta {
    /// e.g. `ADT`
    pub message_code: Option<String>,
    /// e.g. `A01`
    pub trigger_event: Option<String>,
    /// e.g. `ADT_A01`
    pub structure: Option<String>,
    /// MSH-10
    pub control_id: Option<String>,
    /// MSH-3 namespace id
    pub sending_application: Option<String>,
    /// MSH-4 namespace id
    pub sending_facility: Option<String>,
}

impl MessageMeta {
    /// `ADT^A01`-style event name, as routes match on it.
    pub fn event(&self) -> Option<String> {
        match (&self.message_code, &self.trigger_event) {
            (Some(c), Some(t)) => Some(format!("{c}^{t}")),
            (Some(c), None) => Some(c.clone()),
            _ => None,
        }
    }
}

/// One payload for one destination, as the router plans it and the journal stores it in the outbox (the router
/// calls it `Delivery`, the store `NewDelivery`: one type, so nothing is copied field by field between them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedDelivery {
    pub route: String,
    pub destination: String,
    pub routing_key: String,
    /// FHIR R4 JSON, compact, with the destination's projection applied.
    pub body: String,
    /// Lowercase hex SHA-256 of the body without its volatile values: the AMQP `message_id`.
    pub content_id: String,
    /// `"Patient"`, `"Bundle"`, `"Task"`, ...
    pub resource_type: String,
    /// The patient's lane when the route is ordered and the message has a Patient.
    pub lane: Option<String>,
}

/// One message as a source hands it to the journal: bytes exactly as received, plus what the source learnt.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub channel: String,
    pub kind: PayloadKind,
    pub received_at: OffsetDateTime,
    pub raw: Vec<u8>,
    /// `Received` for an accepted message, `Rejected` for one refused at the door.
    pub status: MessageStatus,
    /// Why a rejected message was refused (one line, no payload).
    pub reason: Option<String>,
    /// Identity for duplicate suppression; `None` means "never a duplicate" (rejected input).
    pub dedup_key: Option<String>,
    pub meta: MessageMeta,
    /// The message's trace (docs/operations.md, "Traces"): random unless an HTTP caller sent a `traceparent`.
    pub trace_id: trace::TraceId,
}

/// The duplicate key of an HL7 v2 message: MSH-3, MSH-4, MSH-10 and a hash of the exact bytes, hashed together
/// (fields are length-prefixed so `("AB","C")` and `("A","BC")` differ).
pub fn dedup_key_hl7v2(sending_app: &str, sending_facility: &str, control_id: &str, raw: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"hl7v2\0");
    for part in [sending_app.as_bytes(), sending_facility.as_bytes(), control_id.as_bytes()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.update(Sha256::digest(raw));
    hex::encode(h.finalize())
}

/// Hex SHA-256 of some bytes (file hashes, content ids).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_key_separates_fields_and_content() {
        let base = dedup_key_hl7v2("AB", "C", "1", b"x");
        assert_ne!(base, dedup_key_hl7v2("A", "BC", "1", b"x"));
        assert_ne!(base, dedup_key_hl7v2("AB", "C", "2", b"x"));
        assert_ne!(base, dedup_key_hl7v2("AB", "C", "1", b"y"));
        assert_eq!(base, dedup_key_hl7v2("AB", "C", "1", b"x"));
        assert_eq!(base.len(), 64);
    }

    #[test]
    fn event_name() {
        let m =
            MessageMeta { message_code: Some("ADT".into()), trigger_event: Some("A03".into()), ..Default::default() };
        assert_eq!(m.event().as_deref(), Some("ADT^A03"));
    }

    #[test]
    fn payload_kind_round_trip() {
        for k in [PayloadKind::Hl7v2, PayloadKind::Csv, PayloadKind::Webhook, PayloadKind::Fhir] {
            assert_eq!(PayloadKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(PayloadKind::parse("x12"), None);
    }
}

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
