//! A small HTTP proxy in front of the real FHIR server (hyper on a loopback port) that injects the failures
//! a real deployment meets: a status with `Retry-After` (429, 503), a 401, and a lost response (the request
//! is forwarded and processed, then the connection is closed before any answer). It can also demand a
//! bearer token issued by the test token server, as a protected FHIR server does.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::token_server::TokenState;

/// What the proxy does to the next request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status (and `Retry-After`, when given) without forwarding.
    Status { status: u16, retry_after: Option<String> },
    /// Forward, let the server process it, then close the connection without answering.
    LoseResponse,
}

#[derive(Debug)]
pub struct Proxy {
    /// The proxied FHIR base (`http://127.0.0.1:PORT/fhir`).
    pub base: String,
    upstream: String,
    faults: Mutex<VecDeque<Fault>>,
    /// When set, requests without a valid token from this server get 401 (not forwarded).
    tokens: Option<Arc<TokenState>>,
    /// Requests received (including those answered with a fault).
    pub requests: AtomicUsize,
    /// Requests forwarded to the server.
    pub forwarded: AtomicUsize,
    /// 401s answered because the token was missing or expired.
    pub refused_tokens: AtomicUsize,
    http: reqwest::Client,
}

impl Proxy {
    pub fn inject(&self, fault: Fault) {
        self.faults.lock().unwrap().push_back(fault);
    }
}

/// Starts a proxy for the FHIR base `upstream` (whose path is kept: `/fhir/...` maps to `/fhir/...`).
pub async fn start(upstream: &str, tokens: Option<Arc<TokenState>>) -> Arc<Proxy> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = reqwest::Url::parse(upstream).unwrap();
    let proxy = Arc::new(Proxy {
        base: format!("http://{addr}{}", url.path().trim_end_matches('/')),
        upstream: url.origin().ascii_serialization(),
        faults: Mutex::new(VecDeque::new()),
        tokens,
        requests: AtomicUsize::new(0),
        forwarded: AtomicUsize::new(0),
        refused_tokens: AtomicUsize::new(0),
        http: super::http(),
    });
    let p = proxy.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let p = p.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(p.clone(), req));
                // An Err from the service (a lost response) ends the connection: that is the point.
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    proxy
}

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("response dropped by the test proxy")
    }
}

impl std::error::Error for Dropped {}

async fn handle(p: Arc<Proxy>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Dropped> {
    p.requests.fetch_add(1, Ordering::SeqCst);
    let fault = p.faults.lock().unwrap().pop_front();
    if let Some(Fault::Status { status, retry_after }) = &fault {
        let mut r = Response::builder().status(*status).header("Content-Type", "application/fhir+json");
        if let Some(wait) = retry_after {
            r = r.header("Retry-After", wait.as_str());
        }
        let oo = r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient"}]}"#;
        return Ok(r.body(Full::new(Bytes::from_static(oo.as_bytes()))).unwrap());
    }
    if let Some(tokens) = &p.tokens {
        let auth = req.headers().get("authorization").and_then(|h| h.to_str().ok());
        if !tokens.valid(auth) {
            p.refused_tokens.fetch_add(1, Ordering::SeqCst);
            return Ok(Response::builder().status(StatusCode::UNAUTHORIZED).body(Full::new(Bytes::new())).unwrap());
        }
    }
    let answer = forward(&p, req).await;
    if matches!(fault, Some(Fault::LoseResponse)) {
        return Err(Dropped);
    }
    Ok(answer)
}

async fn forward(p: &Proxy, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let url = format!("{}{}", p.upstream, parts.uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/"));
    let mut out = p.http.request(parts.method.clone(), url).body(body);
    for (k, v) in &parts.headers {
        if !matches!(k.as_str(), "host" | "content-length" | "connection" | "authorization" | "transfer-encoding") {
            out = out.header(k, v);
        }
    }
    let r = out.send().await.unwrap();
    p.forwarded.fetch_add(1, Ordering::SeqCst);
    let mut answer = Response::builder().status(r.status().as_u16());
    for (k, v) in r.headers() {
        if !matches!(k.as_str(), "content-length" | "connection" | "transfer-encoding") {
            answer = answer.header(k, v);
        }
    }
    let bytes = r.bytes().await.unwrap();
    answer.body(Full::new(bytes)).unwrap()
}
