//! Every corpus vector verifies, every corpus sample parses under its profile, and every event maps to a
//! Bundle that passes HL7's R4 JSON schema.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{NOW, assert_valid, webhooks_corpus};
use hearth_webhooks::{
    AuthConfig, AuthError, Direction, FollowUp, MapConfig, Medium, Parsed, PatientLink, Profile, Request, Secret, map,
    parse, verify,
};
use serde_json::Value;

fn read(dir: &Path, rel: &str) -> Vec<u8> {
    std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn json(dir: &Path, rel: &str) -> Value {
    serde_json::from_slice(&read(dir, rel)).unwrap()
}

fn request<'a>(url: &'a str, headers: &'a [(String, String)], ct: &'a str, body: &'a [u8]) -> Request<'a> {
    Request { public_url: url, headers, content_type: Some(ct), body, now: NOW }
}

fn h(name: &str, value: &str) -> Vec<(String, String)> {
    vec![(name.to_owned(), value.to_owned())]
}

#[test]
fn twilio_published_vectors_verify() {
    let Some(dir) = webhooks_corpus() else { return };
    let v = json(&dir, "twilio/signature_vectors.json");
    let pv = &v["published_vector"];
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, val) in pv["params"].as_object().unwrap() {
        form.append_pair(k, val.as_str().unwrap());
    }
    let body = form.finish();
    let auth = AuthConfig::TwilioSignature { auth_token: Secret::new(pv["auth_token"].as_str().unwrap()) };
    let headers = h("X-Twilio-Signature", pv["X-Twilio-Signature"].as_str().unwrap());
    let url = pv["url"].as_str().unwrap();
    verify(&auth, &request(url, &headers, "application/x-www-form-urlencoded", body.as_bytes())).unwrap();

    let jv = &v["published_json_body_vector"];
    let auth = AuthConfig::TwilioSignature { auth_token: Secret::new(jv["auth_token"].as_str().unwrap()) };
    let headers = h("x-twilio-signature", jv["X-Twilio-Signature"].as_str().unwrap());
    let url = jv["url"].as_str().unwrap();
    let body = jv["body"].as_str().unwrap().as_bytes();
    verify(&auth, &request(url, &headers, "application/json", body)).unwrap();
    // The URL signature is right but the body is not the one hashed into it.
    let err = verify(&auth, &request(url, &headers, "application/json", b"{\"property\": \"other\"}")).unwrap_err();
    assert_eq!(err, AuthError::BodyHashMismatch);
}

#[test]
fn twilio_file_vectors_verify_and_fail_when_wrong() {
    let Some(dir) = webhooks_corpus() else { return };
    let v = json(&dir, "twilio/signature_vectors.json");
    let mut checked = 0;
    for (name, vec) in v.as_object().unwrap().iter().filter(|(_, x)| x.get("file").is_some()) {
        let body = read(&dir, &format!("twilio/{}", vec["file"].as_str().unwrap()));
        let auth = AuthConfig::TwilioSignature { auth_token: Secret::new(vec["auth_token"].as_str().unwrap()) };
        let url = vec["url"].as_str().unwrap();
        let ct = vec["content_type"].as_str().unwrap();
        let good = h("X-Twilio-Signature", vec["X-Twilio-Signature"].as_str().unwrap());
        verify(&auth, &request(url, &good, ct, &body)).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Another URL (a proxy rewrote it), another body, another token: all refused.
        let other_url = format!("{url}x");
        assert_eq!(verify(&auth, &request(&other_url, &good, ct, &body)), Err(AuthError::BadSignature));
        let mut tampered = body.clone();
        tampered.extend_from_slice(b"&Extra=1");
        assert_eq!(verify(&auth, &request(url, &good, ct, &tampered)), Err(AuthError::BadSignature));
        let wrong = AuthConfig::TwilioSignature { auth_token: Secret::new("not-the-token") };
        assert_eq!(verify(&wrong, &request(url, &good, ct, &body)), Err(AuthError::BadSignature));
        let missing = verify(&auth, &request(url, &[], ct, &body));
        assert_eq!(missing, Err(AuthError::MissingHeader("X-Twilio-Signature".into())));
        let garbage = h("X-Twilio-Signature", "not base64!");
        assert!(matches!(verify(&auth, &request(url, &garbage, ct, &body)), Err(AuthError::MalformedHeader(_))));
        checked += 1;
    }
    assert_eq!(checked, 4, "every file vector in signature_vectors.json");
}

#[test]
fn hmac_vectors_verify_and_fail_when_wrong() {
    let Some(dir) = webhooks_corpus() else { return };
    let v = json(&dir, "hmac_signature_vectors.json");

    let g = &v["genesys_openmessaging"];
    let body = read(&dir, g["body_file"].as_str().unwrap());
    let auth = AuthConfig::HubSignature256 { secret: Secret::new(g["secret"].as_str().unwrap()) };
    let sig = g["X-Hub-Signature-256"].as_str().unwrap();
    let url = "https://hearth.example.org/webhooks/genesys";
    verify(&auth, &request(url, &h("X-Hub-Signature-256", sig), "application/json", &body)).unwrap();
    let wrong = sig.replace("sha256=/", "sha256=+");
    let err = verify(&auth, &request(url, &h("X-Hub-Signature-256", &wrong), "application/json", &body));
    assert_eq!(err, Err(AuthError::BadSignature));
    let err = verify(&auth, &request(url, &[], "application/json", &body));
    assert_eq!(err, Err(AuthError::MissingHeader("X-Hub-Signature-256".into())));

    let z = &v["zendesk"];
    let body = read(&dir, z["body_file"].as_str().unwrap());
    let ts = z["X-Zendesk-Webhook-Signature-Timestamp"].as_str().unwrap();
    let sig = z["X-Zendesk-Webhook-Signature"].as_str().unwrap();
    let auth = AuthConfig::TimestampHmac {
        secret: Secret::new(z["secret"].as_str().unwrap()),
        timestamp_header: "X-Zendesk-Webhook-Signature-Timestamp".into(),
        signature_header: "X-Zendesk-Webhook-Signature".into(),
        window: Duration::from_secs(300),
    };
    let headers = vec![
        ("X-Zendesk-Webhook-Signature-Timestamp".to_owned(), ts.to_owned()),
        ("X-Zendesk-Webhook-Signature".to_owned(), sig.to_owned()),
    ];
    let url = "https://hearth.example.org/webhooks/zendesk";
    let mut req = request(url, &headers, "application/json", &body);
    verify(&auth, &req).unwrap();
    req.now = NOW + Duration::from_secs(299);
    verify(&auth, &req).unwrap();
    req.now = NOW + Duration::from_secs(301);
    assert_eq!(verify(&auth, &req), Err(AuthError::StaleTimestamp));
    req.now = NOW - Duration::from_secs(301);
    assert_eq!(verify(&auth, &req), Err(AuthError::StaleTimestamp));
    // A replayed signature with a fresh timestamp does not match.
    let moved = vec![
        ("X-Zendesk-Webhook-Signature-Timestamp".to_owned(), "2025-06-03T14:03:23Z".to_owned()),
        ("X-Zendesk-Webhook-Signature".to_owned(), sig.to_owned()),
    ];
    assert_eq!(verify(&auth, &request(url, &moved, "application/json", &body)), Err(AuthError::BadSignature));
    let only_sig = vec![headers[1].clone()];
    let err = verify(&auth, &request(url, &only_sig, "application/json", &body));
    assert_eq!(err, Err(AuthError::MissingHeader("X-Zendesk-Webhook-Signature-Timestamp".into())));
}

/// (corpus file, profile, Some(expected event_key) for an event, None for an ignored event).
const SAMPLES: [(&str, &str, Option<&str>); 12] = [
    ("twilio/voice_incoming_call.form", "twilio-voice", Some("CA22222222222222222222222222222222/ringing")),
    (
        "twilio/voice_status_callback_completed.form",
        "twilio-voice",
        Some("CA11111111111111111111111111111111/completed"),
    ),
    ("twilio/messaging_incoming_sms.form", "twilio-sms", Some("SM33333333333333333333333333333333/received")),
    (
        "twilio/messaging_status_callback_delivered.form",
        "twilio-sms",
        Some("SM55555555555555555555555555555555/delivered/delivered"),
    ),
    (
        "amazon-connect/contact-event-detail-only_CONNECTED_TO_AGENT.json",
        "amazon-connect",
        Some("11111111-1111-1111-1111-111111111111/CONNECTED_TO_AGENT"),
    ),
    (
        "amazon-connect/eventbridge-envelope_contact-event_DISCONNECTED.json",
        "amazon-connect",
        Some("11111111-1111-1111-1111-111111111111/DISCONNECTED"),
    ),
    ("amazon-connect/agent-event-stream_determine-acw-time-01.json", "amazon-connect", None),
    ("amazon-connect/agent-event-stream_determine-acw-time-02.json", "amazon-connect", None),
    ("amazon-connect/agent-event-stream_sample-agent-event-stream-01.json", "amazon-connect", None),
    ("genesys-cloud/eventbridge_v2.audits_UserPresenceChange.json", "genesys", None),
    (
        "genesys-cloud/openmessaging_outbound_text.constructed.json",
        "genesys",
        Some("a3c1f5e2-0000-4000-8000-000000000001/Text"),
    ),
    ("zendesk/ticket_created.constructed.json", "zendesk", Some("01J0000000000000000000000A")),
];

#[test]
fn every_sample_parses_and_maps_to_valid_r4() {
    let Some(dir) = webhooks_corpus() else { return };
    let mut files: Vec<String> = Vec::new();
    for sub in ["twilio", "amazon-connect", "genesys-cloud", "zendesk"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".form") || (name.ends_with(".json") && !name.contains("vectors")) {
                files.push(format!("{sub}/{name}"));
            }
        }
    }
    files.sort();
    let mut listed: Vec<String> = SAMPLES.iter().map(|s| s.0.to_owned()).collect();
    listed.sort();
    assert_eq!(files, listed, "every corpus sample is in SAMPLES");

    let linked = PatientLink::Linked {
        id: "p-synthetic-1".into(),
        identifier_system: Some("urn:oid:2.16.840.1.113883.19.5".into()),
        identifier_value: "MRN-0001".into(),
    };
    let by_identifier = PatientLink::LinkedByIdentifier {
        id: "p-synthetic-2".into(),
        identifier_system: Some("urn:hearth:v2:NORTH".into()),
        identifier_value: "MRN-0002".into(),
    };
    let links = [
        &linked,
        &by_identifier,
        &PatientLink::Unknown,
        &PatientLink::Ambiguous { candidates: 2 },
        &PatientLink::Mismatch,
    ];
    let cfg = MapConfig { care_team_owner: Some("CareTeam/care-team-outreach".into()), ..MapConfig::default() };
    // Every Bundle also goes through the strict validator (value sets of required bindings, instant formats).
    let strict = tempfile::tempdir().unwrap();
    let mut ndjson = String::new();
    for (file, profile, expected) in SAMPLES {
        let body = read(&dir, file);
        let req = request("https://hearth.example.org/webhooks/x", &[], "application/octet-stream", &body);
        let parsed = parse(&Profile::builtin(profile).unwrap(), &req).unwrap_or_else(|e| panic!("{file}: {e}"));
        match (parsed, expected) {
            (Parsed::Event(ev), Some(key)) => {
                assert_eq!(ev.event_key, key, "{file}");
                for link in links {
                    let out = map(&ev, link, &cfg, NOW);
                    assert_valid(file, &out.bundle);
                    ndjson.push_str(&format!("{}\n", out.bundle));
                }
            }
            (Parsed::Ignored(i), None) => assert!(!i.reason.is_empty()),
            (other, _) => panic!("{file}: unexpected {other:?}"),
        }
    }
    let path = strict.path().join("webhook-corpus.ndjson");
    std::fs::write(&path, ndjson).unwrap();
    let Some(result) = hearth_testkit::strict_fhir_validate("every_sample_parses_and_maps_to_valid_r4", &[&path])
    else {
        return;
    };
    match result {
        Ok(summary) => eprintln!("{}", summary.trim()),
        Err(findings) => panic!("strict FHIR validation failed:\n{findings}"),
    }
}

fn event(dir: &Path, file: &str, profile: &str) -> hearth_webhooks::Event {
    let body = read(dir, file);
    let req = request("https://h/x", &[], "x", &body);
    match parse(&Profile::builtin(profile).unwrap(), &req).unwrap() {
        Parsed::Event(e) => *e,
        Parsed::Ignored(i) => panic!("{file}: ignored: {}", i.reason),
    }
}

#[test]
fn sample_fields_are_read() {
    let Some(dir) = webhooks_corpus() else { return };
    let e = event(&dir, "twilio/voice_status_callback_completed.form", "twilio-voice");
    assert_eq!((e.medium, e.direction), (Medium::Voice, Direction::Inbound));
    assert_eq!((e.from.as_deref(), e.to.as_deref()), (Some("+14155552671"), Some("+15005550006")));
    assert_eq!((e.duration_s, e.communication_status.as_str()), (Some(62), "completed"));
    assert_eq!(e.occurred_at, Some(NOW));
    assert!(e.is_completed_call() && e.follow_up.is_none());

    let e = event(&dir, "twilio/messaging_incoming_sms.form", "twilio-sms");
    assert_eq!(
        (e.medium, e.direction, e.text.as_deref()),
        (Medium::Sms, Direction::Inbound, Some("Need to reschedule my appt"))
    );
    let e = event(&dir, "twilio/messaging_status_callback_delivered.form", "twilio-sms");
    assert_eq!((e.direction, e.customer_number()), (Direction::Outbound, Some("+14155552671")));

    let e = event(&dir, "amazon-connect/eventbridge-envelope_contact-event_DISCONNECTED.json", "amazon-connect");
    assert_eq!((e.direction, e.duration_s, e.follow_up), (Direction::Outbound, Some(44), None));
    assert!(e.is_completed_call());
    let e = event(&dir, "amazon-connect/contact-event-detail-only_CONNECTED_TO_AGENT.json", "amazon-connect");
    assert_eq!((e.direction, e.communication_status.as_str()), (Direction::Inbound, "in-progress"));
    assert!(!e.is_completed_call());

    let e = event(&dir, "genesys-cloud/openmessaging_outbound_text.constructed.json", "genesys");
    assert_eq!((e.medium, e.direction, e.from.as_deref()), (Medium::Chat, Direction::Outbound, None));
    assert_eq!(e.text.as_deref(), Some("Your appointment is confirmed for June 5 at 10:00."));

    let e = event(&dir, "zendesk/ticket_created.constructed.json", "zendesk");
    assert_eq!((e.medium, e.contact_id.as_str(), e.status.as_str()), (Medium::Voice, "42", "NEW"));
    let _: Option<FollowUp> = e.follow_up;
}
