//! One message's conversion, on a blocking thread: convert by payload kind, route, serialise. Pure apart from the
//! clock; writes nothing.

use std::sync::Arc;

use hearth_core::trace::now_unix_nanos;
use hearth_core::{ErrorClass, MessageStatus, PayloadKind};
use hearth_route::{MessageContext, RoutePlan, RouteSet};
use hearth_store::{NewDelivery, PatientIndexUpdate};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::setup::ChannelMapping;
use super::{csv, patients, webhook};

/// Why a message could not be converted. Its text is the reason kept in the journal (never logged: a parser
/// error may quote a little of the input, and input is patient data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversionError {
    #[error("parse: {0}")]
    Parse(String),
    /// The mapper, the CSV converter or the webhook profile refused the input.
    #[error("{0}")]
    Map(String),
    #[error("routing: {0}")]
    Route(String),
    #[error("the mapping produced an invalid Bundle: {0}")]
    InvalidBundle(String),
    #[error("raw bytes pruned")]
    Pruned,
    /// A bug or a resource limit, not the input: reprocessing may work.
    #[error("conversion task failed: {0}")]
    Task(String),
}

impl ConversionError {
    pub fn class(&self) -> ErrorClass {
        match self {
            ConversionError::Task(_) => ErrorClass::Transient,
            _ => ErrorClass::BadInput,
        }
    }

    /// What a trace may say about the failure: a fixed text per kind (the reason itself may quote input).
    pub fn trace_description(&self) -> &'static str {
        match self {
            ConversionError::Parse(_) => "the message could not be parsed",
            ConversionError::Map(_) => "the message could not be converted",
            ConversionError::Route(_) => "routing failed",
            ConversionError::InvalidBundle(_) => "the conversion produced an invalid Bundle",
            ConversionError::Pruned => "the message content was pruned",
            ConversionError::Task(_) => "the conversion task failed",
        }
    }

    /// Whether the failure happened while routing (after the conversion).
    pub fn in_routing(&self) -> bool {
        matches!(self, ConversionError::Route(_) | ConversionError::InvalidBundle(_))
    }
}

/// When a run converted (unix nanoseconds), for the message's `map` span; routing starts at `converted`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    pub started: u64,
    pub converted: u64,
}

impl Timings {
    /// A run that did not happen (nothing to convert): both times now.
    pub fn now() -> Timings {
        let t = now_unix_nanos();
        Timings { started: t, converted: t }
    }
}

/// What a converted message becomes in the journal.
#[derive(Debug)]
pub enum Outcome {
    Routed(Routed),
    Failed(ConversionError),
}

/// A routed message: everything its journal write stores.
#[derive(Debug)]
pub struct Routed {
    pub bundle: String,
    pub report: String,
    pub deliveries: Vec<NewDelivery>,
    /// What an HL7 v2 Bundle tells the patient index (empty otherwise).
    pub patients: PatientIndexUpdate,
    /// `system|value` of the Bundle's Patients, for message search.
    pub identifiers: Vec<String>,
}

impl Outcome {
    pub fn status(&self) -> MessageStatus {
        match self {
            Outcome::Routed(r) if r.deliveries.is_empty() => MessageStatus::Filtered,
            Outcome::Routed(_) => MessageStatus::Processed,
            Outcome::Failed(_) => MessageStatus::Error,
        }
    }
}

/// Everything one message's conversion needs, moved to a blocking thread.
pub struct Job {
    pub channel: ChannelMapping,
    pub routes: Arc<RouteSet>,
    pub kind: PayloadKind,
    pub channel_name: String,
    pub message_code: Option<String>,
    pub trigger_event: Option<String>,
    /// Stable per source message, so a Task made for it keeps its id when the message is resent.
    pub message_key: String,
    /// CSV chunks: where the chunk comes from (see `super::csv`).
    pub dedup_key: Option<String>,
    pub control_id: Option<String>,
    pub received_at: OffsetDateTime,
    /// A webhook: parsed and looked up, or why not.
    pub webhook: Option<Result<webhook::Prepared, ConversionError>>,
    pub index_country_code: String,
    /// The configuration version the routes come from (recorded in the report's `routing`).
    pub config_version: u64,
}

impl Job {
    /// Convert, route, serialise, with the clock given (the stage passes now; `hearth test` pins it;
    /// `hearth replay` uses the original's time).
    pub fn run_at(self, raw: &[u8], now: OffsetDateTime) -> Outcome {
        self.run_timed(raw, now).0
    }

    /// [`Job::run_at`], saying when the conversion started and ended (the message's trace).
    pub fn run_timed(self, raw: &[u8], now: OffsetDateTime) -> (Outcome, Timings) {
        let started = now_unix_nanos();
        let converted = self.convert(raw, now);
        let timings = Timings { started, converted: now_unix_nanos() };
        let outcome = match converted.and_then(|(bundle, report)| self.route(bundle, report, now)) {
            Ok(routed) => Outcome::Routed(routed),
            Err(e) => Outcome::Failed(e),
        };
        (outcome, timings)
    }

    /// The Bundle and the conversion report, by payload kind.
    fn convert(&self, raw: &[u8], now: OffsetDateTime) -> Result<(Value, Value), ConversionError> {
        match self.kind {
            PayloadKind::Hl7v2 => convert_hl7v2(raw, &self.channel, now),
            PayloadKind::Fhir => Ok((fhir_payload(raw)?, json!({ "source": "fhir", "passed_through": true }))),
            PayloadKind::Webhook => match &self.webhook {
                Some(Ok(prepared)) => Ok(webhook::convert(prepared, now)),
                Some(Err(e)) => Err(e.clone()),
                None => Err(ConversionError::Map("webhook not prepared".into())),
            },
            PayloadKind::Csv => {
                let meta = csv::ChunkMeta {
                    dedup_key: self.dedup_key.as_deref(),
                    control_id: self.control_id.as_deref(),
                    received_at: self.received_at,
                };
                csv::convert_chunk(self.channel.csv.as_ref(), raw, meta).map_err(ConversionError::Map)
            }
        }
    }

    /// Plans the deliveries, adds the routing summary to the report, serialises.
    fn route(&self, bundle: Value, report: Value, now: OffsetDateTime) -> Result<Routed, ConversionError> {
        let ctx = MessageContext {
            channel: &self.channel_name,
            message_code: self.message_code.as_deref(),
            trigger_event: self.trigger_event.as_deref(),
            message_key: &self.message_key,
            now,
        };
        let plan = self.routes.plan(&ctx, &bundle).map_err(|e| ConversionError::Route(e.to_string()))?;
        let identifiers = patients::identifiers(&bundle);
        // Identifiers from every feed that carries Patients; phone numbers and merges from the ADT stream.
        let patients = match self.kind {
            PayloadKind::Hl7v2 => patients::index_update(&bundle, &self.index_country_code),
            PayloadKind::Csv | PayloadKind::Fhir => PatientIndexUpdate {
                identifiers: patients::identifier_entries(&bundle),
                ..PatientIndexUpdate::default()
            },
            PayloadKind::Webhook => PatientIndexUpdate::default(),
        };
        let report = with_routing(report, &plan, self.config_version);
        // Debug builds (every test) also run fhirbolt's strict reading, which release builds leave to the tests:
        // `bundle_to_json` writes straight from the value and accepts only what that reading accepts.
        if cfg!(debug_assertions) {
            hearth_fhir::validate_bundle(&bundle).map_err(|e| ConversionError::InvalidBundle(e.to_string()))?;
        }
        let bundle = hearth_fhir::bundle_to_json(&bundle).map_err(|e| ConversionError::InvalidBundle(e.to_string()))?;
        Ok(Routed { bundle, report: report.to_string(), deliveries: plan.deliveries, patients, identifiers })
    }
}

/// The report with what routing decided (`routing`: matched, unmatched and skipped routes, deliveries).
fn with_routing(mut report: Value, plan: &RoutePlan, config_version: u64) -> Value {
    if let Some(obj) = report.as_object_mut() {
        let skipped: Vec<Value> = plan.skipped.iter().map(|(r, why)| json!({"route": r, "reason": why})).collect();
        obj.insert(
            "routing".into(),
            json!({
                "matched": plan.matched,
                "unmatched": plan.unmatched,
                "skipped": skipped,
                "deliveries": plan.deliveries.len(),
                "config_version": config_version,
            }),
        );
    }
    report
}

/// Parse and map one HL7 v2 message: the Bundle and the conversion report.
fn convert_hl7v2(raw: &[u8], channel: &ChannelMapping, now: OffsetDateTime) -> Result<(Value, Value), ConversionError> {
    let msg = hearth_hl7v2::parse(raw, &channel.parse).map_err(|e| ConversionError::Parse(e.to_string()))?;
    let conversion = channel.mapper.map(&msg, now).map_err(|e| ConversionError::Map(e.to_string()))?;
    let report = serde_json::to_value(&conversion.report).map_err(|e| ConversionError::Map(format!("report: {e}")))?;
    Ok((conversion.bundle, report))
}

/// A FHIR payload (from an AMQP source): a Bundle as it is, a single resource wrapped in a collection Bundle.
fn fhir_payload(raw: &[u8]) -> Result<Value, ConversionError> {
    let bad = |m: String| ConversionError::Map(m);
    let text = std::str::from_utf8(raw).map_err(|e| bad(format!("FHIR payload is not UTF-8: {e}")))?;
    let value: Value = serde_json::from_str(text).map_err(|e| bad(format!("FHIR payload is not JSON: {e}")))?;
    match value.get("resourceType").and_then(Value::as_str) {
        Some("Bundle") => hearth_fhir::bundle_from_json(text).map_err(|e| bad(format!("FHIR payload: {e}"))),
        Some(_) => {
            let resource = hearth_fhir::resource_from_json(text).map_err(|e| bad(format!("FHIR payload: {e}")))?;
            Ok(json!({ "resourceType": "Bundle", "type": "collection", "entry": [{ "resource": resource }] }))
        }
        None => Err(bad("FHIR payload has no resourceType".into())),
    }
}
