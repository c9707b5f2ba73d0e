//! Golden tests: every `fixtures/hl7v2/<case>.hl7` (one message or a batch) is converted with a fixed clock
//! (2025-01-01T00:00:00Z) and compared with `<case>.expected.json` (`{"bundle", "report"}`, an array for a batch).
//! `<case>.tz`, when present, holds the facility time zone (IANA name); without it the zone is UTC, as the CLI
//! and the engine always give the mapper one (the host's by default). `BLESS=1` rewrites the expected files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use hearth_hl7v2::{ParseOptions, parse, split_batch};
use hearth_map::hl7v2::{Hl7v2Mapper, MapOptions};
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/hl7v2")
}

fn convert(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap();
    let tz = path.with_extension("tz");
    let zone = if tz.is_file() { std::fs::read_to_string(&tz).unwrap().trim().to_owned() } else { "UTC".to_owned() };
    let opts = MapOptions::default().with_timezone(&zone).unwrap();
    let mapper = Hl7v2Mapper::new(opts);
    let now = time::macros::datetime!(2025-01-01 00:00:00 UTC);
    let batch = split_batch(&bytes).unwrap();
    let mut out = Vec::new();
    for m in batch.message_bytes(&bytes) {
        let v = match parse(m, &ParseOptions { require_control_id: false, ..ParseOptions::default() }) {
            Err(e) => json!({ "parse_error": e.to_string() }),
            Ok(msg) => match mapper.map(&msg, now) {
                Ok(c) => json!({ "bundle": c.bundle, "report": serde_json::to_value(&c.report).unwrap() }),
                Err(e) => json!({ "error": e.to_string() }),
            },
        };
        out.push(v);
    }
    if out.len() == 1 { out.remove(0) } else { Value::Array(out) }
}

/// The first path where two values differ.
fn diff(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let p = format!("{path}/{k}");
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => {
                        if let Some(d) = diff(u, v, &p) {
                            return Some(d);
                        }
                    }
                    (u, v) => return Some(format!("{p}: {u:?} != {v:?}")),
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                if let Some(d) = diff(u, v, &format!("{path}/{i}")) {
                    return Some(d);
                }
            }
            (x.len() != y.len()).then(|| format!("{path}: length {} != {}", x.len(), y.len()))
        }
        _ => (a != b).then(|| format!("{path}: {a} != {b}")),
    }
}

#[test]
fn golden() {
    let bless = std::env::var("BLESS").as_deref() == Ok("1");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "hl7"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty());
    // Every golden Bundle must also pass HL7's R4 JSON schema (from the corpus; mandatory under CI=true).
    let schema = hearth_testkit::require(
        "golden bundles: schema check",
        hearth_fhir::schema::R4Schema::shared().map_err(|e| e.to_string()),
    );
    let mut failures = Vec::new();
    for case in &cases {
        let got = convert(case);
        if let Some(schema) = schema {
            let results = match &got {
                Value::Array(items) => items.iter().collect(),
                one => vec![one],
            };
            for (n, r) in results.into_iter().enumerate() {
                match r.get("bundle") {
                    Some(bundle) => {
                        if let Err(errs) = schema.validate(bundle) {
                            failures.push(format!("{} #{n}: not schema-valid: {}", case.display(), errs.join("; ")));
                        }
                    }
                    None => failures.push(format!("{} #{n}: no bundle: {r}", case.display())),
                }
            }
        }
        let expected_path = case.with_extension("expected.json");
        if bless {
            std::fs::write(&expected_path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&expected_path) else {
            failures.push(format!("{}: no expected file (run with BLESS=1)", case.display()));
            continue;
        };
        let expected: Value = serde_json::from_str(&text).unwrap();
        if let Some(d) = diff(&got, &expected, "") {
            failures.push(format!("{}: got != expected at {d}", case.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Each expected Bundle also holds what the IG tables say, checked field by field here (so a bad bless shows).
fn resource<'a>(bundle: &'a Value, rtype: &str) -> Vec<&'a Value> {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == rtype)
        .collect()
}

#[test]
fn adt_a01_fields_follow_the_ig() {
    let got = convert(&fixtures().join("adt-a01-full.hl7"));
    let b = &got["bundle"];
    let p = resource(b, "Patient");
    let p = p.first().unwrap();
    assert_eq!(p["identifier"][0]["system"], "urn:oid:2.16.840.1.113883.19.5");
    assert_eq!(p["identifier"][0]["value"], "MRN12345");
    assert_eq!(p["identifier"][0]["type"]["coding"][0]["code"], "MR");
    assert_eq!(p["name"][0]["family"], "Testperson");
    assert_eq!(p["name"][0]["given"], json!(["Alexa", "Q"]));
    assert_eq!(p["name"][0]["use"], "official");
    assert_eq!(p["gender"], "female");
    assert_eq!(p["birthDate"], "1984-07");
    assert_eq!(p["address"][0]["city"], "Springfield");
    assert_eq!(p["address"][0]["use"], "home");
    assert_eq!(p["telecom"][0]["system"], "phone");
    assert_eq!(p["telecom"][0]["use"], "home");
    assert_eq!(p["telecom"][1]["system"], "email");
    assert_eq!(p["maritalStatus"]["coding"][0]["system"], "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus");
    assert_eq!(p["maritalStatus"]["coding"][0]["code"], "M");
    assert_eq!(p["deceasedBoolean"], false);
    let e = resource(b, "Encounter");
    let e = e.first().unwrap();
    assert_eq!(e["status"], "in-progress");
    assert_eq!(e["class"]["code"], "IMP");
    assert_eq!(e["period"]["start"], "2024-03-01T08:30:00-05:00");
    assert_eq!(e["participant"][0]["type"][0]["coding"][0]["code"], "ATND");
    assert!(e["diagnosis"][0]["condition"]["reference"].as_str().unwrap().starts_with("urn:uuid:"));
    assert_eq!(resource(b, "AllergyIntolerance")[0]["criticality"], "high");
    assert_eq!(resource(b, "Coverage")[0]["payor"].as_array().map(Vec::len), Some(1));
    // One Practitioner for one person named in PV1-7 and DG1-16.
    let cond = resource(b, "Condition");
    assert_eq!(cond[0]["asserter"], e["participant"][0]["individual"]);
    assert_eq!(
        resource(b, "Practitioner").len(),
        3,
        "the attending (PV1-7 = DG1-16), the clerk (EVN-5), the PCP (ROL-4)"
    );
    let unmapped = got["report"]["unmapped"].as_array().unwrap();
    assert!(unmapped.contains(&json!("PID-10")), "{unmapped:?}");
    assert!(got["report"]["warnings"].as_array().unwrap().iter().any(|w| w["kind"] == "z_segment"));
}

#[test]
fn adt_a03_discharge_and_deceased() {
    let got = convert(&fixtures().join("adt-a03-discharge.hl7"));
    let b = &got["bundle"];
    let p = resource(b, "Patient");
    // Naive times take the facility zone (America/Chicago, CST in March before the 10th).
    assert_eq!(p[0]["deceasedDateTime"], "2024-03-05T15:50:00-06:00");
    assert_eq!(p[0]["birthDate"], "1984-07-15");
    let e = resource(b, "Encounter");
    assert_eq!(e[0]["status"], "finished");
    assert_eq!(e[0]["class"]["code"], "EMER");
    assert_eq!(e[0]["period"]["end"], "2024-03-05T16:00:00-06:00");
    assert_eq!(e[0]["hospitalization"]["dischargeDisposition"]["coding"][0]["code"], "01");
    assert_eq!(e[0]["location"][0]["status"], "completed");
    assert_eq!(resource(b, "Procedure")[0]["status"], "completed");
    let cov = resource(b, "Coverage");
    assert_eq!(cov[0]["relationship"]["coding"][0]["code"], "spouse");
    let sub = cov[0]["subscriber"]["reference"].as_str().unwrap();
    assert!(resource(b, "RelatedPerson").iter().any(|r| format!("urn:uuid:{}", r["id"].as_str().unwrap()) == sub));
    assert!(got["report"]["unmapped"].as_array().unwrap().contains(&json!("IN2-2")));
}

#[test]
fn adt_a40_merge_links_patients() {
    let got = convert(&fixtures().join("adt-a40-merge.hl7"));
    let b = &got["bundle"];
    let ps = resource(b, "Patient");
    assert_eq!(ps.len(), 2);
    let survivor = ps.iter().find(|p| p["active"].is_null()).unwrap();
    let old = ps.iter().find(|p| p["active"] == false).unwrap();
    assert_eq!(survivor["link"][0]["type"], "replaces");
    assert_eq!(old["link"][0]["type"], "replaced-by");
    assert_eq!(survivor["birthDate"], "2001");
    assert_eq!(survivor["gender"], "unknown");
    // The old Patient has the id an ADT for MRN19999 would have given it.
    assert_eq!(old["id"], hearth_fhir::ids::deterministic_id("Patient", &["urn:hearth:v2:SYNTHHOSP", "MRN19999"]));
}

#[test]
fn adt_a17_two_patients_two_encounters() {
    let got = convert(&fixtures().join("adt-a17-swap.hl7"));
    let b = &got["bundle"];
    let ps = resource(b, "Patient");
    let es = resource(b, "Encounter");
    assert_eq!((ps.len(), es.len()), (2, 2));
    for (p, e) in ps.iter().zip(&es) {
        assert_eq!(e["subject"]["reference"].as_str().unwrap(), format!("urn:uuid:{}", p["id"].as_str().unwrap()));
    }
}

#[test]
fn invalid_values_are_skipped_with_warnings() {
    let got = convert(&fixtures().join("adt-a04-invalid.hl7"));
    let p = resource(&got["bundle"], "Patient");
    assert!(p[0].get("birthDate").is_none());
    let warnings = got["report"]["warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|w| w["location"] == "PID-7" && w["kind"] == "invalid_value"));
    assert!(warnings.iter().any(|w| w["location"] == "PV1-2" && w["kind"] == "unknown_code"));
    let e = resource(&got["bundle"], "Encounter");
    assert_eq!(e[0]["class"]["system"], "http://terminology.hl7.org/CodeSystem/v2-0004");
}

#[test]
fn times_keep_their_time_of_day_in_the_facility_zone() {
    // Facility zone America/New_York (EDT in June); times sent without an offset.
    let got = convert(&fixtures().join("adt-a01-times.hl7"));
    let b = &got["bundle"];
    // Bundle.timestamp is MSH-7 with the offset as sent, cut to milliseconds (nine digits were sent).
    assert_eq!(b["timestamp"], "2024-06-15T14:30:00.123+05:30");
    let p = resource(b, "Patient");
    assert_eq!(p[0]["birthDate"], "1984-07", "a partial date stays partial");
    assert_eq!(p[0]["deceasedDateTime"], "2024-06-15T12:00:00-04:00", "hour precision padded, never cut to the date");
    let e = resource(b, "Encounter");
    assert_eq!(e[0]["period"]["start"], "2024-06-15T08:30:00-04:00", "minute precision padded to seconds");
    let evn = resource(b, "Provenance").into_iter().find(|p| p["activity"]["coding"][0]["code"] == "A01").unwrap();
    assert_eq!(evn["recorded"], "2024-06-15T09:05:00.987-04:00");
    let o = resource(b, "Observation");
    assert_eq!(o[0]["effectiveDateTime"], "2024-06-15T09:15:00.5-04:00");
    // The conversion time stays in the transformation Provenance.
    let t = resource(b, "Provenance").into_iter().find(|p| p["activity"]["coding"][0]["code"] == "CREATE").unwrap();
    assert_eq!(t["recorded"], "2025-01-01T00:00:00+00:00");
    assert!(got["report"]["warnings"].as_array().unwrap().iter().all(|w| w["kind"] != "invalid_value"), "{got}");
}

#[test]
fn without_a_zone_naive_times_are_read_as_utc_and_reported() {
    let bytes = std::fs::read(fixtures().join("adt-a01-times.hl7")).unwrap();
    let msg = parse(&bytes, &ParseOptions::default()).unwrap();
    let conv = Hl7v2Mapper::new(MapOptions::default()).map(&msg, time::OffsetDateTime::UNIX_EPOCH).unwrap();
    let e = resource(&conv.bundle, "Encounter");
    assert_eq!(e[0]["period"]["start"], "2024-06-15T08:30:00+00:00");
    let naive: Vec<_> = conv.report.warnings.iter().filter(|w| w.message.contains("no facility time zone")).collect();
    assert_eq!(naive.len(), 1, "{:?}", conv.report.warnings);
}

#[test]
fn telecoms_follow_the_ig_xtn_table() {
    let got = convert(&fixtures().join("adt-a04-contacts.hl7"));
    let p = resource(&got["bundle"], "Patient");
    let t = p[0]["telecom"].as_array().unwrap();
    // "+" country, area, local, " X" extension, spaces between (IG XTN[ContactPoint]).
    assert_eq!(t[0]["value"], "+33 1 42424242 X7");
    assert_eq!(t[0]["system"], "phone");
    assert_eq!(t[0]["use"], "home");
    assert_eq!(t[0]["extension"][0]["url"], "http://hl7.org/fhir/StructureDefinition/contactpoint-country");
    assert_eq!(t[0]["extension"][3]["valueString"], "7");
    // XTN-12 when valued; a cell phone is a phone used as mobile.
    assert_eq!(t[1]["value"], "+33612345678");
    assert_eq!((&t[1]["system"], &t[1]["use"]), (&json!("phone"), &json!("mobile")));
    assert_eq!((&t[2]["system"], &t[2]["value"]), (&json!("email"), &json!("dana@example.invalid")));
    // XTN-1 only when neither XTN-7 nor XTN-12 is valued; ORN has no FHIR use in the IG's map: the field's
    // (PID-13 is the home number).
    assert_eq!(t[3]["value"], "(01) 4040 4040");
    assert_eq!(t[3]["use"], "home");
    // PID-14: no country code → "area local X extension", use work.
    assert_eq!((&t[4]["value"], &t[4]["use"]), (&json!("555 0100 X22"), &json!("work")));
    let nk = resource(&got["bundle"], "RelatedPerson");
    assert_eq!(nk[0]["telecom"][0]["value"], "+44 20 79460000");
}

/// The first coding of a CodeableConcept, as (system, code).
fn coding(cc: &Value) -> (String, String) {
    let c = &cc["coding"][0];
    (c["system"].as_str().unwrap_or_default().to_owned(), c["code"].as_str().unwrap_or_default().to_owned())
}

fn pair(system: &str, code: &str) -> (String, String) {
    (system.to_owned(), code.to_owned())
}

#[test]
fn vocabulary_maps_the_ig_names_are_applied() {
    let got = convert(&fixtures().join("adt-a01-vocabulary.hl7"));
    let b = &got["bundle"];
    let v3role = "http://terminology.hl7.org/CodeSystem/v3-RoleCode";
    // NK1-3 through Relationship, NK1-7 through ContactRole; the v2 code stays as a second coding.
    let rp = resource(b, "RelatedPerson").into_iter().find(|r| r["telecom"].is_array()).unwrap();
    assert_eq!(coding(&rp["relationship"][0]), pair(v3role, "SPS"));
    assert_eq!(rp["relationship"][0]["coding"][1]["code"], "SPO");
    assert_eq!(coding(&rp["relationship"][1]), pair("http://terminology.hl7.org/CodeSystem/v2-0131", "C"));
    // The same next of kin as a Patient.contact (IG NK1[Patient]).
    let p = resource(b, "Patient");
    assert_eq!(coding(&p[0]["contact"][0]["relationship"][0]), pair(v3role, "SPS"));
    assert_eq!(p[0]["contact"][0]["name"]["family"], "Mapper");
    // PID-17 through Religion.
    let religion = &p[0]["extension"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["url"].as_str().unwrap().ends_with("religion"))
        .unwrap()["valueCodeableConcept"];
    assert_eq!(coding(religion), pair("http://terminology.hl7.org/CodeSystem/v3-ReligiousAffiliation", "1009"));
    // EVN-4 through EventReason.
    let evn = resource(b, "Provenance").into_iter().find(|p| p["reason"].is_array()).unwrap();
    assert_eq!(coding(&evn["reason"][0]), pair("http://terminology.hl7.org/CodeSystem/v3-ActReason", "PATRQT"));
    let e = &resource(b, "Encounter")[0];
    assert_eq!(coding(&e["serviceType"]), pair("http://terminology.hl7.org/CodeSystem/service-type", "382"));
    assert_eq!(coding(&e["priority"]), pair("http://terminology.hl7.org/CodeSystem/v3-ActPriority", "EM"));
    assert_eq!(
        coding(&e["hospitalization"]["specialArrangement"][0]),
        pair("http://terminology.hl7.org/CodeSystem/encounter-special-arrangements", "wheel"),
        "PV1-15 (not PV1-16) is the ambulatory status"
    );
    assert_eq!(e["hospitalization"]["reAdmission"]["coding"][0]["code"], "R");
    // ROL-3 through ProviderRole.
    let rol = e["participant"].as_array().unwrap().iter().find(|p| p["type"][0]["coding"][0]["code"] == "ATND");
    assert!(rol.is_some(), "{}", e["participant"]);
    // IN1-17: subscriber-relationship first, then the IG's Relationship coding.
    let cov = &resource(b, "Coverage")[0];
    assert_eq!(
        coding(&cov["relationship"]),
        pair("http://terminology.hl7.org/CodeSystem/subscriber-relationship", "spouse")
    );
    assert_eq!(cov["relationship"]["coding"][1]["code"], "SPS");
    // PID-18 → Account (IG PID[Account]).
    let acct = resource(b, "Account");
    assert!(acct.iter().any(|a| a["identifier"][0]["value"] == "ACCT-V1" && a["status"] == "active"), "{acct:?}");
}

#[test]
fn a_merge_keeps_the_prior_account() {
    let got = convert(&fixtures().join("adt-a40-accounts.hl7"));
    let acct = resource(&got["bundle"], "Account");
    let old = acct.iter().find(|a| a["identifier"][0]["value"] == "ACCT-OLD").expect("MRG-3 → Account");
    assert_eq!(old["status"], "unknown", "IG MRG[Account]");
    let keep = resource(&got["bundle"], "Patient").into_iter().find(|p| p["active"].is_null()).unwrap();
    assert_eq!(old["subject"][0]["reference"], format!("urn:uuid:{}", keep["id"].as_str().unwrap()));
    assert!(acct.iter().any(|a| a["identifier"][0]["value"] == "ACCT-KEEP"));
    assert!(!got["report"]["unmapped"].as_array().unwrap().contains(&json!("MRG-3")));
}

#[test]
fn text_only_codes_keep_their_text_in_latin1_feeds() {
    let got = convert(&fixtures().join("adt-a01-text-only.hl7"));
    let b = &got["bundle"];
    let p = &resource(b, "Patient")[0];
    assert_eq!(p["name"][0]["family"], "Müller");
    assert_eq!(p["name"][0]["given"][0], "Zoë");
    assert_eq!(p["communication"][0]["language"], json!({ "text": "Français" }));
    let rp = &resource(b, "RelatedPerson")[0];
    assert_eq!(rp["relationship"][0], json!({ "text": "Beau-frère" }));
    assert_eq!(p["contact"][0]["relationship"][0], json!({ "text": "Beau-frère" }));
    let e = &resource(b, "Encounter")[0];
    assert_eq!(e["reasonCode"][0], json!({ "text": "Douleur thoracique aiguë" }));
    assert_eq!(resource(b, "AllergyIntolerance")[0]["code"], json!({ "text": "Pénicilline" }));
    assert_eq!(resource(b, "Condition")[0]["code"], json!({ "text": "Fièvre" }));
    let evn = resource(b, "Provenance").into_iter().find(|p| p["reason"].is_array()).unwrap();
    assert_eq!(evn["reason"][0], json!({ "text": "Demande du patient" }));
    let unmapped = got["report"]["unmapped"].as_array().unwrap();
    assert_eq!(unmapped, &vec![json!("MSH-17")], "every coded field was read");
}

#[test]
fn repeating_segments_never_share_an_id_through_their_set_id() {
    // Every SPM, OBX and NK1 of this message repeats set id 1; the orders of the first two groups have no
    // number, the last three groups share one placer number (one order, several requests).
    let got = convert(&fixtures().join("oru-two-specimens.hl7"));
    let b = &got["bundle"];
    let specimens = resource(b, "Specimen");
    assert_eq!(specimens.len(), 5, "one Specimen per SPM");
    let types: Vec<&str> = specimens.iter().map(|s| s["type"]["coding"][0]["code"].as_str().unwrap()).collect();
    assert_eq!(types, ["BLD", "SER", "BLD", "BLD", "SER"]);
    assert_eq!(specimens[2]["identifier"][0]["value"], "SP-77", "SPM-2 is the identity when sent");
    let reports = resource(b, "DiagnosticReport");
    assert_ne!(reports[0]["specimen"], reports[1]["specimen"]);
    let glucose: Vec<_> =
        resource(b, "Observation").into_iter().filter(|o| o["code"]["coding"][0]["code"] == "2345-7").collect();
    assert_eq!(glucose.len(), 2, "two results with the same set id and code are two Observations");
    assert_eq!(resource(b, "RelatedPerson").len(), 2, "two NK1 with set id 1 are two people");
    // Converting again gives the same ids (ranks, not message positions of other groups).
    assert_eq!(convert(&fixtures().join("oru-two-specimens.hl7")), got);
}

#[test]
fn a_charge_is_coded_by_its_procedure() {
    let got = convert(&fixtures().join("dft-p03-procedure.hl7"));
    let charges = resource(&got["bundle"], "ChargeItem");
    assert_eq!(charges.len(), 2);
    // FT1-25 (CPT) first, FT1-7 (the charge master's transaction code) kept as a further coding.
    assert_eq!(coding(&charges[0]["code"]), pair("http://www.ama-assn.org/go/cpt", "71045"));
    assert_eq!(charges[0]["code"]["coding"][1]["code"], "CDM-4410");
    assert_eq!(charges[0]["quantity"]["value"], 1);
    assert_eq!(charges[0]["priceOverride"]["value"].to_string(), "125.50", "the amount as sent");
    assert_eq!(charges[0]["priceOverride"]["currency"], "USD");
    assert_eq!(charges[0]["occurrenceDateTime"], "2024-05-05T15:00:00+00:00");
    // FT1-25 alone (no FT1-7) is enough for a ChargeItem.
    assert_eq!(coding(&charges[1]["code"]), pair("http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "36415"));
    assert!(!got["report"]["unmapped"].as_array().unwrap().contains(&json!("FT1-25")));
}

#[test]
fn codes_stay_in_their_r4_value_sets_and_periods_run_forward() {
    let got = convert(&fixtures().join("rde-o11-out-of-range.hl7"));
    let b = &got["bundle"];
    // The IG's order maps give `revoked` (OC order cancelled, DC discontinued, ORC-5 CA), a ServiceRequest
    // status: a MedicationRequest says cancelled / stopped.
    let statuses: Vec<&str> = resource(b, "MedicationRequest").iter().map(|m| m["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["cancelled", "stopped", "cancelled"]);
    // PV1-45 before PV1-44: the start is kept, the end reported, the discharge still makes it finished.
    let e = &resource(b, "Encounter")[0];
    assert_eq!(e["period"], json!({ "start": "2024-05-06T08:00:00+00:00" }));
    assert_eq!(e["status"], "finished");
    let w = got["report"]["warnings"].as_array().unwrap();
    assert!(w.iter().any(|w| w["location"] == "PV1-45" && w["kind"] == "invalid_value"), "{w:?}");
}

#[test]
fn problems_become_problem_list_conditions() {
    let got = convert(&fixtures().join("ppr-pc1-problems.hl7"));
    let c = resource(&got["bundle"], "Condition");
    assert_eq!(c.len(), 2);
    assert_eq!(c[0]["category"][0]["coding"][0]["code"], "problem-list-item");
    assert_eq!(coding(&c[0]["code"]), pair("http://hl7.org/fhir/sid/icd-10-cm", "I10"));
    assert_eq!(c[0]["clinicalStatus"]["coding"][0]["code"], "active");
    assert_eq!(c[0]["onsetDateTime"], "2023");
    assert_eq!(c[0]["note"][0]["text"], "Home readings above 150/95");
    assert_eq!(c[1]["code"], json!({ "text": "Intermittent dizziness" }));
    assert_eq!(c[1]["clinicalStatus"]["coding"][0]["code"], "resolved");
    assert_eq!(c[1]["abatementDateTime"], "2024-04-01");
    // PC3 deletes the Condition PC1 created: same id (problem instance PRB-4), entered-in-error, no clinical status.
    let del = convert(&fixtures().join("ppr-pc3-delete.hl7"));
    let d = resource(&del["bundle"], "Condition");
    assert_eq!(d[0]["id"], c[0]["id"]);
    assert_eq!(d[0]["verificationStatus"]["coding"][0]["code"], "entered-in-error");
    assert!(d[0].get("clinicalStatus").is_none());
}

#[test]
fn a_referral_names_who_refers_and_to_whom() {
    let got = convert(&fixtures().join("ref-i12-referral.hl7"));
    let b = &got["bundle"];
    let sr = resource(b, "ServiceRequest");
    assert_eq!(sr.len(), 1);
    let sr = sr[0];
    assert_eq!((&sr["status"], &sr["intent"], &sr["priority"]), (&json!("active"), &json!("order"), &json!("routine")));
    assert_eq!(sr["category"][0]["coding"][0]["code"], "3457005");
    assert_eq!(sr["identifier"][0]["value"], "REF-5001");
    assert_eq!(sr["authoredOn"], "2024-05-09");
    assert_eq!(sr["occurrencePeriod"]["end"], "2024-08-09");
    let practitioner = |r: &Value| {
        let id = r["reference"].as_str().unwrap().trim_start_matches("urn:uuid:").to_owned();
        resource(b, "Practitioner").into_iter().find(|p| p["id"] == id.as_str()).unwrap().clone()
    };
    assert_eq!(practitioner(&sr["requester"])["name"][0]["family"], "Sender");
    assert_eq!(practitioner(&sr["performer"][0])["name"][0]["family"], "Receiver");
    assert!(sr["locationReference"][0]["reference"].is_string(), "the referred-to place");
    let patient = &resource(b, "Patient")[0];
    assert_eq!(sr["subject"]["reference"], format!("urn:uuid:{}", patient["id"].as_str().unwrap()));
    assert_eq!(sr["note"][0]["text"], "Chest pain on exertion", "{sr}");
}

#[test]
fn results_and_orders_without_a_patient_convert() {
    let got = convert(&fixtures().join("oru-r01-no-patient.hl7"));
    let b = &got["bundle"];
    assert!(resource(b, "Patient").is_empty());
    let obs = resource(b, "Observation");
    assert_eq!(obs.len(), 1);
    assert!(obs[0].get("subject").is_none());
    let report = &resource(b, "DiagnosticReport")[0];
    assert_eq!(report["result"][0]["reference"], format!("urn:uuid:{}", obs[0]["id"].as_str().unwrap()));
    assert_eq!(resource(b, "Specimen")[0]["identifier"][0]["value"], "QCLOT-9");
    let w = got["report"]["warnings"].as_array().unwrap();
    assert!(w.iter().any(|w| w["location"] == "PID" && w["message"].as_str().unwrap().contains("no Patient")), "{w:?}");

    let got = convert(&fixtures().join("orm-o01-no-patient.hl7"));
    let sr = resource(&got["bundle"], "ServiceRequest");
    assert_eq!(sr.len(), 1);
    assert_eq!(sr[0]["subject"], json!({ "display": "no patient: the message has no PID" }));
    assert!(resource(&got["bundle"], "Patient").is_empty());
}

#[test]
fn a_message_without_a_control_id_converts() {
    let got = convert(&fixtures().join("adt-a04-no-control-id.hl7"));
    let b = &got["bundle"];
    assert!(b.get("identifier").is_none(), "no empty Bundle.identifier");
    assert_eq!(resource(b, "Patient").len(), 1);
    assert!(got["report"]["warnings"].to_string().contains("MSH-10"), "{}", got["report"]);
    // Two different messages without a control id do not share per-message ids.
    let bytes = std::fs::read(fixtures().join("adt-a04-no-control-id.hl7")).unwrap();
    let other = String::from_utf8(bytes).unwrap().replace("Nocontrol^Noa", "Nocontrol^Nils").replace("NC1", "NC2");
    let opts = ParseOptions { require_control_id: false, ..ParseOptions::default() };
    let mapper = Hl7v2Mapper::new(MapOptions::default());
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let second = mapper.map(&parse(other.as_bytes(), &opts).unwrap(), now).unwrap();
    assert_ne!(second.bundle["id"], b["id"]);
    let enc = |b: &Value| resource(b, "Encounter")[0]["id"].clone();
    assert_ne!(enc(&second.bundle), enc(b));
}

#[test]
fn references_carry_the_business_identifier_of_their_target() {
    let got = convert(&fixtures().join("adt-a01-vocabulary.hl7"));
    let b = &got["bundle"];
    let mrn = json!({ "system": "urn:hearth:v2:SYNTHHOSP", "value": "MRN-V1" });
    let e = &resource(b, "Encounter")[0];
    assert_eq!(e["subject"]["identifier"], mrn);
    assert!(e["subject"]["reference"].as_str().unwrap().starts_with("urn:uuid:"));
    let cov = &resource(b, "Coverage")[0];
    assert_eq!(cov["beneficiary"]["identifier"], mrn);
    // A target without a business identifier (the ward's Location) is referenced by urn:uuid alone.
    assert!(e["location"][0]["location"].get("identifier").is_none(), "{}", e["location"]);
}
