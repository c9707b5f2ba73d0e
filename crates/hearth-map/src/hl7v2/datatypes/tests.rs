//! Datatype maps against rows of the IG's datatype tables (`mappings/datatypes/*.csv`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hearth_hl7v2::{Message, ParseOptions, parse};
use serde_json::json;

use super::*;
use crate::hl7v2::tracker::Tracker;
use crate::hl7v2::{Hl7v2Mapper, MapOptions};

fn msg(field: &str) -> Message {
    let text = format!("MSH|^~\\&|A|F|B|G|20240101000000+0000||ADT^A08|C1|P|2.5.1\rZZZ|{field}\r");
    parse(text.as_bytes(), &ParseOptions::default()).unwrap()
}

/// Runs `f` on the first repetition of ZZZ-1.
fn with_rep<T>(field: &str, f: impl FnOnce(&mut Ctx<'_>, &Repetition<'_>, At<'_>) -> T) -> T {
    let m = msg(field);
    let opts = MapOptions::default();
    let tracker = Tracker::new(&m);
    let mut ctx = Ctx::new(&m, &tracker, &opts, time::OffsetDateTime::UNIX_EPOCH);
    let seg = ctx.segment("ZZZ").unwrap();
    let rep = seg.rep(1).unwrap();
    f(&mut ctx, &rep, seg.at(1))
}

#[test]
fn cx_identifier() {
    // CX-1 → value, CX-4 → system (OID → urn:oid), CX-5 → type (v2-0203), CX-7/8 → period.
    let v = with_rep("123^^^&2.16.840.1.113883.19&ISO^MR^^20200101^20201231", identifier_cx);
    assert_eq!(
        v,
        Some(json!({
            "system": "urn:oid:2.16.840.1.113883.19", "value": "123",
            "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR", "display": "Medical record number" }] },
            "period": { "start": "2020-01-01", "end": "2020-12-31" }
        }))
    );
    // A namespace id alone → the configurable base; a URI as is.
    let v = with_rep("9^^^HOSP A", identifier_cx).unwrap();
    assert_eq!(v["system"], "urn:hearth:v2:HOSP%20A");
    let v = with_rep("9^^^&https://id.example/mrn&URI", identifier_cx).unwrap();
    assert_eq!(v["system"], "https://id.example/mrn");
    assert_eq!(with_rep("^^^HOSP", identifier_cx), None);
}

#[test]
fn namespace_systems_are_configurable() {
    let m = msg("9^^^HOSP");
    let mut opts = MapOptions::default();
    opts.namespace_systems.insert("HOSP".into(), "https://hospital.example/mrn".into());
    let tracker = Tracker::new(&m);
    let mut ctx = Ctx::new(&m, &tracker, &opts, time::OffsetDateTime::UNIX_EPOCH);
    let seg = ctx.segment("ZZZ").unwrap();
    let rep = seg.rep(1).unwrap();
    assert_eq!(identifier_cx(&mut ctx, &rep, seg.at(1)).unwrap()["system"], "https://hospital.example/mrn");
}

#[test]
fn xpn_human_name() {
    let v = with_rep("Everyman&van^Adam^A^III^Dr^MD^L", human_name).unwrap();
    assert_eq!(
        v,
        json!({ "use": "official", "family": "Everyman", "given": ["Adam", "A"], "prefix": ["Dr"], "suffix": ["III", "MD"] })
    );
    let v = with_rep("Smith^Jo^^^^^M", human_name).unwrap();
    assert_eq!(v["use"], "maiden");
    assert_eq!(with_rep("^^^^^^L", human_name), None);
}

#[test]
fn xad_address() {
    let v = with_rep("1 Main St^Apt 2^Town^ST^12345^USA^H^^County9", address).unwrap();
    assert_eq!(
        v,
        json!({ "line": ["1 Main St", "Apt 2"], "city": "Town", "state": "ST", "postalCode": "12345", "country": "USA", "district": "County9", "use": "home" })
    );
    assert_eq!(with_rep("^^X^^^^M", address).unwrap()["type"], "postal");
}

/// Rows of the IG's XTN[ContactPoint] table: the value from XTN-5/6/7/8 with spaces, "+" before the country
/// code and " X" before the extension; XTN-12 when valued; the parts in the contactpoint-* extensions.
#[test]
fn xtn_contact_point() {
    let ext = |c: &str, a: &str, l: &str| {
        json!([
            { "url": "http://hl7.org/fhir/StructureDefinition/contactpoint-country", "valueString": c },
            { "url": "http://hl7.org/fhir/StructureDefinition/contactpoint-area", "valueString": a },
            { "url": "http://hl7.org/fhir/StructureDefinition/contactpoint-local", "valueString": l },
        ])
    };
    let v = with_rep("^PRN^PH^^1^555^1234567^89", |c, r, a| contact_point(c, r, a, None)).unwrap();
    let mut parts = ext("1", "555", "1234567");
    parts
        .as_array_mut()
        .unwrap()
        .push(json!({ "url": "http://hl7.org/fhir/StructureDefinition/contactpoint-extension", "valueString": "89" }));
    assert_eq!(v, json!({ "system": "phone", "value": "+1 555 1234567 X89", "extension": parts, "use": "home" }));
    // XTN.5 not valued, XTN.6 and XTN.7 valued: "XTN.6 XTN.7".
    let v = with_rep("^WPN^PH^^^555^1234567", |c, r, a| contact_point(c, r, a, None)).unwrap();
    assert_eq!(v["value"], "555 1234567");
    assert_eq!(v["use"], "work");
    // XTN.12 (unformatted) wins when valued; XTN.1 is used only when neither XTN.7 nor XTN.12 is.
    let v = with_rep("(555)123-4567^PRN^PH^^1^555^1234567^^^^^+15551234567", |c, r, a| contact_point(c, r, a, None))
        .unwrap();
    assert_eq!(v["value"], "+15551234567");
    assert_eq!(v["extension"], ext("1", "555", "1234567"));
    let v = with_rep("^NET^Internet^a@b.invalid", |c, r, a| contact_point(c, r, a, None)).unwrap();
    assert_eq!(v, json!({ "system": "email", "value": "a@b.invalid" }));
    // No equipment type but an XTN.4: e-mail.
    let v = with_rep("^^^c@d.invalid", |c, r, a| contact_point(c, r, a, None)).unwrap();
    assert_eq!(v, json!({ "system": "email", "value": "c@d.invalid" }));
    let v = with_rep("(555)555-0000^^FX", |c, r, a| contact_point(c, r, a, Some("work"))).unwrap();
    assert_eq!(v, json!({ "system": "fax", "value": "(555)555-0000", "use": "work" }));
    let v = with_rep("^^CP^^^555^0001", |c, r, a| contact_point(c, r, a, Some("home"))).unwrap();
    assert_eq!((&v["system"], &v["use"], &v["value"]), (&json!("phone"), &json!("mobile"), &json!("555 0001")));
    // A telephone device for the deaf is `other` (IG TelecommunicationEquipmentType).
    let v = with_rep("5550000^^TDD", |c, r, a| contact_point(c, r, a, None)).unwrap();
    assert_eq!(v["system"], "other");
}

#[test]
fn cwe_codeable_concept() {
    let v = with_rep("8867-4^Heart rate^LN^HR^Heart rate local^99LOC^^^Pulse", |c, r, _| codeable_concept(c, r, None));
    assert_eq!(
        v,
        Some(json!({
            "coding": [
                { "system": "http://loinc.org", "code": "8867-4", "display": "Heart rate" },
                { "system": "urn:hearth:v2:99LOC", "code": "HR", "display": "Heart rate local" }
            ],
            "text": "Pulse"
        }))
    );
    let v = with_rep("F^Female", |c, r, _| codeable_concept(c, r, Some("0001"))).unwrap();
    assert_eq!(v["coding"][0]["system"], "http://terminology.hl7.org/CodeSystem/v2-0001");
    let v = with_rep("X^Y^HL70063", |c, r, _| codeable_concept(c, r, None)).unwrap();
    assert_eq!(v["coding"][0]["system"], "http://terminology.hl7.org/CodeSystem/v2-0063");
    let v = with_rep("I10^^SCT", |c, r, _| codeable_concept(c, r, None)).unwrap();
    assert_eq!(v["coding"][0]["system"], "http://snomed.info/sct");
    assert_eq!(with_rep("^Only text", |c, r, _| codeable_concept(c, r, None)), Some(json!({ "text": "Only text" })));
}

#[test]
fn mapped_concepts_keep_unknown_codes_with_their_table() {
    let (v, warnings) = with_rep("M^Married", |c, r, a| {
        (mapped_concept(c, r, "MaritalStatus", Some("0002"), a), c.report.warnings.len())
    });
    let v = v.unwrap();
    assert_eq!(v["coding"][0]["system"], "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus");
    assert_eq!(warnings, 0);
    let (v, warnings) = with_rep("QQ^Local", |c, r, a| {
        (mapped_concept(c, r, "MaritalStatus", Some("0002"), a), c.report.warnings.len())
    });
    assert_eq!(
        v.unwrap()["coding"][0],
        json!({ "system": "http://terminology.hl7.org/CodeSystem/v2-0002", "code": "QQ", "display": "Local" })
    );
    assert_eq!(warnings, 1);
}

#[test]
fn xcn_practitioner_is_deduplicated() {
    let m = msg("77^Doe^Jo^^^Dr^^^&1.2.3&ISO~77^Doe^Jo^^^Dr^^^&1.2.3&ISO~^Roe^Al");
    let opts = MapOptions::default();
    let tracker = Tracker::new(&m);
    let mut ctx = Ctx::new(&m, &tracker, &opts, time::OffsetDateTime::UNIX_EPOCH);
    let seg = ctx.segment("ZZZ").unwrap();
    let refs: Vec<_> = seg.reps(1).filter_map(|r| practitioner(&mut ctx, &r, seg.at(1))).collect();
    assert_eq!(refs.len(), 3);
    assert_eq!(refs[0], refs[1]);
    assert_ne!(refs[0], refs[2]);
    assert_eq!(ctx.bundle.len(), 2);
}

#[test]
fn pl_location_and_xon_organization() {
    let r = with_rep("ICU^12^B^NORTH", |c, r, _| {
        let l = location(c, r).unwrap();
        c.bundle.get_mut(&l).cloned().unwrap()
    });
    assert_eq!(r["name"], "ICU 12 B");
    assert_eq!(r["physicalType"]["coding"][0]["code"], "bd");
    let o = with_rep("Good Hospital^^^^^&1.2.3&ISO^XX^^^H1", |c, r, a| {
        let o = organization(c, r, a).unwrap();
        c.bundle.get_mut(&o).cloned().unwrap()
    });
    assert_eq!(o["name"], "Good Hospital");
    assert_eq!(o["identifier"][0]["system"], "urn:oid:1.2.3");
    assert_eq!(o["identifier"][0]["value"], "H1");
}

#[test]
fn numbers() {
    // Compared as f64: serde_json may keep the digits as sent (feature `arbitrary_precision`).
    let f = |s: &str| decimal(s).and_then(|v| v.as_f64());
    assert_eq!(f("12.50"), Some(12.5));
    assert_eq!(f("-0.5"), Some(-0.5));
    assert_eq!(f("007"), Some(7.0));
    assert_eq!(decimal("1e5"), None);
    assert_eq!(decimal("abc"), None);
    assert_eq!(decimal("1."), None);
    let q = with_rep("5^mg&milligram&UCUM", |c, r, _| quantity(c, r)).unwrap();
    assert_eq!(q["value"].as_f64(), Some(5.0));
    assert_eq!(q["unit"], "milligram");
    assert_eq!(q["system"], "http://unitsofmeasure.org");
    assert_eq!(q["code"], "mg");
}

#[test]
fn mapper_is_shareable() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Hl7v2Mapper>();
}
