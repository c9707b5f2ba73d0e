//! Wiring of the operations surface: API tokens resolved from the environment or files, destination probes,
//! the admin state, and the Patient identifiers the processing stage indexes for search.

use std::sync::Arc;

use hearth_admin::{AdminState, ApiToken, DestinationProbe};
use hearth_amqp::{Link, LinkState};
use hearth_config::SecretSource;
use hearth_config::admin::TokenPlan;
use serde_json::Value;

use crate::EngineError;

/// Most identifiers indexed per message: a Bundle is outside input, and the index must stay bounded.
const MAX_IDENTIFIERS: usize = 64;

/// Reads each token's secret (the only IO here). A missing variable or file stops start-up: an API whose
/// operators cannot log in is a configuration error, not something to find out later.
pub fn resolve_tokens(plans: &[TokenPlan]) -> Result<Vec<ApiToken>, EngineError> {
    plans
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let bad = |reason: String| EngineError::Admin(format!("admin.tokens[{i}]: {reason}"));
            let secret = match &t.secret {
                SecretSource::Env(var) => {
                    std::env::var(var).map_err(|_| bad(format!("environment variable {var} is not set")))?
                }
                SecretSource::File(path) => {
                    std::fs::read_to_string(path).map_err(|e| bad(format!("token_file {}: {e}", path.display())))?
                }
                SecretSource::None => return Err(bad("no token source".into())),
            };
            ApiToken::new(&t.name, t.role, &secret).ok_or_else(|| bad("the token is empty".into()))
        })
        .collect()
}

/// `None` while the link is connected, else its state (no secrets: link errors name hosts, not passwords).
pub fn link_probe(link: &Link) -> DestinationProbe {
    let link = link.clone();
    Arc::new(move || match &*link.state().borrow() {
        LinkState::Connected => None,
        LinkState::Disconnected { error, .. } => Some(format!("disconnected: {error}")),
        LinkState::Blocked { reason } => Some(format!("blocked by the broker: {reason}")),
        other => Some(format!("{other:?}").to_lowercase()),
    })
}

/// The admin state for a plan's channels and destinations.
pub fn admin_state(
    base: AdminState,
    plan: &hearth_config::Plan,
    links: &[(String, bool, Link)],
    tokens: Vec<ApiToken>,
    board: hearth_admin::AlertBoard,
) -> AdminState {
    let mut st = base.with_tokens(tokens).with_alerts(board);
    for ch in &plan.channels {
        st = st.with_channel(&ch.name);
    }
    for (name, required, link) in links {
        st = st.with_destination(name, link_probe(link));
        if *required {
            st = st.require_destination(name, link_probe(link));
        }
    }
    st
}

/// `system|value` of every Patient identifier in a Bundle (FHIR token syntax; `|value` without a system),
/// deduplicated, at most [`MAX_IDENTIFIERS`].
pub fn patient_identifiers(bundle: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let entries = bundle.get("entry").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let patients = entries
        .iter()
        .filter_map(|e| e.get("resource"))
        .filter(|r| r.get("resourceType").and_then(Value::as_str) == Some("Patient"));
    for p in patients {
        for ident in p.get("identifier").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
            let Some(value) = ident.get("value").and_then(Value::as_str).filter(|v| !v.is_empty()) else { continue };
            let system = ident.get("system").and_then(Value::as_str).unwrap_or_default();
            let token = format!("{system}|{value}");
            if !out.contains(&token) && out.len() < MAX_IDENTIFIERS {
                out.push(token);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn identifiers_of_every_patient_entry() {
        let bundle = json!({ "resourceType": "Bundle", "entry": [
            { "resource": { "resourceType": "Patient", "identifier": [
                { "system": "urn:oid:1.2.3", "value": "MRN1" }, { "value": "X9" }, { "system": "s" } ] } },
            { "resource": { "resourceType": "Encounter", "identifier": [{ "system": "e", "value": "V1" }] } },
            { "resource": { "resourceType": "Patient", "identifier": [{ "system": "urn:oid:1.2.3", "value": "MRN1" }] } },
            { "request": {} }
        ]});
        assert_eq!(patient_identifiers(&bundle), vec!["urn:oid:1.2.3|MRN1", "|X9"]);
        assert!(patient_identifiers(&json!({ "resourceType": "Bundle" })).is_empty());
        assert!(patient_identifiers(&json!("not a bundle")).is_empty());
    }
}
