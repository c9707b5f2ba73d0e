//! Hearth's HTTP surface: `GET /healthz` (alive), `GET /readyz` (the journal is writable, required destinations
//! are connected, ingest is not paused), `GET /metrics`
//! (Prometheus text). The admin API and the dashboard (issue 7) and HTTP ingest (issues 5 and 6) join this one
//! listener later. Errors are `{"error":{"code","message"}}` and never expose internals.
//!
//! ```no_run
//! # async fn demo(journal: hearth_store::Journal) {
//! let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder().handle();
//! let app = hearth_admin::router(hearth_admin::AdminState::new(journal, metrics));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap();
//! axum::serve(listener, app).await.unwrap();
//! # }
//! ```
#![forbid(unsafe_code)]

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hearth_store::Journal;
use metrics_exporter_prometheus::PrometheusHandle;

const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether a required destination is usable: `None` when it is, else why not (no message content).
pub type DestinationProbe = std::sync::Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct AdminState {
    journal: Journal,
    metrics: PrometheusHandle,
    /// Required destinations, by name: `/readyz` fails while one of them is down.
    required: Vec<(String, DestinationProbe)>,
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.required.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("AdminState").field("journal", &self.journal).field("required", &names).finish()
    }
}

impl AdminState {
    pub fn new(journal: Journal, metrics: PrometheusHandle) -> Self {
        Self { journal, metrics, required: Vec::new() }
    }

    /// Makes `/readyz` depend on a destination too.
    pub fn require_destination(mut self, name: &str, probe: DestinationProbe) -> Self {
        self.required.push((name.to_owned(), probe));
        self
    }
}

/// The router for the one HTTP listener.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
}

/// `{"error":{"code","message"}}` with a status.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(st): State<AdminState>) -> Response {
    for (name, probe) in &st.required {
        if let Some(why) = probe() {
            let message = format!("required destination {name} is down: {why}");
            return error_response(StatusCode::SERVICE_UNAVAILABLE, "destination_down", &message);
        }
    }
    if let Some(why) = st.journal.ingest_paused() {
        return error_response(StatusCode::SERVICE_UNAVAILABLE, "ingest_paused", &why);
    }
    // The probe queues behind pending writes; a journal that cannot answer within the timeout is not ready.
    let probe = tokio::time::timeout(READY_TIMEOUT, st.journal.check_writable()).await;
    match probe {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Err(_) => {
            tracing::warn!("readiness probe: journal did not answer in time");
            error_response(StatusCode::SERVICE_UNAVAILABLE, "journal_unavailable", "the journal is not writable")
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness probe: journal not writable");
            error_response(StatusCode::SERVICE_UNAVAILABLE, "journal_unavailable", "the journal is not writable")
        }
    }
}

async fn metrics(State(st): State<AdminState>) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], st.metrics.render())
        .into_response()
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not_found", "no such path")
}

#[cfg(test)]
mod tests;
