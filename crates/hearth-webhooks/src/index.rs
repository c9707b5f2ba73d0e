//! What the patient index needs from the ADT stream's Bundles: each Patient's phone numbers in E.164.

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

/// Every phone number (telecom `phone` or `sms`, or without a system when the value reads as a number) of every
/// Patient in `bundle` (a Bundle, or a single Patient). Numbers that do not normalise are left out; each number
/// appears once per Patient. Telecoms whose period has ended are left out: an old number must not link.
pub fn patient_phones(bundle: &Value, default_country_code: &str) -> Vec<PatientPhone> {
    let patients: Vec<&Value> = match bundle.get("resourceType").and_then(Value::as_str) {
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
    };
    patients.into_iter().flat_map(|p| phones_of(p, default_country_code)).collect()
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
    }
}
