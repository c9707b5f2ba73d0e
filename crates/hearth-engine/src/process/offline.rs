//! The processing stage's conversion without the journal: parse, map and route one message exactly as
//! [`super::Stage`] does (the same [`Job`]), for `hearth test` and `hearth replay`. No IO: the channels'
//! profiles and vocabulary files are read once by [`Offline::from_plan`]; no secret is read, no TLS file opened,
//! nothing connects. The clock is an argument, so a test can pin it.
//!
//! Webhooks: the stage looks the caller up in the patient index (the journal) before mapping. Offline the
//! lookup's answer is given by the caller ([`Input::webhook_link`]); without one the event maps unlinked
//! (`"patient": "unknown"`), as `hearth convert --from webhook` does.

use std::collections::HashMap;
use std::sync::Arc;

use hearth_config::Plan;
use hearth_core::{MessageMeta, PayloadKind};
use hearth_route::RouteSet;
use hearth_sources::SourcePlan;
use hearth_webhooks::PatientLink;
use time::OffsetDateTime;

use super::job::{Job, Outcome};
use super::setup::{self, ChannelMapping, SetupError};
use super::webhook;

/// What the journal holds about one message, and the time to convert it at.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub channel: &'a str,
    pub kind: PayloadKind,
    pub raw: &'a [u8],
    pub meta: &'a MessageMeta,
    pub dedup_key: Option<&'a str>,
    /// The journal id, for the message key of a message without a dedup key.
    pub journal_id: Option<i64>,
    pub received_at: OffsetDateTime,
    /// The conversion's clock (`Bundle.timestamp`, a Task's `authoredOn`).
    pub now: OffsetDateTime,
    /// A webhook's patient-index answer; `None`: unlinked.
    pub webhook_link: Option<&'a PatientLink>,
}

/// A configuration's conversion and routing, ready to run messages through.
#[derive(Debug, Clone)]
pub struct Offline {
    routes: Arc<RouteSet>,
    channels: HashMap<String, ChannelMapping>,
    fallback: ChannelMapping,
    index_country_code: String,
}

impl Offline {
    /// The plan's channels' mappings and its routes. Reads CSV and webhook profile files and vocabulary
    /// overrides; reads no secret and no TLS file (a test or a replay needs neither).
    pub fn from_plan(plan: &Plan) -> Result<Offline, SetupError> {
        let mut loaded = Vec::new();
        for ch in &plan.channels {
            let setup = |reason: String| SetupError { channel: ch.name.clone(), reason };
            let csv = ch.source.csv_profile().map(|p| p.converter()).transpose().map_err(setup)?;
            let profile = match &ch.source {
                SourcePlan::Webhook(w) => Some(w.load_profile().map_err(setup)?),
                _ => None,
            };
            loaded.push((ch, csv, profile));
        }
        let (channels, index_country_code) =
            setup::mappings(loaded.iter().map(|(ch, csv, profile)| (*ch, csv.clone(), profile.as_ref())))?;
        Ok(Offline {
            routes: Arc::clone(&plan.routes),
            channels,
            fallback: ChannelMapping::default(),
            index_country_code,
        })
    }

    /// Whether the plan has a channel of this name.
    pub fn has_channel(&self, name: &str) -> bool {
        self.channels.contains_key(name)
    }

    /// Converts and routes one message: what the stage would store (Bundle, report, deliveries), or why not.
    pub fn run(&self, input: &Input<'_>) -> Outcome {
        let channel = self.channels.get(input.channel).unwrap_or(&self.fallback).clone();
        let webhook = (input.kind == PayloadKind::Webhook).then(|| {
            let link = input.webhook_link.cloned().unwrap_or(PatientLink::Unknown);
            webhook::parse(channel.webhook.as_ref(), input.raw, link)
                .map_err(|e| super::ConversionError::Map(e.to_string()))
        });
        let key = input.journal_id.map(|id| format!("journal:{id}"));
        let job = Job {
            channel,
            routes: Arc::clone(&self.routes),
            kind: input.kind,
            channel_name: input.channel.to_owned(),
            message_code: input.meta.message_code.clone(),
            trigger_event: input.meta.trigger_event.clone(),
            message_key: input.dedup_key.map(str::to_owned).or(key).unwrap_or_else(|| "offline".to_owned()),
            dedup_key: input.dedup_key.map(str::to_owned),
            control_id: input.meta.control_id.clone(),
            received_at: input.received_at,
            webhook,
            index_country_code: self.index_country_code.clone(),
            // Not a running engine's configuration: no version to record.
            config_version: 0,
        };
        job.run_at(input.raw, input.now)
    }
}
