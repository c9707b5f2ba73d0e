//! Shared by the tests against the real FHIR server: the repository's golden Bundles made unique per test
//! (so that tests running at once on one server never touch each other's resources), and searches that
//! count what a test stored.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod proxy;
pub mod token_server;

use std::path::PathBuf;
use std::sync::Arc;

use hearth_fhir_client::{ClientSettings, FhirClient};
use serde_json::{Value, json};

/// The system of the tag every resource of a test carries (code: the test's salt).
pub const TEST_TAG: &str = "urn:hearth:test";

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// The transaction Bundles a golden file holds: `bundle` (HL7 v2, webhooks) or `outputs[].bundle` (CSV).
pub fn golden(rel: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(fixtures().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap();
    match (&v["bundle"], &v["outputs"]) {
        (Value::Object(_), _) => vec![v["bundle"].clone()],
        (_, Value::Array(outs)) => outs.iter().map(|o| o["bundle"].clone()).collect(),
        _ => panic!("{rel}: no bundle"),
    }
}

/// Every golden HL7 v2 and webhook file with a single Bundle.
pub fn golden_files(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures().join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".expected.json"))
        .map(|n| format!("{dir}/{n}"))
        .collect();
    names.sort();
    names
}

/// Makes fixtures unique to one test: identifier values get a suffix (in identifiers, conditional URLs and
/// conditional references), UUIDs are remapped the same way everywhere, and every resource is tagged
/// `urn:hearth:test|<salt>`. The same salt gives the same result, so two Bundles of one test still name
/// the same patient.
#[derive(Debug, Clone)]
pub struct Salt(pub String);

impl Salt {
    pub fn new() -> Self {
        Salt(hearth_testkit::unique_name("t").replace('_', "-"))
    }

    fn bits(&self) -> u64 {
        // FNV-1a: any stable mixing will do; only distinctness between tests matters.
        self.0.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
    }

    pub fn apply(&self, bundle: &Value) -> Value {
        let mut b = bundle.clone();
        self.walk(&mut b, None);
        if let Some(entries) = b["entry"].as_array_mut() {
            for e in entries {
                if let Some(r) = e.get_mut("resource").and_then(Value::as_object_mut) {
                    let meta = r.entry("meta").or_insert_with(|| json!({}));
                    let tags = meta.as_object_mut().unwrap().entry("tag").or_insert_with(|| json!([]));
                    tags.as_array_mut().unwrap().push(json!({"system": TEST_TAG, "code": self.0}));
                }
            }
        }
        b
    }

    /// Identifier value `v` as this test writes it.
    pub fn value(&self, v: &str) -> String {
        format!("{v}-{}", self.0)
    }

    fn walk(&self, v: &mut Value, key: Option<&str>) {
        match v {
            Value::Object(obj) => {
                let is_identifier = key == Some("identifier");
                for (k, child) in obj.iter_mut() {
                    if is_identifier && k == "value" {
                        if let Value::String(s) = child {
                            *s = self.value(s);
                        }
                    } else {
                        self.walk(child, Some(k));
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|c| self.walk(c, key)),
            Value::String(s) => {
                let mut out = self.uuids(s);
                if matches!(key, Some("url" | "ifNoneExist" | "reference")) {
                    out = self.conditional(&out);
                }
                *s = out;
            }
            _ => {}
        }
    }

    /// `identifier=sys|val` → `identifier=sys|val-salt` in a query.
    fn conditional(&self, s: &str) -> String {
        let Some((head, query)) = s.split_once('?').or_else(|| s.starts_with("identifier=").then_some(("", s))) else {
            return s.to_owned();
        };
        let params: Vec<String> = query
            .split('&')
            .map(|p| match p.split_once('=') {
                Some(("identifier", v)) => match v.split_once('|') {
                    Some((sys, val)) => format!("identifier={sys}|{}", self.value(val)),
                    None => format!("identifier={}", self.value(v)),
                },
                _ => p.to_owned(),
            })
            .collect();
        if head.is_empty() && !s.contains('?') { params.join("&") } else { format!("{head}?{}", params.join("&")) }
    }

    /// Every UUID in `s` with its last 48 bits mixed with the salt.
    fn uuids(&self, s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = String::with_capacity(s.len());
        let mut i = 0;
        while i < bytes.len() {
            if i + 36 <= bytes.len() && is_uuid(&s[i..i + 36]) {
                let tail = u64::from_str_radix(&s[i + 24..i + 36], 16).unwrap();
                out.push_str(&s[i..i + 24]);
                out.push_str(&format!("{:012x}", (tail ^ self.bits()) & 0xffff_ffff_ffff));
                i += 36;
            } else {
                let ch = s[i..].chars().next().unwrap();
                out.push(ch);
                i += ch.len_utf8();
            }
        }
        out
    }
}

fn is_uuid(s: &str) -> bool {
    s.bytes().enumerate().all(|(i, b)| if [8, 13, 18, 23].contains(&i) { b == b'-' } else { b.is_ascii_hexdigit() })
}

pub fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// A plain HTTP client for the tests' own reads (rustls on ring, as everywhere in Hearth).
pub fn http() -> reqwest::Client {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder().tls_backend_preconfigured(config).build().unwrap()
}

pub fn client(base: &str) -> FhirClient {
    FhirClient::new(&ClientSettings::new(base), None).unwrap()
}

/// Reads from the server directly (not through the client under test).
#[derive(Debug, Clone)]
pub struct Server {
    pub base: String,
    http: reqwest::Client,
}

impl Server {
    pub fn new(base: &str) -> Self {
        Server { base: base.trim_end_matches('/').to_owned(), http: http() }
    }

    pub async fn get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}/{path}", self.base))
            .header("Accept", "application/fhir+json")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
    }

    /// `PUT` or `POST` a resource directly; returns the status.
    pub async fn write(&self, method: reqwest::Method, path: &str, resource: &Value) -> u16 {
        let r = self
            .http
            .request(method, format!("{}/{path}", self.base))
            .header("Content-Type", "application/fhir+json")
            .body(resource.to_string())
            .send()
            .await
            .unwrap();
        r.status().as_u16()
    }

    /// How many resources of `rtype` this test's salt tagged.
    pub async fn count(&self, rtype: &str, salt: &Salt) -> u64 {
        let v = self.get(&format!("{rtype}?_tag={TEST_TAG}|{}&_summary=count", salt.0)).await;
        v["total"].as_u64().unwrap()
    }

    /// Counts per resource type, for every type in `bundles`.
    pub async fn counts(&self, bundles: &[Value], salt: &Salt) -> Vec<(String, u64)> {
        let mut types: Vec<String> = bundles
            .iter()
            .flat_map(|b| b["entry"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| e["resource"]["resourceType"].as_str().map(str::to_owned))
            .collect();
        types.sort();
        types.dedup();
        let mut out = Vec::new();
        for t in types {
            let n = self.count(&t, salt).await;
            out.push((t, n));
        }
        out
    }

    /// The resources a search finds.
    pub async fn search(&self, query: &str) -> Vec<Value> {
        let v = self.get(query).await;
        v["entry"].as_array().cloned().unwrap_or_default().into_iter().map(|e| e["resource"].clone()).collect()
    }

    /// The one Patient with this (salted) identifier value.
    pub async fn patient(&self, system: &str, value: &str) -> Value {
        let found = self.search(&format!("Patient?identifier={system}|{value}")).await;
        assert_eq!(found.len(), 1, "one Patient {system}|{value}");
        found.into_iter().next().unwrap()
    }
}

/// Reference strings anywhere in `v`.
pub fn references(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                for (k, c) in o {
                    match c {
                        Value::String(s) if k == "reference" => out.push(s.clone()),
                        _ => walk(c, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    walk(v, &mut out);
    out
}
