//! A small HTTP proxy in front of the real FHIR test server, for the failures the server does not produce on
//! demand: `429` with `Retry-After` on the next writes, `401` on every write (credentials revoked), and a check
//! that every request carries the expected bearer token. `GET`s (the `metadata` probe, searches) are always
//! forwarded unless a token is required and missing. Everything else goes to the server as it came.
//!
//! ```no_run
//! # async fn demo(fhir_url: &str) {
//! use hearth_testkit::fhir_proxy::{Mode, Proxy};
//! let proxy = Proxy::start(fhir_url, Mode::Throttle { writes: 2, retry_after_secs: 2 }, None).await;
//! // point the code under test at proxy.base, then:
//! assert!(proxy.writes().len() >= 3);
//! # }
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;

/// What the proxy does with writes (requests other than `GET`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Forward,
    /// `429` with `Retry-After: retry_after_secs` to the next `writes` writes, then forward.
    Throttle {
        writes: usize,
        retry_after_secs: u64,
    },
    /// `401` to every write.
    Refuse,
}

/// A running proxy (it lives as long as the test's runtime).
#[derive(Debug, Clone)]
pub struct Proxy {
    /// The proxied FHIR base, `http://127.0.0.1:PORT/<the server's path>`.
    pub base: String,
    state: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    mode: Mutex<Mode>,
    bearer: Option<String>,
    writes: Mutex<Vec<Instant>>,
    refused_tokens: AtomicUsize,
    http: reqwest::Client,
}

impl Proxy {
    /// Starts a proxy for the FHIR base `upstream` (`http://host:port/path`). With `bearer`, a request without
    /// `Authorization: Bearer <bearer>` gets `401` and is not forwarded.
    ///
    /// # Panics
    /// When no loopback port can be bound or `upstream` is not an http URL (a test's precondition).
    pub async fn start(upstream: &str, mode: Mode, bearer: Option<String>) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("no local address: {e}"));
        let rest = upstream.strip_prefix("http://").unwrap_or_else(|| panic!("not an http:// FHIR base: {upstream}"));
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let _ = rustls::crypto::ring::default_provider().install_default();
        let state = Arc::new(Shared {
            upstream: format!("http://{host}"),
            mode: Mutex::new(mode),
            bearer,
            writes: Mutex::default(),
            refused_tokens: AtomicUsize::new(0),
            http: reqwest::Client::new(),
        });
        let app = axum::Router::new().fallback(handle).with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Proxy { base: format!("http://{addr}/{path}"), state }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = mode;
    }

    /// When each write arrived (answered by the proxy or forwarded).
    pub fn writes(&self) -> Vec<Instant> {
        self.state.writes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Requests refused because the bearer token was missing or wrong.
    pub fn refused_tokens(&self) -> usize {
        self.state.refused_tokens.load(Ordering::SeqCst)
    }
}

fn status(code: u16, retry_after: Option<u64>) -> Response {
    let mut r = Response::builder().status(code).header("content-type", "application/fhir+json");
    if let Some(s) = retry_after {
        r = r.header("retry-after", s.to_string());
    }
    let oo = r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"throttled"}]}"#;
    r.body(Body::from(oo)).unwrap_or_default()
}

async fn handle(State(p): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if let Some(token) = &p.bearer {
        let got = parts.headers.get("authorization").and_then(|v| v.to_str().ok());
        if got != Some(format!("Bearer {token}").as_str()) {
            p.refused_tokens.fetch_add(1, Ordering::SeqCst);
            return status(401, None);
        }
    }
    if parts.method != axum::http::Method::GET {
        p.writes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(Instant::now());
        let mut mode = p.mode.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match *mode {
            Mode::Throttle { writes, retry_after_secs } if writes > 0 => {
                *mode = Mode::Throttle { writes: writes - 1, retry_after_secs };
                return status(429, Some(retry_after_secs));
            }
            Mode::Refuse => return status(401, None),
            _ => {}
        }
    }
    let Ok(body) = axum::body::to_bytes(body, 64 << 20).await else { return status(400, None) };
    let url = format!("{}{}", p.upstream, parts.uri.path_and_query().map_or("/", |pq| pq.as_str()));
    let mut out = p.http.request(parts.method.clone(), url).body(body);
    for (k, v) in &parts.headers {
        if !matches!(k.as_str(), "host" | "content-length" | "connection" | "authorization" | "transfer-encoding") {
            out = out.header(k, v);
        }
    }
    let Ok(r) = out.send().await else { return status(502, None) };
    let mut answer = Response::builder().status(r.status().as_u16());
    for (k, v) in r.headers() {
        if !matches!(k.as_str(), "content-length" | "connection" | "transfer-encoding") {
            answer = answer.header(k, v);
        }
    }
    let bytes = r.bytes().await.unwrap_or_default();
    answer.body(Body::from(bytes)).unwrap_or_default()
}
