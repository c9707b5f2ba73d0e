//! Sending one delivery to a FHIR server, and the destination's state.
//!
//! A delivery of a `bundle` route is its transaction Bundle, sent whole (`POST [base]`, all or nothing). A
//! delivery of a `resources` route is one resource, sent as one request that a resend cannot duplicate: a
//! Patient as `PUT Patient?identifier=system|value` by its first business identifier (a server holding the
//! patient under its own id updates that record; references to a Patient carry its identifier, so they find
//! it), anything else as `PUT Type/id` with Hearth's deterministic id (what other resources' literal
//! references name), or by identifier when it has no id (docs/destinations.md).
//!
//! Outcomes (read by `hearth-fhir-client` the FHIR way) map to the outbox as follows: 2xx sent; 429, 5xx and
//! timeouts retry with backoff, never sooner than `Retry-After`; 400/404/409/412/422 dead at once with the
//! server's OperationOutcome as the failure text; a refused connection means the server is down: the
//! destination is not ready and nothing is attempted until a `GET [base]/metadata` probe succeeds; a 401 after
//! a token renewal makes the destination `unauthorized` (an alert through readiness, no dead letters) until a
//! later probe and delivery succeed.

use std::sync::Arc;
use std::time::Duration;

use hearth_fhir_client::{Error, ErrorClass, FhirClient, Payload};
use hearth_store::DueDelivery;
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::outbox::{NotReady, SendError};

/// Probes after a failed probe wait this long at first, doubling up to [`PROBE_MAX`].
const PROBE_MIN: Duration = Duration::from_millis(500);
const PROBE_MAX: Duration = Duration::from_secs(30);
/// How long an `unauthorized` destination rests before it tries again (credentials may have been fixed).
const UNAUTHORIZED_PAUSE: Duration = Duration::from_secs(30);

/// What the destination knows about its server.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Before the first probe answered.
    Probing,
    Up,
    /// The last probe (or a request) found the server unreachable or not an R4 server.
    Down(String),
    /// The server refused our credentials after a token renewal.
    Unauthorized(String),
}

/// Sends deliveries to one FHIR server. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FhirPublisher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: FhirClient,
    state: watch::Sender<State>,
    /// Asks the prober to look at the server again.
    kick: Notify,
    unauthorized_pause: Duration,
}

impl FhirPublisher {
    /// Starts the prober (`GET [base]/metadata` now, and again after failures) until `shutdown`.
    pub fn start(client: FhirClient, shutdown: CancellationToken) -> FhirPublisher {
        Self::start_with(client, UNAUTHORIZED_PAUSE, shutdown)
    }

    pub(crate) fn start_with(client: FhirClient, pause: Duration, shutdown: CancellationToken) -> FhirPublisher {
        let (state, _) = watch::channel(State::Probing);
        let p =
            FhirPublisher { inner: Arc::new(Inner { client, state, kick: Notify::new(), unauthorized_pause: pause }) };
        tokio::spawn(p.clone().probe_loop(shutdown));
        p
    }

    pub(crate) async fn send(&self, d: &DueDelivery, body: &str) -> Result<(), SendError> {
        let result = if d.resource_type == "Bundle" {
            self.inner.client.send(body.as_bytes(), Payload::Bundle).await
        } else {
            let bundle = lone_resource_bundle(body).map_err(SendError::Rejected)?;
            self.inner.client.send(&bundle, Payload::Resources).await
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) => Err(self.classify(&e)),
        }
    }

    fn classify(&self, e: &Error) -> SendError {
        match (e.class(), e) {
            (ErrorClass::Unauthorized, _) => {
                self.set(State::Unauthorized(e.to_string()));
                // The prober rests, then probes and lets one delivery try the credentials again.
                self.inner.kick.notify_one();
                SendError::Unavailable(e.to_string())
            }
            (ErrorClass::Permanent, _) => SendError::Rejected(e.failure_text()),
            (ErrorClass::Transient, Error::Network(_)) => {
                // Refused or reset: the server is not there. Wait for the probe instead of spending attempts.
                self.set(State::Down(e.to_string()));
                self.inner.kick.notify_one();
                SendError::Unavailable(e.to_string())
            }
            (ErrorClass::Transient, _) => {
                if e.status().is_none_or(|s| s >= 500) {
                    // A timeout or a server error: look at the server again (the state stays until the probe says).
                    self.inner.kick.notify_one();
                }
                SendError::Retry { error: e.failure_text(), after: e.retry_after() }
            }
        }
    }

    fn set(&self, s: State) {
        self.inner.state.send_if_modified(|cur| {
            let changed = *cur != s;
            *cur = s;
            changed
        });
    }

    /// `Ok` when the server answered its last probe and accepts our credentials.
    pub(crate) fn ready(&self) -> Result<(), NotReady> {
        match &*self.inner.state.borrow() {
            State::Up => Ok(()),
            State::Probing => Err(NotReady::Connecting),
            State::Down(why) => Err(NotReady::Disconnected(why.clone())),
            State::Unauthorized(why) => Err(NotReady::Unauthorized(why.clone())),
        }
    }

    /// Resolves when the state may have changed.
    pub(crate) async fn changed(&self) {
        let mut rx = self.inner.state.subscribe();
        let _ = rx.changed().await;
    }

    async fn probe_loop(self, shutdown: CancellationToken) {
        let mut wait = PROBE_MIN;
        loop {
            let current = self.inner.state.borrow().clone();
            let pause = match current {
                State::Up => {
                    tokio::select! {
                        () = self.inner.kick.notified() => {}
                        () = shutdown.cancelled() => return,
                    }
                    None
                }
                State::Unauthorized(_) => Some(self.inner.unauthorized_pause),
                State::Probing | State::Down(_) => None,
            };
            if let Some(p) = pause {
                tokio::select! {
                    () = tokio::time::sleep(p) => {}
                    () = shutdown.cancelled() => return,
                }
            }
            let next = match self.inner.client.probe().await {
                Ok(cap) if cap.is_r4() => State::Up,
                Ok(cap) => State::Down(format!(
                    "the server is not FHIR R4 (fhirVersion {})",
                    cap.fhir_version.as_deref().unwrap_or("missing")
                )),
                Err(e) if e.class() == ErrorClass::Unauthorized => State::Unauthorized(e.to_string()),
                Err(e) => State::Down(e.to_string()),
            };
            let up = next == State::Up;
            self.set(next);
            if up {
                wait = PROBE_MIN;
            } else {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shutdown.cancelled() => return,
                }
                wait = (wait * 2).min(PROBE_MAX);
            }
        }
    }
}

/// A one-entry transaction Bundle for one resource (a `resources` route's delivery), with a conditional
/// request as the module docs say. `Err`: the body is not a resource (a permanent failure).
pub(crate) fn lone_resource_bundle(body: &str) -> Result<Vec<u8>, String> {
    let resource: Value = serde_json::from_str(body).map_err(|e| format!("the delivery is not JSON: {e}"))?;
    let rtype = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphabetic()))
        .ok_or("the delivery is not a FHIR resource (no resourceType)")?;
    let id = resource.get("id").and_then(Value::as_str).filter(|id| {
        !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    });
    let url = match (business_identifier(&resource), id) {
        // The Patient by its identifier: the server may hold it under its own id, and every reference to a
        // Patient that Hearth writes carries the identifier too, so they still find it.
        (Some((system, value)), _) if rtype == "Patient" => {
            format!("{rtype}?identifier={}|{}", encode(system), encode(value))
        }
        // Anything else by its deterministic id, which is what other resources' literal references name.
        (_, Some(id)) => format!("{rtype}/{id}"),
        (Some((system, value)), None) => format!("{rtype}?identifier={}|{}", encode(system), encode(value)),
        (None, None) => return Err("the resource has neither an identifier nor an id to send it by".into()),
    };
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": resource, "request": {"method": "PUT", "url": url}}],
    });
    serde_json::to_vec(&bundle).map_err(|e| e.to_string())
}

/// The first `identifier` with both a system and a value.
fn business_identifier(resource: &Value) -> Option<(&str, &str)> {
    resource.get("identifier")?.as_array()?.iter().find_map(|i| {
        let s = i.get("system")?.as_str().filter(|s| !s.is_empty())?;
        let v = i.get("value")?.as_str().filter(|v| !v.is_empty())?;
        Some((s, v))
    })
}

/// Escapes what would end or split a token search parameter in a query string (FHIR search escaping for `|`,
/// URL escaping for the rest).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '&' => out.push_str("%26"),
            '#' => out.push_str("%23"),
            '+' => out.push_str("%2B"),
            ' ' => out.push_str("%20"),
            '|' => out.push_str("\\|"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_resource_goes_by_id_and_a_patient_by_identifier() {
        let url = |body: &str| {
            let b: Value = serde_json::from_slice(&lone_resource_bundle(body).unwrap()).unwrap();
            assert_eq!(
                (b["type"].as_str(), b["entry"][0]["request"]["method"].as_str()),
                (Some("transaction"), Some("PUT"))
            );
            b["entry"][0]["request"]["url"].as_str().unwrap().to_owned()
        };
        let patient =
            r#"{"resourceType":"Patient","id":"p1","identifier":[{"value":"x"},{"system":"urn:s","value":"A&B 1"}]}"#;
        assert_eq!(url(patient), "Patient?identifier=urn:s|A%26B%201");
        assert_eq!(url(r#"{"resourceType":"Patient","id":"p1"}"#), "Patient/p1");
        let charge = r#"{"resourceType":"ChargeItem","id":"c-1","identifier":[{"system":"urn:s","value":"C1"}]}"#;
        assert_eq!(url(charge), "ChargeItem/c-1");
        assert_eq!(
            url(r#"{"resourceType":"ChargeItem","identifier":[{"system":"urn:s","value":"C|1"}]}"#),
            "ChargeItem?identifier=urn:s|C\\|1"
        );
        for bad in ["[]", "not json", r#"{"resourceType":"Observation"}"#, r#"{"resourceType":"../x","id":"a"}"#] {
            assert!(lone_resource_bundle(bad).is_err(), "{bad}");
        }
    }
}
