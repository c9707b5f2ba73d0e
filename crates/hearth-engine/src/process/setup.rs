//! What the processing stage needs to convert one channel's messages, built once at start-up from the channel's
//! plan and the resources its source loaded (CSV converter, webhook profile): the only IO is reading vocabulary
//! override files.

use std::collections::HashMap;
use std::sync::Arc;

use hearth_hl7v2::ParseOptions;
use hearth_map::hl7v2::{BundleType, Hl7v2Mapper, MapOptions};
use hearth_map::vocab::Vocabulary;
use hearth_sources::mapping::{BundleKind, MappingPlan};
use hearth_sources::{Channel, ChannelPlan};
use hearth_webhooks::Profile;

use super::webhook::WebhookMapping;

/// How one channel's messages are read and converted.
#[derive(Debug, Clone)]
pub struct ChannelMapping {
    pub parse: ParseOptions,
    pub mapper: Arc<Hl7v2Mapper>,
    /// CSV channels: the converter for the channel's profile.
    pub csv: Option<Arc<hearth_csv::Converter>>,
    /// Webhook channels: the profile and mapping settings.
    pub webhook: Option<WebhookMapping>,
}

impl Default for ChannelMapping {
    /// For messages of a channel no longer configured (the journal outlives configuration changes).
    fn default() -> Self {
        ChannelMapping {
            parse: stage_parse_options(ParseOptions::default().default_charset),
            mapper: Arc::new(Hl7v2Mapper::default()),
            csv: None,
            webhook: None,
        }
    }
}

/// How the stage parses a journaled HL7 v2 message: leniently about MSH-10. A source that wants a control id
/// (MLLP's `require_control_id`) refused the message before journaling it; one it journaled must never fail
/// later for the lack of one.
fn stage_parse_options(default_charset: hearth_hl7v2::Charset) -> ParseOptions {
    ParseOptions { default_charset, require_control_id: false, ..ParseOptions::default() }
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
    // No `timezone` on the channel: the host's zone, exactly as `hearth convert` reads such times.
    opts = opts.with_timezone_or_host(plan.facility_timezone.as_deref()).map_err(|e| e.to_string())?;
    if let Some(path) = &plan.vocabulary {
        let vocab = Vocabulary::load_overrides(path, &Vocabulary::builtin()).map_err(|e| e.to_string())?;
        opts.vocabulary = Arc::new(vocab);
    }
    Ok(opts)
}

/// Every channel's mapping, and the country code the patient index reads national numbers with: the first
/// webhook channel's `default_country_code` (a deployment's channels normally share it), else "1".
pub fn channel_mappings(channels: &[Channel]) -> Result<(HashMap<String, ChannelMapping>, String), SetupError> {
    let loaded = channels.iter().map(|ch| (&ch.plan, ch.csv.clone(), ch.webhook.as_ref().map(|w| &w.profile)));
    mappings(loaded)
}

/// [`channel_mappings`] over each channel's plan, CSV converter and webhook profile (however they were loaded).
pub(super) fn mappings<'a>(
    channels: impl Iterator<Item = (&'a ChannelPlan, Option<Arc<hearth_csv::Converter>>, Option<&'a Profile>)>,
) -> Result<(HashMap<String, ChannelMapping>, String), SetupError> {
    let mut out = HashMap::new();
    let mut index_country_code = None;
    for (plan, csv, profile) in channels {
        let (_, default_charset, mapping) = plan.source.conversion();
        let opts = map_options(mapping).map_err(|reason| SetupError { channel: plan.name.clone(), reason })?;
        let webhook = match (&plan.source, profile) {
            (hearth_sources::SourcePlan::Webhook(w), Some(profile)) => {
                index_country_code.get_or_insert_with(|| w.default_country_code.clone());
                Some(WebhookMapping { profile: Arc::new(profile.clone()), map: w.map_config() })
            }
            _ => None,
        };
        let mapping = ChannelMapping {
            parse: stage_parse_options(default_charset),
            mapper: Arc::new(Hl7v2Mapper::new(opts)),
            csv,
            webhook,
        };
        out.insert(plan.name.clone(), mapping);
    }
    Ok((out, index_country_code.unwrap_or_else(|| "1".to_owned())))
}
