//! Hearth's HTTP surface on the one listener: `GET /healthz` (alive), `GET /readyz` (the journal is writable and
//! its last commit did not fail,
//! required destinations are connected, ingest is not paused; the body names this node), `GET /metrics` (Prometheus text), the admin API
//! under `/api/v1` (JSON, bearer tokens with roles, OpenAPI document at `/api/v1/openapi.json`) and the
//! operations dashboard at `/` (a page with embedded assets that polls the API). The engine merges the sources'
//! routes (`/ingest/{channel}`, `/webhooks/{channel}`) into the same listener. Errors are
//! `{"error":{"code","message"}}` and never expose internals.
//!
//! Roles: `viewer` sees counts, states and alerts; `operator` also sees message content and acts (reprocess,
//! resend, pause); `admin` also reads the audit trail. Every view of message content and every action is
//! written to the journal as a FHIR AuditEvent before the answer goes out. With no token configured, every
//! `/api/v1` path answers 404 `api_disabled`.
//!
//! ```
//! use axum::body::Body;
//! use axum::http::{Request, StatusCode};
//! use hearth_admin::{AdminState, ApiToken, Role};
//! use tower::ServiceExt;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("hearth-admin-doc-{}", std::process::id()));
//! let rt = tokio::runtime::Runtime::new()?;
//! rt.block_on(async {
//!     let cfg = hearth_store::JournalConfig::Sqlite(hearth_store::SqliteConfig::new(dir.join("j.db")));
//!     let journal = hearth_store::Journal::open(&cfg).await?;
//!     let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder().handle();
//!     let token = ApiToken::new("wall", Role::Viewer, "s3cret").expect("not empty");
//!     let app = hearth_admin::router(AdminState::new(journal.clone(), metrics).with_tokens(vec![token]).with_channel("adt"));
//!
//!     let ask = |auth: &'static str| Request::get("/api/v1/channels").header("authorization", auth).body(Body::empty());
//!     assert_eq!(app.clone().oneshot(ask("Bearer s3cret")?).await?.status(), StatusCode::OK);
//!     assert_eq!(app.clone().oneshot(ask("Bearer wrong")?).await?.status(), StatusCode::UNAUTHORIZED);
//!     journal.close().await;
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod alerts;
mod api;
mod audit;
mod auth;
mod dashboard;
mod nodes;
mod stats;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hearth_store::Journal;
use metrics_exporter_prometheus::PrometheusHandle;

pub use alerts::{Alert, AlertBoard, AlertChange, AlertKind};
pub use auth::{ApiToken, Caller, Tokens};
pub use hearth_config::ops::Role;

const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether a destination is usable: `None` when it is, else why not (no message content).
pub type DestinationProbe = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// The configuration in force, as `GET /api/v1/config` shows it (version, digest, when and by whom loaded).
pub type ConfigInfo = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;
/// Reloads the configuration for `POST /api/v1/reload`, named by the caller: the new configuration's info, or
/// why it was refused (the running one stays).
pub type ReloadHook = Arc<dyn Fn(String) -> ReloadFuture + Send + Sync>;
/// What a [`ReloadHook`] returns.
pub type ReloadFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<serde_json::Value, String>> + Send>>;

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct AdminState {
    journal: Journal,
    metrics: PrometheusHandle,
    /// Required destinations, by name: `/readyz` fails while one of them is down.
    required: Vec<(String, DestinationProbe)>,
    /// Every destination the API and the dashboard show, with its probe.
    destinations: Vec<(String, DestinationProbe)>,
    /// Configured channels, in display order.
    channels: Vec<String>,
    tokens: Tokens,
    alerts: AlertBoard,
    /// This process's node id on the journal (shown by `/readyz` and `/api/v1/nodes`).
    node: Option<Arc<str>>,
    config: Option<ConfigInfo>,
    reload: Option<ReloadHook>,
    /// `[tracing] trace_url`: the link from a message to its trace (`{trace_id}` replaced).
    trace_url: Option<Arc<str>>,
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |v: &[(String, DestinationProbe)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        f.debug_struct("AdminState")
            .field("journal", &self.journal)
            .field("required", &names(&self.required))
            .field("destinations", &names(&self.destinations))
            .field("channels", &self.channels)
            .field("tokens", &self.tokens.current().len())
            .finish_non_exhaustive()
    }
}

impl AdminState {
    pub fn new(journal: Journal, metrics: PrometheusHandle) -> Self {
        Self {
            journal,
            metrics,
            required: Vec::new(),
            destinations: Vec::new(),
            channels: Vec::new(),
            tokens: Tokens::default(),
            alerts: AlertBoard::default(),
            node: None,
            config: None,
            reload: None,
            trace_url: None,
        }
    }

    /// This process's node id on the journal.
    pub fn with_node(mut self, id: &str) -> Self {
        self.node = Some(Arc::from(id));
        self
    }

    /// Links each message to its trace: `template` with `{trace_id}` replaced (`[tracing] trace_url`).
    pub fn with_trace_url(mut self, template: Option<&str>) -> Self {
        self.trace_url = template.map(Arc::from);
        self
    }

    /// The link to a trace, when a `trace_url` is configured.
    pub(crate) fn trace_link(&self, trace_id: &str) -> Option<String> {
        self.trace_url.as_ref().map(|t| t.replace("{trace_id}", trace_id))
    }

    /// Makes `/readyz` depend on a destination too.
    pub fn require_destination(mut self, name: &str, probe: DestinationProbe) -> Self {
        self.required.push((name.to_owned(), probe));
        self
    }

    /// Shows a destination (connection state, outbox figures) in the API and on the dashboard.
    pub fn with_destination(mut self, name: &str, probe: DestinationProbe) -> Self {
        self.destinations.push((name.to_owned(), probe));
        self
    }

    /// Shows a channel in the API and on the dashboard, and lets operators pause it.
    pub fn with_channel(mut self, name: &str) -> Self {
        self.channels.push(name.to_owned());
        self
    }

    /// The API's tokens. None: the API is off.
    pub fn with_tokens(mut self, tokens: Vec<ApiToken>) -> Self {
        self.tokens = Tokens::new(tokens);
        self
    }

    /// The token set, shared: replacing its tokens changes who the API lets in, at once.
    pub fn tokens(&self) -> Tokens {
        self.tokens.clone()
    }

    /// What `GET /api/v1/config` shows, and what `POST /api/v1/reload` runs.
    pub fn with_config(mut self, info: ConfigInfo, reload: ReloadHook) -> Self {
        self.config = Some(info);
        self.reload = Some(reload);
        self
    }

    /// The board the alert evaluator writes to.
    pub fn with_alerts(mut self, board: AlertBoard) -> Self {
        self.alerts = board;
        self
    }
}

/// The router for the one HTTP listener.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(dashboard::routes())
        .merge(api::routes(&state))
        .fallback(not_found)
        .with_state(state)
}

/// An API failure as the client sees it: a status, a stable code and a message without internals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct AdminError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl AdminError {
    pub fn new(status: StatusCode, code: &'static str, message: &str) -> Self {
        AdminError { status, code, message: message.to_owned() }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        error_response(self.status, self.code, &self.message)
    }
}

/// `{"error":{"code","message"}}` with a status.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// RFC 3339 with the journal's microseconds.
pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
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
    if let Some(why) = st.journal.refusing_writes() {
        let message = format!("the journal refuses writes: {why}");
        return error_response(StatusCode::SERVICE_UNAVAILABLE, "journal_refusing", &message);
    }
    // The probe queues behind pending writes; a journal that cannot answer within the timeout is not ready.
    let probe = tokio::time::timeout(READY_TIMEOUT, st.journal.check_writable()).await;
    match probe {
        Ok(Ok(())) => match &st.node {
            Some(node) => (StatusCode::OK, format!("ready\nnode {node}\n")).into_response(),
            None => (StatusCode::OK, "ready\n").into_response(),
        },
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

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
