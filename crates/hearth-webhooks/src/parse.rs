//! Reading a webhook body under a profile: envelope, ignore rules, then the event's fields.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::{Rfc2822, Rfc3339};

use crate::Request;
use crate::body::Body;
use crate::event::{Direction, Event, Ignored, Medium, Parsed};
use crate::phone::normalize_e164;
use crate::profile::{BodyKind, ChannelTarget, Condition, Profile};

/// Most form parameters accepted (Twilio sends about 30).
const MAX_FORM_FIELDS: usize = 512;
/// Longest vendor string quoted in an `Ignored` reason.
const MAX_QUOTED: usize = 80;

/// Why a body could not be read (HTTP 400 upstream). Reasons name fields, never their values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("body is not JSON: {0}")]
    Json(String),
    #[error("body is JSON but not an object")]
    NotAnObject,
    #[error("body holds a batch of {records} records; post one event per request")]
    Batch { records: usize },
    #[error("body has more than {MAX_FORM_FIELDS} form fields")]
    TooManyFields,
    #[error("required field `{0}` is missing or empty")]
    Missing(&'static str),
    #[error("field `{0}` has a value the profile does not map (add it to the profile's map)")]
    Unmapped(&'static str),
    #[error("field `{field}` is invalid: {reason}")]
    Invalid { field: &'static str, reason: &'static str },
}

/// Reads `req.body` under `profile`: an [`Event`], or [`Ignored`] when it is not a call, SMS or chat.
pub fn parse(profile: &Profile, req: &Request<'_>) -> Result<Parsed, ParseError> {
    match profile.body {
        BodyKind::Form => {
            let pairs = form_pairs(req.body)?;
            read(profile, &Body::Form(pairs))
        }
        BodyKind::Json => {
            let root: Value = serde_json::from_slice(req.body).map_err(|e| ParseError::Json(e.to_string()))?;
            match &root {
                Value::Array(items) => parse_batch(profile, items),
                Value::Object(_) => parse_object(profile, &root),
                _ => Err(ParseError::NotAnObject),
            }
        }
    }
}

pub(crate) fn form_pairs(body: &[u8]) -> Result<Vec<(String, String)>, ParseError> {
    let mut pairs = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        if pairs.len() == MAX_FORM_FIELDS {
            return Err(ParseError::TooManyFields);
        }
        pairs.push((k.into_owned(), v.into_owned()));
    }
    Ok(pairs)
}

/// A Kinesis-style array: fine when it holds only ignorable records (agent events); a batch of contact events is
/// refused, because one request must be one journal entry with one identity.
fn parse_batch(profile: &Profile, items: &[Value]) -> Result<Parsed, ParseError> {
    let mut ignored = None;
    for item in items.iter().filter(|v| v.is_object()) {
        match parse_object(profile, item) {
            Ok(Parsed::Ignored(i)) => ignored = ignored.or(Some(i)),
            _ => return Err(ParseError::Batch { records: items.len() }),
        }
    }
    ignored.map(Parsed::Ignored).ok_or(ParseError::NotAnObject)
}

fn parse_object(profile: &Profile, root: &Value) -> Result<Parsed, ParseError> {
    match unwrap_envelope(profile, root) {
        Ok(Some(detail)) => read(profile, &Body::Json { envelope: Some(root), event: detail }),
        Ok(None) => read(profile, &Body::Json { envelope: None, event: root }),
        Err(ignored) => Ok(Parsed::Ignored(ignored)),
    }
}

/// The EventBridge `detail` when the profile expects envelopes and the body is one (`None`: not enveloped);
/// `Err` for detail types the profile does not accept.
fn unwrap_envelope<'v>(profile: &Profile, root: &'v Value) -> Result<Option<&'v Value>, Ignored> {
    let (Some(env), Some(Value::String(dt)), Some(detail @ Value::Object(_))) =
        (&profile.envelope, root.get("detail-type"), root.get("detail"))
    else {
        return Ok(None);
    };
    if env.accept.iter().any(|a| dt.starts_with(a.as_str())) {
        Ok(Some(detail))
    } else {
        Err(Ignored { reason: format!("EventBridge detail-type {:?} is not a contact event", quote(dt)) })
    }
}

fn quote(s: &str) -> String {
    s.chars().take(MAX_QUOTED).collect()
}

fn read(profile: &Profile, body: &Body<'_>) -> Result<Parsed, ParseError> {
    if let Some(rule) = profile.ignore.iter().find(|r| all_hold(body, &r.when)) {
        return Ok(Parsed::Ignored(Ignored { reason: rule.reason.clone() }));
    }
    let medium = match medium(profile, body)? {
        Some(m) => m,
        None => return Ok(Parsed::Ignored(Ignored { reason: "channel is not a call, SMS or chat".into() })),
    };
    let f = &profile.fields;
    let contact_id = body.first(&f.id).ok_or(ParseError::Missing("id"))?;
    let event_key = event_key(body, &f.event_key);
    let status = body.first(&f.status).ok_or(ParseError::Missing("status"))?;
    let direction = direction(profile, body)?;
    let (from, to) = parties(body, profile, direction);
    let follow_up = profile.follow_up.iter().find(|r| all_hold(body, &r.when)).map(|r| r.kind);
    let lower = status.to_ascii_lowercase();
    let communication_status = match follow_up {
        Some(k) if k.means_not_done() => "not-done".to_owned(),
        _ => profile.status_map.get(&lower).unwrap_or(&profile.default_status).clone(),
    };
    let started = time_field(body, &f.started_at, "started_at")?;
    let occurred_at = time_field(body, &f.occurred_at, "occurred_at")?.or(started);
    let duration_s = duration(body, &f.duration_s, started, time_field(body, &f.ended_at, "ended_at")?)?;
    Ok(Parsed::Event(Box::new(Event {
        event_key,
        contact_id,
        vendor: profile.vendor,
        profile_name: profile.name.clone(),
        profile_version: profile.version.clone(),
        medium,
        direction,
        from,
        to,
        completed: profile.completed_statuses.contains(&lower),
        status,
        communication_status,
        occurred_at,
        duration_s,
        text: body.first(&f.text),
        follow_up,
        patient: patient_identity(profile, body),
    })))
}

/// The patient identity the event carries, when the profile names an identifier field and it is valued.
fn patient_identity(profile: &Profile, body: &Body<'_>) -> Option<crate::link::PatientIdentity> {
    let f = &profile.fields;
    let value = body.first(&f.patient_identifier).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())?;
    let system = body
        .first(&f.patient_identifier_system)
        .filter(|s| !s.trim().is_empty())
        .map(|s| crate::link::authority_system(&s))
        .or_else(|| profile.patient_identifier_system.clone());
    let text = |paths: &[String]| body.first(paths).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    Some(crate::link::PatientIdentity {
        system,
        value,
        family: text(&f.patient_family),
        given: text(&f.patient_given),
        birth_date: text(&f.patient_birth_date),
    })
}

/// The present parts joined with `/` (the id is always among them, so the key is never empty once the id is).
fn event_key(body: &Body<'_>, parts: &[String]) -> String {
    parts.iter().filter_map(|p| body.get(p)).collect::<Vec<_>>().join("/")
}

fn all_hold(body: &Body<'_>, when: &[Condition]) -> bool {
    when.iter().all(|c| holds(body, c))
}

fn holds(body: &Body<'_>, c: &Condition) -> bool {
    let value = body.get(&c.field);
    let is_one_of = |set: &[String]| value.as_deref().is_some_and(|v| set.iter().any(|s| s.eq_ignore_ascii_case(v)));
    (c.equals.is_empty() || is_one_of(&c.equals))
        && (c.not_equals.is_empty() || !is_one_of(&c.not_equals))
        && c.present.is_none_or(|p| body.present(&c.field) == p)
}

/// `None`: the channel is deliberately not mapped (e-mail, tasks) or unknown: ignored rather than refused, so the
/// vendor does not retry it forever.
fn medium(profile: &Profile, body: &Body<'_>) -> Result<Option<Medium>, ParseError> {
    if let Some(m) = profile.medium {
        return Ok(Some(m));
    }
    let channel = body.first(&profile.fields.channel).ok_or(ParseError::Missing("channel"))?;
    Ok(match profile.channel_map.get(&channel.to_ascii_lowercase()) {
        Some(ChannelTarget::Voice) => Some(Medium::Voice),
        Some(ChannelTarget::Sms) => Some(Medium::Sms),
        Some(ChannelTarget::Chat) => Some(Medium::Chat),
        Some(ChannelTarget::Ignore) | None => None,
    })
}

fn direction(profile: &Profile, body: &Body<'_>) -> Result<Direction, ParseError> {
    let value = body.first(&profile.fields.direction);
    let mapped = value.as_deref().and_then(|v| profile.direction_map.get(&v.to_ascii_lowercase()));
    match (mapped, profile.default_direction, value) {
        (Some(d), _, _) => Ok(*d),
        (None, Some(d), _) => Ok(d),
        (None, None, Some(_)) => Err(ParseError::Unmapped("direction")),
        (None, None, None) => Err(ParseError::Missing("direction")),
    }
}

/// From and To in E.164; derived from the customer/system endpoints when the vendor names parties by role.
fn parties(body: &Body<'_>, profile: &Profile, direction: Direction) -> (Option<String>, Option<String>) {
    let f = &profile.fields;
    let phone = |paths: &[String]| body.first(paths).and_then(|v| normalize_e164(&v, &profile.default_country_code));
    let (customer, system) = (phone(&f.customer), phone(&f.system));
    let (role_from, role_to) = match direction {
        Direction::Inbound => (customer, system),
        Direction::Outbound => (system, customer),
    };
    (phone(&f.from).or(role_from), phone(&f.to).or(role_to))
}

fn time_field(body: &Body<'_>, paths: &[String], field: &'static str) -> Result<Option<OffsetDateTime>, ParseError> {
    match body.first(paths) {
        None => Ok(None),
        Some(v) => parse_time(&v)
            .map(Some)
            .ok_or(ParseError::Invalid { field, reason: "not an RFC 3339 or RFC 2822 time, nor Unix seconds" }),
    }
}

/// RFC 3339 (JSON vendors), RFC 2822 (Twilio's `Timestamp`), or Unix seconds (milliseconds above 10^11).
pub(crate) fn parse_time(v: &str) -> Option<OffsetDateTime> {
    let v = v.trim();
    if !v.is_empty() && v.len() <= 15 && v.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = v.parse().ok()?;
        let secs = if n >= 100_000_000_000 { n / 1000 } else { n };
        return OffsetDateTime::from_unix_timestamp(secs).ok();
    }
    OffsetDateTime::parse(v, &Rfc3339).or_else(|_| OffsetDateTime::parse(v, &Rfc2822)).ok()
}

fn duration(
    body: &Body<'_>,
    paths: &[String],
    started: Option<OffsetDateTime>,
    ended: Option<OffsetDateTime>,
) -> Result<Option<u64>, ParseError> {
    if let Some(v) = body.first(paths) {
        let invalid = ParseError::Invalid { field: "duration_s", reason: "not a non-negative number of seconds" };
        let secs: f64 = v.trim().parse().map_err(|_| invalid.clone())?;
        if !secs.is_finite() || secs < 0.0 || secs > u32::MAX as f64 {
            return Err(invalid);
        }
        return Ok(Some(secs.round() as u64));
    }
    Ok(match (started, ended) {
        (Some(s), Some(e)) if e >= s => u64::try_from((e - s).whole_seconds()).ok(),
        _ => None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times() {
        assert_eq!(parse_time("2021-08-04T17:17:53.000Z"), Some(datetime!(2021-08-04 17:17:53 UTC)));
        assert_eq!(parse_time("Tue, 03 Jun 2025 14:03:22 +0000"), Some(datetime!(2025-06-03 14:03:22 UTC)));
        assert_eq!(parse_time("1748959402"), Some(datetime!(2025-06-03 14:03:22 UTC)));
        assert_eq!(parse_time("1748959402000"), Some(datetime!(2025-06-03 14:03:22 UTC)));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time(""), None);
    }
}
