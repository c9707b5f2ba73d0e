//! The patient index, fed from every converted Bundle ([`index_update`]): each Patient's identifiers (system +
//! value, with its name and birth date: any feed), its phone numbers (HL7 v2), and for a merge (A40/A34: the
//! merged Patient carries `link.type = replaced-by`) its numbers and identifiers move to the survivor.
//! Also the Patient identifiers each message is searchable by ([`identifiers`]).

use hearth_fhir::bundle::resources;
use hearth_store::{IdentifierEntry, IndexedPatient, PatientIndexUpdate, PatientMerge, PhoneEntry};
use serde_json::Value;

/// Most identifiers indexed per message: a Bundle is outside input, and the index must stay bounded.
const MAX_IDENTIFIERS: usize = 64;

/// The patient-index update a converted HL7 v2 Bundle carries: every Patient's identifiers and current phone
/// numbers, and merges (a Patient `replaced-by` another: its numbers and identifiers move to the survivor).
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
    PatientIndexUpdate { phones, identifiers: identifier_entries(bundle), merges: merges(bundle) }
}

/// Every identifier of every Patient in a Bundle of any feed (CSV, FHIR pass-through, HL7 v2), at most
/// [`MAX_IDENTIFIERS`]: so that an event naming a patient by identifier finds them whichever feed told Hearth.
pub fn identifier_entries(bundle: &Value) -> Vec<IdentifierEntry> {
    hearth_webhooks::patient_identifiers(bundle)
        .into_iter()
        .take(MAX_IDENTIFIERS)
        .map(|i| IdentifierEntry {
            system: i.system,
            value: i.value,
            patient: IndexedPatient {
                patient_id: i.patient.patient_id,
                identifier_system: i.patient.identifier_system,
                identifier_value: i.patient.identifier_value,
            },
            family: i.patient.family,
            birth_date: i.patient.birth_date,
        })
        .collect()
}

fn merges(bundle: &Value) -> Vec<PatientMerge> {
    let mut out = Vec::new();
    for merged in resources(bundle, "Patient") {
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
    let first = resources(bundle, "Patient")
        .find(|p| p.get("id").and_then(Value::as_str) == Some(id))
        .and_then(|p| p.pointer("/identifier/0"));
    let text = |k: &str| first.and_then(|i| i.get(k)).and_then(Value::as_str).map(str::to_owned);
    IndexedPatient { patient_id: id.to_owned(), identifier_system: text("system"), identifier_value: text("value") }
}

/// `system|value` of every Patient identifier in a Bundle (FHIR token syntax; `|value` without a system),
/// deduplicated, at most [`MAX_IDENTIFIERS`].
pub fn identifiers(bundle: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in resources(bundle, "Patient") {
        for ident in p.get("identifier").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
            let Some(value) = ident.get("value").and_then(Value::as_str).filter(|v| !v.is_empty()) else { continue };
            let system = ident.get("system").and_then(Value::as_str).unwrap_or_default();
            let token = format!("{system}|{value}");
            if !out.contains(&token) && out.len() < MAX_IDENTIFIERS {
                out.push(token);
            }
        }
    }
    out
}

#[cfg(test)]
pub(super) mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    /// A Patient as the index knows it (also used by the webhook tests).
    pub(in crate::process) fn patient(id: &str, mrn: &str) -> IndexedPatient {
        IndexedPatient {
            patient_id: id.into(),
            identifier_system: Some("urn:x".into()),
            identifier_value: Some(mrn.into()),
        }
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
        // Both Patients' identifiers are indexed (the merge then moves the merged one's to the survivor).
        let by_value = |v: &str| update.identifiers.iter().find(|e| e.value == v).map(|e| e.patient.patient_id.clone());
        assert_eq!(by_value("MRN19999").as_deref(), Some(m.merged_id.as_str()));
        assert_eq!(by_value("MRN20000").as_deref(), Some(m.survivor.patient_id.as_str()));
    }

    #[test]
    fn identifiers_of_every_patient_entry() {
        let bundle = json!({ "resourceType": "Bundle", "entry": [
            { "resource": { "resourceType": "Patient", "identifier": [
                { "system": "urn:oid:1.2.3", "value": "MRN1" }, { "value": "X9" }, { "system": "s" } ] } },
            { "resource": { "resourceType": "Encounter", "identifier": [{ "system": "e", "value": "V1" }] } },
            { "resource": { "resourceType": "Patient", "identifier": [{ "system": "urn:oid:1.2.3", "value": "MRN1" }] } },
            { "request": {} }
        ]});
        assert_eq!(identifiers(&bundle), vec!["urn:oid:1.2.3|MRN1", "|X9"]);
        assert!(identifiers(&json!({ "resourceType": "Bundle" })).is_empty());
        assert!(identifiers(&json!("not a bundle")).is_empty());
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
