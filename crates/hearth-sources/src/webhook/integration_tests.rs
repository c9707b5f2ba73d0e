//! The router against a real journal (SQLite in a temp dir), driven with `oneshot` (no socket).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hearth_core::MessageStatus;
use hearth_store::{Journal, JournalConfig, MessageFilter, SqliteConfig};
use hearth_webhooks::{AuthConfig, Profile, Secret};
use hmac::{Hmac, Mac};
use tower::ServiceExt;

use super::{WebhookChannel, router};

const TOKEN: &str = "synthetic-token";
const BASE: &str = "https://hearth.example.org";
/// A channel's `public_url`: what Twilio calls through a proxy that rewrites the path.
const EDGE_URL: &str = "https://edge.example.org/tw/voice";

fn channels() -> Vec<WebhookChannel> {
    vec![
        WebhookChannel {
            name: "calls".into(),
            auth: AuthConfig::TwilioSignature { auth_token: Secret::new(TOKEN) },
            profile: Profile::builtin("twilio-voice").unwrap(),
            public_base_url: Some(BASE.into()),
            public_url: None,
            max_body_bytes: 4096,
        },
        WebhookChannel {
            name: "edge".into(),
            auth: AuthConfig::TwilioSignature { auth_token: Secret::new(TOKEN) },
            profile: Profile::builtin("twilio-voice").unwrap(),
            public_base_url: Some(BASE.into()),
            public_url: Some(EDGE_URL.into()),
            max_body_bytes: 4096,
        },
        WebhookChannel {
            name: "connect".into(),
            auth: AuthConfig::SharedSecretHeader { header: "X-Relay-Secret".into(), secret: Secret::new(TOKEN) },
            profile: Profile::builtin("amazon-connect").unwrap(),
            public_base_url: None,
            public_url: None,
            max_body_bytes: 4096,
        },
    ]
}

/// Twilio's scheme: base64 HMAC-SHA1 over the URL and the form parameters sorted by name.
fn twilio_signature(url: &str, body: &[u8]) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    pairs.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(TOKEN.as_bytes()).unwrap();
    mac.update(url.as_bytes());
    for (k, v) in pairs {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    B64.encode(mac.finalize().into_bytes())
}

fn call(status: &str) -> Vec<u8> {
    format!("CallSid=CA0001&CallStatus={status}&Direction=inbound&From=%2B14155550100&To=%2B14155550199").into_bytes()
}

fn twilio(body: Vec<u8>, signature: &str) -> Request<Body> {
    Request::post("/webhooks/calls?src=test")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", signature)
        .body(Body::from(body))
        .unwrap()
}

async fn open() -> (tempfile::TempDir, Journal) {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&JournalConfig::Sqlite(SqliteConfig::new(dir.path().join("j.db")))).await.unwrap();
    (dir, journal)
}

async fn send(journal: &Journal, req: Request<Body>) -> (StatusCode, serde_json::Value) {
    let resp = router(channels(), journal.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn a_signed_event_is_journaled_once_and_acknowledged_every_time() {
    let (_dir, journal) = open().await;
    let body = call("no-answer");
    let sig = twilio_signature(&format!("{BASE}/webhooks/calls?src=test"), &body);
    let (status, first) = send(&journal, twilio(body.clone(), &sig)).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["duplicate"], false);
    let (status, again) = send(&journal, twilio(body, &sig)).await;
    assert_eq!(status, StatusCode::OK, "a vendor retry is acknowledged");
    assert_eq!((again["journal_id"].clone(), again["duplicate"].clone()), (first["journal_id"].clone(), true.into()));

    let stored = journal.get(first["journal_id"].as_i64().unwrap()).await.unwrap().unwrap();
    assert_eq!(stored.summary.status, MessageStatus::Received);
    assert_eq!(stored.summary.kind, hearth_core::PayloadKind::Webhook);
    assert_eq!(stored.summary.dedup_key.as_deref(), Some("webhook:calls:CA0001/no-answer"));
    assert_eq!(stored.summary.meta.message_code.as_deref(), Some("voice"));
    assert_eq!(stored.summary.meta.trigger_event.as_deref(), Some("no-answer"));
    assert_eq!(stored.summary.duplicates, 1);
    assert_eq!(stored.raw.as_deref(), Some(&call("no-answer")[..]));
    journal.close().await;
}

#[tokio::test]
async fn wrong_or_missing_signatures_are_401_and_journal_nothing() {
    let (_dir, journal) = open().await;
    let body = call("completed");
    // Signed for the request's own host, not the configured public URL: what a proxy would make of it.
    let wrong_url = twilio_signature("http://127.0.0.1:8080/webhooks/calls?src=test", &body);
    for sig in [wrong_url.as_str(), "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "not base64!"] {
        let (status, answer) = send(&journal, twilio(body.clone(), sig)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{sig}: {answer}");
        assert_eq!(answer["error"]["code"], "unauthorized");
    }
    let req = Request::post("/webhooks/calls").body(Body::from(body)).unwrap();
    assert_eq!(send(&journal, req).await.0, StatusCode::UNAUTHORIZED);
    let req = Request::post("/webhooks/connect").header("X-Relay-Secret", "guess").body(Body::from("{}")).unwrap();
    assert_eq!(send(&journal, req).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(journal.count_all().await.unwrap(), 0);
    journal.close().await;
}

#[tokio::test]
async fn oversized_bodies_are_413_declared_or_not() {
    let (_dir, journal) = open().await;
    let big = vec![b'a'; 5000];
    let sig = twilio_signature(&format!("{BASE}/webhooks/calls?src=test"), &big);
    let (status, answer) = send(&journal, twilio(big.clone(), &sig)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    // A streamed body with no Content-Length is cut off as soon as it passes the limit.
    let chunks =
        futures::stream::iter(big.chunks(1000).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>());
    let req = Request::post("/webhooks/calls?src=test")
        .header("X-Twilio-Signature", sig)
        .body(Body::from_stream(chunks))
        .unwrap();
    assert_eq!(send(&journal, req).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(journal.count_all().await.unwrap(), 0);
    journal.close().await;
}

#[tokio::test]
async fn authentic_but_malformed_is_400_and_kept_as_rejected() {
    let (_dir, journal) = open().await;
    let req =
        Request::post("/webhooks/connect").header("X-Relay-Secret", TOKEN).body(Body::from("{\"detail\": ")).unwrap();
    let (status, answer) = send(&journal, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"]["code"], "malformed");
    assert!(answer["error"]["message"].as_str().unwrap().contains("not JSON"), "{answer}");
    let rejected = MessageFilter { status: Some(MessageStatus::Rejected), ..MessageFilter::default() };
    let got = journal.list(&rejected, None, 10).await.unwrap();
    assert_eq!(got.len(), 1);
    assert!(got[0].dedup_key.is_none());
    journal.close().await;
}

#[tokio::test]
async fn ignored_events_are_filtered_and_acknowledged_once() {
    let (_dir, journal) = open().await;
    let agent_event = r#"{"AWSAccountId":"000000000000","AgentARN":"arn:aws:connect:us-east-1:000000000000:instance/x/agent/y","EventType":"HEART_BEAT","EventTimestamp":"2025-06-03T14:00:00Z","Version":"2017-10-01","EventId":"e-1"}"#;
    let req =
        || Request::post("/webhooks/connect").header("X-Relay-Secret", TOKEN).body(Body::from(agent_event)).unwrap();
    let (status, first) = send(&journal, req()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (_, again) = send(&journal, req()).await;
    assert_eq!(again["duplicate"], true);
    let stored = journal.get(first["journal_id"].as_i64().unwrap()).await.unwrap().unwrap();
    assert_eq!(stored.summary.status, MessageStatus::Filtered);
    assert!(stored.summary.reason.as_deref().unwrap().starts_with("not a call, SMS or chat"), "{:?}", stored.summary);
    journal.close().await;
}

#[tokio::test]
async fn unknown_channels_are_404_and_a_closed_journal_is_503() {
    let (_dir, journal) = open().await;
    let req = Request::post("/webhooks/nobody").body(Body::from("x")).unwrap();
    assert_eq!(send(&journal, req).await.0, StatusCode::NOT_FOUND);
    journal.close().await;
    let body = call("busy");
    let sig = twilio_signature(&format!("{BASE}/webhooks/calls?src=test"), &body);
    let (status, answer) = send(&journal, twilio(body, &sig)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "no 2xx without the journal: {answer}");
}

/// A channel's `public_url` is what Twilio signed, verbatim (then `?query` as received): a request signed for it is
/// accepted, one signed for `public_base_url` + `/webhooks/<channel>` is refused.
#[tokio::test]
async fn a_channels_public_url_is_the_signed_url() {
    let (_dir, journal) = open().await;
    let body = call("completed");
    let edge = |sig: &str| {
        Request::post("/webhooks/edge?src=test")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", sig)
            .body(Body::from(body.clone()))
            .unwrap()
    };
    let derived = twilio_signature(&format!("{BASE}/webhooks/edge?src=test"), &body);
    let (status, answer) = send(&journal, edge(&derived)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "signed for the derived URL: {answer}");
    assert_eq!(journal.count_all().await.unwrap(), 0);

    let verbatim = twilio_signature(&format!("{EDGE_URL}?src=test"), &body);
    let (status, answer) = send(&journal, edge(&verbatim)).await;
    assert_eq!(status, StatusCode::OK, "signed for public_url: {answer}");
    assert_eq!(answer["duplicate"], false);
    journal.close().await;
}
