//! The `claims` profile on a synthetic Tuva-layout file: grouping (contiguous runs), Claim + EOB, group
//! all-or-nothing, golden output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use hearth_csv::{ConvertContext, Converter, Output, Profile, Splitter};
use serde_json::{Value, json};

fn small() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/csv/claims/small.csv")).unwrap()
}

fn ctx() -> ConvertContext<'static> {
    ConvertContext { source: "claims.csv", line_offset: 0, now: time::macros::datetime!(2026-01-02 03:04:05 UTC) }
}

fn convert() -> (hearth_csv::FileReport, Vec<Output>) {
    let profile = Profile::builtin("claims").unwrap();
    let mut out = Vec::new();
    let report = Converter::new(&profile).convert(small().as_slice(), &ctx(), |o| out.push(o)).unwrap();
    (report, out)
}

fn resources(o: &Output) -> Vec<&Value> {
    o.bundle["entry"].as_array().unwrap().iter().map(|e| &e["resource"]).collect()
}

#[test]
fn groups_are_contiguous_runs() {
    let (report, outputs) = convert();
    assert_eq!((report.rows_read, report.rows_converted, report.rows_rejected), (8, 4, 4), "{:#?}", report.errors);
    let groups: Vec<&str> = outputs.iter().map(|o| o.group.as_str()).collect();
    // A1 comes back after B2: a second run, a second Claim with its own id (same business identifier).
    assert_eq!(groups, vec!["2:A1", "4:B2", "5:A1"]);
    let chunks: Vec<_> = Splitter::new(&Profile::builtin("claims").unwrap(), small().as_slice())
        .unwrap()
        .map(|c| {
            let c = c.unwrap();
            (c.key, c.rows)
        })
        .collect();
    let expected: Vec<(String, u64)> = [("2:A1", 2), ("4:B2", 1), ("5:A1", 1), ("6:C3", 2), ("8:D4", 2)]
        .iter()
        .map(|(k, n)| (k.to_string(), *n))
        .collect();
    assert_eq!(chunks, expected);
}

#[test]
fn claim_and_eob() {
    let (_, outputs) = convert();
    let a = resources(&outputs[0]);
    assert_eq!(a.len(), 2, "paid amounts give an ExplanationOfBenefit");
    let (claim, eob) = (a[0], a[1]);
    assert_eq!(claim["resourceType"], "Claim");
    assert_eq!(claim["identifier"][0]["value"], "A1");
    assert_eq!(claim["type"]["coding"][0]["code"], "institutional");
    assert_eq!(
        claim["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0],
        json!({"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M16.11"})
    );
    assert_eq!(
        claim["procedure"][0]["procedureCodeableConcept"]["coding"][0]["system"],
        "http://www.cms.gov/Medicare/Coding/ICD10"
    );
    assert_eq!(claim["supportingInfo"][0]["code"]["coding"][0]["code"], "470");
    assert_eq!(
        claim["item"][0]["modifier"][0]["coding"][0],
        json!({"system": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "code": "RT"})
    );
    assert_eq!(claim["item"][1]["productOrService"]["coding"][0]["code"], "not-applicable");
    assert_eq!(claim["total"]["value"].to_string(), "30120.45");
    assert_eq!(eob["resourceType"], "ExplanationOfBenefit");
    assert_eq!(eob["payment"]["amount"]["value"].to_string(), "14055.30");
    assert_eq!(eob["claim"]["reference"], format!("Claim/{}", claim["id"].as_str().unwrap()));
    let b = resources(&outputs[1]);
    assert_eq!(b.len(), 1, "no paid amount, no EOB");
    assert_eq!(b[0]["provider"]["type"], "Practitioner");
    assert_ne!(resources(&outputs[2])[0]["id"], claim["id"]);
}

#[test]
fn a_bad_line_rejects_its_claim() {
    let (report, _) = convert();
    let lines: Vec<(u64, Option<&str>, &str)> =
        report.errors.iter().map(|e| (e.line, e.column.as_deref(), e.reason.as_str())).collect();
    assert_eq!(
        lines,
        vec![
            (7, Some("claim_line_start_date"), "\"2025-13-01\" is not a date in the profile's formats"),
            (6, None, "rejected with its group (1 of 2 rows bad)"),
            (9, Some("claim_line_number"), "claim line number repeated in the claim"),
            (8, None, "rejected with its group (1 of 2 rows bad)"),
        ]
    );
    assert_eq!(report.errors[0].column_index, Some(8));
}

#[test]
fn golden_and_schema() {
    let (report, outputs) = convert();
    let schema = hearth_fhir::schema::R4Schema::shared().map_err(|e| e.to_string());
    if let Some(schema) = hearth_testkit::require("golden_and_schema", schema) {
        for o in &outputs {
            schema.validate(&o.bundle).unwrap_or_else(|e| panic!("{e:#?}"));
        }
    }
    let actual = json!({"report": report, "bundles": outputs.iter().map(|o| &o.bundle).collect::<Vec<_>>()});
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/csv/claims/small.expected.json");
    if std::env::var("BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, serde_json::to_string_pretty(&actual).unwrap() + "\n").unwrap();
        return;
    }
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(actual, expected, "BLESS=1 rewrites {}", path.display());
}
