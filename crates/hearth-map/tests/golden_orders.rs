//! Tests of the non-ADT structures (orders, results, documents, scheduling, pharmacy, immunization, financial)
//! on `fixtures/hl7v2/{oru,orm,oml,mdm,siu,rde,vxu,dft,bar}-*.hl7` (synthetic data). The golden comparison of
//! these fixtures is `tests/golden.rs` (same `{"bundle", "report"}` format and clock); the tests here check what
//! the IG tables say, field by field, so that a bad bless shows.

use std::path::{Path, PathBuf};

use hearth_map::hl7v2::{Hl7v2Mapper, MapOptions};
use serde_json::Value;

const PREFIXES: &[&str] = &["oru-", "orm-", "oml-", "mdm-", "siu-", "rde-", "vxu-", "dft-", "bar-"];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/hl7v2")
}

fn cases() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> =
        std::fs::read_dir(fixtures()).map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect()).unwrap_or_default();
    out.retain(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        name.ends_with(".hl7") && PREFIXES.iter().any(|pre| name.starts_with(pre))
    });
    out.sort();
    out
}

fn convert(path: &Path) -> hearth_map::Conversion {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let msg = hearth_hl7v2::parse(&bytes, &Default::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let now = time::macros::datetime!(2025-01-01 00:00:00 UTC);
    Hl7v2Mapper::new(MapOptions::default()).map(&msg, now).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn entries<'a>(bundle: &'a Value, rtype: &str) -> Vec<&'a Value> {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == rtype)
        .collect()
}

#[test]
fn conversion_is_deterministic() {
    for case in cases() {
        assert_eq!(convert(&case).bundle, convert(&case).bundle, "{}", case.display());
    }
}

#[test]
fn references_resolve_inside_the_bundle() {
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(o) => {
                for (k, x) in o {
                    match (k.as_str(), x) {
                        ("reference", Value::String(s)) => out.push(s),
                        _ => refs(x, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    for case in cases() {
        let b = convert(&case).bundle;
        let urls: Vec<&str> =
            b["entry"].as_array().into_iter().flatten().filter_map(|e| e["fullUrl"].as_str()).collect();
        let mut found = Vec::new();
        refs(&b, &mut found);
        for r in found {
            assert!(urls.contains(&r), "{}: dangling reference {r}", case.display());
        }
    }
}

#[test]
fn oru_links_report_observations_and_units() {
    let b = convert(&fixtures().join("oru-lab.hl7")).bundle;
    let reports = entries(&b, "DiagnosticReport");
    assert_eq!(reports.len(), 1);
    let report = reports[0];
    assert_eq!(report["status"], "final");
    assert_eq!(report["result"].as_array().map(Vec::len), Some(5));
    assert_eq!(report["basedOn"].as_array().map(Vec::len), Some(1));
    let obs = entries(&b, "Observation");
    let chol = obs.iter().find(|o| o["code"]["coding"][0]["code"] == "2093-3").copied().unwrap_or(&Value::Null);
    assert_eq!(chol["valueQuantity"]["system"], "http://unitsofmeasure.org");
    assert_eq!(chol["valueQuantity"]["code"], "mg/dL");
    assert_eq!(chol["referenceRange"][0]["high"]["value"], 200);
    assert_eq!(chol["interpretation"][0]["coding"][0]["code"], "H");
    assert_eq!(chol["note"][0]["text"], "Sample slightly lipemic");
    let tg = obs.iter().find(|o| o["code"]["coding"][0]["code"] == "2571-8").copied().unwrap_or(&Value::Null);
    assert_eq!(tg["valueQuantity"]["comparator"], "<");
    let hdl = obs.iter().find(|o| o["code"]["coding"][0]["code"] == "2085-9").copied().unwrap_or(&Value::Null);
    assert!(hdl["valueQuantity"].get("system").is_none(), "local units are not UCUM");
    assert_eq!(hdl["status"], "corrected");
    // One Practitioner for the ordering provider named in PV1-7, ORC-12 and OBR-16.
    assert_eq!(entries(&b, "Practitioner").len(), 1);
    let conv = convert(&fixtures().join("oru-lab.hl7"));
    assert!(conv.report.unmapped.iter().any(|u| u.starts_with("ZLB")));
    assert!(conv.report.warnings.iter().any(|w| w.location == "ZLB"));
}

#[test]
fn siu_status_follows_the_event() {
    let booked = convert(&fixtures().join("siu-s12.hl7")).bundle;
    let cancelled = convert(&fixtures().join("siu-s15.hl7")).bundle;
    let a = entries(&booked, "Appointment");
    let c = entries(&cancelled, "Appointment");
    assert_eq!(a[0]["status"], "booked");
    assert_eq!(c[0]["status"], "cancelled");
    // The same appointment (SCH-1/SCH-2) in both messages: one id.
    assert_eq!(a[0]["id"], c[0]["id"]);
}

#[test]
fn resent_result_updates_the_same_resources() {
    let path = fixtures().join("oru-lab.hl7");
    let original = std::fs::read_to_string(&path).unwrap_or_default();
    let resent = original.replacen("|ORU-0001|", "|ORU-0002|", 1);
    let msg = hearth_hl7v2::parse(resent.as_bytes(), &Default::default()).unwrap_or_else(|e| panic!("{e}"));
    let again = Hl7v2Mapper::default().map(&msg, time::OffsetDateTime::UNIX_EPOCH).unwrap_or_else(|e| panic!("{e}"));
    let first = convert(&path).bundle;
    for rtype in ["ServiceRequest", "DiagnosticReport", "Observation", "Specimen"] {
        let ids = |b: &Value| entries(b, rtype).iter().map(|r| r["id"].clone()).collect::<Vec<_>>();
        assert_eq!(ids(&first), ids(&again.bundle), "{rtype}");
    }
}

#[test]
fn orm_orders_carry_status_reasons_and_supporting_observations() {
    let b = convert(&fixtures().join("orm-new.hl7")).bundle;
    let srs = entries(&b, "ServiceRequest");
    assert_eq!(srs.len(), 2);
    let new = srs.iter().find(|s| s["identifier"][0]["value"] == "PL-6001").copied().unwrap_or(&Value::Null);
    assert_eq!(new["status"], "active");
    assert_eq!(new["intent"], "order");
    assert_eq!(new["priority"], "routine");
    assert_eq!(new["note"][0]["text"], "Patient is fasting");
    assert_eq!(new["supportingInfo"].as_array().map(Vec::len), Some(1));
    assert_eq!(new["reasonReference"].as_array().map(Vec::len), Some(1));
    assert_eq!(new["authoredOn"], "2024-03-06T07:55:00+01:00");
    let cancel = srs.iter().find(|s| s["identifier"][0]["value"] == "PL-6002").copied().unwrap_or(&Value::Null);
    assert_eq!(cancel["status"], "revoked");
    // ORC-12 and OBR-16 name one person.
    assert_eq!(entries(&b, "Practitioner").len(), 1);
}

#[test]
fn mdm_document_has_content_and_related_order() {
    let b = convert(&fixtures().join("mdm-t02.hl7")).bundle;
    let docs = entries(&b, "DocumentReference");
    assert_eq!(docs.len(), 1);
    let d = docs[0];
    assert_eq!(d["status"], "current");
    assert_eq!(d["docStatus"], "final");
    assert_eq!(d["masterIdentifier"]["value"], "DOC-123");
    assert_eq!(d["content"][0]["attachment"]["contentType"], "text/plain");
    // base64("Patient seen for follow-up.\nPlan: continue therapy.")
    assert_eq!(
        d["content"][0]["attachment"]["data"],
        "UGF0aWVudCBzZWVuIGZvciBmb2xsb3ctdXAuClBsYW46IGNvbnRpbnVlIHRoZXJhcHku"
    );
    assert_eq!(d["context"]["related"].as_array().map(Vec::len), Some(1));
}

#[test]
fn vxu_immunization_route_site_and_observations() {
    let b = convert(&fixtures().join("vxu-v04.hl7")).bundle;
    let imm = entries(&b, "Immunization");
    assert_eq!(imm.len(), 1);
    let i = imm[0];
    assert_eq!(i["status"], "completed");
    assert_eq!(i["vaccineCode"]["coding"][0]["system"], "http://hl7.org/fhir/sid/cvx");
    assert_eq!(i["doseQuantity"]["code"], "mL");
    assert_eq!(i["lotNumber"], "LOT-42");
    assert_eq!(i["expirationDate"], "2025-01-01");
    assert_eq!(i["primarySource"], true);
    assert_eq!(i["route"]["coding"][0]["system"], "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration");
    assert!(i["site"]["coding"].as_array().is_some_and(|c| c.iter().any(|x| x["code"] == "LA")));
    let obs = entries(&b, "Observation");
    assert_eq!(
        obs[0]["partOf"][0]["reference"],
        Value::from(format!("urn:uuid:{}", i["id"].as_str().unwrap_or_default()))
    );
}

#[test]
fn rde_dosage_is_one_instruction() {
    let b = convert(&fixtures().join("rde-o11.hl7")).bundle;
    let mr = entries(&b, "MedicationRequest");
    assert_eq!(mr.len(), 1);
    assert_eq!(mr[0]["status"], "active");
    assert_eq!(mr[0]["dosageInstruction"].as_array().map(Vec::len), Some(1));
    assert_eq!(mr[0]["dosageInstruction"][0]["route"]["coding"][0]["code"], "PO");
    assert_eq!(mr[0]["dispenseRequest"]["numberOfRepeatsAllowed"], 2);
}

#[test]
fn dft_charges() {
    let b = convert(&fixtures().join("dft-p03.hl7")).bundle;
    let charges = entries(&b, "ChargeItem");
    assert_eq!(charges.len(), 2);
    assert_eq!(charges[0]["status"], "billable");
    assert_eq!(charges[0]["priceOverride"]["value"], 125.5);
    assert_eq!(charges[0]["priceOverride"]["currency"], "USD");
    assert_eq!(charges[0]["performer"].as_array().map(Vec::len), Some(1));
}

/// Converts an ORU built from OBX lines (synthetic) and returns its Observations in order, plus the report.
fn observations(obx: &[&str]) -> (Vec<Value>, hearth_map::Report) {
    let mut text = String::from(
        "MSH|^~\\&|LAB|NORTH|HEARTH|HUB|20240301120000+0100||ORU^R01^ORU_R01|T-1|P|2.5.1\rPID|1||P-1^^^NORTH^MR||DOE^SAM\rOBR|1|PL-1|FL-1|1234-5^Panel^LN|||20240301110000+0100\r",
    );
    for o in obx {
        text.push_str(o);
        text.push('\r');
    }
    let msg = hearth_hl7v2::parse(text.as_bytes(), &Default::default()).unwrap_or_else(|e| panic!("{e}"));
    let conv = Hl7v2Mapper::default().map(&msg, time::OffsetDateTime::UNIX_EPOCH).unwrap_or_else(|e| panic!("{e}"));
    let obs = entries(&conv.bundle, "Observation").into_iter().cloned().collect();
    (obs, conv.report)
}

#[test]
fn obx_value_types() {
    let (obs, report) = observations(&[
        "OBX|1|SN|1-1^A^LN||^10^-^20|mg^mg^UCUM|||||F",
        "OBX|2|SN|1-2^B^LN||^1^:^128||||||F",
        "OBX|3|SN|1-3^C^LN||>=^5|||||F",
        "OBX|4|SN|1-4^D^LN||<>^7||||||F",
        "OBX|5|NM|1-5^E^LN||12,5|||||F",
        "OBX|6|DT|1-6^F^LN||20240229||||||F",
        "OBX|7|TM|1-7^G^LN||0930||||||F",
        "OBX|8|ED|1-8^H^LN||^AP^pdf^Base64^SGVsbG8=||||||F",
        "OBX|9|NM|1-9^I^LN||60~120|/min^^UCUM|||||F",
        "OBX|10|NM|1-10^J^LN||||||||I",
        "OBX|11|NM|1-11^K^LN||||||||N",
        "OBX|12|TX|1-12^L^LN||line one~line two||||||F",
    ]);
    assert_eq!(obs.len(), 12);
    assert_eq!(obs[0]["valueRange"]["low"]["value"], 10);
    assert_eq!(obs[0]["valueRange"]["high"]["code"], "mg");
    assert_eq!(obs[1]["valueRatio"]["denominator"]["value"], 128);
    assert_eq!(obs[2]["valueQuantity"]["comparator"], ">=");
    assert_eq!(obs[3]["valueString"], "<> 7");
    assert!(obs[4].get("valueQuantity").is_none(), "12,5 is not a decimal");
    assert!(report.unmapped.iter().any(|u| u == "OBX(5)-5"), "{:?}", report.unmapped);
    assert!(report.warnings.iter().any(|w| w.location == "OBX(5)-5"));
    assert_eq!(obs[5]["valueDateTime"], "2024-02-29");
    assert_eq!(obs[6]["valueTime"], "09:30:00");
    assert_eq!(obs[7]["extension"][0]["valueAttachment"]["contentType"], "application/pdf");
    assert_eq!(obs[7]["extension"][0]["valueAttachment"]["data"], "SGVsbG8=");
    assert_eq!(obs[8]["component"].as_array().map(Vec::len), Some(2));
    assert_eq!(obs[8]["component"][1]["valueQuantity"]["value"], 120);
    assert_eq!(obs[9]["status"], "unknown");
    assert_eq!(obs[9]["_status"]["extension"][0]["valueCodeableConcept"]["coding"][0]["code"], "I");
    assert_eq!(obs[10]["dataAbsentReason"]["coding"][0]["code"], "not-asked");
    assert_eq!(obs[11]["valueString"], "line one\nline two");
}
