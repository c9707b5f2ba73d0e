//! `GET /api/v1/nodes`: the nodes sharing this journal (docs/scale-out.md), and the node part of `/readyz`.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::{AdminError, AdminState, rfc3339};

/// Every node registered on the journal, this one marked `self`.
pub(crate) async fn nodes(State(st): State<AdminState>) -> Result<Response, AdminError> {
    let nodes = st.journal.nodes().await.map_err(|e| {
        tracing::warn!(error = %e, "admin API: cannot list the nodes");
        AdminError::new(StatusCode::SERVICE_UNAVAILABLE, "journal_unavailable", "the journal is unavailable")
    })?;
    let list: Vec<Value> = nodes
        .iter()
        .map(|n| {
            json!({
                "id": n.id,
                "host": n.host,
                "started_at": rfc3339(n.started_at),
                "last_heartbeat_at": rfc3339(n.last_heartbeat),
                "expires_at": rfc3339(n.expires_at),
                "alive": n.alive,
                "leads": n.leads,
                "self": st.node.as_deref() == Some(n.id.as_str()),
            })
        })
        .collect();
    let body = json!({ "node": st.node.as_deref(), "nodes": list });
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response())
}
