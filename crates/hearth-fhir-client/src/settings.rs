//! What a client connects to and how. Plain data, filled by the configuration; [`ClientSettings::validate`]
//! checks it without IO. Secrets arrive as values: reading them from the environment or files is the
//! caller's job.

use std::fmt;

use crate::error::Error;

/// Everything a [`crate::FhirClient`] needs.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// The server's FHIR base, `http(s)://host[:port]/path` (e.g. `https://fhir.example.org/r4`). A trailing
    /// slash is ignored.
    pub base_url: String,
    pub auth: Auth,
    /// Sent with every request to the FHIR server (not to the token endpoint). Names are case-insensitive;
    /// `Authorization`, `Content-Type`, `Accept` and `Prefer` are the client's own and refused here.
    pub headers: Vec<(String, String)>,
    /// TCP connect plus TLS handshake, at most.
    pub connect_timeout_ms: u64,
    /// One HTTP request from sending its first byte to reading the whole response, at most.
    pub request_timeout_ms: u64,
    /// HTTP requests to the FHIR server at once, at most (token requests aside); further calls wait.
    pub max_in_flight: usize,
    /// A response body longer than this is not read (the request counts as failed, transiently).
    pub max_response_bytes: usize,
    /// The OperationOutcome kept as failure text is cut to this many bytes.
    pub max_outcome_bytes: usize,
}

impl ClientSettings {
    /// Settings with Hearth's defaults: no auth, 5 s connect, 30 s request, 8 in flight, 16 MiB responses,
    /// 8 KiB of OperationOutcome.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            auth: Auth::None,
            headers: Vec::new(),
            connect_timeout_ms: 5_000,
            request_timeout_ms: 30_000,
            max_in_flight: 8,
            max_response_bytes: 16 << 20,
            max_outcome_bytes: 8 << 10,
        }
    }

    /// Checks the settings without touching the network: URLs parse and are http(s), bounds are sane,
    /// secrets are present, extra headers are valid and do not override the client's own, the SMART key
    /// parses.
    pub fn validate(&self) -> Result<(), Error> {
        http_url("base_url", &self.base_url)?;
        if self.connect_timeout_ms == 0 || self.request_timeout_ms == 0 {
            return Err(Error::Config("connect_timeout_ms and request_timeout_ms must be positive".into()));
        }
        if self.max_in_flight == 0 {
            return Err(Error::Config("max_in_flight must be at least 1".into()));
        }
        if self.max_response_bytes < 1024 || self.max_outcome_bytes == 0 {
            return Err(Error::Config("max_response_bytes must be at least 1024, max_outcome_bytes positive".into()));
        }
        crate::client::header_map(&self.headers)?;
        self.auth.validate()
    }
}

impl fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Extra headers often carry API keys: names only.
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ClientSettings")
            .field("base_url", &self.base_url)
            .field("auth", &self.auth)
            .field("headers", &names)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_outcome_bytes", &self.max_outcome_bytes)
            .finish()
    }
}

/// How the client authenticates to the FHIR server. `Debug` shows no secret.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Auth {
    #[default]
    None,
    /// HTTP Basic on every request.
    Basic { username: String, password: String },
    /// A static bearer token on every request.
    Bearer { token: String },
    /// OAuth 2.0 client credentials grant with a client secret (RFC 6749 §4.4). The token is cached.
    ClientCredentials {
        token_url: String,
        client_id: String,
        client_secret: String,
        scope: Option<String>,
        client_auth: ClientAuthMethod,
    },
    /// SMART Backend Services: client credentials with a signed JWT client assertion (RFC 7523,
    /// `private_key_jwt`). The token is cached.
    SmartBackend {
        token_url: String,
        client_id: String,
        /// The private key, PEM (`PRIVATE KEY` PKCS#8 for both algorithms, or `RSA PRIVATE KEY` for RS384).
        private_key_pem: String,
        alg: JwtAlg,
        /// The key id the server knows the public key by (JWT header `kid`).
        kid: Option<String>,
        /// e.g. `system/*.write`.
        scope: Option<String>,
    },
}

impl Auth {
    fn validate(&self) -> Result<(), Error> {
        match self {
            Auth::None => Ok(()),
            Auth::Basic { username, password } => {
                if username.is_empty() || username.contains(':') || password.is_empty() {
                    return Err(Error::Config("basic auth needs a username without ':' and a password".into()));
                }
                Ok(())
            }
            Auth::Bearer { token } => {
                if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(Error::Config("the bearer token is empty or contains whitespace".into()));
                }
                Ok(())
            }
            Auth::ClientCredentials { token_url, client_id, client_secret, .. } => {
                http_url("auth.token_url", token_url)?;
                if client_id.is_empty() || client_secret.is_empty() {
                    return Err(Error::Config("client credentials need a client_id and a client_secret".into()));
                }
                Ok(())
            }
            Auth::SmartBackend { token_url, client_id, private_key_pem, alg, .. } => {
                http_url("auth.token_url", token_url)?;
                if client_id.is_empty() {
                    return Err(Error::Config("SMART Backend Services needs a client_id".into()));
                }
                crate::jwt::SigningKey::from_pem(*alg, private_key_pem).map(|_| ())
            }
        }
    }

    /// A bounded label (`none`, `basic`, `bearer`, `client_credentials`, `smart_backend`).
    pub fn kind(&self) -> &'static str {
        match self {
            Auth::None => "none",
            Auth::Basic { .. } => "basic",
            Auth::Bearer { .. } => "bearer",
            Auth::ClientCredentials { .. } => "client_credentials",
            Auth::SmartBackend { .. } => "smart_backend",
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { username, .. } => f.debug_struct("Basic").field("username", username).finish_non_exhaustive(),
            Auth::Bearer { .. } => f.debug_struct("Bearer").finish_non_exhaustive(),
            Auth::ClientCredentials { token_url, client_id, scope, client_auth, .. } => f
                .debug_struct("ClientCredentials")
                .field("token_url", token_url)
                .field("client_id", client_id)
                .field("scope", scope)
                .field("client_auth", client_auth)
                .finish_non_exhaustive(),
            Auth::SmartBackend { token_url, client_id, alg, kid, scope, .. } => f
                .debug_struct("SmartBackend")
                .field("token_url", token_url)
                .field("client_id", client_id)
                .field("alg", alg)
                .field("kid", kid)
                .field("scope", scope)
                .finish_non_exhaustive(),
        }
    }
}

/// How a client secret reaches the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuthMethod {
    /// HTTP Basic with the client id and secret (`client_secret_basic`, what RFC 6749 requires servers to
    /// accept).
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form body (`client_secret_post`).
    Post,
}

/// JWS algorithms SMART Backend Services requires servers to support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// ECDSA on P-384 with SHA-384.
    Es384,
}

impl JwtAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlg::Rs384 => "RS384",
            JwtAlg::Es384 => "ES384",
        }
    }
}

/// What the client sends for one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Payload {
    /// The transaction Bundle, in one `POST [base]`: all or nothing on the server.
    #[default]
    Bundle,
    /// One request per entry (its `request.method` and `url`), in an order where every entry comes after the
    /// entries it references, with references rewritten to the ids the server assigned. Not atomic: a
    /// failure leaves the earlier entries stored, and the resend is safe because every request is
    /// conditional or names a deterministic id.
    Resources,
}

/// `url` parses, is http or https, has a host, and no query or fragment.
pub(crate) fn http_url(key: &str, url: &str) -> Result<reqwest::Url, Error> {
    let parsed = reqwest::Url::parse(url).map_err(|e| Error::Config(format!("{key}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::Config(format!("{key}: the scheme must be http or https")));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(Error::Config(format!("{key}: no host")));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::Config(format!("{key}: no query or fragment allowed")));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::Config(format!("{key}: credentials belong in auth, not in the URL")));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_do_not() {
        ClientSettings::new("http://127.0.0.1:8080/fhir/").validate().unwrap();
        for bad in ["ftp://x/fhir", "file:///fhir", "http://h/fhir?x=1", "not a url", "http://u:p@h/fhir"] {
            assert!(ClientSettings::new(bad).validate().is_err(), "{bad}");
        }
        let mut s = ClientSettings::new("https://h/fhir");
        s.max_in_flight = 0;
        assert!(s.validate().is_err());
        let mut s = ClientSettings::new("https://h/fhir");
        s.headers.push(("Authorization".into(), "x".into()));
        assert!(s.validate().is_err());
        let mut s = ClientSettings::new("https://h/fhir");
        s.headers.push(("X-Api-Key".into(), "bad\nvalue".into()));
        assert!(s.validate().is_err());
        let mut s = ClientSettings::new("https://h/fhir");
        s.auth = Auth::Bearer { token: "has space".into() };
        assert!(s.validate().is_err());
    }

    #[test]
    fn debug_shows_no_secret() {
        let mut s = ClientSettings::new("https://h/fhir");
        s.auth = Auth::ClientCredentials {
            token_url: "https://h/token".into(),
            client_id: "hearth".into(),
            client_secret: "s3cr3t".into(),
            scope: None,
            client_auth: ClientAuthMethod::Basic,
        };
        s.headers.push(("X-Api-Key".into(), "k3y".into()));
        let shown = format!("{s:?}");
        assert!(!shown.contains("s3cr3t") && !shown.contains("k3y"), "{shown}");
        assert!(shown.contains("X-Api-Key"));
    }
}
