//! The processing stage: turns journaled `received` messages into FHIR and routes them.
//!
//! It reads the backlog from the journal in pages (`next_received`, never the whole backlog), re-parses each
//! message's raw bytes, converts it with the channel's [`Hl7v2Mapper`] (or takes a FHIR payload as it is), plans
//! its deliveries with the route rules, and stores the Bundle, the conversion report and the deliveries in one
//! write: status `processed` (deliveries planned), `filtered` (no route wanted it), or `error` with the reason. It sleeps on the journal's "appended" signal
//! (plus a slow poll as a safety net), so a new message is converted right after its commit. After a restart it
//! starts again from the first `received` message. On shutdown it keeps converting until the backlog is empty;
//! the engine bounds that with the shutdown timeout, and what is left stays `received` for the next start.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hearth_config::{BundleKind, MappingPlan, Plan};
use hearth_core::events::{MessageConverted, Metric};
use hearth_core::{MessageStatus, PayloadKind};
use hearth_hl7v2::ParseOptions;
use hearth_map::hl7v2::{BundleType, Hl7v2Mapper, MapOptions};
use hearth_map::vocab::Vocabulary;
use hearth_route::{MessageContext, RouteSet};
use hearth_store::{Journal, NewDelivery, StoredMessage};
use tokio_util::sync::CancellationToken;

/// Messages read from the journal per page.
const PAGE: u32 = 64;
/// Safety-net poll when no append signal arrives (e.g. another process appended).
const POLL: Duration = Duration::from_secs(2);
/// Pause after a journal error before trying again.
const RETRY: Duration = Duration::from_secs(1);

/// How one channel's messages are read and converted.
#[derive(Debug, Clone)]
pub struct ChannelMapping {
    pub parse: ParseOptions,
    pub mapper: Arc<Hl7v2Mapper>,
    /// CSV channels: the converter for the channel's profile.
    pub csv: Option<Arc<hearth_csv::Converter>>,
}

/// Why the stage could not be set up (a bad vocabulary file, an unknown time zone).
#[derive(Debug, thiserror::Error)]
#[error("channels.{channel}.mapping: {reason}")]
pub struct SetupError {
    pub channel: String,
    pub reason: String,
}

/// Map options from a channel's validated mapping plan. Reads the vocabulary override files (the only IO).
pub fn map_options(plan: &MappingPlan) -> Result<MapOptions, String> {
    let mut opts = MapOptions {
        bundle_type: match plan.bundle_type {
            BundleKind::Transaction => BundleType::Transaction,
            BundleKind::Message => BundleType::Message,
            BundleKind::Collection => BundleType::Collection,
        },
        ..MapOptions::default()
    };
    if let Some(tz) = &plan.facility_timezone {
        opts = opts.with_timezone(tz).map_err(|e| e.to_string())?;
    }
    if let Some(path) = &plan.vocabulary {
        let vocab = Vocabulary::load_overrides(path, &Vocabulary::builtin()).map_err(|e| e.to_string())?;
        opts.vocabulary = Arc::new(vocab);
    }
    Ok(opts)
}

/// The processing stage for a plan's channels.
#[derive(Debug, Clone)]
pub struct Stage {
    journal: Journal,
    /// Messages converted at once (the machine's cores).
    parallelism: usize,
    routes: Arc<RouteSet>,
    channels: Arc<HashMap<String, ChannelMapping>>,
    /// For messages of a channel no longer configured (the journal outlives configuration changes).
    fallback: ChannelMapping,
    /// Webhook channels' profiles, and the patient index's country code.
    webhooks: Arc<crate::webhook::Webhooks>,
}

impl Stage {
    pub fn new(journal: Journal, plan: &Plan) -> Result<Stage, SetupError> {
        let mut channels = HashMap::new();
        for ch in &plan.channels {
            let (_, default_charset, mapping) = ch.source.conversion();
            let opts = map_options(mapping).map_err(|reason| SetupError { channel: ch.name.clone(), reason })?;
            let parse = ParseOptions { default_charset, ..ParseOptions::default() };
            let csv = match ch.source.csv_profile() {
                Some(p) => Some(Arc::new(hearth_csv::Converter::new(
                    &crate::csv::load_profile(p).map_err(|reason| SetupError { channel: ch.name.clone(), reason })?,
                ))),
                None => None,
            };
            channels.insert(ch.name.clone(), ChannelMapping { parse, mapper: Arc::new(Hl7v2Mapper::new(opts)), csv });
        }
        let fallback =
            ChannelMapping { parse: ParseOptions::default(), mapper: Arc::new(Hl7v2Mapper::default()), csv: None };
        let parallelism = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let webhooks =
            crate::webhook::Webhooks::new(plan).map_err(|(channel, reason)| SetupError { channel, reason })?;
        Ok(Stage {
            journal,
            parallelism,
            routes: Arc::clone(&plan.routes),
            channels: Arc::new(channels),
            fallback,
            webhooks: Arc::new(webhooks),
        })
    }

    /// Runs until `shutdown` is cancelled and the backlog is empty.
    pub async fn run(self, shutdown: CancellationToken) {
        let appended = self.journal.appended();
        loop {
            let drained = self.drain().await;
            if shutdown.is_cancelled() && drained {
                return;
            }
            if !drained {
                // A journal error: wait a little, whatever the signals say.
                tokio::select! {
                    () = tokio::time::sleep(RETRY) => {}
                    () = shutdown.cancelled(), if !shutdown.is_cancelled() => {}
                }
                if shutdown.is_cancelled() {
                    // The journal is failing and we are stopping: leave the rest for the next start.
                    return;
                }
                continue;
            }
            tokio::select! {
                () = appended.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                () = shutdown.cancelled() => {}
            }
        }
    }

    /// Converts every `received` message, page by page. `false` if the journal failed.
    async fn drain(&self) -> bool {
        let mut after = 0;
        loop {
            let page = match self.journal.next_received(after, PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "processing stage: cannot read the backlog");
                    return false;
                }
            };
            if page.is_empty() {
                return true;
            }
            after = page.last().map_or(after, |m| m.summary.id);
            // Convert the page on every core, results kept in journal order; then queue the writes in that same
            // order without waiting for each commit (they group-commit together). Journal order matters: it is
            // the order of the outbox rows, hence of ordered lanes.
            // A webhook looks its caller up in the patient index, which the messages before it feed: everything
            // before a webhook is committed before the webhook is prepared.
            let mut run = Vec::new();
            for msg in page {
                let after_run = msg.summary.kind == PayloadKind::Webhook;
                run.push(msg);
                if after_run && !self.prepare_and_commit(std::mem::take(&mut run)).await {
                    return false;
                }
            }
            if !self.prepare_and_commit(run).await {
                return false;
            }
        }
    }

    /// Prepares `msgs` concurrently (results in journal order), then queues their writes in that order. `false`
    /// if the journal failed.
    async fn prepare_and_commit(&self, msgs: Vec<StoredMessage>) -> bool {
        if msgs.is_empty() {
            return true;
        }
        // A webhook in the run is last (see `drain`): the ones before it are committed before its lookup.
        let (head, last) = match msgs.last().map(|m| m.summary.kind) {
            Some(PayloadKind::Webhook) if msgs.len() > 1 => {
                let mut msgs = msgs;
                let last = msgs.pop();
                (msgs, last)
            }
            _ => (msgs, None),
        };
        for part in [head, last.into_iter().collect()] {
            let prepared: Vec<Prepared> = futures::stream::iter(part.into_iter().map(|m| self.prepare(m)))
                .buffered(self.parallelism)
                .collect()
                .await;
            let written = futures::future::join_all(prepared.into_iter().map(|p| self.commit(p))).await;
            if let Some(e) = written.into_iter().find_map(Result::err) {
                tracing::warn!(error = %e, "processing stage: cannot store a conversion");
                return false;
            }
        }
        true
    }

    /// Converts and routes one message (CPU work on a blocking thread); writes nothing.
    async fn prepare(&self, msg: StoredMessage) -> Prepared {
        let StoredMessage { summary, raw, .. } = msg;
        let id = summary.id;
        let Some(raw) = raw else {
            return Prepared { summary, outcome: Outcome::Failed("raw bytes pruned".into()) };
        };
        let job = Job {
            channel: self.channels.get(&summary.channel).unwrap_or(&self.fallback).clone(),
            routes: Arc::clone(&self.routes),
            kind: summary.kind,
            channel_name: summary.channel.clone(),
            message_code: summary.meta.message_code.clone(),
            trigger_event: summary.meta.trigger_event.clone(),
            // Stable per source message, so a Task made for it keeps its id when the message is resent.
            message_key: summary.dedup_key.clone().unwrap_or_else(|| format!("journal:{id}")),
            dedup_key: summary.dedup_key.clone(),
            control_id: summary.meta.control_id.clone(),
            received_at: summary.received_at,
            webhook: self.prepare_webhook(&summary, &raw).await,
            index_country_code: self.webhooks.index_country_code.clone(),
        };
        // Parsing, mapping and routing are CPU work on input of any size: keep them off the async workers.
        let started = Instant::now();
        let outcome = tokio::task::spawn_blocking(move || job.run(&raw)).await;
        let outcome = outcome.unwrap_or_else(|e| Outcome::Failed(format!("conversion task failed: {e}")));
        let status = outcome.status();
        MessageConverted { channel: &summary.channel, status, duration: started.elapsed() }.emit();
        Prepared { summary, outcome }
    }

    /// A webhook's parse and patient lookup (async: the index is in the journal). A failed lookup keeps the
    /// message as error (reprocessable) rather than mapping it unlinked: "unknown" would be a guess.
    async fn prepare_webhook(
        &self,
        summary: &hearth_store::MessageSummary,
        raw: &[u8],
    ) -> Option<Result<crate::webhook::Prepared, String>> {
        if summary.kind != PayloadKind::Webhook {
            return None;
        }
        let mapping = self.webhooks.channels.get(&summary.channel);
        Some(
            crate::webhook::prepare(&self.journal, mapping, raw)
                .await
                .unwrap_or_else(|e| Err(format!("patient index: {e}"))),
        )
    }

    /// Stores a prepared outcome: the conversion, the report and the deliveries in one journal write.
    async fn commit(&self, prepared: Prepared) -> Result<(), hearth_store::StoreError> {
        let Prepared { summary, outcome } = prepared;
        let id = summary.id;
        let status = outcome.status();
        match outcome {
            Outcome::Routed { bundle, report, deliveries, patients, identifiers } => {
                let reason = deliveries.is_empty().then_some("no route matched");
                for d in &deliveries {
                    metrics::counter!(Metric::DeliveriesPlannedTotal.name(), "destination" => d.destination.clone())
                        .increment(1);
                }
                // Queued together (joined, not one after the other) so the outcome keeps its place in journal order.
                let index =
                    async { if patients.is_empty() { Ok(0) } else { self.journal.index_patients(patients).await } };
                // The Patient identifiers go into the search index in the same transaction as the conversion.
                let outcome = self.journal.set_outcome_indexed(
                    id,
                    hearth_store::ConversionOutcome {
                        status,
                        bundle: Some(bundle),
                        report: Some(report),
                        reason: reason.map(str::to_owned),
                        deliveries,
                        patient_identifiers: identifiers,
                    },
                );
                let (indexed, stored) = tokio::join!(index, outcome);
                indexed.and(stored)
            }
            Outcome::Failed(reason) => {
                // The reason stays in the journal only: a parser error may quote up to 40 characters of input,
                // and input is patient data.
                tracing::info!(channel = %summary.channel, journal_id = id, "message kept as error: not converted");
                self.journal.set_conversion(id, MessageStatus::Error, None, None, Some(&reason)).await
            }
        }
    }
}

/// A converted message waiting for its journal write.
struct Prepared {
    summary: hearth_store::MessageSummary,
    outcome: Outcome,
}

impl Outcome {
    fn status(&self) -> MessageStatus {
        match self {
            Outcome::Routed { deliveries, .. } if deliveries.is_empty() => MessageStatus::Filtered,
            Outcome::Routed { .. } => MessageStatus::Processed,
            Outcome::Failed(_) => MessageStatus::Error,
        }
    }
}

enum Outcome {
    /// `patients`: what an HL7 v2 Bundle tells the patient index (empty otherwise).
    /// `identifiers`: `system|value` of the Bundle's Patients, for message search.
    Routed {
        bundle: String,
        report: String,
        deliveries: Vec<NewDelivery>,
        patients: hearth_store::PatientIndexUpdate,
        identifiers: Vec<String>,
    },
    Failed(String),
}

/// Everything one message's conversion needs, moved to a blocking thread.
struct Job {
    channel: ChannelMapping,
    routes: Arc<RouteSet>,
    kind: PayloadKind,
    channel_name: String,
    message_code: Option<String>,
    trigger_event: Option<String>,
    message_key: String,
    /// CSV chunks: where the chunk comes from (see `crate::csv`).
    dedup_key: Option<String>,
    control_id: Option<String>,
    received_at: time::OffsetDateTime,
    /// `Some` for a webhook: parsed and looked up, or why not.
    webhook: Option<Result<crate::webhook::Prepared, String>>,
    index_country_code: String,
}

impl Job {
    /// Convert, route, serialise. Pure apart from the clock.
    fn run(self, raw: &[u8]) -> Outcome {
        let now = time::OffsetDateTime::now_utc();
        let (bundle, report) = match self.kind {
            PayloadKind::Hl7v2 => match convert_hl7v2(raw, &self.channel, now) {
                Ok(c) => c,
                Err(reason) => return Outcome::Failed(reason),
            },
            PayloadKind::Fhir => match fhir_payload(raw) {
                Ok(b) => (b, serde_json::json!({ "source": "fhir", "passed_through": true })),
                Err(reason) => return Outcome::Failed(reason),
            },
            PayloadKind::Webhook => match &self.webhook {
                Some(Ok(prepared)) => crate::webhook::convert(prepared, now),
                Some(Err(reason)) => return Outcome::Failed(reason.clone()),
                None => return Outcome::Failed("webhook not prepared".into()),
            },
            PayloadKind::Csv => {
                let meta = crate::csv::ChunkMeta {
                    dedup_key: self.dedup_key.as_deref(),
                    control_id: self.control_id.as_deref(),
                    received_at: self.received_at,
                };
                match crate::csv::convert_chunk(self.channel.csv.as_ref(), raw, meta) {
                    Ok(c) => c,
                    Err(reason) => return Outcome::Failed(reason),
                }
            }
        };
        let identifiers = crate::ops::patient_identifiers(&bundle);
        let patients = match self.kind {
            PayloadKind::Hl7v2 => crate::webhook::index_update(&bundle, &self.index_country_code),
            _ => hearth_store::PatientIndexUpdate::default(),
        };
        let ctx = MessageContext {
            channel: &self.channel_name,
            message_code: self.message_code.as_deref(),
            trigger_event: self.trigger_event.as_deref(),
            message_key: &self.message_key,
            now,
        };
        let plan = match self.routes.plan(&ctx, &bundle) {
            Ok(plan) => plan,
            Err(e) => return Outcome::Failed(format!("routing: {e}")),
        };
        let mut report = report;
        if let Some(obj) = report.as_object_mut() {
            obj.insert(
                "routing".into(),
                serde_json::json!({
                    "matched": plan.matched,
                    "unmatched": plan.unmatched,
                    "skipped": plan.skipped.iter().map(|(r, why)| serde_json::json!({"route": r, "reason": why})).collect::<Vec<_>>(),
                    "deliveries": plan.deliveries.len(),
                }),
            );
        }
        let bundle = match hearth_fhir::bundle_to_json(&bundle) {
            Ok(b) => b,
            Err(e) => return Outcome::Failed(format!("the mapping produced an invalid Bundle: {e}")),
        };
        let report = match serde_json::to_string(&report) {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(format!("report: {e}")),
        };
        let deliveries = plan
            .deliveries
            .into_iter()
            .map(|d| NewDelivery {
                destination: d.destination,
                route: d.route,
                routing_key: d.routing_key,
                resource_type: d.resource_type,
                content_id: d.content_id,
                lane: d.lane,
                body: d.body,
            })
            .collect();
        Outcome::Routed { bundle, report, deliveries, patients, identifiers }
    }
}

/// Parse and map one HL7 v2 message: the Bundle and the conversion report.
fn convert_hl7v2(
    raw: &[u8],
    channel: &ChannelMapping,
    now: time::OffsetDateTime,
) -> Result<(serde_json::Value, serde_json::Value), String> {
    let msg = hearth_hl7v2::parse(raw, &channel.parse).map_err(|e| format!("parse: {e}"))?;
    let conversion = channel.mapper.map(&msg, now).map_err(|e| e.to_string())?;
    let report = serde_json::to_value(&conversion.report).map_err(|e| format!("report: {e}"))?;
    Ok((conversion.bundle, report))
}

/// A FHIR payload (from an AMQP source): a Bundle as it is, a single resource wrapped in a collection Bundle.
fn fhir_payload(raw: &[u8]) -> Result<serde_json::Value, String> {
    let text = std::str::from_utf8(raw).map_err(|e| format!("FHIR payload is not UTF-8: {e}"))?;
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("FHIR payload is not JSON: {e}"))?;
    match value.get("resourceType").and_then(serde_json::Value::as_str) {
        Some("Bundle") => hearth_fhir::bundle_from_json(text).map_err(|e| format!("FHIR payload: {e}")),
        Some(_) => {
            let resource = hearth_fhir::resource_from_json(text).map_err(|e| format!("FHIR payload: {e}"))?;
            Ok(
                serde_json::json!({ "resourceType": "Bundle", "type": "collection", "entry": [{ "resource": resource }] }),
            )
        }
        None => Err("FHIR payload has no resourceType".into()),
    }
}
