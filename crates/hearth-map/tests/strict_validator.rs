//! Every Bundle Hearth's tests produce passes a strict FHIR R4 validator (Google's FHIR protos, through
//! `scripts/fhir-validate.py`): the value sets of required bindings and the instant/dateTime formats, which HL7's
//! JSON schema does not check. Covers every golden file in `fixtures/` (HL7 v2, CSV, webhooks: the tests compare
//! their output with them) and every conversion of Microsoft's HL7 v2 samples. The validator is installed by
//! scripts/test.sh; without it the tests say NOT RUN (a failure under `CI=true`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;

use hearth_hl7v2::{ParseOptions, parse, split_batch};
use hearth_map::hl7v2::{Hl7v2Mapper, MapOptions};
use serde_json::json;

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn the_validator_catches_an_invalid_code_and_a_nine_digit_instant() {
    let test = "the_validator_catches_an_invalid_code_and_a_nine_digit_instant";
    let bundle = |status: &str, timestamp: &str| {
        json!({ "resourceType": "Bundle", "type": "collection", "timestamp": timestamp, "entry": [{
            "fullUrl": "urn:uuid:1b4e28ba-2fa1-41d2-883f-0016d3cca427",
            "resource": { "resourceType": "MedicationRequest", "id": "m1", "status": status, "intent": "order",
                          "medicationCodeableConcept": { "text": "x" }, "subject": { "reference": "Patient/p1" } } }] })
    };
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    std::fs::write(&good, bundle("active", "2024-01-01T12:00:00.123+00:00").to_string()).unwrap();
    let Some(ok) = hearth_testkit::strict_fhir_validate(test, &[&good]) else { return };
    assert!(ok.is_ok(), "{ok:?}");

    // `revoked` is a ServiceRequest status, not a MedicationRequest one; nine fractional digits are nanoseconds.
    let bad_code = dir.path().join("bad_code.json");
    std::fs::write(&bad_code, bundle("revoked", "2024-01-01T12:00:00+00:00").to_string()).unwrap();
    let bad_instant = dir.path().join("bad_instant.ndjson");
    std::fs::write(&bad_instant, format!("{}\n", bundle("active", "2024-01-01T12:00:00.123456789+00:00"))).unwrap();
    let err = hearth_testkit::strict_fhir_validate(test, &[&bad_code, &bad_instant]).unwrap().unwrap_err();
    assert!(err.contains("bad_code.json#1") && err.contains("revoked"), "{err}");
    assert!(err.contains("bad_instant.ndjson#1") && err.contains("Instant"), "{err}");
    assert!(err.contains("2 bundles, 0 valid, 2 invalid"), "{err}");
}

#[test]
fn every_fixture_and_corpus_bundle_passes_the_strict_validator() {
    let test = "every_fixture_and_corpus_bundle_passes_the_strict_validator";
    let Some(corpus) = hearth_testkit::corpus(test) else { return };
    let samples = corpus.join("hl7v2/ms-fhir-converter/samples");
    let mut files: Vec<_> = std::fs::read_dir(&samples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "hl7"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no samples in {}", samples.display());
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("ms-fhir-converter.ndjson");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&out_path).unwrap());
    let mapper = Hl7v2Mapper::new(MapOptions::default().with_timezone("UTC").unwrap());
    let now = time::macros::datetime!(2025-01-01 00:00:00.123456789 UTC);
    let mut refused = Vec::new();
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let batch = split_batch(&bytes).unwrap();
        for raw in batch.message_bytes(&bytes) {
            let msg = parse(raw, &ParseOptions::default()).unwrap();
            match mapper.map(&msg, now) {
                Ok(conv) => writeln!(out, "{}", conv.bundle).unwrap(),
                Err(e) => refused.push(format!("{}: {e}", path.display())),
            }
        }
    }
    out.flush().unwrap();
    drop(out);
    let fixtures = workspace().join("fixtures");
    let Some(result) = hearth_testkit::strict_fhir_validate(test, &[&fixtures, &out_path]) else { return };
    match result {
        Ok(summary) => eprintln!("{}", summary.trim()),
        Err(findings) => panic!("strict FHIR validation failed:\n{findings}"),
    }
    assert!(refused.is_empty(), "every sample converts: {refused:#?}");
}
