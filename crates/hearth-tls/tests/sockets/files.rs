//! What `hearth check` and start-up rely on: facts of a certificate, key/certificate matching, and errors that
//! name the file.

use std::time::{Duration, SystemTime};

use hearth_tls::{ServerSettings, ServerTls, TlsError, check_key_pair, inspect_certificate_file};

use crate::common::Pki;

#[test]
fn facts_of_a_certificate_and_its_key() {
    let pki = Pki::new();
    let facts = check_key_pair(&pki.cert_file, &pki.key_file).unwrap();
    assert_eq!(facts, pki.server.facts);
    assert_eq!(facts.subject, "CN=localhost");
    assert_eq!(facts.common_name.as_deref(), Some("localhost"));
    assert_eq!(facts.issuer, "CN=Hearth Test CA, O=Hearth test PKI");
    assert_eq!(facts.sans, vec!["DNS:localhost", "IP:127.0.0.1"]);
    let left = facts.seconds_until_expiry(SystemTime::now());
    assert!((29 * 86_400..=30 * 86_400).contains(&left), "{left}");
    assert_eq!(inspect_certificate_file(&pki.ca_file).unwrap().subject, "CN=Hearth Test CA, O=Hearth test PKI");
    let server = ServerTls::new(pki.server_settings()).unwrap();
    assert_eq!(server.certificate(), facts);
    assert!(server.files().eq([pki.cert_file.as_path(), pki.key_file.as_path()]));
}

#[test]
fn broken_files_are_refused_at_start_with_the_file_named() {
    let pki = Pki::new();
    let other = pki.ca.server(&["localhost"]);
    let (_, other_key) = other.write(pki.dir.path(), "other");

    let err = check_key_pair(&pki.cert_file, &other_key).unwrap_err();
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
    assert!(ServerTls::new(ServerSettings::new(&pki.cert_file, &other_key)).is_err());

    // Certificate and key swapped.
    let err = ServerTls::new(ServerSettings::new(&pki.key_file, &pki.cert_file)).unwrap_err();
    assert!(err.to_string().starts_with(&pki.key_file.display().to_string()), "{err}");
    assert!(err.to_string().contains("no certificate found"), "{err}");

    let missing = pki.dir.path().join("missing.pem");
    let err = ServerTls::new(ServerSettings::new(&missing, &pki.key_file)).unwrap_err();
    assert!(matches!(err, TlsError::Read { ref path, .. } if path == &missing), "{err}");
    assert!(!err.is_transient());

    let mut settings = pki.server_settings();
    settings.allowed_subjects = vec!["lab".into()];
    let err = ServerTls::new(settings).unwrap_err();
    assert!(err.to_string().contains("allowed_subjects needs client_ca_file"), "{err}");

    let mut settings = pki.server_settings();
    settings.handshake_timeout = Duration::ZERO;
    assert!(matches!(ServerTls::new(settings), Err(TlsError::Invalid(_))));

    let mut settings = pki.server_settings();
    settings.client_ca_file = Some(pki.key_file.clone());
    let err = ServerTls::new(settings).unwrap_err();
    assert!(err.to_string().contains("no certificate found"), "{err}");
}

#[test]
fn a_client_identity_is_checked_like_a_server_one() {
    let pki = Pki::new();
    let client = pki.ca.client("lab-feed", &[]);
    let (cert, _) = client.write(pki.dir.path(), "client");
    let err = hearth_tls::client_config(&hearth_tls::ClientSettings {
        ca_file: Some(pki.ca_file.clone()),
        cert_file: Some(cert),
        key_file: Some(pki.key_file.clone()),
        ..hearth_tls::ClientSettings::default()
    })
    .unwrap_err();
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
}
