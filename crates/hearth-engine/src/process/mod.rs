//! The processing stage: turns journaled `received` messages into FHIR and routes them.
//!
//! It claims the backlog from the journal in pages (`Node::claim_received`, never the whole backlog: with
//! several nodes on one journal each message is claimed by one of them), re-parses each
//! message's raw bytes, converts it with the channel's [`Hl7v2Mapper`] (or takes a FHIR payload as it is), plans
//! its deliveries with the route rules, and stores the Bundle, the conversion report and the deliveries in one
//! write under the claim (`Node::set_outcome`): status `processed` (deliveries planned), `filtered` (no route
//! wanted it), or `error` with the reason. A write refused because the claim was lost (this node stalled past
//! its lease and another node took the message over) is dropped: the message is the other node's now.
//! It sleeps on the journal's "appended" signal (plus a slow poll as a safety net), so a new message is converted right after its commit. After a restart it
//! starts again from the first `received` message. On shutdown it keeps converting until the backlog is empty;
//! the engine bounds that with the shutdown timeout, and what is left stays `received` for the next start.

mod csv;
mod job;
pub mod offline;
mod patients;
mod setup;
mod trace;
mod webhook;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hearth_core::MessageStatus;
use hearth_core::PayloadKind;
use hearth_core::events::{MessageConverted, Metric};
use hearth_route::RouteSet;
use hearth_sources::Channel;
use hearth_store::{ConversionOutcome, Journal, MessageSummary, Node, StoreError, StoredMessage};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

pub use job::{ConversionError, Outcome, Routed};
use job::{Job, Timings};
pub use setup::{ChannelMapping, SetupError, map_options};

use crate::reload::Live;

/// Every channel's mapping (what a reload rebuilds), without the index country code.
pub(crate) fn setup_channel_mappings(
    channels: &[Channel],
) -> Result<(HashMap<String, ChannelMapping>, String), SetupError> {
    setup::channel_mappings(channels)
}

/// Messages read from the journal per page.
const PAGE: u32 = 64;
/// Safety-net poll when no append signal arrives (e.g. another process appended).
const POLL: Duration = Duration::from_secs(2);
/// Pause after a journal error before trying again.
const RETRY: Duration = Duration::from_secs(1);

/// The processing stage for a plan's channels.
#[derive(Debug, Clone)]
pub struct Stage {
    journal: Journal,
    /// Claims and conversions go through this node.
    node: Node,
    /// Messages converted at once (the machine's cores).
    parallelism: usize,
    /// The route rules and channel mappings, replaced by a configuration reload.
    live: Arc<Live>,
    /// For messages of a channel no longer configured (the journal outlives configuration changes).
    fallback: ChannelMapping,
    /// The country code the patient index reads national numbers with.
    index_country_code: String,
}

impl Stage {
    /// The stage for these channels (started or not: the stage needs their plans and loaded profiles), with
    /// fixed rules (configuration version 1).
    pub fn new(node: Node, channels: &[Channel], routes: Arc<RouteSet>) -> Result<Stage, SetupError> {
        let (mappings, _) = setup::channel_mappings(channels)?;
        let version = crate::reload::Version {
            number: 1,
            digest: None,
            file: None,
            loaded_at: time::OffsetDateTime::now_utc(),
            by: "start".into(),
        };
        Self::with_live(node, channels, Live::new(routes, mappings, version))
    }

    /// The stage reading its rules from `live` (which a reload replaces).
    pub fn with_live(node: Node, channels: &[Channel], live: Arc<Live>) -> Result<Stage, SetupError> {
        let journal = node.journal().clone();
        let (_, index_country_code) = setup::channel_mappings(channels)?;
        let parallelism = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Ok(Stage { journal, node, parallelism, live, fallback: ChannelMapping::default(), index_country_code })
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

    /// Claims and converts `received` messages, page by page, until none is left to claim. `false` if the
    /// journal failed.
    async fn drain(&self) -> bool {
        loop {
            let page = match self.node.claim_received(PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "processing stage: cannot read the backlog");
                    return false;
                }
            };
            if page.is_empty() {
                return true;
            }
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
        let Some(raw) = raw else {
            return Prepared { summary, outcome: Outcome::Failed(ConversionError::Pruned), timings: Timings::now() };
        };
        // One generation of the rules for the whole message, even if a reload lands meanwhile.
        let rules = self.live.rules();
        let channel = rules.channels.get(&summary.channel).unwrap_or(&self.fallback).clone();
        let webhook = self.prepare_webhook(&summary, &channel, &raw).await;
        let job = Job {
            channel,
            routes: Arc::clone(&rules.routes),
            config_version: rules.version.number,
            kind: summary.kind,
            channel_name: summary.channel.clone(),
            message_code: summary.meta.message_code.clone(),
            trigger_event: summary.meta.trigger_event.clone(),
            message_key: summary.dedup_key.clone().unwrap_or_else(|| format!("journal:{}", summary.id)),
            dedup_key: summary.dedup_key.clone(),
            control_id: summary.meta.control_id.clone(),
            received_at: summary.received_at,
            webhook,
            index_country_code: self.index_country_code.clone(),
        };
        // Parsing, mapping and routing are CPU work on input of any size: keep them off the async workers.
        let started = Instant::now();
        let run = tokio::task::spawn_blocking(move || job.run_timed(&raw, OffsetDateTime::now_utc())).await;
        let (outcome, timings) =
            run.unwrap_or_else(|e| (Outcome::Failed(ConversionError::Task(e.to_string())), Timings::now()));
        MessageConverted { channel: &summary.channel, status: outcome.status(), duration: started.elapsed() }.emit();
        Prepared { summary, outcome, timings }
    }

    /// A webhook's parse and patient lookup (async: the index is in the journal). A failed lookup keeps the
    /// message as error (reprocessable) rather than mapping it unlinked: "unknown" would be a guess.
    async fn prepare_webhook(
        &self,
        summary: &MessageSummary,
        channel: &ChannelMapping,
        raw: &[u8],
    ) -> Option<Result<webhook::Prepared, ConversionError>> {
        if summary.kind != PayloadKind::Webhook {
            return None;
        }
        let prepared = webhook::prepare(&self.journal, channel.webhook.as_ref(), raw).await;
        Some(prepared.map_err(|e| ConversionError::Map(e.to_string())))
    }

    /// Stores a prepared outcome: the conversion, the report and the deliveries in one journal write.
    async fn commit(&self, prepared: Prepared) -> Result<(), hearth_store::StoreError> {
        let Prepared { summary, outcome, timings } = prepared;
        let id = summary.id;
        let status = outcome.status();
        // Ended once the outcome and its outbox rows are stored.
        let route_span = trace::map_and_start_route(&summary, timings, &outcome);
        match outcome {
            Outcome::Routed(Routed { bundle, report, deliveries, patients, identifiers }) => {
                let reason = deliveries.is_empty().then_some("no route matched");
                for d in &deliveries {
                    metrics::counter!(Metric::DeliveriesPlannedTotal.name(), "destination" => d.destination.clone())
                        .increment(1);
                }
                // Queued together (joined, not one after the other) so the outcome keeps its place in journal order.
                let index =
                    async { if patients.is_empty() { Ok(0) } else { self.journal.index_patients(patients).await } };
                // The Patient identifiers go into the search index in the same transaction as the conversion.
                let outcome = self.node.set_outcome(
                    id,
                    ConversionOutcome {
                        status,
                        bundle: Some(bundle),
                        report: Some(report),
                        reason: reason.map(str::to_owned),
                        deliveries,
                        patient_identifiers: identifiers,
                    },
                );
                let (indexed, stored) = tokio::join!(index, outcome);
                drop(route_span);
                indexed.and(claimed(stored))
            }
            Outcome::Failed(e) => {
                // The reason stays in the journal only: a parser error may quote up to 40 characters of input,
                // and input is patient data.
                tracing::info!(channel = %summary.channel, journal_id = id, class = ?e.class(), "message kept as error: not converted");
                let outcome = ConversionOutcome {
                    status: MessageStatus::Error,
                    bundle: None,
                    report: None,
                    reason: Some(e.to_string()),
                    deliveries: Vec::new(),
                    patient_identifiers: Vec::new(),
                };
                let stored = claimed(self.node.set_outcome(id, outcome).await);
                drop(route_span);
                stored
            }
        }
    }
}

/// A conversion refused because this node's claim was lost is not a failure: another node has the message now
/// (docs/specs/guarantees.md, "Several nodes"), and this result is dropped.
fn claimed(stored: Result<(), StoreError>) -> Result<(), StoreError> {
    match stored {
        Err(StoreError::ClaimLost(id)) => {
            tracing::info!(journal_id = id, "conversion dropped: another node took the message over");
            Ok(())
        }
        other => other,
    }
}

/// A converted message waiting for its journal write.
struct Prepared {
    summary: MessageSummary,
    outcome: Outcome,
    timings: Timings,
}
