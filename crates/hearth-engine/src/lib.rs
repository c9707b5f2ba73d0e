//! Wires a validated [`Plan`] into running tasks: opens the journal (which recovers after a crash), binds every
//! listener (a port in use fails start-up, not a background task), runs the sources and the HTTP surface, and on
//! shutdown drains: sources stop accepting, finish the message in hand, then the journal flushes and closes.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hearth_engine::EngineError> {
//! let plan = hearth_config::Plan::default_plan().expect("valid built-in default");
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! hearth_engine::run(plan, shutdown).await
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod alerts;
pub mod csv;
pub mod ops;
pub mod outbound;
pub mod process;
pub mod retention;
pub mod webhook;

use std::net::SocketAddr;

use hearth_config::{AmqpSourcePlan, JournalPlan, Plan, SecretSource, SourcePlan, WebhookAuth};
use hearth_core::MessageStatus;
use hearth_sources::mllp::MllpSource;
use hearth_store::{Journal, JournalConfig, SqliteConfig};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Why the engine could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("journal: {0}")]
    Journal(#[from] hearth_store::StoreError),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind { addr: SocketAddr, what: String, source: std::io::Error },
    #[error("{0}")]
    Task(String),
    #[error("{0}")]
    Mapping(#[from] process::SetupError),
    #[error("destinations.{name}: {reason}")]
    Destination { name: String, reason: String },
    /// `[admin]`, `[alerts]`: a token that cannot be read, an alert destination that cannot start.
    #[error("{0}")]
    Admin(String),
    #[error("channels.{name}: {reason}")]
    Channel { name: String, reason: String },
}

/// The journal configuration for a plan.
pub fn journal_config(plan: &JournalPlan) -> JournalConfig {
    match plan {
        JournalPlan::Sqlite { path, max_batch, queue_capacity, max_size_bytes, busy_timeout_ms } => {
            JournalConfig::Sqlite(SqliteConfig {
                path: path.clone(),
                max_batch: *max_batch,
                queue_capacity: *queue_capacity,
                max_db_bytes: *max_size_bytes,
                busy_timeout_ms: *busy_timeout_ms,
            })
        }
    }
}

/// Install the process-wide Prometheus recorder once; later calls return the same handle.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first (a test harness); metrics then go there.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Run until `shutdown` is cancelled, then drain and return.
pub async fn run(plan: Plan, shutdown: CancellationToken) -> Result<(), EngineError> {
    let metrics = metrics_handle();
    let journal = Journal::open(&journal_config(&plan.journal)).await?;
    report_recovery(&journal).await;
    let stage = match process::Stage::new(journal.clone(), &plan) {
        Ok(stage) => stage,
        Err(e) => {
            journal.close().await;
            return Err(e.into());
        }
    };

    let outbound_stop = CancellationToken::new();
    let mut destinations = Vec::new();
    for d in &plan.destinations {
        match outbound::start(d, &journal, &outbound_stop) {
            Ok(dest) => destinations.push(dest),
            Err(e) => {
                outbound_stop.cancel();
                journal.close().await;
                return Err(e);
            }
        }
    }

    let hooks = match webhook_channels(&plan) {
        Ok(hooks) => hooks,
        Err(e) => {
            outbound_stop.cancel();
            journal.close().await;
            return Err(e);
        }
    };
    let (inboxes, ingest) = match csv::ingest_sources(&plan, &journal) {
        Ok(sources) => sources,
        Err(e) => {
            outbound_stop.cancel();
            journal.close().await;
            return Err(e);
        }
    };
    let ops_setup = ops::resolve_tokens(&plan.ops.tokens)
        .and_then(|tokens| Ok((tokens, alerts::Notifier::start(&plan.ops.alerts, &outbound_stop)?)));
    let (tokens, notifier) = match ops_setup {
        Ok(setup) => setup,
        Err(e) => {
            outbound_stop.cancel();
            journal.close().await;
            return Err(e);
        }
    };
    let http = bind(plan.http.listen, "http").await?;
    let mut tasks = JoinSet::new();
    for ch in &plan.channels {
        let token = shutdown.clone();
        match &ch.source {
            SourcePlan::Mllp(m) => {
                let listener = bind(m.listen, &format!("channel {}", ch.name)).await?;
                let src = MllpSource::new(&ch.name, m.clone(), listener, journal.clone());
                tracing::info!(channel = %ch.name, listen = %m.listen, "mllp channel listening");
                tasks.spawn(async move { src.run(token).await.map_err(|e| EngineError::Task(e.to_string())) });
            }
            SourcePlan::Webhook(_) => {
                tracing::info!(channel = %ch.name, path = %format!("/webhooks/{}", ch.name), "webhook channel listening");
            }
            // Started below from `inboxes`; HTTP ingest runs on the HTTP listener.
            SourcePlan::File(_) | SourcePlan::Http(_) => {}
            SourcePlan::Amqp(a) => {
                let src = amqp_source(&ch.name, a, &journal)?;
                tracing::info!(channel = %ch.name, queue = %a.queue, "amqp channel consuming");
                tasks.spawn(async move { src.run(token).await.map_err(|e| EngineError::Task(e.to_string())) });
            }
        }
    }
    for inbox in inboxes {
        let token = shutdown.clone();
        tasks.spawn(async move { inbox.run(token).await.map_err(|e| EngineError::Task(e.to_string())) });
    }
    // The stage drains the backlog on shutdown; it has its own token so that it stops only after the sources
    // (which may still journal the message in hand) have.
    let stage_stop = CancellationToken::new();
    let mut stage_task = tokio::spawn(stage.run(stage_stop.clone()));
    let links: Vec<_> = destinations.iter().map(|d| (d.name.clone(), d.link.clone())).collect();
    let dest_links: Vec<_> = destinations.iter().map(|d| (d.name.clone(), d.required, d.link.clone())).collect();
    let board = hearth_admin::AlertBoard::default();
    let admin = hearth_admin::AdminState::new(journal.clone(), metrics);
    let admin = ops::admin_state(admin, &plan, &dest_links, tokens, board.clone());
    let evaluator = alerts::Evaluator {
        journal: journal.clone(),
        board,
        plan: plan.ops.alerts.clone(),
        destinations: dest_links.iter().map(|(n, _, l)| (n.clone(), ops::link_probe(l))).collect(),
    };
    let alert_task = tokio::spawn(evaluator.run(notifier, outbound_stop.clone()));
    let retention_task =
        tokio::spawn(retention::run(journal.clone(), plan.ops.retention.clone(), outbound_stop.clone()));
    let monitor =
        tokio::spawn(outbound::monitor(journal.clone(), links, plan.max_outbox_pending, outbound_stop.clone()));
    let mut sink_tasks = JoinSet::new();
    for d in destinations {
        tracing::info!(destination = %d.name, required = d.required, "destination sink started");
        sink_tasks.spawn(d.sink.run(outbound_stop.clone()));
    }
    let app = hearth_admin::router(admin).merge(hearth_sources::webhook::router(hooks, journal.clone()));
    let app = app.merge(hearth_sources::http_ingest::router(ingest, journal.clone(), shutdown.clone()));
    tracing::info!(listen = %plan.http.listen, "http listening");
    let http_shutdown = shutdown.clone();
    let http_task = tokio::spawn(async move {
        axum::serve(http, app).with_graceful_shutdown(async move { http_shutdown.cancelled().await }).await
    });

    shutdown.cancelled().await;
    tracing::info!(timeout_ms = plan.shutdown_timeout.as_millis() as u64, "shutting down: draining sources");
    let deadline = tokio::time::Instant::now() + plan.shutdown_timeout;
    let drained = tokio::time::timeout_at(deadline, async {
        while let Some(r) = tasks.join_next().await {
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "source stopped with an error"),
                Err(e) => tracing::error!(error = %e, "source task failed"),
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!("shutdown timeout: abandoning connections still busy (their messages were not acknowledged)");
        tasks.abort_all();
    }
    stage_stop.cancel();
    if tokio::time::timeout_at(deadline, &mut stage_task).await.is_err() {
        // Aborted between two journal writes at worst: the rest stays `received` for the next start.
        tracing::warn!("shutdown timeout: messages not yet converted stay received for the next start");
        stage_task.abort();
    }
    // Sinks finish the batch in hand (its outcomes are recorded); what is left stays pending for the next start.
    outbound_stop.cancel();
    if tokio::time::timeout_at(deadline, async { while sink_tasks.join_next().await.is_some() {} }).await.is_err() {
        tracing::warn!("shutdown timeout: deliveries in flight stay pending and are sent again on the next start");
        sink_tasks.abort_all();
    }
    let _ = monitor.await;
    let _ = alert_task.await;
    let _ = retention_task.await;
    journal.close().await;
    // The HTTP listener stops with the same token; don't let a slow client hold the exit.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), http_task).await;
    tracing::info!("stopped");
    Ok(())
}

fn amqp_source(
    name: &str,
    a: &AmqpSourcePlan,
    journal: &Journal,
) -> Result<hearth_sources::amqp::AmqpSource, EngineError> {
    let uri = outbound::resolve_uri(&a.endpoint, name)
        .map_err(|e| EngineError::Channel { name: name.to_owned(), reason: e.to_string() })?;
    let mut link = hearth_amqp::LinkConfig::new(uri, format!("hearth channel {name}"));
    if a.declare_queue {
        link.topology.queues.push(hearth_amqp::QueueSpec::durable(a.queue.clone()));
    }
    link.validate().map_err(|e| EngineError::Channel { name: name.to_owned(), reason: e.to_string() })?;
    let mut cfg = hearth_sources::amqp::AmqpSourceConfig::new(link, a.queue.clone(), a.payload);
    cfg.prefetch = a.prefetch;
    Ok(hearth_sources::amqp::AmqpSource::new(name, cfg, journal.clone()))
}

/// Every webhook channel with its secret read (environment or file) and its profile loaded: a missing secret or a
/// bad profile fails start-up, not the first request.
fn webhook_channels(plan: &Plan) -> Result<Vec<hearth_sources::webhook::WebhookChannel>, EngineError> {
    let mut out = Vec::new();
    for ch in &plan.channels {
        let SourcePlan::Webhook(w) = &ch.source else { continue };
        let fail = |reason: String| EngineError::Channel { name: ch.name.clone(), reason };
        let secret = match &w.secret {
            SecretSource::Env(var) => {
                std::env::var(var).map_err(|_| fail(format!("secret_env: environment variable {var} is not set")))?
            }
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map_err(|e| fail(format!("secret_file {}: {e}", path.display())))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            SecretSource::None => return Err(fail("no secret configured".into())),
        };
        if secret.is_empty() {
            return Err(fail("the secret is empty".into()));
        }
        let secret = hearth_webhooks::Secret::new(secret);
        let auth = match &w.auth {
            WebhookAuth::TwilioSignature => hearth_webhooks::AuthConfig::TwilioSignature { auth_token: secret },
            WebhookAuth::HubSignature256 => hearth_webhooks::AuthConfig::HubSignature256 { secret },
            WebhookAuth::TimestampHmac { timestamp_header, signature_header, window } => {
                hearth_webhooks::AuthConfig::TimestampHmac {
                    secret,
                    timestamp_header: timestamp_header.clone(),
                    signature_header: signature_header.clone(),
                    window: *window,
                }
            }
            WebhookAuth::SharedSecretHeader { header } => {
                hearth_webhooks::AuthConfig::SharedSecretHeader { header: header.clone(), secret }
            }
        };
        out.push(hearth_sources::webhook::WebhookChannel {
            name: ch.name.clone(),
            auth,
            profile: webhook::load_profile(w).map_err(fail)?,
            public_base_url: w.public_base_url.clone(),
            max_body_bytes: w.max_body_bytes,
        });
    }
    Ok(out)
}

async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener, EngineError> {
    TcpListener::bind(addr).await.map_err(|source| EngineError::Bind { addr, what: what.to_owned(), source })
}

/// Start-up recovery is SQLite's WAL replay (in `Journal::open`); what remains is to say what is waiting.
async fn report_recovery(journal: &Journal) {
    match journal.count_by_status(None).await {
        Ok(counts) => {
            let waiting = counts.get(&MessageStatus::Received).copied().unwrap_or(0);
            let total: u64 = counts.values().sum();
            tracing::info!(journaled = total, awaiting_processing = waiting, "journal open");
        }
        Err(e) => tracing::warn!(error = %e, "journal open, but counting failed"),
    }
}
