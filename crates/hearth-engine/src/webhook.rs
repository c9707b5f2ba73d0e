//! Webhooks in the processing stage, and the patient index they rely on.
//!
//! A journaled webhook body is parsed again under its channel's profile (the source already checked its
//! signature and that it parses), the customer's number is looked up in the patient index, and
//! `hearth_webhooks::map` makes the Bundle, which then goes through the same routing and outbox as HL7 v2.
//! One patient for the number → the resources reference it; none or several → they stay unlinked and the report
//! says `"patient": "unknown" | "ambiguous"`. Hearth never guesses.
//!
//! The index is fed from every converted HL7 v2 Bundle ([`index_update`]): each Patient's phone numbers, and for
//! a merge (A40: the merged Patient carries `link.type = replaced-by`) its numbers move to the survivor.

use std::collections::HashMap;
use std::sync::Arc;

use hearth_config::{Plan, SourcePlan, WebhookPlan, WebhookProfile};
use hearth_store::{IndexedPatient, Journal, PatientIndexUpdate, PatientMerge, PhoneEntry, StoreError};
use hearth_webhooks::{Event, MapConfig, Parsed, PatientLink, Profile, Request};
use serde_json::Value;
use time::OffsetDateTime;

/// How one webhook channel's events are read and mapped.
#[derive(Debug, Clone)]
pub struct WebhookMapping {
    pub profile: Arc<Profile>,
    pub map: MapConfig,
}

/// Every webhook channel's mapping, and the country code the patient index reads national numbers with.
#[derive(Debug, Clone)]
pub struct Webhooks {
    pub channels: HashMap<String, WebhookMapping>,
    pub index_country_code: String,
}

impl Webhooks {
    /// Loads every webhook channel's profile (a profile file is read here: the only IO). The index uses the
    /// first webhook channel's `default_country_code` (all of a deployment's channels normally share it), else
    /// "1".
    pub fn new(plan: &Plan) -> Result<Webhooks, (String, String)> {
        let mut channels = HashMap::new();
        let mut index_country_code = None;
        for ch in &plan.channels {
            let SourcePlan::Webhook(w) = &ch.source else { continue };
            let profile = load_profile(w).map_err(|e| (ch.name.clone(), e))?;
            let map = MapConfig {
                care_team_owner: w.care_team_owner.clone(),
                default_country_code: w.default_country_code.clone(),
            };
            index_country_code.get_or_insert_with(|| w.default_country_code.clone());
            channels.insert(ch.name.clone(), WebhookMapping { profile: Arc::new(profile), map });
        }
        Ok(Webhooks { channels, index_country_code: index_country_code.unwrap_or_else(|| "1".to_owned()) })
    }
}

/// A channel's profile: built in or from its file, with the channel's country code.
pub fn load_profile(w: &WebhookPlan) -> Result<Profile, String> {
    let profile = match &w.profile {
        WebhookProfile::Builtin(name) => Profile::builtin(name).map_err(|e| format!("profile: {e}"))?,
        WebhookProfile::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("profile {}: {e}", path.display()))?;
            Profile::from_toml(&text).map_err(|e| format!("profile {}: {e}", path.display()))?
        }
    };
    profile.with_default_country_code(&w.default_country_code).map_err(|e| format!("default_country_code: {e}"))
}

/// A webhook event ready to map: parsed, its customer's number looked up.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub event: Event,
    pub link: PatientLink,
    pub map: MapConfig,
}

/// Parses `raw` under the channel's profile and looks the customer up. `Ok(Err(reason))`: the message cannot
/// be mapped (kept as error); `Err`: the journal failed (try again later).
pub async fn prepare(
    journal: &Journal,
    mapping: Option<&WebhookMapping>,
    raw: &[u8],
) -> Result<Result<Prepared, String>, StoreError> {
    let Some(mapping) = mapping else {
        return Ok(Err("the webhook channel is no longer configured".into()));
    };
    let req = Request { public_url: "", headers: &[], content_type: None, body: raw, now: OffsetDateTime::now_utc() };
    let event = match hearth_webhooks::parse(&mapping.profile, &req) {
        Ok(Parsed::Event(event)) => *event,
        Ok(Parsed::Ignored(i)) => return Ok(Err(format!("not a call, SMS or chat: {}", i.reason))),
        Err(e) => return Ok(Err(format!("parse: {e}"))),
    };
    let link = match event.customer_number() {
        Some(phone) => link(&journal.patients_by_phone(phone).await?),
        None => PatientLink::Unknown,
    };
    Ok(Ok(Prepared { event, link, map: mapping.map.clone() }))
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

/// The patient-index update a converted HL7 v2 Bundle carries: every Patient's current phone numbers, and
/// merges (a Patient `replaced-by` another: its numbers move to the survivor).
pub fn index_update(bundle: &Value, country_code: &str) -> PatientIndexUpdate {
    let phones = hearth_webhooks::patient_phones(bundle, country_code)
        .into_iter()
        .map(|p| PhoneEntry {
            phone: p.phone,
            patient: IndexedPatient {
                patient_id: p.patient_id,
                identifier_system: p.identifier_system,
                identifier_value: p.identifier_value,
            },
        })
        .collect();
    PatientIndexUpdate { phones, merges: merges(bundle) }
}

fn patients(bundle: &Value) -> impl Iterator<Item = &Value> {
    let entries = bundle.get("entry").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    entries
        .iter()
        .filter_map(|e| e.get("resource"))
        .filter(|r| r.get("resourceType").and_then(Value::as_str) == Some("Patient"))
}

fn merges(bundle: &Value) -> Vec<PatientMerge> {
    let mut out = Vec::new();
    for merged in patients(bundle) {
        let Some(merged_id) = merged.get("id").and_then(Value::as_str) else { continue };
        let links = merged.get("link").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for l in links.iter().filter(|l| l.get("type").and_then(Value::as_str) == Some("replaced-by")) {
            let Some(target) = l.pointer("/other/reference").and_then(Value::as_str) else { continue };
            let Some(survivor_id) = target.strip_prefix("urn:uuid:").or_else(|| target.strip_prefix("Patient/")) else {
                continue;
            };
            out.push(PatientMerge { merged_id: merged_id.to_owned(), survivor: indexed(bundle, survivor_id) });
        }
    }
    out
}

/// The survivor as the index knows it: its first identifier when the Bundle holds it.
fn indexed(bundle: &Value, id: &str) -> IndexedPatient {
    let first = patients(bundle)
        .find(|p| p.get("id").and_then(Value::as_str) == Some(id))
        .and_then(|p| p.pointer("/identifier/0"));
    let text = |k: &str| first.and_then(|i| i.get(k)).and_then(Value::as_str).map(str::to_owned);
    IndexedPatient { patient_id: id.to_owned(), identifier_system: text("system"), identifier_value: text("value") }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn patient(id: &str, mrn: &str) -> IndexedPatient {
        IndexedPatient {
            patient_id: id.into(),
            identifier_system: Some("urn:x".into()),
            identifier_value: Some(mrn.into()),
        }
    }

    #[test]
    fn only_one_patient_with_an_identifier_links() {
        assert_eq!(link(&[]), PatientLink::Unknown);
        let PatientLink::Linked { id, identifier_value, .. } = link(&[patient("p1", "MRN1")]) else { panic!() };
        assert_eq!((id.as_str(), identifier_value.as_str()), ("p1", "MRN1"));
        assert_eq!(link(&[patient("p1", "A"), patient("p2", "B")]), PatientLink::Ambiguous { candidates: 2 });
        let nameless = IndexedPatient { patient_id: "p".into(), identifier_system: None, identifier_value: None };
        assert_eq!(link(&[nameless]), PatientLink::Unknown);
    }

    #[test]
    fn the_a40_fixture_moves_the_merged_patients_numbers() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/hl7v2/adt-a40-merge.expected.json");
        let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let update = index_update(&fixture["bundle"], "1");
        assert!(update.phones.is_empty(), "the fixture's PID has no phone");
        assert_eq!(update.merges.len(), 1);
        let m = &update.merges[0];
        assert_eq!(m.merged_id, "ee67a362-3012-59b3-89ad-903394eb25b5", "MRN19999, replaced-by");
        assert_eq!(m.survivor.patient_id, "20697803-f81e-59bf-8d6a-dea02d651b25");
        assert_eq!(m.survivor.identifier_value.as_deref(), Some("MRN20000"));
    }

    #[test]
    fn phones_of_every_patient_are_indexed() {
        let b = json!({"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", "id": "p1",
            "identifier": [{"system": "urn:x", "value": "MRN1"}],
            "telecom": [{"system": "phone", "value": "(217) 555-0100"}]}}]});
        let update = index_update(&b, "1");
        assert_eq!(update.phones, vec![PhoneEntry { phone: "+12175550100".into(), patient: patient("p1", "MRN1") }]);
        assert!(update.merges.is_empty());
    }
}
