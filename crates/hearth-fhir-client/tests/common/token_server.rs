//! A small OAuth 2.0 token endpoint for the tests (axum on a loopback port): the client credentials grant
//! with a client secret (Basic or form) or with a SMART Backend Services JWT assertion, which it verifies
//! as a real authorization server must: signature with the registered public key, `iss` = `sub` = the
//! client id, `aud` = this endpoint's URL, `exp` in the future and at most five minutes ahead, `jti` never
//! seen before. It issues short-lived opaque tokens that the test proxy checks.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::signature::{ECDSA_P384_SHA384_FIXED, EcdsaKeyPair, KeyPair, RSA_PKCS1_2048_8192_SHA384, RsaKeyPair};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};

/// How a registered client proves who it is.
#[derive(Debug, Clone)]
pub enum ClientKey {
    Secret(String),
    /// The JWS `alg` and the public key in ring's form (RSAPublicKey DER, or an uncompressed P-384 point).
    Public {
        alg: &'static str,
        key: Vec<u8>,
    },
}

impl ClientKey {
    /// The public half of a PEM private key from `tests/keys` (the server never sees the private key).
    pub fn public_of(file: &str) -> ClientKey {
        let pem = key_pem(file);
        let PrivateKeyDer::Pkcs8(der) = PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap() else {
            panic!("{file}")
        };
        if let Ok(rsa) = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()) {
            return ClientKey::Public { alg: "RS384", key: rsa.public_key().as_ref().to_vec() };
        }
        let rng = ring::rand::SystemRandom::new();
        let ec =
            EcdsaKeyPair::from_pkcs8(&ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING, der.secret_pkcs8_der(), &rng)
                .unwrap();
        ClientKey::Public { alg: "ES384", key: ec.public_key().as_ref().to_vec() }
    }
}

pub fn key_pem(file: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/keys/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[derive(Debug, Default)]
pub struct TokenState {
    pub url: String,
    clients: HashMap<String, ClientKey>,
    lifetime: Duration,
    issued: Mutex<HashMap<String, Instant>>,
    jtis: Mutex<HashSet<String>>,
    /// Why each refused request was refused, in order.
    pub refusals: Mutex<Vec<String>>,
    /// Every client assertion received, in order.
    pub assertions: Mutex<Vec<String>>,
}

impl TokenState {
    /// Tokens issued so far.
    pub fn issued(&self) -> usize {
        self.issued.lock().unwrap().len()
    }

    /// Whether `Authorization: Bearer <token>` names a token this server issued that has not expired.
    pub fn valid(&self, authorization: Option<&str>) -> bool {
        let Some(token) = authorization.and_then(|a| a.strip_prefix("Bearer ")) else { return false };
        self.issued.lock().unwrap().get(token).is_some_and(|exp| Instant::now() < *exp)
    }

    /// Expires every token now (as a server restart or a revocation would).
    pub fn revoke_all(&self) {
        for exp in self.issued.lock().unwrap().values_mut() {
            *exp = Instant::now();
        }
    }

    pub fn refusals(&self) -> Vec<String> {
        self.refusals.lock().unwrap().clone()
    }
}

/// Starts the token endpoint at `http://127.0.0.1:PORT/token`.
pub async fn start(clients: Vec<(&str, ClientKey)>, lifetime: Duration) -> Arc<TokenState> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    let state = Arc::new(TokenState {
        url,
        clients: clients.into_iter().map(|(id, k)| (id.to_owned(), k)).collect(),
        lifetime,
        ..TokenState::default()
    });
    let app = Router::new().route("/token", post(token)).with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    state
}

async fn token(
    State(s): State<Arc<TokenState>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    match authenticate(&s, &headers, &form) {
        Ok(()) => {
            let token = format!("tok-{:x}", rand_u64());
            s.issued.lock().unwrap().insert(token.clone(), Instant::now() + s.lifetime);
            Json(json!({"access_token": token, "token_type": "bearer", "expires_in": s.lifetime.as_secs(),
                        "scope": form.get("scope")}))
            .into_response()
        }
        Err(why) => {
            s.refusals.lock().unwrap().push(why.clone());
            (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client", "error_description": why})))
                .into_response()
        }
    }
}

fn authenticate(s: &TokenState, headers: &HeaderMap, form: &HashMap<String, String>) -> Result<(), String> {
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return Err("grant_type must be client_credentials".into());
    }
    if let Some(assertion) = form.get("client_assertion") {
        s.assertions.lock().unwrap().push(assertion.clone());
        if form.get("client_assertion_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            return Err("wrong client_assertion_type".into());
        }
        return verify_jwt(s, assertion);
    }
    let (id, secret) = match headers.get("authorization").and_then(|h| h.to_str().ok()) {
        Some(basic) => {
            let decoded =
                STANDARD.decode(basic.strip_prefix("Basic ").ok_or("not Basic")?).map_err(|e| e.to_string())?;
            let text = String::from_utf8(decoded).map_err(|e| e.to_string())?;
            let (id, secret) = text.split_once(':').ok_or("no colon")?;
            (id.to_owned(), secret.to_owned())
        }
        None => {
            (form.get("client_id").cloned().unwrap_or_default(), form.get("client_secret").cloned().unwrap_or_default())
        }
    };
    match s.clients.get(&id) {
        Some(ClientKey::Secret(expected)) if *expected == secret => Ok(()),
        _ => Err("unknown client or wrong secret".into()),
    }
}

fn verify_jwt(s: &TokenState, jwt: &str) -> Result<(), String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, sig] = parts.as_slice() else { return Err("not a JWS compact serialisation".into()) };
    let decode = |p: &str| -> Result<Value, String> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).map_err(|e| e.to_string())?).map_err(|e| e.to_string())
    };
    let (header, claims) = (decode(h)?, decode(c)?);
    let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|e| e.to_string())?;
    let iss = claims["iss"].as_str().ok_or("no iss")?;
    let Some(ClientKey::Public { alg, key }) = s.clients.get(iss) else { return Err("unknown client".into()) };
    if header["alg"] != *alg {
        return Err(format!("alg {} is not the registered {alg}", header["alg"]));
    }
    let verifier: &dyn ring::signature::VerificationAlgorithm =
        if *alg == "RS384" { &RSA_PKCS1_2048_8192_SHA384 } else { &ECDSA_P384_SHA384_FIXED };
    ring::signature::UnparsedPublicKey::new(verifier, key)
        .verify(format!("{h}.{c}").as_bytes(), &sig)
        .map_err(|_| "bad signature".to_owned())?;
    if claims["sub"] != iss {
        return Err("sub must equal iss".into());
    }
    if claims["aud"] != s.url {
        return Err(format!("aud {} is not this endpoint", claims["aud"]));
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let exp = claims["exp"].as_u64().ok_or("no exp")?;
    if exp <= now || exp > now + 300 {
        return Err(format!("exp {exp} not within five minutes of {now}"));
    }
    let jti = claims["jti"].as_str().ok_or("no jti")?;
    if !s.jtis.lock().unwrap().insert(jti.to_owned()) {
        return Err("jti replayed".into());
    }
    Ok(())
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).unwrap();
    u64::from_le_bytes(b)
}
