//! End to end: contact-center webhooks posted to the real binary, FHIR out on RabbitMQ. Signatures are
//! computed here with each scheme (Twilio's over the engine's configured public URL), from the corpus's secrets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::Engine;
use hearth_core::MessageStatus;
use hearth_store::MessageFilter;
use hearth_testkit::unique_name;
use hmac::{Hmac, Mac};
use serde_json::Value;

const T: Duration = Duration::from_secs(60);
const BASE: &str = "https://hearth.example.org";
const TWILIO_TOKEN: &str = "test-auth-token-not-secret";
const HMAC_SECRET: &str = "test-secret-not-real";
const RELAY_SECRET: &str = "synthetic-relay-secret";

/// Webhook channels (one per vendor) and a destination whose queue takes everything.
fn config(dir: &Path, uri: &str, exchange: &str, queue: &str) -> String {
    let secret = |name: &str, value: &str| {
        let p = dir.join(name);
        std::fs::write(&p, format!("{value}\n")).unwrap();
        p.display().to_string()
    };
    let (twilio, hmac, relay) =
        (secret("twilio", TWILIO_TOKEN), secret("hmac", HMAC_SECRET), secret("relay", RELAY_SECRET));
    format!(
        "[channels.voice]\ntype = \"webhook\"\nprofile = \"twilio-voice\"\nauth = \"twilio-signature\"\n\
         secret_file = \"{twilio}\"\npublic_base_url = \"{BASE}\"\ncare_team_owner = \"CareTeam/care-team-outreach\"\n\
         [channels.sms]\ntype = \"webhook\"\nprofile = \"twilio-sms\"\nauth = \"twilio-signature\"\n\
         secret_file = \"{twilio}\"\npublic_base_url = \"{BASE}\"\n\
         [channels.connect]\ntype = \"webhook\"\nprofile = \"amazon-connect\"\nauth = \"shared-secret-header\"\n\
         header = \"X-Relay-Secret\"\nsecret_file = \"{relay}\"\n\
         [channels.genesys]\ntype = \"webhook\"\nprofile = \"genesys\"\nauth = \"hub-signature-256\"\n\
         secret_file = \"{hmac}\"\n\
         [channels.zendesk]\ntype = \"webhook\"\nprofile = \"zendesk\"\nauth = \"timestamp-hmac\"\n\
         timestamp_header = \"X-Zendesk-Webhook-Signature-Timestamp\"\n\
         signature_header = \"X-Zendesk-Webhook-Signature\"\nsecret_file = \"{hmac}\"\nmax_body_bytes = 8192\n\
         [destinations.fhir]\ntype = \"amqp\"\nendpoint = \"{uri}\"\nexchange = \"{exchange}\"\n\
         [[destinations.fhir.queues]]\nname = \"{queue}\"\nbind = [\"#\"]\n"
    )
}

/// The channel a corpus sample is posted to.
fn channel_of(file: &Path) -> &'static str {
    let name = file.file_name().unwrap().to_str().unwrap();
    match file.parent().unwrap().file_name().unwrap().to_str().unwrap() {
        "twilio" if name.starts_with("voice_") => "voice",
        "twilio" => "sms",
        "amazon-connect" => "connect",
        "genesys-cloud" => "genesys",
        "zendesk" => "zendesk",
        other => panic!("no channel for {other}/{name}"),
    }
}

fn samples(corpus: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for vendor in ["twilio", "amazon-connect", "genesys-cloud", "zendesk"] {
        for e in std::fs::read_dir(corpus.join("webhooks").join(vendor)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "form" || x == "json") && !p.ends_with("signature_vectors.json") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The headers that authenticate `body` on `channel` (`good = false`: the same headers, wrongly signed).
fn sign(channel: &str, path_and_query: &str, body: &[u8], good: bool) -> Vec<(String, String)> {
    let key = |k: &str| if good { k.to_owned() } else { format!("{k}-wrong") };
    match channel {
        "voice" | "sms" => {
            let mut pairs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
            pairs.sort();
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key(TWILIO_TOKEN).as_bytes()).unwrap();
            mac.update(format!("{BASE}{path_and_query}").as_bytes());
            for (k, v) in pairs {
                mac.update(k.as_bytes());
                mac.update(v.as_bytes());
            }
            vec![
                ("Content-Type".into(), "application/x-www-form-urlencoded".into()),
                ("X-Twilio-Signature".into(), B64.encode(mac.finalize().into_bytes())),
            ]
        }
        "connect" => vec![("X-Relay-Secret".into(), key(RELAY_SECRET))],
        "genesys" => {
            let sig = B64.encode(hmac256(&key(HMAC_SECRET), &[body]));
            vec![("X-Hub-Signature-256".into(), format!("sha256={sig}"))]
        }
        "zendesk" => {
            let ts = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
            let sig = B64.encode(hmac256(&key(HMAC_SECRET), &[ts.as_bytes(), body]));
            vec![("X-Zendesk-Webhook-Signature-Timestamp".into(), ts), ("X-Zendesk-Webhook-Signature".into(), sig)]
        }
        other => panic!("unknown channel {other}"),
    }
}

fn hmac256(secret: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// POST: (status, body as JSON, or null).
fn post(addr: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> (u16, Value) {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let resp = hearth_testkit::http::post(addr, path, &headers, body);
    (resp.status, serde_json::from_str(&resp.body).unwrap_or(Value::Null))
}

fn send(engine: &Engine, channel: &str, body: &[u8], good: bool) -> (u16, Value) {
    let path = format!("/webhooks/{channel}");
    post(&engine.http, &path, &sign(channel, &path, body, good), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_corpus_sample_signed_reaches_rabbitmq_as_valid_fhir() {
    let Some(corpus) = common::corpus("every_corpus_sample_signed_reaches_rabbitmq_as_valid_fhir") else { return };
    let Some(uri) = hearth_testkit::amqp("webhooks_corpus") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (exchange, queue) = (unique_name("hearth-wh-x"), unique_name("hearth-wh-q"));
    let engine = Engine::start(dir.path(), "", &config(dir.path(), &uri, &exchange, &queue));
    let journal = engine.journal().await;

    // Wrongly signed first: 401 each, and nothing journaled.
    let files = samples(&corpus);
    assert!(files.len() >= 12, "{files:?}");
    for f in &files {
        let (code, answer) = send(&engine, channel_of(f), &std::fs::read(f).unwrap(), false);
        assert_eq!(code, 401, "{}: {answer}", f.display());
        assert_eq!(answer["error"]["code"], "unauthorized");
    }
    assert_eq!(journal.count_all().await.unwrap(), 0, "a refused request journals nothing");

    let mut events = 0;
    for f in &files {
        let (code, answer) = send(&engine, channel_of(f), &std::fs::read(f).unwrap(), true);
        assert_eq!(code, 200, "{}: {answer}", f.display());
        let stored = journal.get(answer["journal_id"].as_i64().unwrap()).await.unwrap().unwrap();
        let name = f.file_name().unwrap().to_str().unwrap();
        let ignorable = name.starts_with("agent-event-stream") || name.contains("audits_UserPresenceChange");
        let want = if ignorable { MessageStatus::Filtered } else { MessageStatus::Received };
        // The stage may already have converted it: received or beyond, never filtered for an event.
        assert_eq!(stored.summary.status == MessageStatus::Filtered, want == MessageStatus::Filtered, "{name}");
        events += usize::from(!ignorable);
    }
    assert_eq!(events, 8, "4 Twilio, 2 Connect contact events, Genesys Open Messaging, Zendesk");

    // A vendor retry: acknowledged, journaled once.
    let retried = files.iter().find(|f| f.ends_with("voice_status_callback_completed.form")).unwrap();
    let (code, answer) = send(&engine, "voice", &std::fs::read(retried).unwrap(), true);
    assert_eq!((code, answer["duplicate"].as_bool()), (200, Some(true)), "{answer}");

    // Oversized and malformed bodies, correctly signed.
    let big = vec![b' '; 9000];
    assert_eq!(send(&engine, "zendesk", &big, true).0, 413);
    let (code, answer) = send(&engine, "genesys", b"{\"id\": ", true);
    assert_eq!(code, 400, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("not JSON"), "{answer}");

    let sent = common::wait_outbox_drained(&journal, "fhir", events, T).await;
    let got = common::consume(&uri, &queue, sent.len(), T).await;
    let schema = hearth_fhir::schema::R4Schema::shared().unwrap();
    let mut types = std::collections::BTreeSet::new();
    for d in &got {
        let body: Value = serde_json::from_slice(&d.body).unwrap();
        let rt = body["resourceType"].as_str().unwrap().to_owned();
        schema.validate(&body).unwrap_or_else(|e| panic!("{rt} is not valid R4: {e:?}"));
        let channel = d.header("x-hearth-channel").unwrap();
        assert!(d.routing_key.starts_with(&format!("{channel}.")) && d.routing_key.ends_with(&rt), "{}", d.routing_key);
        types.insert(rt);
    }
    assert!(types.contains("Communication") && types.contains("Encounter"), "{types:?}");
    // Delivered once: nothing more arrives after the retry.
    assert!(common::consume_available(&uri, &queue, Duration::from_secs(2)).await.is_empty());
    let counts = journal.count_by_status(None).await.unwrap();
    assert_eq!(counts[&MessageStatus::Processed], 8, "{counts:?}");
    assert_eq!(counts[&MessageStatus::Filtered], 4, "{counts:?}");
    assert_eq!(counts[&MessageStatus::Rejected], 1, "the malformed body, kept with its reason: {counts:?}");
    let dup = journal.list(&MessageFilter::default(), None, 100).await.unwrap();
    assert_eq!(dup.iter().map(|m| m.duplicates).sum::<u64>(), 1);
    journal.close().await;
    drop(engine);
    common::delete_queue(&queue);
}

/// An ADT^A04 whose PID-13 holds the patient's phone number.
fn a04(control_id: &str, mrn: &str, phone: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|TESTEHR|NORTH|HEARTH|HOSP|20260101120000||ADT^A04^ADT_A01|{control_id}|P|2.5.1\r\
         EVN|A04|20260101120000\r\
         PID|1||{mrn}^^^NORTH^MR||ROE^RICHARD||19700101|M|||2 OAK ST^^SPRINGFIELD^IL^62701||{phone}^PRN^PH\r\
         PV1|1|O|CLINIC\r"
    )
    .into_bytes()
}

fn call_from(call_sid: &str, from: &str) -> Vec<u8> {
    let from: String = form_urlencoded::byte_serialize(from.as_bytes()).collect();
    format!("CallSid={call_sid}&CallStatus=completed&Direction=inbound&From={from}&To=%2B12175550000&CallDuration=95")
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_from_a_registered_number_references_the_patient_and_an_unknown_one_is_flagged() {
    let Some(uri) = hearth_testkit::amqp("webhooks_patient_link") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (exchange, queue) = (unique_name("hearth-wh-link-x"), unique_name("hearth-wh-link-q"));
    let engine = Engine::start(dir.path(), "", &config(dir.path(), &uri, &exchange, &queue));
    let journal = engine.journal().await;

    let acks = common::mllp_send(&engine.mllp, &[a04("LINK-1", "MRN777", "(217) 555-0142")]);
    assert!(acks[0].contains("|AA|"), "{acks:?}");
    let adt = common::wait_for_message(&journal, "LINK-1", T, |m| m.summary.status == MessageStatus::Processed).await;
    let bundle: Value = serde_json::from_str(adt.bundle.as_deref().unwrap()).unwrap();
    let patient = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["resourceType"] == "Patient")
        .unwrap();
    let patient_id = patient["id"].as_str().unwrap().to_owned();

    let (code, known) = send(&engine, "voice", &call_from("CAKNOWN", "+12175550142"), true);
    assert_eq!(code, 200, "{known}");
    let (code, unknown) = send(&engine, "voice", &call_from("CAUNKNOWN", "+14155550123"), true);
    assert_eq!(code, 200, "{unknown}");
    let sent = common::wait_outbox_drained(&journal, "fhir", 3, T).await;
    let got = common::consume(&uri, &queue, sent.len(), T).await;

    let journal_ref = &journal;
    let report = |answer: &Value| {
        let id = answer["journal_id"].as_i64().unwrap();
        async move {
            let m = journal_ref.get(id).await.unwrap().unwrap();
            assert_eq!(m.summary.status, MessageStatus::Processed, "{:?}", m.summary);
            serde_json::from_str::<Value>(m.report.as_deref().unwrap()).unwrap()
        }
    };
    assert_eq!(report(&known).await["patient"], "linked");
    assert_eq!(report(&unknown).await["patient"], "unknown", "flagged in the report");

    let communications: Vec<Value> = got
        .iter()
        .filter(|d| d.routing_key.ends_with(".Communication"))
        .map(|d| serde_json::from_slice(&d.body).unwrap())
        .collect();
    assert_eq!(communications.len(), 2);
    let by_call =
        |sid: &str| communications.iter().find(|c| c["identifier"][0]["value"].as_str() == Some(sid)).unwrap().clone();
    let linked = by_call("CAKNOWN");
    assert_eq!(linked["subject"]["reference"], format!("Patient/{patient_id}"), "{linked}");
    assert_eq!(linked["subject"]["identifier"]["value"], "MRN777");
    let unlinked = by_call("CAUNKNOWN");
    assert!(unlinked.get("subject").is_none(), "never guessed: {unlinked}");
    let encounter = got.iter().any(|d| d.routing_key.ends_with(".Encounter"));
    assert!(encounter, "a completed call is an Encounter of class VR");
    journal.close().await;
    drop(engine);
    common::delete_queue(&queue);
}

#[test]
fn convert_from_webhook_prints_an_unlinked_bundle_offline() {
    let Some(corpus) = common::corpus("convert_from_webhook_prints_an_unlinked_bundle_offline") else { return };
    let twilio = corpus.join("webhooks/twilio/voice_status_callback_completed.form");
    let out = std::process::Command::new(common::BIN)
        .args(["convert", "--from", "webhook", "--profile", "twilio-voice", "--report"])
        .arg(&twilio)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bundle: Value = serde_json::from_slice(&out.stdout).unwrap();
    hearth_fhir::schema::R4Schema::shared().unwrap().validate(&bundle).unwrap();
    assert_eq!(bundle["entry"][0]["resource"]["resourceType"], "Communication");
    let report: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(report["report"]["patient"], "unknown");

    let agent = corpus.join("webhooks/amazon-connect/agent-event-stream_determine-acw-time-01.json");
    let out = std::process::Command::new(common::BIN)
        .args(["convert", "--from", "webhook", "--profile", "amazon-connect"])
        .arg(&agent)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a call, SMS or chat"));
    let out = std::process::Command::new(common::BIN)
        .args(["convert", "--from", "webhook", "--profile", "nobody"])
        .arg(&agent)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
