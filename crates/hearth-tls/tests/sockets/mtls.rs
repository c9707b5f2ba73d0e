//! Mutual TLS: who gets in, who is refused at the handshake, and what the refusal says.

use std::sync::Arc;

use hearth_mllp::MllpCodec;
use hearth_tls::testing::TestCa;
use hearth_tls::{ClientSettings, ClientTls, ServerTls, TlsError};
use tokio_util::codec::Framed;

use crate::common::{LIMIT, Pki, exchange, round_trip, serve, wait_for_failures};

#[tokio::test]
async fn the_mtls_matrix_refuses_at_the_handshake_and_never_disturbs_a_good_connection() {
    let pki = Pki::new();
    let mut settings = pki.server_settings();
    settings.client_ca_file = Some(pki.ca_file.clone());
    settings.allowed_subjects = vec!["lab-feed".into(), "billing.example.org".into(), "spiffe://hosp/adt".into()];
    let server = serve(Arc::new(ServerTls::new(settings).unwrap())).await;

    // A good connection opened first and kept open through all the refusals.
    let good = pki.client(Some((&pki.ca.client("lab-feed", &[]), "good")));
    let stream = good.connect(&server.addr.to_string(), LIMIT).await.unwrap();
    let mut kept = Framed::new(stream, MllpCodec::new(1 << 20));
    assert_eq!(&exchange(&mut kept, "MSH|before").await.unwrap()[..], b"ACK:MSH|before");

    let other_ca = TestCa::new("Some Other CA");
    let cases: Vec<(&str, ClientTls, Option<&str>, &str)> = vec![
        ("no client certificate", pki.client(None), None, "no client certificate presented"),
        (
            "certificate from another CA",
            pki.client(Some((&other_ca.client("lab-feed", &[]), "other-ca"))),
            Some("CN=lab-feed"),
            "not issued by a CA in client_ca_file",
        ),
        (
            "subject not allowed",
            pki.client(Some((&pki.ca.client("intruder", &["not-allowed.example.org"]), "intruder"))),
            Some("CN=intruder"),
            "subject not in allowed_subjects",
        ),
        (
            "expired certificate",
            pki.client(Some((&pki.ca.expired_client("lab-feed"), "expired"))),
            Some("CN=lab-feed"),
            "invalid client certificate",
        ),
    ];
    for (case, client, subject, reason) in cases {
        // In TLS 1.3 the client finishes its side before the server has looked at its certificate, so the
        // refusal may show on the first read rather than in connect(): either way it is a TLS alert and no ACK.
        let refused = round_trip(&client, server.addr, "MSH|refused").await;
        let err = refused.expect_err(case);
        assert!(err.contains("alert"), "{case}: the client should see a TLS alert, got {err}");

        let failures = wait_for_failures(&server.seen, 1).await;
        assert_eq!(failures.len(), 1, "{case}: {failures:?}");
        let (peer, error) = &failures[0];
        assert!(peer.ip().is_loopback());
        match error {
            TlsError::Refused { subject: seen_subject, reason: r } => {
                assert_eq!(seen_subject.as_deref(), subject, "{case}");
                assert!(r.starts_with(reason), "{case}: reason {r}");
            }
            other => panic!("{case}: expected a refusal, got {other}"),
        }
        // What the listener would log: the peer and the subject, nothing of the message.
        let line = format!("{peer}: {error}");
        assert!(!line.contains("MSH|refused"), "{line}");

        assert_eq!(&exchange(&mut kept, case).await.unwrap()[..], [b"ACK:", case.as_bytes()].concat());
    }

    // Allowed by CN, by a DNS SAN and by a URI SAN; each gets its ACK.
    for (stem, issued) in [
        ("cn", pki.ca.client("lab-feed", &[])),
        ("dns", pki.ca.client("whatever", &["billing.example.org"])),
        ("uri", pki.ca.client("whatever", &["spiffe://hosp/adt"])),
    ] {
        let client = pki.client(Some((&issued, stem)));
        let ack = round_trip(&client, server.addr, "MSH|allowed").await.unwrap();
        assert_eq!(&ack[..], b"ACK:MSH|allowed", "{stem}");
    }
    assert!(server.seen.failures().is_empty(), "{:?}", server.seen.failures());
    assert_eq!(&exchange(&mut kept, "MSH|after").await.unwrap()[..], b"ACK:MSH|after");
}

#[tokio::test]
async fn refusals_running_in_parallel_with_a_good_sender_leave_it_alone() {
    let pki = Pki::new();
    let mut settings = pki.server_settings();
    settings.client_ca_file = Some(pki.ca_file.clone());
    settings.allowed_subjects = vec!["lab-feed".into()];
    let server = serve(Arc::new(ServerTls::new(settings).unwrap())).await;
    let good = pki.client(Some((&pki.ca.client("lab-feed", &[]), "good")));
    let bad = pki.client(Some((&pki.ca.client("intruder", &[]), "bad")));
    let anonymous = pki.client(None);

    let addr = server.addr;
    let good_sender = tokio::spawn(async move {
        let mut acks = 0;
        for i in 0..40 {
            let ack = round_trip(&good, addr, &format!("MSH|{i}")).await.unwrap();
            assert_eq!(ack, format!("ACK:MSH|{i}").into_bytes());
            acks += 1;
        }
        acks
    });
    let mut refused = 0;
    for i in 0..40 {
        let client = if i % 2 == 0 { &bad } else { &anonymous };
        if round_trip(client, addr, "MSH|x").await.is_err() {
            refused += 1;
        }
    }
    assert_eq!(good_sender.await.unwrap(), 40);
    assert_eq!(refused, 40);
    let failures = wait_for_failures(&server.seen, 40).await;
    assert_eq!(failures.len(), 40);
    assert!(failures.iter().all(|(_, e)| matches!(e, TlsError::Refused { .. })));
}

#[tokio::test]
async fn a_client_refuses_a_server_its_ca_did_not_sign_and_insecure_mode_accepts_it() {
    let pki = Pki::new();
    let server = serve(Arc::new(ServerTls::new(pki.server_settings()).unwrap())).await;
    let stranger_ca = TestCa::new("Stranger CA");
    let dir = tempfile::tempdir().unwrap();
    let distrusting = ClientTls::new(&ClientSettings {
        ca_file: Some(stranger_ca.write(dir.path(), "stranger")),
        ..ClientSettings::default()
    })
    .unwrap();
    let err = round_trip(&distrusting, server.addr, "MSH|1").await.unwrap_err();
    assert!(err.contains("UnknownIssuer") || err.contains("unknown"), "{err}");

    // A name the certificate does not carry is refused too.
    let wrong_name = ClientTls::new(&ClientSettings {
        ca_file: Some(pki.ca_file.clone()),
        server_name: Some("elsewhere.example.org".into()),
        ..ClientSettings::default()
    })
    .unwrap();
    let err = round_trip(&wrong_name, server.addr, "MSH|1").await.unwrap_err();
    assert!(err.contains("NotValidForName") || err.contains("not valid for"), "{err}");

    let insecure =
        ClientTls::new(&ClientSettings { insecure_accept_any_server_certificate: true, ..ClientSettings::default() })
            .unwrap();
    assert_eq!(&round_trip(&insecure, server.addr, "MSH|2").await.unwrap()[..], b"ACK:MSH|2");

    // Verifying by IP address works with the IP SAN.
    let by_ip =
        ClientTls::new(&ClientSettings { ca_file: Some(pki.ca_file.clone()), ..ClientSettings::default() }).unwrap();
    assert_eq!(&round_trip(&by_ip, server.addr, "MSH|3").await.unwrap()[..], b"ACK:MSH|3");
}

#[tokio::test]
async fn optional_client_certificates_admit_clients_without_one_and_still_check_the_ones_presented() {
    let pki = Pki::new();
    let mut settings = pki.server_settings();
    settings.client_ca_file = Some(pki.ca_file.clone());
    settings.client_auth = hearth_tls::ClientAuth::Optional;
    settings.allowed_subjects = vec!["ops-console".into()];
    let server = serve(Arc::new(ServerTls::new(settings).unwrap())).await;

    // No certificate: admitted (the application decides per request).
    let ack = round_trip(&pki.client(None), server.addr, "MSH|anonymous").await.unwrap();
    assert_eq!(&ack[..], b"ACK:MSH|anonymous");
    // The allowed certificate: admitted.
    let allowed = pki.client(Some((&pki.ca.client("ops-console", &[]), "ops")));
    assert_eq!(&round_trip(&allowed, server.addr, "MSH|ops").await.unwrap()[..], b"ACK:MSH|ops");
    assert!(server.seen.failures().is_empty(), "{:?}", server.seen.failures());

    // A certificate that is presented is still checked: another CA, or a subject not allowed, is refused.
    let other_ca = TestCa::new("Some Other CA");
    for (case, client, reason) in [
        ("another CA", pki.client(Some((&other_ca.client("ops-console", &[]), "other"))), "not issued by a CA"),
        ("not allowed", pki.client(Some((&pki.ca.client("intruder", &[]), "intruder"))), "subject not in"),
    ] {
        let err = round_trip(&client, server.addr, "MSH|refused").await.expect_err(case);
        assert!(err.contains("alert"), "{case}: {err}");
        let failures = wait_for_failures(&server.seen, 1).await;
        match &failures[..] {
            [(_, TlsError::Refused { reason: r, .. })] => assert!(r.starts_with(reason), "{case}: {r}"),
            other => panic!("{case}: {other:?}"),
        }
    }

    // Optional client certificates without a CA to check them against make no sense.
    let mut bad = pki.server_settings();
    bad.client_auth = hearth_tls::ClientAuth::Optional;
    assert!(matches!(ServerTls::new(bad), Err(TlsError::Invalid(_))));
}
