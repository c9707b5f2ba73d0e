//! A blocking HTTP client for tests (reqwest), so tests never write HTTP by hand. Each call runs on a thread of
//! its own: reqwest's blocking client owns a runtime, which may not be dropped inside an async test.

use std::time::Duration;

/// An answer: status, headers (lowercase names) and body text.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The body as JSON.
    ///
    /// # Panics
    /// When the body is not JSON (a test failure, with the body in the message).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn client() -> Result<reqwest::blocking::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().map_err(|e| e.to_string())
}

/// One request to `http://{addr}{path}` with these headers and body. `Err` when nothing answered.
pub fn request(
    method: &str,
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Response, String> {
    std::thread::scope(|s| {
        s.spawn(|| send(method, addr, path, headers, body)).join().unwrap_or_else(|_| Err("the client panicked".into()))
    })
}

fn send(method: &str, addr: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Result<Response, String> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let mut req = client()?.request(method, format!("http://{addr}{path}")).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body = resp.text().map_err(|e| e.to_string())?;
    Ok(Response { status, headers, body })
}

/// `GET http://{addr}{path}`; `None` when nothing listens.
pub fn get(addr: &str, path: &str) -> Option<Response> {
    request("GET", addr, path, &[], Vec::new()).ok()
}

/// `POST http://{addr}{path}` with a body.
///
/// # Panics
/// When nothing answers (a test's precondition).
pub fn post(addr: &str, path: &str, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Response {
    request("POST", addr, path, headers, body.into()).unwrap_or_else(|e| panic!("POST {path}: {e}"))
}
