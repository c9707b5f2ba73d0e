//! The client: one reqwest connection pool over rustls (ring), the in-flight bound, authentication with one
//! renewal on a 401, and the two ways of sending a Bundle.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::auth::Authenticator;
use crate::error::Error;
use crate::outcome::{Answer, Sent, error_for, transaction_response};
use crate::prepare::prepare;
use crate::settings::{ClientSettings, Payload, http_url};

pub(crate) const FHIR_JSON: &str = "application/fhir+json";
/// Headers the client sets itself; extra headers may not override them.
const OWN_HEADERS: [&str; 4] = ["authorization", "content-type", "accept", "prefer"];

/// What `GET [base]/metadata` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    /// `CapabilityStatement.fhirVersion` (`4.0.1` for R4).
    pub fhir_version: Option<String>,
    /// `software.name` and `software.version`, when given.
    pub software: Option<String>,
}

impl Capability {
    /// Whether the server speaks FHIR R4 (`4.0.x`).
    pub fn is_r4(&self) -> bool {
        self.fhir_version.as_deref().is_some_and(|v| v.starts_with("4.0"))
    }
}

/// A FHIR R4 REST client for one destination. Cheap to clone (the clones share the connection pool, the
/// token cache and the in-flight bound).
#[derive(Debug, Clone)]
pub struct FhirClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    /// The base with a trailing slash, so that `join("Patient?…")` appends.
    base: Url,
    headers: HeaderMap,
    auth: Authenticator,
    permits: Semaphore,
    request_timeout: Duration,
    max_response_bytes: usize,
    max_outcome_bytes: usize,
}

impl FhirClient {
    /// Builds a client. `tls` is the rustls configuration for `https` (client certificates, private CAs);
    /// without one the client trusts the system's roots, with rustls on the ring provider. No IO happens
    /// here: the first token and connection come with the first request.
    pub fn new(settings: &ClientSettings, tls: Option<rustls::ClientConfig>) -> Result<Self, Error> {
        settings.validate()?;
        let mut base = http_url("base_url", &settings.base_url)?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let tls = match tls {
            Some(t) => t,
            None => default_tls(base.scheme() == "https")?,
        };
        let request_timeout = Duration::from_millis(settings.request_timeout_ms);
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
            .timeout(request_timeout)
            // A redirect would turn a POST into a GET and hide a wrong base_url: report it instead.
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(settings.max_in_flight)
            .user_agent(concat!("hearth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {}", describe(&e))))?;
        let auth = Authenticator::new(&settings.auth, http.clone(), request_timeout)?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base,
                headers: header_map(&settings.headers)?,
                auth,
                permits: Semaphore::new(settings.max_in_flight),
                request_timeout,
                max_response_bytes: settings.max_response_bytes,
                max_outcome_bytes: settings.max_outcome_bytes,
            }),
        })
    }

    /// The FHIR base the client sends to (with a trailing slash).
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// Sends one delivery: a transaction Bundle (JSON bytes, as the mapper wrote it), as `payload` says.
    pub async fn send(&self, bundle: &[u8], payload: Payload) -> Result<Sent, Error> {
        match payload {
            Payload::Bundle => self.send_bundle(bundle).await,
            Payload::Resources => self.send_resources(bundle).await,
        }
    }

    /// `POST [base]` with the transaction Bundle; the transaction-response is checked entry by entry.
    pub async fn send_bundle(&self, bundle: &[u8]) -> Result<Sent, Error> {
        let prepared = prepare(bundle)?;
        let body = serde_json::to_vec(&prepared.bundle).map_err(|e| Error::Invalid(e.to_string()))?;
        let answer = self.request(Method::POST, "", Some(body), &[]).await?;
        transaction_response(&answer.body, prepared.entries.len(), self.inner.max_outcome_bytes)
    }

    /// One request per entry (see [`Payload::Resources`]).
    pub async fn send_resources(&self, bundle: &[u8]) -> Result<Sent, Error> {
        let prepared = prepare(bundle)?;
        crate::resources::send(self, prepared.entries).await
    }

    /// `GET [base]/metadata`: is the server there, and does it speak R4? Cheap enough for readiness checks.
    pub async fn probe(&self) -> Result<Capability, Error> {
        let answer = self.request(Method::GET, "metadata", None, &[]).await?;
        let v: Value =
            serde_json::from_slice(&answer.body).map_err(|e| Error::Protocol(format!("metadata is not JSON ({e})")))?;
        if v["resourceType"] != "CapabilityStatement" {
            return Err(Error::Protocol("metadata is not a CapabilityStatement".into()));
        }
        let text = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_owned);
        let software = match (text("/software/name"), text("/software/version")) {
            (Some(n), Some(ver)) => Some(format!("{n} {ver}")),
            (n, _) => n,
        };
        Ok(Capability { fhir_version: text("/fhirVersion"), software })
    }

    /// One request to `[base]/path`, within the in-flight bound, authenticated, renewing the token once on a
    /// 401. Returns the answer when it is 2xx, else the error it means.
    pub(crate) async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        extra: &[(HeaderName, HeaderValue)],
    ) -> Result<Answer, Error> {
        let inner = &self.inner;
        let url = inner.base.join(path).map_err(|e| Error::Invalid(format!("request URL: {e}")))?;
        // Cloned for the resend after a 401 without copying the bytes.
        let body = body.map(bytes::Bytes::from);
        let _permit = inner.permits.acquire().await.map_err(|_| Error::Network("client closed".into()))?;
        let mut renewed = false;
        loop {
            let credential = inner.auth.credential().await?;
            let mut req = inner
                .http
                .request(method.clone(), url.clone())
                .headers(inner.headers.clone())
                .header(ACCEPT, FHIR_JSON)
                // Only the status and Location are read from a write: do not make the server echo resources.
                .header("Prefer", "return=minimal");
            if let Some(h) = credential.header {
                req = req.header(AUTHORIZATION, h);
            }
            for (k, v) in extra {
                req = req.header(k, v);
            }
            if let Some(b) = &body {
                req = req.header(CONTENT_TYPE, FHIR_JSON).body(b.clone());
            }
            let answer = self.exchange(req).await?;
            match answer.status {
                200..=299 => return Ok(answer),
                401 if !renewed && inner.auth.renewable() => {
                    tracing::info!("fhir client: HTTP 401, renewing the access token once");
                    inner.auth.invalidate(credential.generation).await;
                    renewed = true;
                }
                401 | 403 => {
                    let why = if renewed { "after a token renewal" } else { "with the configured credentials" };
                    return Err(Error::Unauthorized(format!("HTTP {} from the FHIR server {why}", answer.status)));
                }
                _ => return Err(error_for(&answer, inner.max_outcome_bytes)),
            }
        }
    }

    async fn exchange(&self, req: reqwest::RequestBuilder) -> Result<Answer, Error> {
        let response = req.send().await.map_err(|e| self.network(&e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = read_limited(response, self.inner.max_response_bytes, self.inner.request_timeout).await?;
        Ok(Answer { status, headers, body })
    }

    fn network(&self, e: &reqwest::Error) -> Error {
        if e.is_timeout() { Error::Timeout(self.inner.request_timeout) } else { Error::Network(describe(e)) }
    }
}

/// Reads a response body, refusing more than `max` bytes.
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    max: usize,
    timeout: Duration,
) -> Result<Vec<u8>, Error> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(Error::Protocol(format!("response larger than {max} bytes")));
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > max {
                    return Err(Error::Protocol(format!("response larger than {max} bytes")));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) if e.is_timeout() => return Err(Error::Timeout(timeout)),
            Err(e) => return Err(Error::Network(describe(&e))),
        }
    }
}

/// A reqwest error without its URL (a conditional URL names a patient's identifier) and with its root
/// cause (`connection refused`, `connection reset`), which is what an operator needs.
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "reading the response"
    } else if e.is_request() {
        "sending the request"
    } else {
        "request"
    };
    let mut root: &dyn std::error::Error = e;
    while let Some(next) = root.source() {
        root = next;
    }
    let root = root.to_string();
    // The outermost reqwest error names the URL; a root cause that is that error itself is not useful.
    if root.contains("://") { kind.to_owned() } else { format!("{kind}: {root}") }
}

/// Validates the extra headers into a map.
pub(crate) fn header_map(headers: &[(String, String)]) -> Result<HeaderMap, Error> {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| Error::Config(format!("headers: `{k}` is not a header name")))?;
        if OWN_HEADERS.contains(&name.as_str()) {
            return Err(Error::Config(format!("headers: `{k}` is set by the client (use auth for credentials)")));
        }
        let mut value = HeaderValue::from_str(v)
            .map_err(|_| Error::Config(format!("headers: the value of `{k}` is not a valid header value")))?;
        value.set_sensitive(true);
        map.append(name, value);
    }
    Ok(map)
}

/// rustls on ring with the operating system's trusted roots.
fn default_tls(https: bool) -> Result<rustls::ClientConfig, Error> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if https && added == 0 {
        return Err(Error::Config(
            "no trusted CA certificates found on this system (install ca-certificates, or configure TLS)".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_send<T: Send>(_: &T) {}

    #[test]
    fn the_futures_can_be_spawned() {
        let client = FhirClient::new(&ClientSettings::new("http://127.0.0.1:9/fhir"), None).unwrap();
        is_send(&client.send(b"{}", Payload::Bundle));
        is_send(&client.send(b"{}", Payload::Resources));
        is_send(&client.probe());
        fn is_sync<T: Send + Sync>(_: &T) {}
        is_sync(&client);
    }
}
