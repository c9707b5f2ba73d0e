//! Arbitrary bodies and headers never make verify or parse panic; a parsed event always maps.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use hearth_webhooks::{
    AuthConfig, BUILTIN_NAMES, MapConfig, Parsed, PatientLink, Profile, Request, Secret, map, parse, verify,
};
use proptest::prelude::*;
use time::macros::datetime;

fn auths() -> Vec<AuthConfig> {
    vec![
        AuthConfig::TwilioSignature { auth_token: Secret::new("t") },
        AuthConfig::HubSignature256 { secret: Secret::new("s") },
        AuthConfig::TimestampHmac {
            secret: Secret::new("s"),
            timestamp_header: "X-Ts".into(),
            signature_header: "X-Sig".into(),
            window: Duration::from_secs(300),
        },
        AuthConfig::SharedSecretHeader { header: "X-Key".into(), secret: Secret::new("k") },
    ]
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("X-Twilio-Signature".to_owned()),
        Just("X-Hub-Signature-256".to_owned()),
        Just("X-Ts".to_owned()),
        Just("X-Sig".to_owned()),
        Just("x-key".to_owned()),
        "[A-Za-z-]{1,12}",
    ]
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,60}",
        "sha256=[A-Za-z0-9+/=]{0,50}",
        "[A-Za-z0-9+/]{27}=",
        "[0-9a-f]{64}",
        "[0-9]{1,20}",
        Just("2025-06-03T14:03:22Z".to_owned()),
    ]
}

/// Bodies that look like the real thing often enough to get past the first checks.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        "(CallSid|CallStatus|Direction|From|To|Timestamp|CallDuration|RecordingUrl|MessageSid|SmsStatus|Body)=[%+A-Za-z0-9-]{0,12}(&(CallSid|CallStatus|Direction|From|To|Timestamp|CallDuration|SmsStatus)=[%+A-Za-z0-9 -]{0,12}){0,8}"
            .prop_map(String::into_bytes),
        json_value().prop_map(|v| v.to_string().into_bytes()),
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let key = prop_oneof![
        Just("id".to_owned()),
        Just("detail-type".to_owned()),
        Just("detail".to_owned()),
        Just("contactId".to_owned()),
        Just("eventType".to_owned()),
        Just("channel".to_owned()),
        Just("initiationMethod".to_owned()),
        Just("type".to_owned()),
        Just("status".to_owned()),
        Just("direction".to_owned()),
        Just("from".to_owned()),
        Just("timestamp".to_owned()),
        Just("duration_s".to_owned()),
        Just("AgentARN".to_owned()),
        "[a-z]{1,6}",
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        prop_oneof![
            Just("VOICE".to_owned()),
            Just("INBOUND".to_owned()),
            Just("DISCONNECTED".to_owned()),
            Just("call".to_owned()),
            Just("missed".to_owned()),
            Just("Amazon Connect Contact Event".to_owned()),
            Just("2025-06-03T14:03:22Z".to_owned()),
            "\\PC{0,12}",
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 40, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn verify_never_panics(
        headers in proptest::collection::vec((header_name(), header_value()), 0..6),
        body in body(),
        url in prop_oneof![Just("https://h/x?bodySHA256=00".to_owned()), "\\PC{0,40}"],
    ) {
        let req = Request { public_url: &url, headers: &headers, content_type: None, body: &body,
                            now: datetime!(2025-06-03 14:03:22 UTC) };
        for auth in auths() {
            let _ = verify(&auth, &req);
        }
    }

    #[test]
    fn parse_never_panics_and_events_map(body in body()) {
        let req = Request { public_url: "https://h/x", headers: &[], content_type: None, body: &body,
                            now: datetime!(2025-06-03 14:03:22 UTC) };
        for name in BUILTIN_NAMES {
            let profile = Profile::builtin(name).unwrap();
            if let Ok(Parsed::Event(e)) = parse(&profile, &req) {
                prop_assert!(!e.event_key.is_empty() && !e.contact_id.is_empty());
                let out = map(&e, &PatientLink::Unknown, &MapConfig::default(), req.now);
                prop_assert_eq!(&out.bundle["type"], "transaction");
            }
        }
    }
}
