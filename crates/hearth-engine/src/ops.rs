//! Wiring of the operations surface: API tokens resolved from the environment or files, destination probes and
//! the admin state.

use std::sync::Arc;

use hearth_admin::{AdminState, ApiToken, DestinationProbe};
use hearth_config::ops::TokenPlan;
use hearth_sinks::{Destination, Publisher};

use crate::EngineError;

/// Reads each token's secret (the only IO here). A missing variable or file stops start-up: an API whose
/// operators cannot log in is a configuration error, not something to find out later.
pub fn resolve_tokens(plans: &[TokenPlan]) -> Result<Vec<ApiToken>, EngineError> {
    plans
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let bad = |reason: String| EngineError::Ops { key: format!("admin.tokens[{i}]"), reason };
            let secret =
                t.secret.resolve().map_err(|e| bad(e.to_string()))?.ok_or_else(|| bad("no token source".into()))?;
            ApiToken::new(&t.name, t.role, &secret).ok_or_else(|| bad("the token is empty".into()))
        })
        .collect()
}

/// `None` while the destination can take deliveries, else why not (no secrets: errors name hosts, not
/// passwords).
pub fn probe(publisher: &Publisher) -> DestinationProbe {
    let publisher = publisher.clone();
    Arc::new(move || publisher.ready().err().map(|e| e.to_string()))
}

/// The admin state for a plan's channels and destinations.
pub fn admin_state(
    base: AdminState,
    plan: &hearth_config::Plan,
    destinations: &[Destination],
    tokens: Vec<ApiToken>,
    board: hearth_admin::AlertBoard,
) -> AdminState {
    let mut st = base.with_tokens(tokens).with_alerts(board);
    for ch in &plan.channels {
        st = st.with_channel(&ch.name);
    }
    for d in destinations {
        st = st.with_destination(&d.name, probe(&d.publisher));
        if d.required {
            st = st.require_destination(&d.name, probe(&d.publisher));
        }
    }
    st
}
