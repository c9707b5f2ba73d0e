//! Converts every sample of the shared corpus (`<corpus>/hl7v2/ms-fhir-converter/samples`): each gives a Bundle
//! valid against HL7's R4 JSON schema with FHIR's required elements, or `UnsupportedStructure`; converting twice
//! gives the same Bundle (but its timestamps). Corpus location: `HEARTH_CORPUS`, else `<workspace>/../shared/corpus`;
//! absent → panic under `CI=true`, else a skip line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use hearth_fhir::schema::{R4Schema, corpus_dir};
use hearth_hl7v2::{ParseOptions, parse};
use hearth_map::MapError;
use hearth_map::hl7v2::{Hl7v2Mapper, MapOptions};
use serde_json::Value;

fn samples() -> Option<Vec<PathBuf>> {
    let dir = corpus_dir().join("hl7v2/ms-fhir-converter/samples");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return hearth_testkit::unavailable(
            "samples",
            &format!("corpus not found at {} (set HEARTH_CORPUS)", dir.display()),
        );
    };
    let mut files: Vec<PathBuf> =
        rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "hl7")).collect();
    files.sort();
    Some(files)
}

/// Removes what may differ between two conversions: timestamps set from the clock.
fn strip_clock(v: &mut Value) {
    if let Some(o) = v.as_object_mut() {
        o.remove("timestamp");
        if o.get("resourceType").and_then(Value::as_str) == Some("Provenance") {
            o.remove("recorded");
        }
        for (_, x) in o.iter_mut() {
            strip_clock(x);
        }
    } else if let Some(a) = v.as_array_mut() {
        a.iter_mut().for_each(strip_clock);
    }
}

/// FHIR's required elements the JSON schema does not enforce.
fn required(bundle: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    let transaction = bundle["type"] == "transaction";
    let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
    if entries.is_empty() {
        errs.push("empty Bundle".to_owned());
    }
    let urls: Vec<&str> = entries.iter().filter_map(|e| e["fullUrl"].as_str()).collect();
    for (i, e) in entries.iter().enumerate() {
        let r = &e["resource"];
        let t = r["resourceType"].as_str().unwrap_or_default();
        if transaction && (e["request"]["method"].is_null() || e["request"]["url"].is_null()) {
            errs.push(format!("entry {i} ({t}): no request"));
        }
        let need: &[&str] = match t {
            "Encounter" => &["status", "class"],
            "Observation" => &["status", "code"],
            "Patient" | "Practitioner" | "Location" => &[],
            "Organization" => &[],
            "AllergyIntolerance" => &["patient"],
            "Condition" => &["subject"],
            "Procedure" => &["status", "subject"],
            "Coverage" => &["status", "beneficiary", "payor"],
            "RelatedPerson" => &["patient"],
            "MessageHeader" => &["source"],
            "Provenance" => &["target", "recorded", "agent"],
            "ServiceRequest" => &["status", "intent", "subject"],
            "DiagnosticReport" => &["status", "code"],
            "Specimen" | "DocumentReference" => &[],
            "Immunization" => &["status", "vaccineCode", "patient"],
            "Appointment" => &["status", "participant"],
            "MedicationRequest" => &["status", "intent", "subject"],
            "ChargeItem" => &["status", "code", "subject"],
            _ => &[],
        };
        for k in need {
            if r.get(*k).is_none() {
                errs.push(format!("entry {i} ({t}): missing {k}"));
            }
        }
        // Every in-bundle reference resolves.
        let mut refs = Vec::new();
        collect_refs(r, &mut refs);
        for rf in refs {
            if rf.starts_with("urn:uuid:") && !urls.contains(&rf.as_str()) {
                errs.push(format!("entry {i} ({t}): dangling reference {rf}"));
            }
        }
    }
    errs
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if k == "reference"
                    && let Some(s) = x.as_str()
                {
                    out.push(s.to_owned());
                }
                collect_refs(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

#[test]
fn every_sample_converts_to_a_valid_bundle() {
    let Some(files) = samples() else { return };
    let test = "every_sample_converts_to_a_valid_bundle";
    let Some(schema) = hearth_testkit::require(test, R4Schema::shared().map_err(|e| e.to_string())) else { return };
    let mapper = Hl7v2Mapper::new(MapOptions::default());
    let t1 = time::OffsetDateTime::UNIX_EPOCH;
    let t2 = t1 + time::Duration::hours(5);
    let (mut ok, mut unsupported, mut failures) = (0, Vec::new(), Vec::new());
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(path).unwrap();
        let msg = match parse(&bytes, &ParseOptions::default()) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{name}: parse: {e}"));
                continue;
            }
        };
        match mapper.map(&msg, t1) {
            Err(MapError::UnsupportedStructure { structure, event }) => {
                unsupported.push(format!("{name} {structure} {event}"))
            }
            Err(e) => failures.push(format!("{name}: {e}")),
            Ok(conv) => {
                let mut errs = schema.validate(&conv.bundle).err().unwrap_or_default();
                errs.extend(required(&conv.bundle));
                let again = mapper.map(&msg, t2).map(|c| c.bundle);
                match again {
                    Ok(mut b2) => {
                        let mut b1 = conv.bundle.clone();
                        strip_clock(&mut b1);
                        strip_clock(&mut b2);
                        if b1 != b2 {
                            errs.push("not deterministic".to_owned());
                        }
                    }
                    Err(e) => errs.push(format!("second conversion failed: {e}")),
                }
                if errs.is_empty() {
                    ok += 1;
                } else {
                    errs.truncate(8);
                    failures.push(format!("{name}:\n    {}", errs.join("\n    ")));
                }
            }
        }
    }
    eprintln!(
        "corpus: {} samples, {ok} valid bundles, {} unsupported, {} failed",
        files.len(),
        unsupported.len(),
        failures.len()
    );
    for u in &unsupported {
        eprintln!("  unsupported: {u}");
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert!(ok > 0);
}
