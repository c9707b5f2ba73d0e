//! Configuration reload without a restart: on SIGHUP and `POST /api/v1/reload` (admin role) the engine re-reads
//! its configuration file, validates all of it (as `hearth check` does, plus the files it names: vocabularies,
//! CSV profiles, webhook mappings, token files), and swaps in what can change while messages flow:
//! - the route rules and their projections (the processing stage takes them per message; each message's
//!   conversion report records the configuration version it was routed under, `routing.config_version`);
//! - the channels' conversion options and the mapping files they read (vocabulary, CSV profile, webhook
//!   mapping), for the processing stage;
//! - the API tokens;
//! - destinations' retry settings (`max_attempts`, `retry_initial_ms`, `retry_max_ms`), for the next failures;
//! - the alert thresholds (channels' and destinations'), from the evaluator's next round; an alert whose
//!   threshold was removed clears.
//!
//! Everything else is bound to running sockets, connections or tasks (the journal, the HTTP listener, channels'
//! sources and their TLS, destinations' other settings, the alerts' interval and notifiers, retention, limits,
//! `[tracing]`):
//! a file that changes any of it is refused
//! with the list of what needs a restart, and the running configuration stays, as it does for a file that does
//! not validate. No connection is closed and no message in flight is touched: a message is converted entirely
//! under the rules current when its conversion starts. Every attempt, applied or refused, is an audit event
//! with the file's SHA-256 digest. See docs/config-testing.md.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use hearth_config::Plan;
use hearth_route::RouteSet;
use hearth_sources::Channel;
use hearth_store::{Journal, NewAuditEvent};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::process::{ChannelMapping, setup_channel_mappings};

/// Which configuration is in force.
#[derive(Debug, Clone)]
pub struct Version {
    /// 1 at start, one more per applied reload.
    pub number: u64,
    /// SHA-256 of the file's bytes (none for the built-in default).
    pub digest: Option<String>,
    pub file: Option<PathBuf>,
    pub loaded_at: OffsetDateTime,
    /// `start`, `signal` (SIGHUP), or the API token's name.
    pub by: String,
}

/// What the processing stage reads per message and a reload replaces.
#[derive(Debug)]
pub struct Live {
    current: RwLock<Arc<Rules>>,
}

/// One generation of the live rules.
#[derive(Debug)]
pub struct Rules {
    pub routes: Arc<RouteSet>,
    pub channels: Arc<HashMap<String, ChannelMapping>>,
    pub version: Version,
}

impl Live {
    pub fn new(routes: Arc<RouteSet>, channels: HashMap<String, ChannelMapping>, version: Version) -> Arc<Live> {
        Arc::new(Live { current: RwLock::new(Arc::new(Rules { routes, channels: Arc::new(channels), version })) })
    }

    /// The rules now (a message is converted and routed entirely under one generation).
    pub fn rules(&self) -> Arc<Rules> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn replace(&self, rules: Rules) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(rules);
    }

    /// `GET /api/v1/config`.
    pub fn info(&self) -> Value {
        let v = self.rules().version.clone();
        json!({
            "reloadable": v.file.is_some(),
            "version": v.number,
            "digest": v.digest,
            "file": v.file.map(|f| f.display().to_string()),
            "loaded_at": rfc3339(v.loaded_at),
            "loaded_by": v.by,
        })
    }
}

/// Re-reads, checks and applies the configuration file; one reload at a time.
#[derive(Debug)]
pub struct Reloader {
    file: PathBuf,
    /// The plan in force (what a new file is compared with).
    running: tokio::sync::Mutex<Plan>,
    live: Arc<Live>,
    tokens: hearth_admin::Tokens,
    /// Each destination's retry settings, by name.
    retries: HashMap<String, hearth_sinks::RetrySettings>,
    alerts: crate::alerts::Thresholds,
    journal: Journal,
}

/// What a new file brings, read and checked off the async workers.
struct Candidate {
    plan: Plan,
    digest: String,
    channels: HashMap<String, ChannelMapping>,
    tokens: Vec<hearth_admin::ApiToken>,
}

impl Reloader {
    pub fn new(
        file: PathBuf,
        running: Plan,
        live: Arc<Live>,
        tokens: hearth_admin::Tokens,
        retries: HashMap<String, hearth_sinks::RetrySettings>,
        alerts: crate::alerts::Thresholds,
        journal: Journal,
    ) -> Self {
        Reloader { file, running: tokio::sync::Mutex::new(running), live, tokens, retries, alerts, journal }
    }

    /// Reloads now on behalf of `by`: the new configuration's info, or why it was refused (the running one
    /// stays). Both are audited and logged (without secrets or message content).
    pub async fn reload(&self, by: &str) -> Result<Value, String> {
        let mut running = self.running.lock().await;
        let file = self.file.clone();
        let candidate = tokio::task::spawn_blocking(move || read(&file))
            .await
            .unwrap_or_else(|e| Err((None, format!("the reload task failed: {e}"))));
        let outcome = candidate.and_then(|c| {
            let needs = restart_needed(&running, &c.plan);
            if needs.is_empty() {
                Ok(c)
            } else {
                Err((Some(c.digest), format!("these changes need a restart: {}", needs.join("; "))))
            }
        });
        match outcome {
            Ok(c) => {
                let number = self.live.rules().version.number + 1;
                let version = Version {
                    number,
                    digest: Some(c.digest.clone()),
                    file: Some(self.file.clone()),
                    loaded_at: OffsetDateTime::now_utc(),
                    by: by.to_owned(),
                };
                self.live.replace(Rules {
                    routes: Arc::clone(&c.plan.routes),
                    channels: Arc::new(c.channels),
                    version,
                });
                self.tokens.replace(c.tokens);
                self.alerts.replace(c.plan.ops.alerts.clone());
                for d in &c.plan.destinations {
                    if let Some(settings) = self.retries.get(&d.name) {
                        let backoff = hearth_sinks::Backoff { initial: d.retry.initial, max: d.retry.max };
                        settings.set(d.retry.max_attempts, backoff);
                    }
                }
                *running = c.plan;
                tracing::info!(version = number, digest = %c.digest, by, "configuration reloaded");
                self.audit(by, Some(&c.digest), true).await;
                Ok(self.live.info())
            }
            Err((digest, reason)) => {
                tracing::warn!(digest = digest.as_deref().unwrap_or("-"), by, %reason, "configuration reload refused; the running configuration stays");
                self.audit(by, digest.as_deref(), false).await;
                Err(reason)
            }
        }
    }

    /// Reloads on every SIGHUP until `shutdown`.
    pub async fn on_hangup(self: Arc<Self>, shutdown: CancellationToken) {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: reload through POST /api/v1/reload");
            return;
        };
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                got = hup.recv() => if got.is_none() { return },
            }
            let _ = self.reload("signal").await;
        }
    }

    async fn audit(&self, by: &str, digest: Option<&str>, applied: bool) {
        let at = OffsetDateTime::now_utc();
        let role = if by == "signal" { "system" } else { "admin" };
        let event = json!({
            "resourceType": "AuditEvent",
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
                "code": "rest",
                "display": "RESTful Operation"
            },
            "subtype": [{ "system": "urn:hearth:audit-action", "code": "reload" }],
            "action": "U",
            "recorded": rfc3339(at),
            "outcome": if applied { "0" } else { "4" },
            "agent": [{ "type": { "text": role }, "who": { "display": by }, "requestor": true }],
            "source": { "observer": { "display": "hearth" } },
            "entity": [{
                "what": { "identifier": { "system": "urn:hearth:config-sha256", "value": digest.unwrap_or("unreadable") } },
                "type": {
                    "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                    "code": "2",
                    "display": "System Object"
                }
            }]
        });
        let new = NewAuditEvent {
            at,
            actor: by.to_owned(),
            role: role.to_owned(),
            action: "reload".into(),
            message_id: None,
            event: event.to_string(),
        };
        if let Err(e) = self.journal.audit(new).await {
            tracing::warn!(error = %e, "could not record the reload's audit event");
        }
    }
}

/// Reads and checks the file completely: the plan, the files channels read, the tokens' secrets.
fn read(file: &std::path::Path) -> Result<Candidate, (Option<String>, String)> {
    let bytes = std::fs::read(file).map_err(|e| (None, format!("{}: {e}", file.display())))?;
    let digest = hex::encode(Sha256::digest(&bytes));
    let fail = |reason: String| (Some(digest.clone()), reason);
    let text = String::from_utf8(bytes).map_err(|_| fail(format!("{}: not UTF-8", file.display())))?;
    let plan =
        hearth_config::load_str(&text, &std::env::vars().collect::<Vec<_>>()).map_err(|e| fail(e.to_string()))?;
    let loaded =
        plan.channels.iter().map(Channel::load).collect::<Result<Vec<_>, _>>().map_err(|e| fail(e.to_string()))?;
    let (channels, _) = setup_channel_mappings(&loaded).map_err(|e| fail(e.to_string()))?;
    let tokens = crate::ops::resolve_tokens(&plan.ops.tokens).map_err(|e| fail(e.to_string()))?;
    Ok(Candidate { plan, digest: digest.clone(), channels, tokens })
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// What differs between two plans that only a restart can apply (empty: the new plan can be applied live).
pub fn restart_needed(running: &Plan, new: &Plan) -> Vec<String> {
    let mut needs = Vec::new();
    if running.journal != new.journal {
        needs.push("journal".to_owned());
    }
    if running.http != new.http {
        needs.push("http (listen addresses, TLS)".to_owned());
    }
    let names = |p: &Plan| p.channels.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    if names(running) != names(new) {
        needs.push("channels added or removed".to_owned());
    } else {
        for (a, b) in running.channels.iter().zip(&new.channels) {
            if a.source.listening_part() != b.source.listening_part() {
                needs.push(format!("channels.{} (its source: listen address, type, TLS, limits)", a.name));
            }
        }
    }
    // Retry settings apply live; anything else about a destination needs a restart.
    let without_retry = |p: &Plan| {
        let mut ds = p.destinations.clone();
        for d in &mut ds {
            d.retry = hearth_sinks::RetryPlan { max_attempts: 0, initial: Duration::ZERO, max: Duration::ZERO };
        }
        ds
    };
    if without_retry(running) != without_retry(new) {
        needs.push("destinations (other than their retry settings)".to_owned());
    }
    let (a, b) = (&running.ops.alerts, &new.ops.alerts);
    if a.interval != b.interval || a.webhook_url != b.webhook_url || a.amqp != b.amqp {
        needs.push("alerts (interval_ms, webhook_url, amqp_endpoint/amqp_exchange)".to_owned());
    }
    if running.ops.retention != new.ops.retention {
        needs.push("retention".to_owned());
    }
    if running.max_outbox_pending != new.max_outbox_pending || running.shutdown_timeout != new.shutdown_timeout {
        needs.push("limits (max_outbox_pending, shutdown_timeout_ms)".to_owned());
    }
    if running.tracing != new.tracing {
        needs.push(
            "tracing (otlp_endpoint, service_name, export_interval_ms, batch_size, queue_capacity, trace_url)"
                .to_owned(),
        );
    }
    needs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(toml: &str) -> Plan {
        hearth_config::load_str(toml, &[]).unwrap_or_else(|e| panic!("{e}"))
    }

    const BASE: &str = "[journal]\ntype = \"sqlite\"\npath = \"/tmp/x.db\"\n[http]\nlisten = \"127.0.0.1:8080\"\n\
                        [channels.adt]\ntype = \"mllp\"\nlisten = \"127.0.0.1:2575\"\n";

    #[test]
    fn a_tracing_change_needs_a_restart() {
        let running = plan(BASE);
        let traced = format!("{BASE}[tracing]\notlp_endpoint = \"http://127.0.0.1:4318\"\n");
        let needs = restart_needed(&running, &plan(&traced));
        assert_eq!(needs.len(), 1, "{needs:?}");
        assert!(needs[0].starts_with("tracing ("), "{needs:?}");
        let linked = format!("{traced}trace_url = \"https://jaeger.example/trace/{{trace_id}}\"\n");
        assert!(restart_needed(&plan(&traced), &plan(&linked))[0].starts_with("tracing ("));
        assert!(restart_needed(&plan(&traced), &plan(&traced)).is_empty());
    }

    #[test]
    fn routes_and_mapping_options_change_live_listeners_do_not() {
        let running = plan(BASE);
        assert!(restart_needed(&running, &plan(BASE)).is_empty());
        let mapped = format!("{BASE}[channels.adt.mapping]\nbundle_type = \"collection\"\n");
        assert!(restart_needed(&running, &plan(&mapped)).is_empty());
        let routed = format!("{BASE}[routing]\ndefault_route = false\n");
        assert!(restart_needed(&running, &plan(&routed)).is_empty());

        let moved = BASE.replace("2575", "2576");
        assert_eq!(restart_needed(&running, &plan(&moved)).len(), 1);
        assert!(restart_needed(&running, &plan(&moved))[0].starts_with("channels.adt"));
        let journal = BASE.replace("/tmp/x.db", "/tmp/y.db");
        assert_eq!(restart_needed(&running, &plan(&journal)), ["journal"]);
        let http = BASE.replace("8080", "8081");
        assert!(restart_needed(&running, &plan(&http))[0].starts_with("http"));
        let retry = format!("{BASE}[destinations.fhir]\ntype = \"amqp\"\nmax_attempts = 3\n");
        let base_dest = format!("{BASE}[destinations.fhir]\ntype = \"amqp\"\n");
        assert!(restart_needed(&plan(&base_dest), &plan(&retry)).is_empty());
        let exchange = format!("{base_dest}exchange = \"other\"\n");
        assert_eq!(restart_needed(&plan(&base_dest), &plan(&exchange)).len(), 1);
        let errors = format!("{BASE}[alerts.channels.adt]\nerrors = 5\nerrors_window_ms = 60000\n");
        assert!(restart_needed(&running, &plan(&errors)).is_empty(), "alert thresholds change live");
        let interval = format!("{BASE}[alerts]\ninterval_ms = 500\n");
        assert_eq!(restart_needed(&running, &plan(&interval)).len(), 1);
        let more = format!("{BASE}[channels.lab]\ntype = \"mllp\"\nlisten = \"127.0.0.1:2577\"\n");
        assert_eq!(restart_needed(&running, &plan(&more)), ["channels added or removed"]);
    }
}
