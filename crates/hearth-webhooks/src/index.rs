//! What the patient index needs from the ADT stream's Bundles: each Patient's phone numbers in E.164
//! ([`patient_phones`]) and each Patient's identifiers with the name and birth date that cross-check a link by
//! identifier ([`patient_identifiers`]).

use serde_json::Value;

use crate::phone::normalize_e164;

/// One (Patient, phone number) pair for the patient index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientPhone {
    /// The Patient resource id.
    pub patient_id: String,
    /// The Patient's first identifier (system may be absent), for identifier references.
    pub identifier_system: Option<String>,
    pub identifier_value: Option<String>,
    /// E.164.
    pub phone: String,
}

/// One (identifier, Patient) pair for the patient index's lookup by identifier ([`crate::link_from`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientIdentifier {
    pub system: Option<String>,
    pub value: String,
    /// The Patient as [`crate::Candidate`] (its first identifier, family name, birth date).
    pub patient: crate::Candidate,
}

/// Every identifier of every Patient in `bundle` (a Bundle, or a single Patient), so that an event naming the
/// patient by MRN finds them. Patients without an id are left out; identifiers whose period has ended too.
pub fn patient_identifiers(bundle: &Value) -> Vec<PatientIdentifier> {
    let mut out = Vec::new();
    for p in patients_of(bundle) {
        let Some(id) = p.get("id").and_then(Value::as_str) else { continue };
        let text = |v: Option<&Value>, k: &str| v.and_then(|v| v.get(k)).and_then(Value::as_str).map(str::to_owned);
        let first = p.get("identifier").and_then(|i| i.get(0));
        let official = p.get("name").and_then(Value::as_array).and_then(|n| n.first());
        let candidate = crate::Candidate {
            patient_id: id.to_owned(),
            identifier_system: text(first, "system"),
            identifier_value: text(first, "value"),
            family: text(official, "family"),
            birth_date: text(Some(p), "birthDate"),
        };
        for i in p.get("identifier").and_then(Value::as_array).into_iter().flatten() {
            let Some(value) = i.get("value").and_then(Value::as_str) else { continue };
            if i.pointer("/period/end").is_some() {
                continue;
            }
            out.push(PatientIdentifier {
                system: text(Some(i), "system"),
                value: value.to_owned(),
                patient: candidate.clone(),
            });
        }
    }
    out
}

fn patients_of(bundle: &Value) -> Vec<&Value> {
    match bundle.get("resourceType").and_then(Value::as_str) {
        Some("Patient") => vec![bundle],
        Some("Bundle") => bundle
            .get("entry")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("resource"))
            .filter(|r| r.get("resourceType").and_then(Value::as_str) == Some("Patient"))
            .collect(),
        _ => Vec::new(),
    }
}

/// Every phone number (telecom `phone` or `sms`, or without a system when the value reads as a number) of every
/// Patient in `bundle` (a Bundle, or a single Patient). Numbers that do not normalise are left out; each number
/// appears once per Patient. Telecoms whose period has ended are left out: an old number must not link.
pub fn patient_phones(bundle: &Value, default_country_code: &str) -> Vec<PatientPhone> {
    patients_of(bundle).into_iter().flat_map(|p| phones_of(p, default_country_code)).collect()
}

fn phones_of(patient: &Value, cc: &str) -> Vec<PatientPhone> {
    let Some(id) = patient.get("id").and_then(Value::as_str) else { return Vec::new() };
    let first_id = patient.get("identifier").and_then(|i| i.get(0));
    let text = |v: Option<&Value>, k: &str| v.and_then(|v| v.get(k)).and_then(Value::as_str).map(str::to_owned);
    let mut out: Vec<PatientPhone> = Vec::new();
    for t in patient.get("telecom").and_then(Value::as_array).into_iter().flatten() {
        let system = t.get("system").and_then(Value::as_str);
        if !matches!(system, None | Some("phone" | "sms")) || t.pointer("/period/end").is_some() {
            continue;
        }
        let Some(phone) = t.get("value").and_then(Value::as_str).and_then(|v| normalize_e164(v, cc)) else {
            continue;
        };
        if out.iter().all(|p| p.phone != phone) {
            out.push(PatientPhone {
                patient_id: id.to_owned(),
                identifier_system: text(first_id, "system"),
                identifier_value: text(first_id, "value"),
                phone,
            });
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn phones_from_a_bundle() {
        let b = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": {"resourceType": "Patient", "id": "p1",
                "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN1"}],
                "telecom": [
                    {"system": "phone", "value": "(415) 555-2671", "use": "home"},
                    {"system": "phone", "value": "+1 415 555 2671"},
                    {"system": "email", "value": "a@example.org"},
                    {"system": "phone", "value": "415-555-0000", "period": {"end": "2020-01-01"}},
                    {"value": "4155550101"}
                ]}},
            {"resource": {"resourceType": "Encounter", "id": "e1"}},
            {"resource": {"resourceType": "Patient", "telecom": [{"system": "phone", "value": "4155550199"}]}}
        ]});
        let got = patient_phones(&b, "1");
        let phones: Vec<&str> = got.iter().map(|p| p.phone.as_str()).collect();
        assert_eq!(phones, ["+14155552671", "+14155550101"]);
        assert_eq!(got[0].patient_id, "p1");
        assert_eq!(got[0].identifier_value.as_deref(), Some("MRN1"));
        assert_eq!(got[0].identifier_system.as_deref(), Some("urn:oid:1.2.3"));
        assert!(patient_phones(&json!({"resourceType": "Patient"}), "1").is_empty());
        assert!(patient_phones(&json!([1, 2]), "1").is_empty());
        let ids = patient_identifiers(&b);
        assert_eq!(ids.len(), 1);
        assert_eq!((ids[0].system.as_deref(), ids[0].value.as_str()), (Some("urn:oid:1.2.3"), "MRN1"));
        assert_eq!(ids[0].patient.patient_id, "p1");
    }
}
