//! The FHIR R4 wall. Only this crate instantiates fhirbolt's (slow to compile) serde code, behind non-generic
//! functions; the rest of Hearth builds and reads resources as `serde_json::Value` and calls in here to
//! validate, assign deterministic ids and serialise Bundles.
//!
//! - [`validate_resource`] / [`validate_bundle`]: the structural check, by deserialising into fhirbolt's R4 model
//!   in strict mode: unknown elements, wrong JSON types (an object for a string, a string for a number), a
//!   missing or unknown `resourceType` are errors. fhirbolt does not check values (code bindings, date formats)
//!   nor one-versus-many (it accepts a lone value for a list); the `schema` feature adds HL7's official R4 JSON
//!   schema for tests and tools ([`schema::R4Schema`]), which does.
//! - [`bundle_from_json`] / [`bundle_to_json`] / [`resource_from_json`] / [`resource_to_json`]: text to
//!   checked values and back. Writing goes straight from the `Value` in FHIR element order, checking its shape, and
//!   falls back to fhirbolt whenever it is not sure, so the bytes and what is accepted are fhirbolt's.
//! - [`ids`]: deterministic resource ids.
//!
//! ```
//! let a = hearth_fhir::ids::deterministic_id("Patient", &["urn:oid:2.16.840.1.113883.3.1", "MRN123"]);
//! let b = hearth_fhir::ids::deterministic_id("Patient", &["urn:oid:2.16.840.1.113883.3.1", "MRN123"]);
//! assert_eq!(a, b);
//! assert_eq!(a.len(), 36);
//!
//! let patient = serde_json::json!({"resourceType": "Patient", "gender": "female"});
//! assert!(hearth_fhir::validate_resource(&patient).is_ok());
//! let wrong = serde_json::json!({"resourceType": "Patient", "favouriteColour": "blue"});
//! assert!(hearth_fhir::validate_resource(&wrong).is_err());
//! ```
//!
//! Build-wide side effect: fhirbolt turns on serde_json's `arbitrary_precision` and `preserve_order` features, for
//! every crate in the binary. Numbers then deserialise through a private map inside `#[serde(untagged)]` and
//! `#[serde(flatten)]` types, which breaks those that hold numbers; Hearth has none (see `hearth-config`'s test
//! `numbers_survive_arbitrary_precision`), and objects keep their insertion order, which makes output stable.
#![forbid(unsafe_code)]

pub mod bundle;
mod fast;
pub mod ids;
mod ordered;
#[cfg(feature = "schema")]
pub mod schema;

use fhirbolt::model::r4::Resource;
use serde_json::Value;

/// Why a FHIR document was refused.
#[derive(Debug, thiserror::Error)]
pub enum FhirError {
    /// The text is not JSON.
    #[error("not JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// JSON, but not a structurally valid FHIR R4 resource (fhirbolt's strict model said no).
    #[error("not a valid FHIR R4 {expected}: {reason}")]
    Invalid { expected: &'static str, reason: String },
    /// A valid resource of another type than the one asked for.
    #[error("expected a {expected}, found resourceType {found:?}")]
    WrongType { expected: &'static str, found: String },
}

/// fhirbolt's error messages for unknown fields list every known one: keep the part that says what is wrong.
const MAX_REASON_CHARS: usize = 300;

fn invalid(expected: &'static str, e: impl std::fmt::Display) -> FhirError {
    let mut reason = e.to_string();
    if let Some(cut) = reason.find(", expected one of") {
        reason.truncate(cut);
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        reason = reason.chars().take(MAX_REASON_CHARS).collect::<String>() + "...";
    }
    FhirError::Invalid { expected, reason }
}

fn strict() -> Option<fhirbolt::serde::DeserializationConfig> {
    Some(fhirbolt::serde::DeserializationConfig { mode: fhirbolt::serde::DeserializationMode::Strict })
}

fn to_resource(value: &Value) -> Result<Resource, FhirError> {
    fhirbolt::json::from_json_value::<Resource>(value.clone(), strict()).map_err(|e| invalid("resource", e))
}

/// Deserialises through fhirbolt's `Resource` enum even for a Bundle: fhirbolt 0.4 deserialising a `Bundle` directly
/// from JSON switches its context to the internal element format at the first `entry.resource` and never back, so
/// every element after it (`entry.request`, the next entry's `fullUrl`) is misread. Through `Resource`, the whole
/// document goes through the element format consistently.
fn to_bundle(value: &Value) -> Result<Resource, FhirError> {
    match value.get("resourceType").and_then(Value::as_str) {
        Some("Bundle") => {}
        Some(other) => return Err(FhirError::WrongType { expected: "Bundle", found: other.to_owned() }),
        None => return Err(invalid("Bundle", "no resourceType")),
    }
    match fhirbolt::json::from_json_value::<Resource>(value.clone(), strict()) {
        Ok(r @ Resource::Bundle(_)) => Ok(r),
        Ok(_) => Err(invalid("Bundle", "not a Bundle")),
        Err(e) => Err(invalid("Bundle", e)),
    }
}

/// Checks that `value` is a structurally valid FHIR R4 resource of any type (contained and bundled resources
/// included).
pub fn validate_resource(value: &Value) -> Result<(), FhirError> {
    to_resource(value).map(drop)
}

/// Checks that `value` is a structurally valid FHIR R4 Bundle, every entry's resource included.
pub fn validate_bundle(value: &Value) -> Result<(), FhirError> {
    to_bundle(value).map(drop)
}

/// Parses and checks a resource of any type.
pub fn resource_from_json(json: &str) -> Result<Value, FhirError> {
    let value: Value = serde_json::from_str(json).map_err(FhirError::Json)?;
    validate_resource(&value)?;
    Ok(value)
}

/// Parses and checks a Bundle.
pub fn bundle_from_json(json: &str) -> Result<Value, FhirError> {
    let value: Value = serde_json::from_str(json).map_err(FhirError::Json)?;
    validate_bundle(&value)?;
    Ok(value)
}

/// Checks a Bundle and writes it as compact FHIR JSON (one line, so it fits NDJSON), elements in the order the
/// FHIR specification lists them, so equal content always gives equal bytes.
///
/// The same acceptance and the same bytes as reading the whole Bundle through fhirbolt's `Resource` enum
/// ([`bundle_to_json_reference`]), much cheaper: the Bundle is written straight from the `Value` in element order
/// (`src/ordered.rs`), checking its shape as it goes. Whatever that writer is not sure of goes to fhirbolt: its fast
/// reading (`src/fast.rs`), then the reference reading, which decides (and names the error). `hearth-map`'s
/// `convert` bench measures all three.
pub fn bundle_to_json(bundle: &Value) -> Result<String, FhirError> {
    if let Some(text) = bundle_to_json_ordered(bundle) {
        return Ok(text);
    }
    match bundle_to_json_fast(bundle) {
        Some(text) => Ok(text),
        None => bundle_to_json_reference(bundle),
    }
}

/// The element-order writer of [`bundle_to_json`] alone: `None` when it is not sure (then [`bundle_to_json`] asks
/// fhirbolt). For tests and benchmarks that check it gives fhirbolt's bytes and does the work.
#[doc(hidden)]
pub fn bundle_to_json_ordered(bundle: &Value) -> Option<String> {
    ordered::to_string(bundle, Some("Bundle"), false)
}

/// The fast reading of [`bundle_to_json`] alone: `None` when it refuses the Bundle (then [`bundle_to_json`] asks the
/// reference reading). For tests and benchmarks that check the fast path does the work.
#[doc(hidden)]
pub fn bundle_to_json_fast(bundle: &Value) -> Option<String> {
    fast::to_bundle(bundle).and_then(|typed| fhirbolt::json::to_string(&typed, None).ok())
}

/// [`bundle_to_json`] the slow, simple way: the whole Bundle through fhirbolt's `Resource` enum and its element
/// tree. Kept as the reference the fast path is tested against, and as its fallback.
pub fn bundle_to_json_reference(bundle: &Value) -> Result<String, FhirError> {
    let typed = to_bundle(bundle)?;
    fhirbolt::json::to_string(&typed, None).map_err(|e| invalid("Bundle", e))
}

/// Like [`bundle_to_json`], indented for people.
pub fn bundle_to_json_pretty(bundle: &Value) -> Result<String, FhirError> {
    match ordered::to_string(bundle, Some("Bundle"), true) {
        Some(text) => Ok(text),
        None => bundle_to_json_pretty_reference(bundle),
    }
}

/// [`bundle_to_json_pretty`] through fhirbolt's model alone: the reference the element-order writer is tested against.
#[doc(hidden)]
pub fn bundle_to_json_pretty_reference(bundle: &Value) -> Result<String, FhirError> {
    let typed = to_bundle(bundle)?;
    fhirbolt::json::to_string_pretty(&typed, None).map_err(|e| invalid("Bundle", e))
}

/// Checks a resource of any type and writes it as compact FHIR JSON in specification order.
pub fn resource_to_json(resource: &Value) -> Result<String, FhirError> {
    if let Some(text) = ordered::to_string(resource, None, false) {
        return Ok(text);
    }
    let typed = to_resource(resource)?;
    fhirbolt::json::to_string(&typed, None).map_err(|e| invalid("resource", e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patient() -> Value {
        json!({
            "resourceType": "Patient",
            "id": "p1",
            "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN1"}],
            "name": [{"family": "Doe", "given": ["Jane"]}],
            "gender": "female",
            "birthDate": "1980-02-29",
            "_birthDate": {"extension": [{"url": "http://example.org/x", "valueString": "x"}]}
        })
    }

    fn bundle(resource: Value) -> Value {
        json!({
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{
                "fullUrl": "urn:uuid:719a67a4-5eef-5469-afc4-1c86589d2481",
                "resource": resource,
                "request": {"method": "PUT", "url": "Patient/p1"}
            }]
        })
    }

    #[test]
    fn valid_resource() {
        validate_resource(&patient()).unwrap();
        let obs = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                         "valueQuantity": {"value": 1.50, "unit": "mg"}});
        validate_resource(&obs).unwrap();
    }

    #[test]
    fn invalid_resources() {
        let mut unknown = patient();
        unknown["favouriteColour"] = json!("blue");
        let e = validate_resource(&unknown).unwrap_err().to_string();
        assert!(e.contains("favouriteColour"), "{e}");
        assert!(e.len() < 400, "{e}");
        let mut wrong_type = patient();
        wrong_type["gender"] = json!(1);
        assert!(validate_resource(&wrong_type).is_err());
        // Not checked here (fhirbolt reads resources through its element model, which accepts one value for a list
        // and a one-element list for a value): cardinality is the R4 schema's job (`schema` feature).
        assert!(validate_resource(&json!({"resourceType": "NoSuchThing"})).is_err());
        assert!(validate_resource(&json!({"gender": "female"})).is_err());
    }

    #[test]
    fn valid_bundle_round_trips() {
        let b = bundle(patient());
        validate_bundle(&b).unwrap();
        let text = bundle_to_json(&b).unwrap();
        assert!(!text.contains('\n'));
        let back = bundle_from_json(&text).unwrap();
        assert_eq!(back, b);
        assert!(bundle_to_json_pretty(&b).unwrap().contains('\n'));
        assert_eq!(resource_from_json(&resource_to_json(&patient()).unwrap()).unwrap(), patient());
    }

    #[test]
    fn decimals_keep_their_precision() {
        // arbitrary_precision: 1.50 stays 1.50 (FHIR decimals carry precision).
        let obs =
            r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1.50}}"#;
        let v = resource_from_json(obs).unwrap();
        assert!(resource_to_json(&v).unwrap().contains("1.50"));
    }

    #[test]
    fn invalid_bundles() {
        let mut bad_entry = patient();
        bad_entry["gender"] = json!({"code": "female"});
        assert!(matches!(validate_bundle(&bundle(bad_entry)), Err(FhirError::Invalid { .. })));
        assert!(matches!(validate_bundle(&patient()), Err(FhirError::WrongType { .. })));
        let mut bad_type = bundle(patient());
        bad_type["type"] = json!({"code": "transaction"});
        assert!(validate_bundle(&bad_type).is_err());
        assert!(matches!(bundle_from_json("{not json"), Err(FhirError::Json(_))));
    }
}
