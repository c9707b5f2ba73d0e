//! The alert evaluator: every `alerts.interval` it checks each channel's and destination's thresholds, reports
//! them to the [`AlertBoard`] (which turns a condition that holds into one "raised" and later one "cleared"),
//! logs each change, and hands it to the notifier (webhook and/or AMQP exchange).
//!
//! Notifications go through a bounded queue to their own task, so a slow webhook never delays evaluation; if
//! the queue is full the change is logged and dropped from notification only (it stays on the board).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use hearth_admin::{AlertBoard, AlertChange, AlertKind, DestinationProbe};
use hearth_amqp::{ExchangeKind, ExchangeSpec, Link, LinkConfig, Outgoing};
use hearth_config::ops::{AlertsPlan, ChannelAlerts, DestinationAlerts};
use hearth_sources::tls::TlsListener;
use hearth_store::Journal;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::EngineError;

/// Changes waiting for the notifier.
const QUEUE: usize = 256;
/// One webhook call, connect to answer.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// Where raised and cleared alerts are sent besides the log and the board.
#[derive(Clone, Default)]
pub struct Notifier {
    /// The client and the URL each change is POSTed to.
    webhook: Option<(reqwest::Client, String)>,
    amqp: Option<(Link, String)>,
}

impl Notifier {
    /// Builds the webhook client, resolves the AMQP password and starts the alert link if one is configured.
    pub fn start(plan: &AlertsPlan, shutdown: &CancellationToken) -> Result<Notifier, EngineError> {
        let fail = |key: &str, reason: String| EngineError::Ops { key: key.to_owned(), reason };
        let webhook = match &plan.webhook_url {
            Some(url) => {
                Some((crate::http::client(WEBHOOK_TIMEOUT).map_err(|e| fail("alerts.webhook_url", e))?, url.clone()))
            }
            None => None,
        };
        let amqp = match &plan.amqp {
            None => None,
            Some((endpoint, exchange)) => {
                let uri = endpoint.resolve().map_err(|e| fail("alerts.amqp_endpoint", e.to_string()))?;
                let mut cfg = LinkConfig::new(uri, "hearth alerts");
                cfg.topology.exchanges.push(ExchangeSpec::durable(exchange.clone(), ExchangeKind::Topic));
                cfg.validate().map_err(|e| fail("alerts.amqp_endpoint", e.to_string()))?;
                Some((Link::start(cfg, shutdown.clone()), exchange.clone()))
            }
        };
        Ok(Notifier { webhook, amqp })
    }

    async fn send(&self, change: &AlertChange) {
        let body = change.alert().to_json().to_string();
        if let Some((client, url)) = &self.webhook {
            match post(client, url, body.clone()).await {
                Ok(status) if status.is_success() => {}
                Ok(status) => tracing::warn!(status = status.as_u16(), "alert webhook answered with an error"),
                Err(e) => tracing::warn!(error = %e, "alert webhook unreachable"),
            }
        }
        if let Some((link, exchange)) = &self.amqp {
            let msg = Outgoing {
                exchange: exchange.clone(),
                routing_key: format!("alert.{}", change.alert().kind.as_str()),
                body: body.into_bytes(),
                content_type: "application/json".into(),
                ..Outgoing::default()
            };
            if let Err(e) = link.publish(msg).await {
                tracing::warn!(error = %e, "alert not published to the alert exchange");
            }
        }
    }
}

/// POSTs one alert as JSON; the answer's status. The client's timeout bounds connect and answer together.
async fn post(client: &reqwest::Client, url: &str, body: String) -> Result<reqwest::StatusCode, reqwest::Error> {
    let resp = client.post(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body).send().await?;
    Ok(resp.status())
}

/// The alert thresholds in force. A configuration reload replaces them (the next round uses the new ones); the
/// interval and the notifiers are bound to running tasks and need a restart (`reload::restart_needed`).
#[derive(Debug, Clone)]
pub struct Thresholds(Arc<RwLock<Arc<AlertsPlan>>>);

impl Thresholds {
    pub fn new(plan: AlertsPlan) -> Self {
        Thresholds(Arc::new(RwLock::new(Arc::new(plan))))
    }

    pub fn current(&self) -> Arc<AlertsPlan> {
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn replace(&self, plan: AlertsPlan) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(plan);
    }
}

/// Evaluates the thresholds until `shutdown`.
#[derive(Clone)]
pub struct Evaluator {
    pub journal: Journal,
    pub board: AlertBoard,
    pub thresholds: Thresholds,
    /// Every destination with its connectivity probe.
    pub destinations: Vec<(String, DestinationProbe)>,
    /// Every TLS listener, for the certificate-expiry alert.
    pub certificates: Vec<TlsListener>,
}

/// A listener's certificate raises an alert this long before it expires.
pub const CERTIFICATE_WARNING: Duration = Duration::from_secs(14 * 86_400);

/// The certificate-expiry condition of one certificate at `now`: `Some(what)` within [`CERTIFICATE_WARNING`].
pub fn certificate_condition(facts: &hearth_tls::CertFacts, now: std::time::SystemTime) -> Option<String> {
    let left = facts.seconds_until_expiry(now);
    let warn = i64::try_from(CERTIFICATE_WARNING.as_secs()).unwrap_or(i64::MAX);
    if left >= warn {
        return None;
    }
    let until = hearth_sources::tls::date(facts.not_after);
    Some(if left < 0 {
        format!("certificate {} expired on {until}", facts.subject)
    } else {
        format!("certificate {} expires on {until} ({} days left)", facts.subject, left / 86_400)
    })
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.destinations.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Evaluator")
            .field("thresholds", &self.thresholds)
            .field("destinations", &names)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = self.webhook.as_ref().map(|(_, u)| u);
        f.debug_struct("Notifier").field("webhook", &url).field("amqp", &self.amqp.is_some()).finish()
    }
}

impl Evaluator {
    pub async fn run(self, notifier: Notifier, shutdown: CancellationToken) {
        let (tx, mut rx) = mpsc::channel::<AlertChange>(QUEUE);
        let sender = tokio::spawn(async move {
            while let Some(change) = rx.recv().await {
                notifier.send(&change).await;
            }
        });
        let started = Instant::now();
        let mut down_since: HashMap<String, Instant> = HashMap::new();
        let mut tick = tokio::time::interval(self.thresholds.current().interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.cancelled() => break,
            }
            let mut changes = Vec::new();
            self.round(started, &mut down_since, &mut changes).await;
            for change in changes {
                log(&change);
                if tx.try_send(change).is_err() {
                    tracing::warn!("alert notifier is behind: a change was not sent (it is on the dashboard)");
                }
            }
        }
        drop(tx);
        let _ = tokio::time::timeout(WEBHOOK_TIMEOUT, sender).await;
    }

    async fn round(&self, started: Instant, down_since: &mut HashMap<String, Instant>, out: &mut Vec<AlertChange>) {
        let now = OffsetDateTime::now_utc();
        let plan = self.thresholds.current();
        self.certificate_alerts(now, out);
        self.clear_unconfigured(&plan, now, out);
        for (name, cfg) in &plan.channels {
            match self.channel_conditions(name, cfg, now, started).await {
                Ok(conds) => {
                    for (kind, cond) in conds {
                        out.extend(self.board.report(kind, name, cond, now));
                    }
                }
                Err(e) => tracing::warn!(channel = %name, error = %e, "alerts: cannot read channel figures"),
            }
        }
        for (name, probe) in &self.destinations {
            let cfg = plan.destinations.get(name).cloned().unwrap_or_default();
            let down = probe();
            let since = match &down {
                Some(_) => *down_since.entry(name.clone()).or_insert_with(Instant::now),
                None => {
                    down_since.remove(name);
                    Instant::now()
                }
            };
            let disconnected = down.filter(|_| since.elapsed() >= cfg.disconnected_after);
            out.extend(self.board.report(AlertKind::Disconnected, name, disconnected, now));
            match self.outbox_conditions(name, &cfg, now).await {
                Ok(conds) => {
                    for (kind, cond) in conds {
                        out.extend(self.board.report(kind, name, cond, now));
                    }
                }
                Err(e) => tracing::warn!(destination = %name, error = %e, "alerts: cannot read outbox figures"),
            }
        }
    }

    /// A threshold a reload removed clears its alert (nothing else would: only configured thresholds are checked).
    fn clear_unconfigured(&self, plan: &AlertsPlan, now: OffsetDateTime, out: &mut Vec<AlertChange>) {
        for alert in self.board.active() {
            let subject = alert.subject.as_str();
            let (channel, destination) = (plan.channels.get(subject), plan.destinations.get(subject));
            let configured = match alert.kind {
                AlertKind::Errors => channel.is_some_and(|c| c.errors.is_some()),
                AlertKind::Idle => channel.is_some_and(|c| c.idle.is_some()),
                AlertKind::OutboxDepth => destination.is_some_and(|d| d.outbox_depth.is_some()),
                AlertKind::OldestPending => destination.is_some_and(|d| d.oldest_pending.is_some()),
                _ => true,
            };
            if !configured {
                out.extend(self.board.report(alert.kind, subject, None, now));
            }
        }
    }

    fn certificate_alerts(&self, now: OffsetDateTime, out: &mut Vec<AlertChange>) {
        for l in &self.certificates {
            let cond = certificate_condition(&l.tls.certificate(), std::time::SystemTime::now());
            out.extend(self.board.report(AlertKind::CertificateExpiry, &l.name, cond, now));
        }
    }

    async fn channel_conditions(
        &self,
        name: &str,
        cfg: &ChannelAlerts,
        now: OffsetDateTime,
        started: Instant,
    ) -> Result<Vec<(AlertKind, Option<String>)>, hearth_store::StoreError> {
        let mut out = Vec::new();
        if let Some((threshold, window)) = cfg.errors {
            let n = self.journal.errors_since(name, now - window).await?;
            let cond = (n >= threshold).then(|| format!("{n} errors in the last {} s", window.as_secs()));
            out.push((AlertKind::Errors, cond));
        }
        if let Some(idle) = cfg.idle {
            let last = self.journal.channel_stats(name).await?.last_received_at;
            // Never received anything: idle counts from start-up.
            let quiet = match last {
                Some(t) => (now - t).try_into().unwrap_or(Duration::ZERO),
                None => started.elapsed(),
            };
            let cond = (quiet >= idle).then(|| format!("nothing received for {} s", quiet.as_secs()));
            out.push((AlertKind::Idle, cond));
        }
        Ok(out)
    }

    async fn outbox_conditions(
        &self,
        name: &str,
        cfg: &DestinationAlerts,
        now: OffsetDateTime,
    ) -> Result<Vec<(AlertKind, Option<String>)>, hearth_store::StoreError> {
        if cfg.outbox_depth.is_none() && cfg.oldest_pending.is_none() {
            return Ok(Vec::new());
        }
        let s = self.journal.destination_stats(name).await?;
        let mut out = Vec::new();
        if let Some(max) = cfg.outbox_depth {
            let cond = (s.pending >= max).then(|| format!("{} deliveries pending (threshold {max})", s.pending));
            out.push((AlertKind::OutboxDepth, cond));
        }
        if let Some(max) = cfg.oldest_pending {
            let age: Duration = s.oldest_pending.map_or(Duration::ZERO, |t| (now - t).try_into().unwrap_or_default());
            let cond = (age >= max).then(|| format!("oldest pending delivery is {} s old", age.as_secs()));
            out.push((AlertKind::OldestPending, cond));
        }
        Ok(out)
    }
}

fn log(change: &AlertChange) {
    let a = change.alert();
    match change {
        AlertChange::Raised(_) => {
            tracing::warn!(kind = a.kind.as_str(), subject = %a.subject, message = %a.message, "alert raised");
        }
        AlertChange::Cleared(_) => tracing::info!(kind = a.kind.as_str(), subject = %a.subject, "alert cleared"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A one-shot HTTP server: answers 204 and hands back what it received.
    async fn one_request_server() -> (String, tokio::task::JoinHandle<String>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let h = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut got = Vec::new();
            while !String::from_utf8_lossy(&got).contains("}") {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await.unwrap();
            String::from_utf8_lossy(&got).into_owned()
        });
        (addr, h)
    }

    #[tokio::test]
    async fn webhook_posts_the_alert_as_json() {
        let (addr, server) = one_request_server().await;
        let client = crate::http::client(WEBHOOK_TIMEOUT).unwrap();
        let status = post(&client, &format!("http://{addr}/hook"), "{\"kind\":\"idle\"}".into()).await.unwrap();
        assert_eq!(status.as_u16(), 204);
        let req = server.await.unwrap().to_ascii_lowercase();
        assert!(req.starts_with("post /hook http/1.1\r\n"), "{req}");
        assert!(req.contains("content-length: 15\r\n") && req.ends_with("{\"kind\":\"idle\"}"), "{req}");
        assert!(req.contains("content-type: application/json\r\n"), "{req}");
        // Nothing listening: an error, not a hang.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        assert!(post(&client, &format!("http://{closed}/"), "{}".into()).await.is_err());
    }
}
