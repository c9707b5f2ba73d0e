//! The FHIR destination's outbox worker against the real FHIR test server (`HEARTH_TEST_FHIR_URL`) and a SQLite
//! journal in a temp file. Faults the server does not produce on demand (429 with `Retry-After`, 401) come from
//! the test kit's proxy in front of it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use hearth_core::{Envelope, MessageMeta, MessageStatus, PayloadKind};
use hearth_fhir_client::{ClientSettings, FhirClient};
use hearth_store::{DeliveryFilter, DeliveryRecord, DeliveryStatus, Journal, JournalConfig, NewDelivery, SqliteConfig};
use hearth_testkit::fhir_proxy::{Mode, Proxy};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::FhirPublisher;
use crate::{Backoff, NotReady, Publisher, Sink, SinkConfig};

const SYSTEM: &str = "urn:hearth:test:mrn";

/// A name unique to this run that is also a valid FHIR id.
fn unique_name(prefix: &str) -> String {
    hearth_testkit::unique_name(prefix).replace('_', "-")
}

/// A transaction Bundle as the mapper writes one: the Patient by conditional update on its MRN, an Encounter
/// with a deterministic id pointing at it.
fn bundle(mrn: &str, birth_date: &str) -> String {
    let n: u64 = mrn.bytes().fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))) % 1_000_000_000_000;
    let patient_url = format!("urn:uuid:00000000-0000-4000-8000-{n:012}");
    json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": patient_url,
                "resource": {"resourceType": "Patient", "id": format!("p-{mrn}"), "birthDate": birth_date,
                             "identifier": [{"system": SYSTEM, "value": mrn}], "name": [{"family": "Test"}]},
                "request": {"method": "PUT", "url": format!("Patient?identifier={SYSTEM}|{mrn}")}
            },
            {
                "resource": {"resourceType": "Encounter", "id": format!("e-{mrn}"), "status": "finished",
                             "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
                             "subject": {"reference": patient_url}},
                "request": {"method": "PUT", "url": format!("Encounter/e-{mrn}")}
            }
        ]
    })
    .to_string()
}

async fn journal(dir: &std::path::Path) -> Journal {
    Journal::open(&JournalConfig::Sqlite(SqliteConfig::new(dir.join("j.db")))).await.unwrap()
}

/// One journaled message with one delivery per body (`Bundle` or a lone resource's type), on the patient's lane.
async fn enqueue(journal: &Journal, key: &str, lane: &str, bodies: &[(&str, String)]) {
    let env = Envelope {
        channel: "adt".into(),
        kind: PayloadKind::Hl7v2,
        received_at: time::OffsetDateTime::now_utc(),
        raw: b"MSH|".to_vec(),
        status: MessageStatus::Received,
        reason: None,
        dedup_key: Some(key.into()),
        meta: MessageMeta { trigger_event: Some("A01".into()), ..MessageMeta::default() },
        trace_id: hearth_core::trace::TraceId::random(),
    };
    let id = journal.append(env).await.unwrap().id;
    let deliveries = bodies
        .iter()
        .enumerate()
        .map(|(i, (rtype, body))| NewDelivery {
            destination: "ehr".into(),
            route: "default".into(),
            routing_key: format!("adt.A01.{rtype}"),
            resource_type: (*rtype).into(),
            content_id: format!("{key}-{i}"),
            lane: Some(lane.into()),
            body: body.clone(),
        })
        .collect();
    journal.set_outcome(id, MessageStatus::Processed, None, None, None, deliveries).await.unwrap();
}

fn publisher(base: &str, settings: impl FnOnce(&mut ClientSettings), stop: &CancellationToken) -> FhirPublisher {
    let mut s = ClientSettings::new(base);
    s.request_timeout_ms = 10_000;
    settings(&mut s);
    FhirPublisher::start_with(FhirClient::new(&s, None).unwrap(), Duration::from_millis(300), stop.clone())
}

fn run_sink(
    journal: &Journal,
    p: &FhirPublisher,
    max_attempts: u32,
    stop: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let sink = Sink::new(
        SinkConfig {
            destination: "ehr".into(),
            max_attempts,
            backoff: Backoff { initial: Duration::from_millis(50), max: Duration::from_millis(200) },
            max_in_flight: 4,
        },
        journal.clone(),
        Publisher::Fhir(p.clone()),
    );
    tokio::spawn(sink.run(stop.clone()))
}

async fn wait_status(journal: &Journal, status: DeliveryStatus, n: usize) -> Vec<DeliveryRecord> {
    let filter = DeliveryFilter { status: Some(status), ..DeliveryFilter::default() };
    for _ in 0..1200 {
        let got = journal.list_deliveries(&filter, None, 1000).await.unwrap();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all = journal.list_deliveries(&DeliveryFilter::default(), None, 1000).await.unwrap();
    panic!("deliveries did not become {status}: {all:?}");
}

/// A GET on the server itself (not through the code under test).
fn get(base: &str, path: &str) -> Value {
    let rest = base.split_once("://").unwrap().1;
    let (addr, prefix) = rest.split_once('/').map_or((rest, String::new()), |(a, p)| (a, format!("/{p}")));
    let r = hearth_testkit::http::request(
        "GET",
        addr,
        &format!("{prefix}/{path}"),
        &[("accept", "application/fhir+json")],
        vec![],
    )
    .unwrap();
    assert_eq!(r.status, 200, "GET {path}: {}", r.body);
    r.json()
}

fn patients(base: &str, mrn: &str) -> Vec<Value> {
    let b = get(base, &format!("Patient?identifier={SYSTEM}|{mrn}"));
    b["entry"].as_array().cloned().unwrap_or_default().into_iter().map(|e| e["resource"].clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_and_lone_resources_land_once_and_a_resend_changes_nothing() {
    let Some(url) = hearth_testkit::fhir_server("fhir_sink_lands_once") else { return };
    let dir = tempfile::tempdir().unwrap();
    let journal = journal(dir.path()).await;
    let (a, b) = (unique_name("mrn-a"), unique_name("mrn-b"));
    enqueue(&journal, "m1", &a, &[("Bundle", bundle(&a, "1980-02-14"))]).await;
    // A `resources` route's deliveries: each resource alone, references already `Type/id`.
    let lone_patient = json!({"resourceType": "Patient", "id": format!("p-{b}"), "gender": "male",
                              "identifier": [{"system": SYSTEM, "value": b}]});
    let lone_encounter = json!({"resourceType": "Encounter", "id": format!("e-{b}"), "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": format!("Patient/p-{b}"), "identifier": {"system": SYSTEM, "value": b}}});
    enqueue(&journal, "m2", &b, &[("Patient", lone_patient.to_string()), ("Encounter", lone_encounter.to_string())])
        .await;

    let stop = CancellationToken::new();
    let p = publisher(&url, |_| {}, &stop);
    let task = run_sink(&journal, &p, 5, &stop);
    let sent = wait_status(&journal, DeliveryStatus::Sent, 3).await;
    assert!(sent.iter().all(|d| d.attempts == 1), "{sent:?}");
    assert_eq!(p.ready(), Ok(()));

    // The same content again (a resend, a reprocess): nothing new on the server.
    enqueue(&journal, "m3", &a, &[("Bundle", bundle(&a, "1980-02-14"))]).await;
    enqueue(&journal, "m4", &b, &[("Patient", lone_patient.to_string()), ("Encounter", lone_encounter.to_string())])
        .await;
    wait_status(&journal, DeliveryStatus::Sent, 6).await;
    for mrn in [&a, &b] {
        let found = patients(&url, mrn);
        assert_eq!(found.len(), 1, "one Patient for {mrn}");
        let pid = found[0]["id"].as_str().unwrap();
        let enc = get(&url, &format!("Encounter/e-{mrn}"));
        assert_eq!(enc["subject"]["reference"], format!("Patient/{pid}"), "the Encounter points at that Patient");
    }
    stop.cancel();
    task.await.unwrap();
    journal.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_bundle_is_dead_at_once_with_the_outcome_and_other_lanes_flow() {
    let Some(url) = hearth_testkit::fhir_server("fhir_sink_refused") else { return };
    let dir = tempfile::tempdir().unwrap();
    let journal = journal(dir.path()).await;
    let (bad, good) = (unique_name("mrn-bad"), unique_name("mrn-good"));
    enqueue(&journal, "bad", &bad, &[("Bundle", bundle(&bad, "1980-13-45"))]).await;
    enqueue(&journal, "good", &good, &[("Bundle", bundle(&good, "1980-02-14"))]).await;
    let stop = CancellationToken::new();
    let p = publisher(&url, |_| {}, &stop);
    let task = run_sink(&journal, &p, 10, &stop);
    let dead = wait_status(&journal, DeliveryStatus::Dead, 1).await;
    assert_eq!((dead.len(), dead[0].attempts), (1, 1), "dead at the first attempt: {dead:?}");
    let error = dead[0].last_error.as_deref().unwrap();
    assert!(error.contains("rejected the request: HTTP 4") && error.contains("\"OperationOutcome\""), "{error}");
    let failures = journal.delivery_failures(dead[0].id).await.unwrap();
    assert_eq!(failures.len(), 1);
    wait_status(&journal, DeliveryStatus::Sent, 1).await;
    assert_eq!(patients(&url, &good).len(), 1);
    assert!(patients(&url, &bad).is_empty(), "the refused transaction stored nothing");
    stop.cancel();
    task.await.unwrap();
    journal.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_spends_no_attempts_and_is_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal(dir.path()).await;
    enqueue(&journal, "m", "lane", &[("Bundle", bundle("nowhere", "1980-02-14"))]).await;
    let stop = CancellationToken::new();
    // Nothing listens on port 1.
    let p = publisher("http://127.0.0.1:1/fhir", |s| s.connect_timeout_ms = 500, &stop);
    let task = run_sink(&journal, &p, 1, &stop);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(matches!(p.ready(), Err(NotReady::Disconnected(_))), "{:?}", p.ready());
    let all = journal.list_deliveries(&DeliveryFilter::default(), None, 10).await.unwrap();
    assert!(all.iter().all(|d| d.status == DeliveryStatus::Pending && d.attempts == 0), "{all:?}");
    stop.cancel();
    task.await.unwrap();
    journal.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_waits_at_least_retry_after_then_delivers() {
    let Some(url) = hearth_testkit::fhir_server("fhir_sink_retry_after") else { return };
    let proxy = Proxy::start(&url, Mode::Throttle { writes: 2, retry_after_secs: 2 }, None).await;
    let base = proxy.base.clone();
    let dir = tempfile::tempdir().unwrap();
    let journal = journal(dir.path()).await;
    let mrn = unique_name("mrn-429");
    enqueue(&journal, "m", &mrn, &[("Bundle", bundle(&mrn, "1980-02-14"))]).await;
    let stop = CancellationToken::new();
    let p = publisher(&base, |_| {}, &stop);
    // The sink's own backoff is 50..200 ms: only Retry-After can explain waits of 2 s.
    let task = run_sink(&journal, &p, 5, &stop);
    let sent = wait_status(&journal, DeliveryStatus::Sent, 1).await;
    assert_eq!(sent[0].attempts, 3, "two throttled attempts, then sent");
    let writes = proxy.writes();
    assert_eq!(writes.len(), 3);
    for w in writes.windows(2) {
        let gap = w[1] - w[0];
        assert!(gap >= Duration::from_millis(1950), "Retry-After: 2 not honoured: {gap:?}");
    }
    assert_eq!(patients(&url, &mrn).len(), 1);
    stop.cancel();
    task.await.unwrap();
    journal.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_makes_the_destination_unauthorized_without_dead_letters() {
    let Some(url) = hearth_testkit::fhir_server("fhir_sink_unauthorized") else { return };
    let proxy = Proxy::start(&url, Mode::Refuse, None).await;
    let base = proxy.base.clone();
    let dir = tempfile::tempdir().unwrap();
    let journal = journal(dir.path()).await;
    let mrn = unique_name("mrn-401");
    enqueue(&journal, "m", &mrn, &[("Bundle", bundle(&mrn, "1980-02-14"))]).await;
    let stop = CancellationToken::new();
    let p =
        publisher(&base, |s| s.auth = hearth_fhir_client::Auth::Bearer { token: "static-test-token".into() }, &stop);
    let task = run_sink(&journal, &p, 1, &stop);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(p.ready(), Err(NotReady::Unauthorized(_))) {
        assert!(Instant::now() < deadline, "never unauthorized: {:?}", p.ready());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // max_attempts = 1, yet nothing is dead: a credentials problem is not the content's fault.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let all = journal.list_deliveries(&DeliveryFilter::default(), None, 10).await.unwrap();
    assert!(all.iter().all(|d| d.status == DeliveryStatus::Pending && d.attempts == 0), "{all:?}");
    // Credentials fixed: after its pause the destination tries again and delivers.
    proxy.set_mode(Mode::Forward);
    wait_status(&journal, DeliveryStatus::Sent, 1).await;
    assert_eq!(p.ready(), Ok(()));
    assert!(proxy.writes().len() >= 2);
    stop.cancel();
    task.await.unwrap();
    journal.close().await;
}
