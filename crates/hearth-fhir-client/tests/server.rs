//! Against the real FHIR R4 server (`HEARTH_TEST_FHIR_URL`, started by scripts/fhir-server.sh): the
//! repository's golden Bundles land in both modes, resending changes nothing, a conditional update by
//! identifier wins over the server's own id, and refusals come back permanent with their OperationOutcome.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;

use common::{Salt, Server, bytes, client, golden, golden_files, references};
use hearth_fhir_client::{Error, ErrorClass, Payload};
use reqwest::Method;
use serde_json::{Value, json};

const MRN_SYSTEM: &str = "urn:oid:2.16.840.1.113883.19.5";

/// The Bundles of every HL7 v2 and webhook golden file and of the charges CSV.
fn all_golden() -> Vec<Value> {
    let mut files = golden_files("hl7v2");
    files.extend(golden_files("webhooks"));
    files.push("csv/charges/good.expected.json".into());
    files.iter().filter(|f| !f.ends_with("batch-adt.expected.json")).flat_map(|f| golden(f)).collect()
}

/// What the Bundles reference by identifier (`Type?identifier=system|value`) but neither carry themselves nor
/// get from a Bundle sent before them: the Patient an ADT feed would have created for a CSV or a linked webhook,
/// the visits and the accounts. Each is written to the server first, tagged for the test, so that every Bundle
/// resolves in both modes. `bundles` are already salted.
async fn prerequisites(server: &Server, salt: &Salt, bundles: &[Value]) {
    let tag = json!({"tag": [{"system": common::TEST_TAG, "code": salt.0}]});
    let mut carried: HashSet<(String, String, String)> = HashSet::new();
    let mut missing: Vec<(String, String, String)> = Vec::new();
    for bundle in bundles {
        let resources: Vec<&Value> =
            bundle["entry"].as_array().into_iter().flatten().filter_map(|e| e.get("resource")).collect();
        for r in &resources {
            for id in r["identifier"].as_array().into_iter().flatten() {
                if let (Some(rtype), Some(system), Some(value)) =
                    (r["resourceType"].as_str(), id["system"].as_str(), id["value"].as_str())
                {
                    carried.insert((rtype.to_owned(), system.to_owned(), value.to_owned()));
                }
            }
        }
        for key in identified_references(bundle) {
            if !carried.contains(&key) && !missing.contains(&key) {
                missing.push(key);
            }
        }
    }
    for (rtype, system, value) in missing {
        let identifier = json!([{"system": system, "value": value}]);
        let r = match rtype.as_str() {
            "Patient" => json!({"resourceType": "Patient", "meta": tag, "identifier": identifier}),
            "Encounter" => {
                json!({"resourceType": "Encounter", "meta": tag, "status": "finished", "identifier": identifier,
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}})
            }
            "Account" => json!({"resourceType": "Account", "meta": tag, "status": "active", "identifier": identifier}),
            other => panic!("a golden Bundle references a {other} by identifier that no Bundle carries: add it here"),
        };
        assert_eq!(server.write(Method::POST, &rtype, &r).await, 201, "{r}");
    }
}

/// `(type, system, value)` of every reference that names its target by identifier: a conditional reference
/// (`Patient?identifier=system|value`) or a literal one carrying `Reference.identifier`, which the client turns into
/// a conditional reference.
fn identified_references(v: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    match v {
        Value::Object(o) => {
            if let Some(reference) = o.get("reference").and_then(Value::as_str) {
                if let Some((rtype, query)) = reference.split_once("?identifier=")
                    && let Some((system, value)) = query.split_once('|')
                {
                    out.push((rtype.to_owned(), system.to_owned(), value.to_owned()));
                } else if let (Some((rtype, _)), Some(system), Some(value)) = (
                    reference.split_once('/').filter(|_| !reference.starts_with("urn:")),
                    v.pointer("/identifier/system").and_then(Value::as_str),
                    v.pointer("/identifier/value").and_then(Value::as_str),
                ) {
                    out.push((rtype.to_owned(), system.to_owned(), value.to_owned()));
                }
            }
            o.values().for_each(|c| out.extend(identified_references(c)));
        }
        Value::Array(a) => a.iter().for_each(|c| out.extend(identified_references(c))),
        _ => {}
    }
    out
}

/// Every resource the test stored, with every literal reference that is not an external one (written
/// literally by the mapper to a resource outside the Bundle, e.g. `CareTeam/care-team-outreach`).
async fn assert_references_resolve(server: &Server, bundles: &[Value], salt: &Salt) {
    let external: HashSet<String> = bundles.iter().flat_map(references).filter(|r| !r.starts_with("urn:")).collect();
    let mut checked = 0;
    for (rtype, _) in server.counts(bundles, salt).await {
        let stored = server.search(&format!("{rtype}?_tag={}|{}&_count=500", common::TEST_TAG, salt.0)).await;
        for r in stored.iter().flat_map(references) {
            assert!(!r.starts_with("urn:") && !r.contains('?'), "{rtype}: unresolved reference {r}");
            if external.contains(&r) {
                continue;
            }
            server.get(&r).await;
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} references checked");
}

#[tokio::test]
async fn golden_bundles_land_the_same_in_both_modes() {
    let Some(url) = hearth_testkit::fhir_server("golden_bundles_land_the_same_in_both_modes") else { return };
    let server = Server::new(&url);
    let fhir = client(&url);
    let mut counts = Vec::new();
    for payload in [Payload::Bundle, Payload::Resources] {
        let salt = Salt::new();
        let bundles: Vec<Value> = all_golden().iter().map(|b| salt.apply(b)).collect();
        prerequisites(&server, &salt, &bundles).await;
        for b in &bundles {
            let sent = fhir.send(&bytes(b), payload).await.unwrap_or_else(|e| panic!("{payload:?} {}: {e:?}", b["id"]));
            assert_eq!(sent.entries.len(), b["entry"].as_array().unwrap().len());
            assert!(sent.entries.iter().all(|e| matches!(e.status, 200 | 201)), "{sent:?}");
        }
        assert_references_resolve(&server, &bundles, &salt).await;
        counts.push(server.counts(&bundles, &salt).await);
    }
    assert_eq!(counts[0], counts[1], "bundle mode and resources mode store the same resources");
    let patients = counts[0].iter().find(|(t, _)| t == "Patient").unwrap().1;
    assert!(patients >= 10, "{counts:?}");
}

#[tokio::test]
async fn resending_changes_no_counts_and_versions_follow_content() {
    let Some(url) = hearth_testkit::fhir_server("resending_changes_no_counts_and_versions_follow_content") else {
        return;
    };
    let server = Server::new(&url);
    let fhir = client(&url);
    for payload in [Payload::Bundle, Payload::Resources] {
        let salt = Salt::new();
        let bundles: Vec<Value> = [
            "hl7v2/adt-a01-full.expected.json",
            "hl7v2/oru-lab.expected.json",
            "webhooks/twilio-voice__missed_call_linked.expected.json",
            "csv/charges/good.expected.json",
        ]
        .iter()
        .flat_map(|f| golden(f))
        .map(|b| salt.apply(&b))
        .collect();
        prerequisites(&server, &salt, &bundles).await;
        for b in &bundles {
            fhir.send(&bytes(b), payload).await.unwrap();
        }
        let first = server.counts(&bundles, &salt).await;
        let before = server.patient(MRN_SYSTEM, &salt.value("MRN12345")).await;
        for b in &bundles {
            fhir.send(&bytes(b), payload).await.unwrap();
        }
        assert_eq!(server.counts(&bundles, &salt).await, first, "{payload:?}: a resend creates nothing");
        let after = server.patient(MRN_SYSTEM, &salt.value("MRN12345")).await;
        assert_eq!(after["id"], before["id"]);
        // Hearth sent the same Patient: a server that detects no-op updates (HAPI, Azure, Medplum...) keeps the
        // version. sekmet-fhir 0.1.1 writes a new version for every update, so only the content is compared.
        assert_eq!(without_meta(&after), without_meta(&before), "{payload:?}: same content");

        // An update with new content (an A08 would do this): the new version carries it.
        let mut changed = bundles[0].clone();
        let patient = changed["entry"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|e| e["resource"]["resourceType"] == "Patient")
            .unwrap();
        patient["resource"]["address"][0]["city"] = json!("Shelbyville");
        fhir.send(&bytes(&changed), payload).await.unwrap();
        let updated = server.patient(MRN_SYSTEM, &salt.value("MRN12345")).await;
        assert_eq!(updated["id"], before["id"]);
        assert_eq!(updated["address"][0]["city"], "Shelbyville");
        assert!(version(&updated) > version(&after), "{payload:?}: a new version for new content");
        assert_eq!(server.counts(&bundles, &salt).await, first);
    }
}

fn without_meta(r: &Value) -> Value {
    let mut r = r.clone();
    r.as_object_mut().unwrap().remove("meta");
    r
}

fn version(r: &Value) -> u64 {
    r["meta"]["versionId"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_conditional_update_by_identifier_wins_over_the_servers_own_id() {
    let Some(url) = hearth_testkit::fhir_server("a_conditional_update_by_identifier_wins_over_the_servers_own_id")
    else {
        return;
    };
    let server = Server::new(&url);
    let fhir = client(&url);
    let a01 = golden("hl7v2/adt-a01-full.expected.json").remove(0);
    for payload in [Payload::Bundle, Payload::Resources] {
        let salt = Salt::new();
        let bundle = salt.apply(&a01);
        let mrn = salt.value("MRN12345");
        // Another system registered the patient first, under its own id.
        let foreign = format!("other-system-{}", salt.0);
        let existing = json!({"resourceType": "Patient", "id": foreign,
            "meta": {"tag": [{"system": common::TEST_TAG, "code": salt.0}]},
            "identifier": [{"system": MRN_SYSTEM, "value": mrn}]});
        assert_eq!(server.write(Method::PUT, &format!("Patient/{foreign}"), &existing).await, 201);

        // Why the client drops the body id: outside a transaction the server refuses a conditional update
        // whose body id differs from the matched resource (FHIR R4 http.html, conditional update).
        let mut fighting = bundle["entry"][2]["resource"].clone();
        assert_eq!(fighting["resourceType"], "Patient");
        fighting["id"] = json!("hearths-own-id");
        let status = server.write(Method::PUT, &format!("Patient?identifier={MRN_SYSTEM}|{mrn}"), &fighting).await;
        assert_eq!(status, 400, "the server lets a body id fight the condition");

        fhir.send(&bytes(&bundle), payload).await.unwrap();
        assert_eq!(server.count("Patient", &salt).await, 1, "{payload:?}: still one Patient");
        let patient = server.patient(MRN_SYSTEM, &mrn).await;
        assert_eq!(patient["id"], foreign.as_str(), "{payload:?}: the server's id stays");
        assert_eq!(patient["name"][0]["family"], "Testperson", "{payload:?}: Hearth's content was applied");
        let encounters = server.search(&format!("Encounter?_tag={}|{}", common::TEST_TAG, salt.0)).await;
        assert_eq!(encounters.len(), 1);
        assert_eq!(encounters[0]["subject"]["reference"], format!("Patient/{foreign}"));
    }
}

/// A Patient the server's R4 models refuse (a `birthDate` that is not a FHIR date).
fn invalid(salt: &Salt) -> Value {
    let mut b = salt.apply(&golden("hl7v2/adt-a01-full.expected.json").remove(0));
    b["entry"][2]["resource"]["birthDate"] = json!("31/07/1984");
    b
}

#[tokio::test]
async fn a_rejected_resource_is_permanent_and_keeps_the_operation_outcome() {
    let Some(url) = hearth_testkit::fhir_server("a_rejected_resource_is_permanent_and_keeps_the_operation_outcome")
    else {
        return;
    };
    let server = Server::new(&url);
    let fhir = client(&url);
    let salt = Salt::new();
    let e = fhir.send(&bytes(&invalid(&salt)), Payload::Bundle).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Permanent, "{e:?}");
    assert_eq!(e.status(), Some(400));
    let oo: Value = serde_json::from_str(e.outcome().unwrap()).unwrap();
    assert_eq!(oo["resourceType"], "OperationOutcome");
    assert!(e.outcome().unwrap().contains("birthDate"), "the server's diagnostics are kept");
    assert!(!e.to_string().contains("birthDate"), "but not in Display (logs)");
    for t in ["Patient", "Encounter", "Practitioner"] {
        assert_eq!(server.count(t, &salt).await, 0, "{t}: the transaction rolled back");
    }

    let salt = Salt::new();
    let e = fhir.send(&bytes(&invalid(&salt)), Payload::Resources).await.unwrap_err();
    assert!(matches!(e, Error::Rejected { status: 400, entry: Some(2), .. }), "{e:?}");
    assert!(e.failure_text().contains("OperationOutcome"));
}

#[tokio::test]
async fn a_condition_matching_two_resources_is_a_412() {
    let Some(url) = hearth_testkit::fhir_server("a_condition_matching_two_resources_is_a_412") else { return };
    let server = Server::new(&url);
    let fhir = client(&url);
    let a01 = golden("hl7v2/adt-a01-full.expected.json").remove(0);
    for payload in [Payload::Bundle, Payload::Resources] {
        let salt = Salt::new();
        let twin = json!({"resourceType": "Patient", "meta": {"tag": [{"system": common::TEST_TAG, "code": salt.0}]},
            "identifier": [{"system": MRN_SYSTEM, "value": salt.value("MRN12345")}]});
        for _ in 0..2 {
            assert_eq!(server.write(Method::POST, "Patient", &twin).await, 201);
        }
        let e = fhir.send(&bytes(&salt.apply(&a01)), payload).await.unwrap_err();
        assert_eq!(
            (e.status(), e.class(), e.kind()),
            (Some(412), ErrorClass::Permanent, "precondition_failed"),
            "{e:?}"
        );
        assert_eq!(server.count("Patient", &salt).await, 2);
    }
}

#[tokio::test]
async fn the_probe_reads_the_capability_statement() {
    let Some(url) = hearth_testkit::fhir_server("the_probe_reads_the_capability_statement") else { return };
    let capability = client(&url).probe().await.unwrap();
    assert!(capability.is_r4(), "{capability:?}");
    let closed = format!("http://127.0.0.1:{}/fhir", hearth_testkit::free_port());
    let e = client(&closed).probe().await.unwrap_err();
    assert!(matches!(e, Error::Network(_)) && e.is_transient(), "{e:?}");
    assert!(!e.to_string().contains("127.0.0.1"), "no URL in the message: {e}");
}

/// The tests' own fixture rewriting (see `common::Salt`).
#[test]
fn the_test_salt_is_consistent_and_reaches_every_identifier() {
    let s = Salt("abc".into());
    let b = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:98c899db-797d-5cd2-b027-7a687c9c5bbf",
         "resource": {"resourceType": "Patient", "id": "98c899db-797d-5cd2-b027-7a687c9c5bbf",
                      "identifier": [{"system": "urn:x", "value": "MRN1"}]},
         "request": {"method": "PUT", "url": "Patient?identifier=urn:x|MRN1"}},
        {"resource": {"resourceType": "Task", "for": {"reference": "Patient?identifier=urn:x|MRN1"}},
         "request": {"method": "POST", "url": "Task", "ifNoneExist": "identifier=urn:y|T1"}}]});
    let out = s.apply(&b);
    let p = &out["entry"][0];
    assert_eq!(p["resource"]["identifier"][0]["value"], "MRN1-abc");
    assert_eq!(p["request"]["url"], "Patient?identifier=urn:x|MRN1-abc");
    assert_eq!(p["fullUrl"].as_str().unwrap()[9..], *p["resource"]["id"].as_str().unwrap());
    assert_ne!(p["resource"]["id"], "98c899db-797d-5cd2-b027-7a687c9c5bbf");
    assert_eq!(out["entry"][1]["request"]["ifNoneExist"], "identifier=urn:y|T1-abc");
    assert_eq!(out["entry"][1]["resource"]["for"]["reference"], "Patient?identifier=urn:x|MRN1-abc");
    assert_eq!(p["resource"]["meta"]["tag"][0]["code"], "abc");
    assert_eq!(s.apply(&b), out);
}
