//! Failures between Hearth and the real FHIR server, injected by the test proxy: throttling with
//! `Retry-After`, 503, a response lost after the server processed the request, a server that is not there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use common::proxy::{self, Fault};
use common::{Salt, Server, bytes, client, golden};
use hearth_fhir_client::{Error, ErrorClass, Payload};
use serde_json::Value;

fn deliveries(salt: &Salt) -> Vec<Value> {
    // An ADT (conditional updates, deterministic ids) and a missed call (a conditional create of a Task).
    let mut v = vec![golden("hl7v2/adt-a01-full.expected.json").remove(0)];
    v.push(golden("webhooks/twilio-voice__voicemail_unknown.expected.json").remove(0));
    v.iter().map(|b| salt.apply(b)).collect()
}

#[tokio::test]
async fn throttling_and_unavailability_are_transient_with_the_servers_wait() {
    let Some(url) = hearth_testkit::fhir_server("throttling_and_unavailability_are_transient_with_the_servers_wait")
    else {
        return;
    };
    let proxy = proxy::start(&url, None).await;
    let fhir = client(&proxy.base);
    let bundle = bytes(&Salt::new().apply(&golden("hl7v2/oru-lab.expected.json").remove(0)));

    proxy.inject(Fault::Status { status: 429, retry_after: Some("3".into()) });
    let e = fhir.send(&bundle, Payload::Bundle).await.unwrap_err();
    assert_eq!((e.class(), e.status(), e.kind()), (ErrorClass::Transient, Some(429), "throttled"), "{e:?}");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));

    let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
    proxy.inject(Fault::Status { status: 503, retry_after: Some(later) });
    let e = fhir.send(&bundle, Payload::Resources).await.unwrap_err();
    assert_eq!((e.class(), e.status()), (ErrorClass::Transient, Some(503)), "{e:?}");
    let wait = e.retry_after().unwrap();
    assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120), "{wait:?}");

    proxy.inject(Fault::Status { status: 502, retry_after: None });
    let e = fhir.send(&bundle, Payload::Bundle).await.unwrap_err();
    assert_eq!((e.class(), e.retry_after()), (ErrorClass::Transient, None));

    // Nothing reached the server so far; now it goes through.
    assert_eq!(proxy.forwarded.load(Ordering::SeqCst), 0);
    fhir.send(&bundle, Payload::Bundle).await.unwrap();
}

#[tokio::test]
async fn a_lost_response_then_a_retry_creates_nothing_twice() {
    let Some(url) = hearth_testkit::fhir_server("a_lost_response_then_a_retry_creates_nothing_twice") else { return };
    let server = Server::new(&url);
    let proxy = proxy::start(&url, None).await;
    let fhir = client(&proxy.base);
    for payload in [Payload::Bundle, Payload::Resources] {
        let salt = Salt::new();
        let bundles = deliveries(&salt);
        // A reference run: the same deliveries under another salt, sent once without trouble.
        let reference = Salt::new();
        for b in deliveries(&reference) {
            fhir.send(&bytes(&b), payload).await.unwrap();
        }
        let expected = server.counts(&bundles, &reference).await;

        for b in &bundles {
            proxy.inject(Fault::LoseResponse);
            let before = proxy.forwarded.load(Ordering::SeqCst);
            let e = fhir.send(&bytes(b), payload).await.unwrap_err();
            assert!(matches!(e, Error::Network(_)) && e.is_transient(), "{payload:?}: {e:?}");
            assert_eq!(proxy.forwarded.load(Ordering::SeqCst), before + 1, "the server processed the request");
            // The outbox retries the same bytes.
            fhir.send(&bytes(b), payload).await.unwrap();
        }
        assert_eq!(server.counts(&bundles, &salt).await, expected, "{payload:?}: nothing created twice");
        assert_eq!(server.count("Task", &salt).await, 1, "{payload:?}: one Task from the conditional create");
    }
}

#[tokio::test]
async fn a_server_that_is_not_there_is_transient() {
    let closed = format!("http://127.0.0.1:{}/fhir", hearth_testkit::free_port());
    let bundle = bytes(&golden("hl7v2/adt-a01-full.expected.json").remove(0));
    for payload in [Payload::Bundle, Payload::Resources] {
        let e = client(&closed).send(&bundle, payload).await.unwrap_err();
        assert_eq!(e.class(), ErrorClass::Transient, "{e:?}");
        assert!(e.to_string().contains("connect"), "{e}");
        assert!(!e.to_string().contains("MRN"), "no identifier from the URL in the message: {e}");
    }
}
