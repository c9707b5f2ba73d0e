//! The fast Bundle reading (`bundle_to_json`) against the reference one (`bundle_to_json_reference`): same
//! acceptance, same bytes, same errors, on every Bundle of the corpus that another converter produced and on FHIR's
//! own example resources. Corpus location: `HEARTH_CORPUS`, else `<workspace>/../shared/corpus`; absent → panic
//! under `CI=true`, else a line saying the test checked nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use hearth_fhir::{bundle_to_json, bundle_to_json_fast, bundle_to_json_ordered, bundle_to_json_reference};
use serde_json::{Value, json};

fn corpus(sub: &str) -> Option<PathBuf> {
    let dir = hearth_testkit::corpus_dir().join(sub);
    if dir.is_dir() {
        return Some(dir);
    }
    hearth_testkit::unavailable(sub, &format!("corpus not found at {} (set HEARTH_CORPUS)", dir.display()))
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

/// Same result as the reference reading; `true` when the fast reading itself accepted the Bundle. The element-order
/// writer, where it accepts, writes the reference's bytes (and accepts nothing the reference refuses).
fn same_as_reference(bundle: &Value, what: &str) -> bool {
    let fast = bundle_to_json_fast(bundle);
    let reference = bundle_to_json_reference(bundle);
    if let Some(text) = bundle_to_json_ordered(bundle) {
        assert_eq!(
            Some(&text),
            reference.as_ref().ok(),
            "{what}: the element-order writer accepted what the reference refused, or wrote other bytes"
        );
    }
    if let Some(text) = &fast {
        assert_eq!(
            Some(text),
            reference.as_ref().ok(),
            "{what}: fast reading accepted what the reference refused, or wrote other bytes"
        );
    }
    match (bundle_to_json(bundle), reference) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{what}"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{what}"),
        (a, b) => panic!("{what}: {a:?} vs {b:?}"),
    }
    fast.is_some()
}

#[test]
fn fast_equals_reference_on_peer_bundles() {
    // 132 Bundles Microsoft's converter produced from the HL7 v2 corpus: many resource types, a few invalid.
    let Some(dir) = corpus("hl7v2/ms-fhir-converter/expected") else { return };
    let mut files = Vec::new();
    json_files(&dir, &mut files);
    files.sort();
    assert!(files.len() > 100, "{} files", files.len());
    let (mut accepted, mut valid, mut ordered) = (0, 0, 0);
    for f in &files {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        valid += usize::from(bundle_to_json_reference(&v).is_ok());
        accepted += usize::from(same_as_reference(&v, &f.display().to_string()));
        ordered += usize::from(bundle_to_json_ordered(&v).is_some());
    }
    // The fast path must do the work, not fall back every time.
    assert!(accepted * 10 >= valid * 9, "fast path accepted {accepted} of {valid} valid Bundles");
    eprintln!("element-order writer: {ordered} of {valid} valid peer Bundles");
}

#[test]
fn fast_equals_reference_on_example_resources() {
    // FHIR's own examples (one with contained resources), each alone in a Bundle.
    let Some(dir) = corpus("fhirpath/input") else { return };
    let mut files = Vec::new();
    json_files(&dir, &mut files);
    assert!(!files.is_empty());
    for f in &files {
        let r: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        let b = json!({"resourceType": "Bundle", "type": "collection", "entry": [{"fullUrl": "urn:uuid:0", "resource": r}]});
        same_as_reference(&b, &f.display().to_string());
    }
}

#[test]
fn fast_refusals_fall_back() {
    let patient = json!({"resourceType": "Patient", "id": "p", "gender": "female"});
    let ok = json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient}]});
    assert!(same_as_reference(&ok, "plain"));
    // A lone value for a list: whatever each reading thinks of it, bundle_to_json answers as the reference.
    let lone = json!({"resourceType": "Bundle", "type": "collection",
                      "entry": [{"resource": {"resourceType": "Patient", "name": {"family": "Doe"}}}]});
    same_as_reference(&lone, "lone value for a list");
    let unknown = json!({"resourceType": "Bundle", "type": "collection",
                         "entry": [{"resource": {"resourceType": "Patient", "favouriteColour": "blue"}}]});
    assert!(!same_as_reference(&unknown, "unknown element"));
    assert!(bundle_to_json(&unknown).is_err());
    // fhirbolt 0.4 reads a decimal straight from JSON only as a string: a resource holding a number goes through the
    // enum, and the Bundle still takes the fast path.
    let number: Value = serde_json::from_str(
        r#"{"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": {"resourceType": "Patient", "id": "p"}},
            {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                          "valueQuantity": {"value": 1.50, "unit": "mg"}}}]}"#,
    )
    .unwrap();
    assert!(same_as_reference(&number, "decimal as a number"));
    assert!(bundle_to_json(&number).unwrap().contains(r#""value":1.50"#));
    // A decimal as a string goes the straight way; both readings write a number's text as a number, and neither
    // can write anything else.
    for (value, written) in [("54", true), ("1.50", true), ("abc", false)] {
        let b = json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType":
            "Observation", "status": "final", "code": {"text": "x"}, "valueQuantity": {"value": value}}}]});
        assert_eq!(same_as_reference(&b, &format!("decimal as the string {value:?}")), written, "{value}");
        assert_eq!(bundle_to_json(&b).is_ok(), written, "{value}");
    }
    // A required element missing: the straight reading refuses, then the enum for that entry, then the reference.
    let no_who = json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType":
        "Provenance", "target": [{"reference": "Patient/p"}], "recorded": "2024-01-01T00:00:00Z", "agent": [{}]}}]});
    assert!(!same_as_reference(&no_who, "required element missing"));
    assert!(bundle_to_json(&no_who).is_err());
    let contained = json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource":
        {"resourceType": "Patient", "contained": [{"resourceType": "Organization", "id": "o"}], "gender": "male"}}]});
    assert!(same_as_reference(&contained, "contained"));
    // entry.response.outcome is a nested resource: always the reference reading.
    let outcome = json!({"resourceType": "Bundle", "type": "transaction-response", "entry": [{"response":
        {"status": "200", "outcome": {"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "informational"}]}}}]});
    assert!(!same_as_reference(&outcome, "response outcome"));
    assert!(bundle_to_json(&json!({"resourceType": "Patient"})).is_err());
}
