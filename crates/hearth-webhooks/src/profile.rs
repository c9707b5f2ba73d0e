//! Vendor profiles: the data decisions (which fields hold what, status vocabularies, which events need a
//! follow-up, which are not calls at all) kept in `mappings/webhooks/<name>.toml`, so an integration team changes
//! them without touching code.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::event::{Direction, FollowUp, Medium};

/// The contact-center platform a profile speaks for; decides the body's envelope handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Vendor {
    TwilioVoice,
    TwilioSms,
    AmazonConnect,
    Genesys,
    Generic,
}

impl Vendor {
    /// The profile-file spelling, e.g. `twilio-voice`; also the identifier namespace of the vendor's ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Vendor::TwilioVoice => "twilio-voice",
            Vendor::TwilioSms => "twilio-sms",
            Vendor::AmazonConnect => "amazon-connect",
            Vendor::Genesys => "genesys",
            Vendor::Generic => "generic",
        }
    }
}

/// How the body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BodyKind {
    /// `application/x-www-form-urlencoded` (Twilio); a field path is a parameter name.
    Form,
    /// JSON; a field path is `/`-separated keys (array indexes allowed), relative to the event (the EventBridge
    /// `detail` when enveloped); a path starting with `/` addresses the EventBridge envelope (absent without one).
    Json,
}

/// Why a profile could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("no built-in webhook profile named {0:?} (known: {known})", known = BUILTIN_NAMES.join(", "))]
    UnknownBuiltin(String),
    #[error("webhook profile: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("webhook profile {profile}: {reason}")]
    Invalid { profile: String, reason: String },
}

/// The profiles shipped in `mappings/webhooks/`.
pub const BUILTIN_NAMES: [&str; 6] = ["twilio-voice", "twilio-sms", "amazon-connect", "genesys", "generic", "zendesk"];

fn builtin_text(name: &str) -> Option<&'static str> {
    Some(match name {
        "twilio-voice" => include_str!("../../../mappings/webhooks/twilio-voice.toml"),
        "twilio-sms" => include_str!("../../../mappings/webhooks/twilio-sms.toml"),
        "amazon-connect" => include_str!("../../../mappings/webhooks/amazon-connect.toml"),
        "genesys" => include_str!("../../../mappings/webhooks/genesys.toml"),
        "generic" => include_str!("../../../mappings/webhooks/generic.toml"),
        "zendesk" => include_str!("../../../mappings/webhooks/zendesk.toml"),
        _ => return None,
    })
}

/// Where each event attribute is found. Every entry lists alternative paths; the first one present wins.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    /// The contact's identity (CallSid, MessageSid, ContactId, message id): one FHIR resource per contact.
    pub id: Vec<String>,
    /// Parts of the dedup identity, joined with `/`; absent parts are left out. Must include the id.
    pub event_key: Vec<String>,
    #[serde(default)]
    pub status: Vec<String>,
    /// Decides the medium through `channel_map` when the profile has no fixed `medium`.
    #[serde(default)]
    pub channel: Vec<String>,
    #[serde(default)]
    pub direction: Vec<String>,
    #[serde(default)]
    pub from: Vec<String>,
    #[serde(default)]
    pub to: Vec<String>,
    /// The customer's and the contact center's endpoint, for vendors that name parties by role rather than by
    /// from/to: `from`/`to` are derived from them and the direction when absent.
    #[serde(default)]
    pub customer: Vec<String>,
    #[serde(default)]
    pub system: Vec<String>,
    #[serde(default)]
    pub occurred_at: Vec<String>,
    #[serde(default)]
    pub started_at: Vec<String>,
    #[serde(default)]
    pub ended_at: Vec<String>,
    #[serde(default)]
    pub duration_s: Vec<String>,
    #[serde(default)]
    pub text: Vec<String>,
    /// The patient's identifier (an MRN the platform learned by IVR identification or a CRM lookup): when
    /// present, the event is linked by identifier, never by phone.
    #[serde(default)]
    pub patient_identifier: Vec<String>,
    /// The identifier's assigning authority (an OID, a URI, or a namespace as in HL7 v2 CX-4).
    #[serde(default)]
    pub patient_identifier_system: Vec<String>,
    /// Name and birth date, to cross-check the Patient the identifier finds.
    #[serde(default)]
    pub patient_family: Vec<String>,
    #[serde(default)]
    pub patient_given: Vec<String>,
    #[serde(default)]
    pub patient_birth_date: Vec<String>,
}

/// One test on a field. All given constraints must hold; values compare ASCII case-insensitively.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub field: String,
    /// The value is one of these.
    #[serde(default)]
    pub equals: Vec<String>,
    /// The value is none of these (an absent field passes).
    #[serde(default)]
    pub not_equals: Vec<String>,
    /// The field is present (non-empty) or absent.
    pub present: Option<bool>,
}

/// A follow-up rule: when every condition holds (and the first matching rule wins), the event needs a Task.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUpRule {
    pub kind: FollowUp,
    pub when: Vec<Condition>,
}

/// An ignore rule: events that are not calls, SMS or chats (agent presence, typing indicators).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreRule {
    /// Said in the `Ignored` outcome; names the event type, never a value from the body.
    pub reason: String,
    pub when: Vec<Condition>,
}

/// EventBridge unwrapping: a body with `detail-type` and `detail` is an envelope; only detail types starting
/// with one of `accept` are events, others are ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub accept: Vec<String>,
}

/// What a channel value means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChannelTarget {
    Voice,
    Sms,
    Chat,
    /// Not a call, SMS or chat (tasks, e-mail): the event is ignored.
    Ignore,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    version: String,
    vendor: Vendor,
    body: BodyKind,
    #[serde(default)]
    description: String,
    #[serde(default = "nanp")]
    default_country_code: String,
    /// The system of `fields.patient_identifier` when the event sends no assigning authority.
    patient_identifier_system: Option<String>,
    envelope: Option<Envelope>,
    medium: Option<Medium>,
    #[serde(default)]
    channel_map: BTreeMap<String, ChannelTarget>,
    fields: Fields,
    #[serde(default)]
    direction_map: BTreeMap<String, Direction>,
    default_direction: Option<Direction>,
    #[serde(default)]
    status_map: BTreeMap<String, String>,
    default_status: String,
    #[serde(default)]
    completed_statuses: Vec<String>,
    #[serde(default)]
    follow_up: Vec<FollowUpRule>,
    #[serde(default)]
    ignore: Vec<IgnoreRule>,
}

/// The FHIR `EventStatus` codes Communication.status accepts.
const EVENT_STATUS: [&str; 8] =
    ["preparation", "in-progress", "not-done", "on-hold", "stopped", "completed", "entered-in-error", "unknown"];

/// A validated vendor profile. Map keys are stored lower-cased: lookups ignore ASCII case, because vendors are
/// not consistent (Amazon Connect writes `VOICE` and `Voice`).
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub version: String,
    pub vendor: Vendor,
    pub body: BodyKind,
    pub description: String,
    /// Country calling code for numbers written without one (`"1"`, the default, for NANP).
    pub default_country_code: String,
    /// The system of `fields.patient_identifier` when the event sends no assigning authority.
    pub patient_identifier_system: Option<String>,
    pub envelope: Option<Envelope>,
    pub medium: Option<Medium>,
    pub channel_map: BTreeMap<String, ChannelTarget>,
    pub fields: Fields,
    pub direction_map: BTreeMap<String, Direction>,
    pub default_direction: Option<Direction>,
    /// Vendor status → FHIR Communication.status.
    pub status_map: BTreeMap<String, String>,
    pub default_status: String,
    /// Vendor statuses that mean a call took place (an Encounter of class VR is made for it).
    pub completed_statuses: Vec<String>,
    pub follow_up: Vec<FollowUpRule>,
    pub ignore: Vec<IgnoreRule>,
}

impl Profile {
    /// A profile shipped in `mappings/webhooks/` (see [`BUILTIN_NAMES`]).
    pub fn builtin(name: &str) -> Result<Profile, ProfileError> {
        let text = builtin_text(name).ok_or_else(|| ProfileError::UnknownBuiltin(name.to_owned()))?;
        Profile::from_toml(text)
    }

    /// Parses and validates a profile (unknown keys are errors).
    pub fn from_toml(text: &str) -> Result<Profile, ProfileError> {
        let raw: RawProfile = toml::from_str(text)?;
        validate(&raw)?;
        Ok(Profile {
            name: raw.name,
            version: raw.version,
            vendor: raw.vendor,
            body: raw.body,
            description: raw.description,
            default_country_code: raw.default_country_code,
            patient_identifier_system: raw.patient_identifier_system,
            envelope: raw.envelope,
            medium: raw.medium,
            channel_map: lower_keys(raw.channel_map),
            fields: raw.fields,
            direction_map: lower_keys(raw.direction_map),
            default_direction: raw.default_direction,
            status_map: lower_keys(raw.status_map),
            default_status: raw.default_status,
            completed_statuses: raw.completed_statuses.iter().map(|s| s.to_ascii_lowercase()).collect(),
            follow_up: raw.follow_up,
            ignore: raw.ignore,
        })
    }

    /// The same profile reading national numbers with another country calling code (from the deployment's
    /// configuration, which knows where it runs).
    pub fn with_default_country_code(mut self, code: &str) -> Result<Profile, ProfileError> {
        if !is_country_code(code) {
            return Err(ProfileError::Invalid { profile: self.name, reason: "country code must be 1-3 digits".into() });
        }
        self.default_country_code = code.to_owned();
        Ok(self)
    }

    /// The `meta.tag` code every resource carries: `hearth-webhooks-<name>/<version>`.
    pub fn tag_code(&self) -> String {
        format!("hearth-webhooks-{}/{}", self.name, self.version)
    }
}

fn nanp() -> String {
    "1".to_owned()
}

fn is_country_code(code: &str) -> bool {
    (1..=3).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit()) && !code.starts_with('0')
}

fn lower_keys<V>(m: BTreeMap<String, V>) -> BTreeMap<String, V> {
    m.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect()
}

fn validate(raw: &RawProfile) -> Result<(), ProfileError> {
    let invalid = |reason: String| ProfileError::Invalid { profile: raw.name.clone(), reason };
    let is_token = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'));
    if !is_token(&raw.name) || !is_token(&raw.version) {
        return Err(invalid("name and version must be non-empty [A-Za-z0-9.-]".into()));
    }
    if !is_country_code(&raw.default_country_code) {
        return Err(invalid("default_country_code must be 1-3 digits".into()));
    }
    if raw.fields.id.is_empty() || raw.fields.event_key.is_empty() {
        return Err(invalid("fields.id and fields.event_key must name at least one path".into()));
    }
    if raw.medium.is_none() && (raw.fields.channel.is_empty() || raw.channel_map.is_empty()) {
        return Err(invalid("without a fixed `medium`, fields.channel and channel_map are required".into()));
    }
    let statuses = raw.status_map.values().chain(std::iter::once(&raw.default_status));
    if let Some(bad) = statuses.into_iter().find(|s| !EVENT_STATUS.contains(&s.as_str())) {
        return Err(invalid(format!("{bad:?} is not a Communication.status (one of {})", EVENT_STATUS.join(", "))));
    }
    let conditions = raw.follow_up.iter().flat_map(|r| &r.when).chain(raw.ignore.iter().flat_map(|r| &r.when));
    if conditions.into_iter().any(|c| c.equals.is_empty() && c.not_equals.is_empty() && c.present.is_none()) {
        return Err(invalid("every condition needs `equals`, `not_equals` or `present`".into()));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_loads() {
        for name in BUILTIN_NAMES {
            let p = Profile::builtin(name).unwrap();
            assert_eq!(p.name, name);
        }
        assert!(matches!(Profile::builtin("nope"), Err(ProfileError::UnknownBuiltin(_))));
    }

    #[test]
    fn rejects_bad_profiles() {
        let good = include_str!("../../../mappings/webhooks/generic.toml");
        assert!(matches!(Profile::from_toml(&format!("{good}\nsurprise = 1\n")), Err(ProfileError::Toml(_))));
        let bad_status = good.replace("default_status = \"unknown\"", "default_status = \"finished\"");
        assert!(matches!(Profile::from_toml(&bad_status), Err(ProfileError::Invalid { .. })), "{bad_status}");
    }
}
