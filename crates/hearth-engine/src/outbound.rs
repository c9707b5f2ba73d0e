//! The outbound half: one AMQP link and one outbox sink per destination, and the monitor that stops
//! acknowledging new input when destinations cannot keep up.

use std::time::Duration;

use hearth_amqp::{
    BindingSpec, ExchangeKind, ExchangeSpec, Link, LinkConfig, LinkState, QueueSpec, QueueType, Topology,
};
use hearth_config::{AmqpDestinationPlan, AmqpEndpoint, DestinationKind, DestinationPlan, SecretSource};
use hearth_core::events::Metric;
use hearth_sinks::{AmqpPublisher, Backoff, Publisher, Sink, SinkConfig};
use hearth_store::Journal;
use tokio_util::sync::CancellationToken;

use crate::EngineError;

/// How often the monitor looks at the outbox and the links.
const MONITOR_EVERY: Duration = Duration::from_millis(500);

/// A running destination: its link (for readiness and the ingest gate) and its sink.
#[derive(Debug)]
pub struct Destination {
    pub name: String,
    pub required: bool,
    pub link: Link,
    pub sink: Sink,
}

/// Builds a destination from its plan: resolves secrets (the only IO), starts its link.
pub fn start(
    plan: &DestinationPlan,
    journal: &Journal,
    shutdown: &CancellationToken,
) -> Result<Destination, EngineError> {
    let DestinationKind::Amqp(a) = &plan.kind;
    let mut link_cfg =
        LinkConfig::new(resolve_uri(&a.endpoint, &plan.name)?, format!("hearth destination {}", plan.name));
    link_cfg.topology = topology(a);
    link_cfg.max_unconfirmed = plan.max_in_flight;
    link_cfg.confirm_timeout = a.confirm_timeout;
    link_cfg.validate().map_err(|e| EngineError::Destination { name: plan.name.clone(), reason: e.to_string() })?;
    let link = Link::start(link_cfg, shutdown.clone());
    let sink = Sink::new(
        SinkConfig {
            destination: plan.name.clone(),
            max_attempts: plan.retry.max_attempts,
            backoff: Backoff { initial: plan.retry.initial, max: plan.retry.max },
            max_in_flight: plan.max_in_flight,
        },
        journal.clone(),
        Publisher::Amqp(AmqpPublisher { link: link.clone(), exchange: a.exchange.clone() }),
    );
    Ok(Destination { name: plan.name.clone(), required: plan.required, link, sink })
}

/// The endpoint URI with its password taken from the environment or a file when configured.
pub fn resolve_uri(endpoint: &AmqpEndpoint, owner: &str) -> Result<String, EngineError> {
    let secret = match &endpoint.password {
        SecretSource::None => return Ok(endpoint.uri.clone()),
        SecretSource::Env(var) => std::env::var(var).map_err(|_| EngineError::Destination {
            name: owner.to_owned(),
            reason: format!("password_env: environment variable {var} is not set"),
        })?,
        SecretSource::File(path) => std::fs::read_to_string(path)
            .map_err(|e| EngineError::Destination {
                name: owner.to_owned(),
                reason: format!("password_file {}: {e}", path.display()),
            })?
            .trim_end_matches(['\r', '\n'])
            .to_owned(),
    };
    with_password(&endpoint.uri, &secret).ok_or_else(|| EngineError::Destination {
        name: owner.to_owned(),
        reason: "endpoint must name a user (amqp://user@host/...) when a password is configured".into(),
    })
}

/// `amqp://user[:old]@host/vhost` → `amqp://user:<percent-encoded secret>@host/vhost`.
fn with_password(uri: &str, secret: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let (userinfo, host) = rest.split_once('@')?;
    let user = userinfo.split(':').next().filter(|u| !u.is_empty())?;
    let mut encoded = String::with_capacity(secret.len());
    for b in secret.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    Some(format!("{scheme}://{user}:{encoded}@{host}"))
}

fn exchange_kind(s: &str) -> ExchangeKind {
    match s {
        "direct" => ExchangeKind::Direct,
        "fanout" => ExchangeKind::Fanout,
        "headers" => ExchangeKind::Headers,
        _ => ExchangeKind::Topic,
    }
}

/// What a destination declares on every (re)connect.
fn topology(a: &AmqpDestinationPlan) -> Topology {
    let mut t = Topology::default();
    if a.declare_exchange {
        t.exchanges.push(ExchangeSpec {
            name: a.exchange.clone(),
            kind: exchange_kind(&a.exchange_type),
            durable: true,
            alternate_exchange: a.alternate_exchange.clone(),
        });
    }
    for (name, kind, durable) in &a.exchanges {
        t.exchanges.push(ExchangeSpec {
            name: name.clone(),
            kind: exchange_kind(kind),
            durable: *durable,
            alternate_exchange: None,
        });
    }
    for q in &a.queues {
        t.queues.push(QueueSpec {
            name: q.name.clone(),
            durable: q.durable,
            queue_type: if q.queue_type == "quorum" { QueueType::Quorum } else { QueueType::Classic },
            dead_letter_exchange: q.dead_letter_exchange.clone(),
            dead_letter_routing_key: q.dead_letter_routing_key.clone(),
            message_ttl_ms: q.message_ttl_ms,
            max_length: q.max_length,
        });
        for key in &q.bind {
            t.bindings.push(BindingSpec {
                queue: q.name.clone(),
                exchange: q.exchange.clone(),
                routing_key: key.clone(),
            });
        }
    }
    t
}

/// Watches the links and the outbox: while a destination's broker blocks publishers, or the outbox holds more
/// than `max_pending` deliveries, new input waits (the journal holds appends) instead of piling up. Also keeps
/// the outbox gauges current.
pub async fn monitor(journal: Journal, links: Vec<(String, Link)>, max_pending: u64, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(MONITOR_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut paused = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => {
                journal.resume_ingest();
                return;
            }
        }
        let blocked = links.iter().find_map(|(name, link)| match &*link.state().borrow() {
            LinkState::Blocked { .. } => Some(format!("destination {name} is blocked by its broker")),
            _ => None,
        });
        let pending = match journal.pending_deliveries().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "outbox monitor cannot count pending deliveries");
                continue;
            }
        };
        for (name, _) in &links {
            let n = pending.iter().find(|(d, _)| d == name).map_or(0, |(_, n)| *n);
            hearth_sinks::report_pending(name, n);
        }
        let total: u64 = pending.iter().map(|(_, n)| n).sum();
        let over =
            (total > max_pending).then(|| format!("outbox holds {total} pending deliveries (max {max_pending})"));
        match blocked.or(over) {
            Some(reason) => {
                if !paused {
                    tracing::warn!(reason = %reason, "ingest paused: new input is not acknowledged until destinations catch up");
                }
                journal.pause_ingest(&reason);
                paused = true;
            }
            None if paused => {
                tracing::info!("ingest resumed");
                journal.resume_ingest();
                paused = false;
            }
            None => {}
        }
        metrics::gauge!(Metric::IngestPaused.name()).set(if paused { 1.0 } else { 0.0 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_is_injected_percent_encoded() {
        assert_eq!(
            with_password("amqp://hearth:old@mq:5672/%2f", "p@ss word").as_deref(),
            Some("amqp://hearth:p%40ss%20word@mq:5672/%2f")
        );
        assert_eq!(with_password("amqp://mq:5672/%2f", "x"), None);
    }
}
