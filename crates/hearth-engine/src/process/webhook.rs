//! Webhooks in the processing stage.
//!
//! A journaled webhook body is parsed again under its channel's profile (the source already checked its
//! signature and that it parses), the customer's number is looked up in the patient index, and
//! `hearth_webhooks::map` makes the Bundle, which then goes through the same routing and outbox as HL7 v2.
//! One patient for the number → the resources reference it; none or several → they stay unlinked and the report
//! says `"patient": "unknown" | "ambiguous"`. Hearth never guesses. The index is fed by `super::patients`.

use std::sync::Arc;

use hearth_store::{IndexedPatient, Journal, StoreError};
use hearth_webhooks::{Event, MapConfig, Parsed, PatientLink, Profile, Request};
use serde_json::Value;
use time::OffsetDateTime;

/// How one webhook channel's events are read and mapped.
#[derive(Debug, Clone)]
pub struct WebhookMapping {
    pub profile: Arc<Profile>,
    pub map: MapConfig,
}

/// A webhook event ready to map: parsed, its customer's number looked up.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub event: Event,
    pub link: PatientLink,
    pub map: MapConfig,
}

/// Why a webhook event could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The event cannot be mapped (kept as error; reprocessable once the profile is fixed).
    #[error("{0}")]
    Unmappable(String),
    /// The patient index could not be read (transient).
    #[error("patient index: {0}")]
    Journal(#[from] StoreError),
}

/// Parses `raw` under the channel's profile and looks the customer up in the patient index.
pub async fn prepare(
    journal: &Journal,
    mapping: Option<&WebhookMapping>,
    raw: &[u8],
) -> Result<Prepared, PrepareError> {
    let unmappable = |reason: String| PrepareError::Unmappable(reason);
    let mapping = mapping.ok_or_else(|| unmappable("the webhook channel is no longer configured".into()))?;
    let req = Request { public_url: "", headers: &[], content_type: None, body: raw, now: OffsetDateTime::now_utc() };
    let event = match hearth_webhooks::parse(&mapping.profile, &req) {
        Ok(Parsed::Event(event)) => *event,
        Ok(Parsed::Ignored(i)) => return Err(unmappable(format!("not a call, SMS or chat: {}", i.reason))),
        Err(e) => return Err(unmappable(format!("parse: {e}"))),
    };
    let link = match event.customer_number() {
        Some(phone) => link(&journal.patients_by_phone(phone).await?),
        None => PatientLink::Unknown,
    };
    Ok(Prepared { event, link, map: mapping.map.clone() })
}

/// What the index said, as the mapping's patient link: only exactly one Patient (with an identifier) links.
pub fn link(found: &[IndexedPatient]) -> PatientLink {
    match found {
        [] => PatientLink::Unknown,
        [one] => match &one.identifier_value {
            Some(value) => PatientLink::Linked {
                id: one.patient_id.clone(),
                identifier_system: one.identifier_system.clone(),
                identifier_value: value.clone(),
            },
            // A reference needs the identifier; without it the Patient cannot be named safely.
            None => PatientLink::Unknown,
        },
        several => PatientLink::Ambiguous { candidates: several.len() },
    }
}

/// Maps a prepared event: the Bundle and the report (no phone numbers or text in it).
pub fn convert(prepared: &Prepared, now: OffsetDateTime) -> (Value, Value) {
    let c = hearth_webhooks::map(&prepared.event, &prepared.link, &prepared.map, now);
    (c.bundle, c.report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    use crate::process::patients::tests::patient;

    #[test]
    fn only_one_patient_with_an_identifier_links() {
        assert_eq!(link(&[]), PatientLink::Unknown);
        let PatientLink::Linked { id, identifier_value, .. } = link(&[patient("p1", "MRN1")]) else { panic!() };
        assert_eq!((id.as_str(), identifier_value.as_str()), ("p1", "MRN1"));
        assert_eq!(link(&[patient("p1", "A"), patient("p2", "B")]), PatientLink::Ambiguous { candidates: 2 });
        let nameless = IndexedPatient { patient_id: "p".into(), identifier_system: None, identifier_value: None };
        assert_eq!(link(&[nameless]), PatientLink::Unknown);
    }
}
