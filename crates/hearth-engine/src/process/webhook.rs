//! Webhooks in the processing stage.
//!
//! A journaled webhook body is parsed again under its channel's profile (the source already checked its
//! signature and that it parses), the patient is looked up in the patient index — by the identifier the event
//! carries (an MRN from the IVR or a CRM) first, by the customer's number only when it carries none
//! (`hearth_webhooks::Event::lookup`) — and `hearth_webhooks::map` makes the Bundle, which then goes through the
//! same routing and outbox as HL7 v2. One patient found → the resources reference it and the report says which
//! rule linked (`"linked_by": "identifier" | "phone"`); none or several → they stay unlinked (`"patient":
//! "unknown" | "ambiguous"`); an identifier whose Patient's name or birth date contradicts the event's →
//! `"mismatch"`, unlinked. Hearth never guesses. The index is fed by `super::patients`.

use std::sync::Arc;

use hearth_store::{IdentifierEntry, IndexedPatient, Journal, StoreError};
use hearth_webhooks::{Candidate, Event, Lookup, MapConfig, Parsed, PatientLink, Profile, Request};
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

/// Parses `raw` under the channel's profile and looks the patient up in the patient index.
pub async fn prepare(
    journal: &Journal,
    mapping: Option<&WebhookMapping>,
    raw: &[u8],
) -> Result<Prepared, PrepareError> {
    let Prepared { event, map, .. } = parse(mapping, raw, PatientLink::Unknown)?;
    let lookup = event.lookup();
    let found: Vec<Candidate> = match lookup {
        Lookup::Identifier(p) => journal
            .patients_by_identifier(p.system.as_deref(), &p.value)
            .await?
            .into_iter()
            .map(by_identifier)
            .collect(),
        Lookup::Phone(phone) => journal.patients_by_phone(phone).await?.into_iter().map(by_phone).collect(),
        Lookup::Nothing => Vec::new(),
    };
    let link = hearth_webhooks::link_from(lookup, &found);
    Ok(Prepared { event, link, map })
}

/// Parses `raw` under the channel's profile, with the patient link given (no lookup): the part of [`prepare`]
/// without IO, which offline conversion (`super::offline`) runs on its own.
pub fn parse(mapping: Option<&WebhookMapping>, raw: &[u8], link: PatientLink) -> Result<Prepared, PrepareError> {
    let unmappable = |reason: String| PrepareError::Unmappable(reason);
    let mapping = mapping.ok_or_else(|| unmappable("the webhook channel is no longer configured".into()))?;
    let req = Request { public_url: "", headers: &[], content_type: None, body: raw, now: OffsetDateTime::now_utc() };
    let event = match hearth_webhooks::parse(&mapping.profile, &req) {
        Ok(Parsed::Event(event)) => *event,
        Ok(Parsed::Ignored(i)) => return Err(unmappable(format!("not a call, SMS or chat: {}", i.reason))),
        Err(e) => return Err(unmappable(format!("parse: {e}"))),
    };
    Ok(Prepared { event, link, map: mapping.map.clone() })
}

/// A Patient the index found by identifier, with the name and birth date that cross-check the link.
fn by_identifier(e: IdentifierEntry) -> Candidate {
    Candidate {
        patient_id: e.patient.patient_id,
        identifier_system: e.patient.identifier_system,
        identifier_value: e.patient.identifier_value,
        family: e.family,
        birth_date: e.birth_date,
    }
}

/// A Patient the index found by phone number (no cross-check: the event named no patient).
fn by_phone(p: IndexedPatient) -> Candidate {
    Candidate {
        patient_id: p.patient_id,
        identifier_system: p.identifier_system,
        identifier_value: p.identifier_value,
        ..Candidate::default()
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

    fn link(found: &[IndexedPatient]) -> PatientLink {
        let found: Vec<Candidate> = found.iter().cloned().map(by_phone).collect();
        hearth_webhooks::link_from(Lookup::Phone("+15555550100"), &found)
    }

    #[test]
    fn by_phone_only_one_patient_with_an_identifier_links() {
        assert_eq!(link(&[]), PatientLink::Unknown);
        let PatientLink::Linked { id, identifier_value, .. } = link(&[patient("p1", "MRN1")]) else { panic!() };
        assert_eq!((id.as_str(), identifier_value.as_str()), ("p1", "MRN1"));
        assert_eq!(link(&[patient("p1", "A"), patient("p2", "B")]), PatientLink::Ambiguous { candidates: 2 });
        let nameless = IndexedPatient { patient_id: "p".into(), identifier_system: None, identifier_value: None };
        assert_eq!(link(&[nameless]), PatientLink::Unknown);
    }

    #[test]
    fn by_identifier_the_indexed_name_and_birth_date_cross_check() {
        let entry = |family: &str| IdentifierEntry {
            system: Some("urn:hearth:v2:NORTH".into()),
            value: "MRN1".into(),
            patient: patient("p1", "MRN1"),
            family: Some(family.into()),
            birth_date: Some("1980-02-14".into()),
        };
        let identity = hearth_webhooks::PatientIdentity {
            system: Some("urn:hearth:v2:NORTH".into()),
            value: "MRN1".into(),
            family: Some("Doe".into()),
            given: None,
            birth_date: Some("1980-02-14".into()),
        };
        let lookup = Lookup::Identifier(&identity);
        let linked = hearth_webhooks::link_from(lookup, &[by_identifier(entry("DOE"))]);
        assert!(matches!(linked, PatientLink::LinkedByIdentifier { ref id, .. } if id == "p1"), "{linked:?}");
        assert_eq!(hearth_webhooks::link_from(lookup, &[by_identifier(entry("Roe"))]), PatientLink::Mismatch);
    }
}
