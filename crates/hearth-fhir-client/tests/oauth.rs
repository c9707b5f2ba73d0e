//! Authentication against a protected FHIR server: the real server behind the test proxy, which accepts
//! only live tokens from the test token endpoint. OAuth 2.0 client credentials with a secret, SMART Backend
//! Services with RS384 and ES384 assertions, tokens expiring mid-run, one renewal on a 401.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::proxy::{self, Fault, Proxy};
use common::token_server::{self, ClientKey, TokenState, key_pem};
use common::{Salt, bytes, golden};
use hearth_fhir_client::{Auth, ClientAuthMethod, ClientSettings, ErrorClass, FhirClient, JwtAlg, Payload};

/// Token lifetime short enough to expire during a test.
const LIFETIME: Duration = Duration::from_secs(2);

async fn protected(url: &str, clients: Vec<(&str, ClientKey)>) -> (Arc<TokenState>, Arc<Proxy>) {
    let tokens = token_server::start(clients, LIFETIME).await;
    let proxy = proxy::start(url, Some(tokens.clone())).await;
    (tokens, proxy)
}

fn client(proxy: &Proxy, auth: Auth) -> FhirClient {
    let mut settings = ClientSettings::new(&proxy.base);
    settings.auth = auth;
    FhirClient::new(&settings, None).unwrap()
}

fn secret(tokens: &TokenState, client_secret: &str, client_auth: ClientAuthMethod) -> Auth {
    Auth::ClientCredentials {
        token_url: tokens.url.clone(),
        client_id: "hearth".into(),
        client_secret: client_secret.into(),
        scope: Some("system/*.write".into()),
        client_auth,
    }
}

fn smart(tokens: &TokenState, alg: JwtAlg, key_file: &str) -> Auth {
    Auth::SmartBackend {
        token_url: tokens.url.clone(),
        client_id: "hearth".into(),
        private_key_pem: key_pem(key_file),
        alg,
        kid: Some("test-key".into()),
        scope: Some("system/*.write".into()),
    }
}

fn bundle() -> Vec<u8> {
    bytes(&Salt::new().apply(&golden("hl7v2/adt-a01-full.expected.json").remove(0)))
}

/// Sends, lets the token expire, sends again: the client renews before the expiry, so the server never
/// sees an expired token.
async fn survives_expiry(fhir: &FhirClient, tokens: &TokenState, proxy: &Proxy) {
    let b = bundle();
    fhir.send(&b, Payload::Bundle).await.unwrap();
    fhir.send(&b, Payload::Resources).await.unwrap();
    assert_eq!(tokens.issued(), 1, "the token is cached: {:?}", tokens.refusals());
    tokio::time::sleep(LIFETIME).await;
    fhir.send(&b, Payload::Bundle).await.unwrap();
    assert_eq!(tokens.issued(), 2, "renewed after expiry");
    assert_eq!(proxy.refused_tokens.load(Ordering::SeqCst), 0, "never sent an expired token");
    assert!(tokens.refusals().is_empty(), "{:?}", tokens.refusals());
}

#[tokio::test]
async fn client_credentials_with_a_secret() {
    let Some(url) = hearth_testkit::fhir_server("client_credentials_with_a_secret") else { return };
    let (tokens, proxy) = protected(&url, vec![("hearth", ClientKey::Secret("s3cret-value".into()))]).await;
    let fhir = client(&proxy, secret(&tokens, "s3cret-value", ClientAuthMethod::Basic));
    survives_expiry(&fhir, &tokens, &proxy).await;

    let post = client(&proxy, secret(&tokens, "s3cret-value", ClientAuthMethod::Post));
    post.send(&bundle(), Payload::Bundle).await.unwrap();

    let wrong = client(&proxy, secret(&tokens, "not-the-secret", ClientAuthMethod::Basic));
    let e = wrong.send(&bundle(), Payload::Bundle).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unauthorized, "{e:?}");
    assert!(e.to_string().contains("invalid_client"), "{e}");
    assert!(!e.to_string().contains("not-the-secret"));
}

#[tokio::test]
async fn smart_backend_services_rs384_and_es384() {
    let Some(url) = hearth_testkit::fhir_server("smart_backend_services_rs384_and_es384") else { return };
    for (alg, file) in [(JwtAlg::Rs384, "rsa-test.pem"), (JwtAlg::Es384, "ec-test.pem")] {
        let (tokens, proxy) = protected(&url, vec![("hearth", ClientKey::public_of(file))]).await;
        let fhir = client(&proxy, smart(&tokens, alg, file));
        survives_expiry(&fhir, &tokens, &proxy).await;

        // The token endpoint refuses an assertion it has seen (replay): each of ours carried a new jti.
        let replay = tokens.assertions.lock().unwrap()[0].clone();
        let form = [
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", replay.as_str()),
        ];
        let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let r = common::http()
            .post(&tokens.url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
        assert_eq!(tokens.refusals(), vec!["jti replayed".to_owned()], "{alg:?}");
    }
}

#[tokio::test]
async fn a_key_the_server_does_not_know_is_unauthorized() {
    let Some(url) = hearth_testkit::fhir_server("a_key_the_server_does_not_know_is_unauthorized") else { return };
    let (tokens, proxy) = protected(&url, vec![("hearth", ClientKey::public_of("rsa-other.pem"))]).await;
    let fhir = client(&proxy, smart(&tokens, JwtAlg::Rs384, "rsa-test.pem"));
    let e = fhir.send(&bundle(), Payload::Bundle).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unauthorized, "{e:?}");
    assert_eq!(tokens.refusals(), vec!["bad signature".to_owned()]);
    assert_eq!(proxy.requests.load(Ordering::SeqCst), 0, "nothing sent without a token");
}

#[tokio::test]
async fn a_401_renews_the_token_once_and_a_second_is_unauthorized() {
    let Some(url) = hearth_testkit::fhir_server("a_401_renews_the_token_once_and_a_second_is_unauthorized") else {
        return;
    };
    let (tokens, proxy) = protected(&url, vec![("hearth", ClientKey::public_of("ec-test.pem"))]).await;
    let fhir = client(&proxy, smart(&tokens, JwtAlg::Es384, "ec-test.pem"));
    let b = bundle();
    fhir.send(&b, Payload::Bundle).await.unwrap();

    // The server forgets its tokens (a restart, a revocation) before ours expires: one 401, one renewal.
    tokens.revoke_all();
    fhir.send(&b, Payload::Bundle).await.unwrap();
    assert_eq!((tokens.issued(), proxy.refused_tokens.load(Ordering::SeqCst)), (2, 1));

    // A server that keeps refusing: one renewal, then the destination is unauthorized (an alert).
    proxy.inject(Fault::Status { status: 401, retry_after: None });
    proxy.inject(Fault::Status { status: 401, retry_after: None });
    let e = fhir.send(&b, Payload::Resources).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unauthorized, "{e:?}");
    assert!(e.to_string().contains("after a token renewal"), "{e}");
    assert_eq!(tokens.issued(), 3, "exactly one renewal");
}

#[tokio::test]
async fn static_credentials_the_server_refuses_are_unauthorized_at_once() {
    let Some(url) = hearth_testkit::fhir_server("static_credentials_the_server_refuses_are_unauthorized_at_once")
    else {
        return;
    };
    let (_tokens, proxy) = protected(&url, vec![]).await;
    for auth in [Auth::Bearer { token: "made-up".into() }, Auth::Basic { username: "u".into(), password: "p".into() }] {
        let before = proxy.requests.load(Ordering::SeqCst);
        let e = client(&proxy, auth).send(&bundle(), Payload::Bundle).await.unwrap_err();
        assert_eq!(e.class(), ErrorClass::Unauthorized, "{e:?}");
        assert_eq!(proxy.requests.load(Ordering::SeqCst), before + 1, "no retry with credentials that cannot change");
    }
}
