//! End to end, issue 16 item 17: a contact-center event that names its patient by MRN links to the Patient an
//! ADT over MLLP told Hearth about, through the patient index (by identifier, never by phone), and one whose
//! name or birth date contradicts that Patient's stays unlinked with the report saying so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use hearth_core::MessageStatus;
use hearth_store::{Journal, StoredMessage};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);
const RELAY_SECRET: &str = "synthetic-relay-secret";

/// Waits until message `id` has left `received`.
async fn converted(journal: &Journal, id: i64) -> StoredMessage {
    let deadline = Instant::now() + T;
    loop {
        if let Some(m) = journal.get(id).await.unwrap()
            && m.summary.status != MessageStatus::Received
        {
            return m;
        }
        assert!(Instant::now() < deadline, "message {id} was not converted in {T:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn resources<'a>(bundle: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    bundle["entry"].as_array().unwrap().iter().map(|e| &e["resource"]).filter(move |r| r["resourceType"] == kind)
}

/// A `generic` call event naming its patient (MRN of authority NORTH, family name, birth date).
fn call_ended(event_id: &str, birth_date: &str) -> Vec<u8> {
    json!({
        "id": event_id, "contact_id": format!("contact-{event_id}"), "type": "call", "direction": "inbound",
        "from": "+15555550177", "to": "+15555550199", "status": "completed",
        "timestamp": "2026-01-01T12:30:00Z", "duration_s": 240,
        "patient": { "mrn": "MRNLINK-1", "assigning_authority": "NORTH", "family": "Doe", "birth_date": birth_date }
    })
    .to_string()
    .into_bytes()
}

fn post_event(engine: &Engine, body: &[u8]) -> i64 {
    let resp = hearth_testkit::http::post(&engine.http, "/webhooks/contact", &[("X-Relay-Secret", RELAY_SECRET)], body);
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.json()["journal_id"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_naming_an_mrn_links_to_the_adt_patient_unless_it_contradicts_it() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("relay");
    std::fs::write(&secret, format!("{RELAY_SECRET}\n")).unwrap();
    let webhook = format!(
        "\n[channels.contact]\ntype = \"webhook\"\nprofile = \"generic\"\nauth = \"shared-secret-header\"\n\
         header = \"X-Relay-Secret\"\nsecret_file = \"{}\"\n",
        secret.display()
    );
    let mut engine = Engine::start(dir.path(), "", &webhook);
    let journal = engine.journal().await;

    // The ADT^A01 (PID-3 MRNLINK-1^^^NORTH^MR, DOE^JANE, born 1980-02-14) feeds the patient index.
    let acks = mllp_send(&engine.mllp, &[adt("LINK-1")]);
    assert!(acks[0].contains("|AA|"), "{}", acks[0]);
    let adt_msg = wait_for_message(&journal, "LINK-1", T, |m| m.summary.status != MessageStatus::Received).await;
    let adt_bundle: Value = serde_json::from_str(adt_msg.bundle.as_deref().unwrap()).unwrap();
    let patient = resources(&adt_bundle, "Patient").next().unwrap();
    let patient_id = patient["id"].as_str().unwrap().to_owned();
    assert!(patient.to_string().contains("MRNLINK-1"), "{patient}");

    // The same MRN, name and birth date: linked by identifier.
    let linked = converted(&journal, post_event(&engine, &call_ended("evt-link-1", "1980-02-14"))).await;
    assert!(
        matches!(linked.summary.status, MessageStatus::Processed | MessageStatus::Filtered),
        "{:?}",
        linked.summary.reason
    );
    let report: Value = serde_json::from_str(linked.report.as_deref().unwrap()).unwrap();
    assert_eq!(
        (report["patient"].as_str(), report["linked_by"].as_str()),
        (Some("linked"), Some("identifier")),
        "{report}"
    );
    let bundle: Value = serde_json::from_str(linked.bundle.as_deref().unwrap()).unwrap();
    let communication = resources(&bundle, "Communication").next().unwrap_or_else(|| panic!("{bundle}"));
    assert_eq!(communication["subject"]["reference"], format!("Patient/{patient_id}"), "{communication}");
    assert_eq!(communication["subject"]["identifier"]["value"], "MRNLINK-1", "{communication}");
    assert_eq!(communication["subject"]["identifier"]["system"], "urn:hearth:v2:NORTH", "{communication}");

    // The same MRN with another birth date: a wrong MRN typed into an IVR must not put the call on this record.
    let refused = converted(&journal, post_event(&engine, &call_ended("evt-link-2", "1975-06-30"))).await;
    let report: Value = serde_json::from_str(refused.report.as_deref().unwrap()).unwrap();
    assert_eq!(report["patient"], "mismatch", "{report}");
    assert_eq!(report["lookup"], "identifier", "never retried by phone: {report}");
    assert!(report.get("linked_by").is_none(), "{report}");
    let bundle: Value = serde_json::from_str(refused.bundle.as_deref().unwrap()).unwrap();
    assert!(
        resources(&bundle, "Communication").all(|c| c.get("subject").is_none()),
        "an unlinked event carries no subject: {bundle}"
    );
    journal.close().await;
    assert!(engine.terminate().success());
}
