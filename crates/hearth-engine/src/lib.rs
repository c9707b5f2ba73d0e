//! Wires a validated [`Plan`] into running tasks: opens the journal (which recovers after a crash), loads and
//! binds every source (a port in use fails start-up, not a background task), starts the destinations, the
//! processing stage and the HTTP surface, and on shutdown drains: sources stop accepting and finish the message
//! in hand, the stage converts what was journaled, sinks finish the batch in hand, the node leaves, then the
//! journal flushes and closes.
//!
//! Every run is a node of its journal ([`node`]): the stage claims what it converts, the sinks lease what they
//! send, and singleton work (file inboxes, alert evaluation, retention) runs only while this node leads it. With
//! PostgreSQL any number of nodes share one journal (docs/scale-out.md); on SQLite the same code has one node.
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
mod error;
mod http;
pub mod node;
pub mod ops;
pub mod otlp;
pub mod process;
pub mod reload;
pub mod retention;
mod serve;
pub mod stats;

use std::sync::Arc;
use std::time::Duration;

use hearth_config::Plan;
use hearth_core::MessageStatus;
use hearth_sinks::Destination;
use hearth_sources::{Channel, Running};
use hearth_store::{Journal, Node};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

pub use error::EngineError;

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
    run_file(plan, None, shutdown).await
}

/// As [`run`], for a plan read from `file`: SIGHUP and `POST /api/v1/reload` re-read that file and apply what
/// can change live ([`reload`]). Without a file there is nothing to reload.
pub async fn run_file(
    plan: Plan,
    file: Option<std::path::PathBuf>,
    shutdown: CancellationToken,
) -> Result<(), EngineError> {
    let journal = Journal::open(&plan.journal.store_config()?).await?;
    report_recovery(&journal).await;
    let reg = node::registration(plan.journal.node_lease());
    let node = match node::join(&journal, &reg, &shutdown).await {
        Ok(node) => node,
        Err(e) => {
            journal.close().await;
            return Err(e.into());
        }
    };
    // Destinations, alerts, retention, the heartbeat and the monitor stop after the sources and the stage have
    // drained.
    let background = CancellationToken::new();
    let heartbeat = tokio::spawn(node::heartbeat(node.clone(), reg, background.clone()));
    // Traces are exported until everything else has stopped, so the last deliveries' spans go out too.
    let traces_stop = CancellationToken::new();
    let traces = otlp::start(&plan.tracing, node.id(), traces_stop.clone()).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "traces are not exported");
        None
    });
    let started = start(&plan, file, &node, &shutdown, &background).await;
    let result = match started {
        Ok(engine) => {
            shutdown.cancelled().await;
            engine.drain(plan.shutdown_timeout, &background).await;
            Ok(())
        }
        Err(e) => Err(e),
    };
    background.cancel();
    let _ = heartbeat.await;
    // Frees this node's claims and leases at once rather than after its lease.
    if let Err(e) = node.leave().await {
        tracing::warn!(error = %e, "could not leave the journal; other nodes take over after the lease");
    }
    // The minute counters of the last seconds (the sinks' final batch included) go into the journal too.
    stats::flush(&journal).await;
    traces_stop.cancel();
    if let Some(export) = traces {
        let _ = tokio::time::timeout(Duration::from_secs(5), export).await;
    }
    journal.close().await;
    tracing::info!("stopped");
    result
}

/// Everything running, in the order it must stop.
struct Engine {
    sources: JoinSet<Result<(), hearth_sources::SourceError>>,
    stage: JoinHandle<()>,
    stage_stop: CancellationToken,
    sinks: JoinSet<()>,
    background: Vec<JoinHandle<()>>,
    http: JoinHandle<std::io::Result<()>>,
}

/// Starts every component. On an error, what did start stops with the `background` token and `shutdown`.
async fn start(
    plan: &Plan,
    file: Option<std::path::PathBuf>,
    node: &Node,
    shutdown: &CancellationToken,
    background: &CancellationToken,
) -> Result<Engine, EngineError> {
    let journal = node.journal();
    let metrics = metrics_handle();
    let channels = plan.channels.iter().map(Channel::load).collect::<Result<Vec<_>, _>>()?;
    let digest = match &file {
        Some(f) => std::fs::read(f).ok().map(|bytes| {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(bytes))
        }),
        None => None,
    };
    let version = reload::Version {
        number: 1,
        digest,
        file: file.clone(),
        loaded_at: time::OffsetDateTime::now_utc(),
        by: "start".into(),
    };
    let (mappings, _) = process::setup_channel_mappings(&channels)?;
    let live = reload::Live::new(Arc::clone(&plan.routes), mappings, version);
    let stage = process::Stage::with_live(node.clone(), &channels, Arc::clone(&live))?;
    let destinations = plan.destinations.iter().map(|d| d.start(journal, background)).collect::<Result<Vec<_>, _>>()?;
    let tokens = ops::resolve_tokens(&plan.ops.tokens)?;
    let notifier = alerts::Notifier::start(&plan.ops.alerts, background)?;
    let http_tls = match &plan.http.tls {
        Some(t) => Some((Arc::new(hearth_tls::ServerTls::new(t.settings.clone())?), t.reload_interval)),
        None => None,
    };
    let http = TcpListener::bind(plan.http.listen)
        .await
        .map_err(|source| EngineError::Bind { addr: plan.http.listen, source })?;
    let health = match plan.http.health_listen {
        Some(addr) => Some(TcpListener::bind(addr).await.map_err(|source| EngineError::Bind { addr, source })?),
        None => None,
    };
    let Running { tasks, singletons, router, mut tls } =
        hearth_sources::registry::start(&channels, journal, shutdown).await?;
    let mut background_tasks = Vec::new();
    if let Some((server, every)) = &http_tls {
        let listener = hearth_sources::tls::TlsListener { name: "http".into(), tls: Arc::clone(server) };
        tls.push(listener.clone());
        background_tasks.extend(hearth_sources::tls::upkeep(listener, *every, background.clone()));
    }
    if let Some(l) = health {
        tracing::info!(listen = %plan.http.health_listen.map(|a| a.to_string()).unwrap_or_default(), "healthz listening (plaintext)");
        let token = shutdown.clone();
        background_tasks.push(tokio::spawn(async move {
            if let Err(e) = serve::health(l, token).await {
                tracing::error!(error = %e, "the healthz listener stopped");
            }
        }));
    }

    let mut sources = JoinSet::new();
    for (_, task) in tasks {
        sources.spawn(task);
    }
    // A file inbox is a source that only its leader polls; it drains with the other sources.
    for (name, work) in singletons {
        let work: node::Singleton = Box::new(move |token| {
            let run = work(token);
            Box::pin(async move {
                if let Err(e) = run.await {
                    tracing::error!(error = %e, "singleton source stopped with an error");
                }
            })
        });
        let (lead_node, lead_shutdown) = (node.clone(), shutdown.clone());
        sources.spawn(async move {
            node::lead(lead_node, name, work, lead_shutdown).await;
            Ok(())
        });
    }
    // The stage drains the backlog on shutdown; it has its own token so that it stops only after the sources
    // (which may still journal the message in hand) have.
    let stage_stop = CancellationToken::new();
    let stage = tokio::spawn(stage.run(stage_stop.clone()));

    let board = hearth_admin::AlertBoard::default();
    let admin = hearth_admin::AdminState::new(journal.clone(), metrics)
        .with_node(node.id())
        .with_trace_url(plan.tracing.trace_url.as_deref());
    let admin = ops::admin_state(admin, plan, &destinations, tokens, board.clone());
    let alert_thresholds = alerts::Thresholds::new(plan.ops.alerts.clone());
    let admin = match file {
        Some(file) => {
            let retries = destinations.iter().map(|d| (d.name.clone(), d.retry.clone())).collect();
            let reloader = Arc::new(reload::Reloader::new(
                file,
                plan.clone(),
                Arc::clone(&live),
                admin.tokens(),
                retries,
                alert_thresholds.clone(),
                journal.clone(),
            ));
            background_tasks.push(tokio::spawn(Arc::clone(&reloader).on_hangup(background.clone())));
            let info_live = Arc::clone(&live);
            let info: hearth_admin::ConfigInfo = Arc::new(move || info_live.info());
            let hook: hearth_admin::ReloadHook = Arc::new(move |by: String| {
                let reloader = Arc::clone(&reloader);
                Box::pin(async move { reloader.reload(&by).await })
            });
            admin.with_config(info, hook)
        }
        None => {
            let info_live = Arc::clone(&live);
            let info: hearth_admin::ConfigInfo = Arc::new(move || info_live.info());
            let hook: hearth_admin::ReloadHook = Arc::new(|_| {
                Box::pin(async { Err("this engine runs the built-in configuration: no file to reload".to_owned()) })
            });
            admin.with_config(info, hook)
        }
    };
    let evaluator = alerts::Evaluator {
        journal: journal.clone(),
        board,
        thresholds: alert_thresholds,
        destinations: destinations.iter().map(|d| (d.name.clone(), ops::probe(&d.publisher))).collect(),
        certificates: tls,
    };
    let publishers = destinations.iter().map(|d| (d.name.clone(), d.publisher.clone())).collect();
    let alerting: node::Singleton = Box::new(move |token| Box::pin(evaluator.clone().run(notifier.clone(), token)));
    let (retained, retention_plan) = (journal.clone(), plan.ops.retention.clone());
    let retaining: node::Singleton =
        Box::new(move |token| Box::pin(retention::run(retained.clone(), retention_plan.clone(), token)));
    background_tasks.extend([
        tokio::spawn(node::lead(node.clone(), "alerts".into(), alerting, background.clone())),
        tokio::spawn(node::lead(node.clone(), "retention".into(), retaining, background.clone())),
        tokio::spawn(hearth_sinks::monitor(journal.clone(), publishers, plan.max_outbox_pending, background.clone())),
        tokio::spawn(stats::run(
            journal.clone(),
            destinations.iter().map(|d| d.name.clone()).collect(),
            plan.ops.retention.stats_flush,
            background.clone(),
        )),
    ]);
    let mut sinks = JoinSet::new();
    for Destination { name, required, sink, .. } in destinations {
        tracing::info!(destination = %name, required, "destination sink started");
        sinks.spawn(sink.leasing(node.clone()).run(background.clone()));
    }
    let app = hearth_admin::router(admin).merge(router);
    tracing::info!(listen = %plan.http.listen, tls = http_tls.is_some(), "http listening");
    let http = tokio::spawn(serve::http(http, app, http_tls.map(|(server, _)| server), shutdown.clone()));
    Ok(Engine { sources, stage, stage_stop, sinks, background: background_tasks, http })
}

impl Engine {
    /// Stops everything within `timeout`, in order: sources (the message in hand is journaled and answered),
    /// the stage (the backlog is converted), the sinks (the batch in hand is recorded), the rest.
    async fn drain(mut self, timeout: Duration, background: &CancellationToken) {
        tracing::info!(timeout_ms = timeout.as_millis() as u64, "shutting down: draining sources");
        let deadline = tokio::time::Instant::now() + timeout;
        let drained = tokio::time::timeout_at(deadline, async {
            while let Some(r) = self.sources.join_next().await {
                match r {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "source stopped with an error"),
                    Err(e) => tracing::error!(error = %e, "source task failed"),
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "shutdown timeout: abandoning connections still busy (their messages were not acknowledged)"
            );
            self.sources.abort_all();
        }
        self.stage_stop.cancel();
        if tokio::time::timeout_at(deadline, &mut self.stage).await.is_err() {
            // Aborted between two journal writes at worst: the rest stays `received` for the next start.
            tracing::warn!("shutdown timeout: messages not yet converted stay received for the next start");
            self.stage.abort();
        }
        // Sinks finish the batch in hand (its outcomes are recorded); what is left stays pending for the next start.
        background.cancel();
        let sinks = async { while self.sinks.join_next().await.is_some() {} };
        if tokio::time::timeout_at(deadline, sinks).await.is_err() {
            tracing::warn!("shutdown timeout: deliveries in flight stay pending and are sent again on the next start");
            self.sinks.abort_all();
        }
        for task in self.background {
            let _ = task.await;
        }
        // The HTTP listener stops with the shutdown token; don't let a slow client hold the exit.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.http).await;
    }
}

/// Start-up recovery is the journal's own (SQLite's WAL replay in `Journal::open`); what remains is to say what
/// is waiting.
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

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
