//! The processing stage: turns journaled `received` messages into FHIR.
//!
//! It reads the backlog from the journal in pages (`next_received`, never the whole backlog), re-parses each
//! message's raw bytes, converts it with the channel's [`Hl7v2Mapper`], and stores the Bundle and the conversion
//! report with status `mapped`, or status `error` with the reason. It sleeps on the journal's "appended" signal
//! (plus a slow poll as a safety net), so a new message is converted right after its commit. After a restart it
//! starts again from the first `received` message. On shutdown it keeps converting until the backlog is empty;
//! the engine bounds that with the shutdown timeout, and what is left stays `received` for the next start.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hearth_config::{BundleKind, MappingPlan, Plan, SourcePlan};
use hearth_core::events::MessageConverted;
use hearth_core::{MessageStatus, PayloadKind};
use hearth_hl7v2::ParseOptions;
use hearth_map::hl7v2::{BundleType, Hl7v2Mapper, MapOptions};
use hearth_map::vocab::Vocabulary;
use hearth_store::{Journal, StoredMessage};
use tokio_util::sync::CancellationToken;

/// Messages read from the journal per page.
const PAGE: u32 = 64;
/// Safety-net poll when no append signal arrives (e.g. another process appended).
const POLL: Duration = Duration::from_secs(5);
/// Pause after a journal error before trying again.
const RETRY: Duration = Duration::from_secs(1);

/// How one channel's messages are read and converted.
#[derive(Debug, Clone)]
pub struct ChannelMapping {
    pub parse: ParseOptions,
    pub mapper: Arc<Hl7v2Mapper>,
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
    channels: Arc<HashMap<String, ChannelMapping>>,
    /// For messages of a channel no longer configured (the journal outlives configuration changes).
    fallback: ChannelMapping,
}

impl Stage {
    pub fn new(journal: Journal, plan: &Plan) -> Result<Stage, SetupError> {
        let mut channels = HashMap::new();
        for ch in &plan.channels {
            match &ch.source {
                SourcePlan::Mllp(m) => {
                    let opts =
                        map_options(&m.mapping).map_err(|reason| SetupError { channel: ch.name.clone(), reason })?;
                    let parse = ParseOptions {
                        default_charset: m.default_charset,
                        ..ParseOptions::default()
                    };
                    channels
                        .insert(ch.name.clone(), ChannelMapping { parse, mapper: Arc::new(Hl7v2Mapper::new(opts)) });
                }
            }
        }
        let fallback = ChannelMapping { parse: ParseOptions::default(), mapper: Arc::new(Hl7v2Mapper::default()) };
        Ok(Stage { journal, channels: Arc::new(channels), fallback })
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
            for msg in page {
                after = msg.summary.id;
                if let Err(e) = self.process(msg).await {
                    tracing::warn!(error = %e, "processing stage: cannot store a conversion");
                    return false;
                }
            }
        }
    }

    async fn process(&self, msg: StoredMessage) -> Result<(), hearth_store::StoreError> {
        let StoredMessage { summary, raw, .. } = msg;
        let id = summary.id;
        let channel = self.channels.get(&summary.channel).unwrap_or(&self.fallback).clone();
        let kind = summary.kind;
        let Some(raw) = raw else {
            return self.journal.set_conversion(id, MessageStatus::Error, None, None, Some("raw bytes pruned")).await;
        };
        if kind != PayloadKind::Hl7v2 {
            let reason = format!("no mapping for {} payloads yet", kind.as_str());
            return self.journal.set_conversion(id, MessageStatus::Error, None, None, Some(&reason)).await;
        }
        // Parsing and mapping are CPU work on input of any size: keep them off the async workers.
        let started = Instant::now();
        let outcome = tokio::task::spawn_blocking(move || convert(&raw, &channel)).await;
        let outcome = outcome.unwrap_or_else(|e| Outcome::Failed(format!("conversion task failed: {e}")));
        let status = match outcome {
            Outcome::Mapped { .. } => MessageStatus::Mapped,
            Outcome::Failed(_) => MessageStatus::Error,
        };
        MessageConverted { channel: &summary.channel, status, duration: started.elapsed() }.emit();
        match outcome {
            Outcome::Mapped { bundle, report } => {
                self.journal.set_conversion(id, MessageStatus::Mapped, Some(&bundle), Some(&report), None).await
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

enum Outcome {
    Mapped { bundle: String, report: String },
    Failed(String),
}

/// Parse, map, serialise. Pure apart from the clock.
fn convert(raw: &[u8], channel: &ChannelMapping) -> Outcome {
    let msg = match hearth_hl7v2::parse(raw, &channel.parse) {
        Ok(msg) => msg,
        Err(e) => return Outcome::Failed(format!("parse: {e}")),
    };
    let conversion = match channel.mapper.map(&msg, time::OffsetDateTime::now_utc()) {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let bundle = match hearth_fhir::bundle_to_json(&conversion.bundle) {
        Ok(b) => b,
        Err(e) => return Outcome::Failed(format!("the mapping produced an invalid Bundle: {e}")),
    };
    match serde_json::to_string(&conversion.report) {
        Ok(report) => Outcome::Mapped { bundle, report },
        Err(e) => Outcome::Failed(format!("report: {e}")),
    }
}
