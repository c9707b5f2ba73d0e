//! The `Authorization` header for each request: static (basic, bearer) or an OAuth 2.0 access token from the
//! client credentials grant (client secret or SMART Backend Services JWT assertion), cached until shortly
//! before it expires and renewed by one caller at a time.

use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::HeaderValue;
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::error::Error;
use crate::jwt::SigningKey;
use crate::outcome::{bounded_text, retry_after};
use crate::settings::{Auth, ClientAuthMethod, http_url};

/// When the token endpoint gives no `expires_in` (it is only RECOMMENDED), the token is renewed this often.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);
/// A token endpoint's answer is small; anything longer is not a token response.
const MAX_TOKEN_RESPONSE_BYTES: usize = 64 << 10;

/// One `Authorization` value and the token generation it belongs to (0 for static credentials).
#[derive(Debug, Clone)]
pub(crate) struct Credential {
    pub(crate) header: Option<HeaderValue>,
    pub(crate) generation: u64,
}

#[derive(Debug)]
pub(crate) enum Authenticator {
    Static(Option<HeaderValue>),
    OAuth(Box<TokenSource>),
}

impl Authenticator {
    pub(crate) fn new(auth: &Auth, http: reqwest::Client, timeout: Duration) -> Result<Self, Error> {
        let grant = match auth {
            Auth::None => return Ok(Authenticator::Static(None)),
            Auth::Basic { username, password } => {
                let encoded = STANDARD.encode(format!("{username}:{password}"));
                return Ok(Authenticator::Static(Some(secret_header(&format!("Basic {encoded}"))?)));
            }
            Auth::Bearer { token } => {
                return Ok(Authenticator::Static(Some(secret_header(&format!("Bearer {token}"))?)));
            }
            Auth::ClientCredentials { client_id, client_secret, client_auth, .. } => Grant::Secret {
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                method: *client_auth,
            },
            Auth::SmartBackend { client_id, private_key_pem, alg, kid, .. } => Grant::Jwt {
                client_id: client_id.clone(),
                key: Box::new(SigningKey::from_pem(*alg, private_key_pem)?),
                kid: kid.clone(),
            },
        };
        let (Auth::ClientCredentials { token_url, scope, .. } | Auth::SmartBackend { token_url, scope, .. }) = auth
        else {
            return Err(Error::Config("unreachable auth kind".into()));
        };
        http_url("auth.token_url", token_url)?;
        Ok(Authenticator::OAuth(Box::new(TokenSource {
            http,
            token_url: token_url.clone(),
            scope: scope.clone(),
            grant,
            timeout,
            cache: Mutex::new(Cache { token: None, generation: 0 }),
        })))
    }

    /// The credential to send now (fetching a token first when there is none or it is about to expire).
    pub(crate) async fn credential(&self) -> Result<Credential, Error> {
        match self {
            Authenticator::Static(header) => Ok(Credential { header: header.clone(), generation: 0 }),
            Authenticator::OAuth(source) => source.credential().await,
        }
    }

    /// Whether a 401 is worth one more try with a new token.
    pub(crate) fn renewable(&self) -> bool {
        matches!(self, Authenticator::OAuth(_))
    }

    /// Forgets the token of `generation` (the server refused it), unless another caller already renewed it.
    pub(crate) async fn invalidate(&self, generation: u64) {
        if let Authenticator::OAuth(source) = self {
            let mut cache = source.cache.lock().await;
            if cache.generation == generation {
                cache.token = None;
            }
        }
    }
}

fn secret_header(value: &str) -> Result<HeaderValue, Error> {
    let mut h = HeaderValue::from_str(value)
        .map_err(|_| Error::Config("auth: the credentials contain characters not allowed in a header".into()))?;
    h.set_sensitive(true);
    Ok(h)
}

#[derive(Debug)]
enum Grant {
    Secret { client_id: String, client_secret: String, method: ClientAuthMethod },
    Jwt { client_id: String, key: Box<SigningKey>, kid: Option<String> },
}

#[derive(Debug)]
pub(crate) struct TokenSource {
    http: reqwest::Client,
    token_url: String,
    scope: Option<String>,
    grant: Grant,
    timeout: Duration,
    cache: Mutex<Cache>,
}

#[derive(Debug)]
struct Cache {
    token: Option<Token>,
    generation: u64,
}

#[derive(Debug)]
struct Token {
    header: HeaderValue,
    renew_at: Instant,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct OAuthError {
    error: Option<String>,
    error_description: Option<String>,
}

impl TokenSource {
    async fn credential(&self) -> Result<Credential, Error> {
        // The lock is held while fetching, so concurrent requests wait for one renewal instead of each
        // asking the token endpoint.
        let mut cache = self.cache.lock().await;
        if let Some(t) = &cache.token
            && Instant::now() < t.renew_at
        {
            return Ok(Credential { header: Some(t.header.clone()), generation: cache.generation });
        }
        let token = self.fetch().await?;
        cache.generation += 1;
        let header = token.header.clone();
        cache.token = Some(token);
        tracing::debug!(generation = cache.generation, "fhir client: new access token");
        Ok(Credential { header: Some(header), generation: cache.generation })
    }

    async fn fetch(&self) -> Result<Token, Error> {
        let request = self.token_request()?;
        let response = request.send().await.map_err(|e| token_unavailable(crate::client::describe(&e), None))?;
        let status = response.status().as_u16();
        let wait = retry_after(response.headers());
        let body = crate::client::read_limited(response, MAX_TOKEN_RESPONSE_BYTES, self.timeout)
            .await
            .map_err(|e| token_unavailable(e.to_string(), None))?;
        match status {
            200..=299 => self.parse(&body),
            408 | 429 | 500..=599 => Err(token_unavailable(format!("HTTP {status}"), wait)),
            _ => Err(Error::Unauthorized(format!(
                "the token endpoint refused the client: HTTP {status}{}",
                oauth_error(&body)
            ))),
        }
    }

    /// The token request, built before any await (the form serializer is not `Send`).
    fn token_request(&self) -> Result<reqwest::RequestBuilder, Error> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        if let Some(scope) = &self.scope {
            form.append_pair("scope", scope);
        }
        let mut request = self.http.post(&self.token_url).timeout(self.timeout);
        match &self.grant {
            Grant::Secret { client_id, client_secret, method: ClientAuthMethod::Basic } => {
                // RFC 6749 §2.3.1: both parts are form-urlencoded before they go into Basic.
                let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                let basic = STANDARD.encode(format!("{}:{}", enc(client_id), enc(client_secret)));
                request = request.header("Authorization", secret_header(&format!("Basic {basic}"))?);
            }
            Grant::Secret { client_id, client_secret, method: ClientAuthMethod::Post } => {
                form.append_pair("client_id", client_id);
                form.append_pair("client_secret", client_secret);
            }
            Grant::Jwt { client_id, key, kid } => {
                let assertion = key.assertion(client_id, &self.token_url, kid.as_deref(), SystemTime::now())?;
                form.append_pair("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
                form.append_pair("client_assertion", &assertion);
            }
        }
        Ok(request
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json")
            .body(form.finish()))
    }

    fn parse(&self, body: &[u8]) -> Result<Token, Error> {
        let t: TokenResponse =
            serde_json::from_slice(body).map_err(|e| token_unavailable(format!("not a token response: {e}"), None))?;
        if !t.token_type.eq_ignore_ascii_case("bearer") {
            return Err(Error::Unauthorized(format!(
                "the token endpoint issued a `{:.20}` token; only bearer tokens are supported",
                t.token_type
            )));
        }
        let lifetime = t.expires_in.map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        Ok(Token {
            header: secret_header(&format!("Bearer {}", t.access_token))?,
            renew_at: Instant::now() + usable(lifetime),
        })
    }
}

/// How long a token is used: its lifetime less a fifth (at most a minute), so that a request never leaves
/// with a token about to expire in flight.
pub(crate) fn usable(lifetime: Duration) -> Duration {
    lifetime - (lifetime / 5).min(Duration::from_secs(60))
}

fn token_unavailable(detail: String, retry_after: Option<Duration>) -> Error {
    Error::TokenUnavailable { detail, retry_after }
}

/// ` (invalid_client: description)` from an RFC 6749 error response, bounded.
fn oauth_error(body: &[u8]) -> String {
    match serde_json::from_slice::<OAuthError>(body) {
        Ok(OAuthError { error: Some(code), error_description }) => {
            let desc = error_description.map(|d| format!(": {}", bounded_text(d.as_bytes(), 200))).unwrap_or_default();
            format!(" ({}{desc})", bounded_text(code.as_bytes(), 40))
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_before_they_expire() {
        assert_eq!(usable(Duration::from_secs(3600)), Duration::from_secs(3540));
        assert_eq!(usable(Duration::from_secs(2)), Duration::from_millis(1600));
        assert_eq!(usable(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn oauth_errors_are_bounded() {
        assert_eq!(
            oauth_error(br#"{"error":"invalid_client","error_description":"bad jwt"}"#),
            " (invalid_client: bad jwt)"
        );
        assert_eq!(oauth_error(b"<html>"), "");
        let long = format!(r#"{{"error":"invalid_client","error_description":"{}"}}"#, "x".repeat(1000));
        assert!(oauth_error(long.as_bytes()).len() < 300);
    }
}
