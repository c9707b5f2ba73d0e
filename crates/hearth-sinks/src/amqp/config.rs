//! `[destinations.<name>] type = "amqp"`: the keys only an AMQP destination has (the exchange, what to declare,
//! the broker endpoint), raw and validated, and the link they build. The keys every destination has (retries,
//! `max_in_flight`, `exclude`, `required`) are the registry's.

use std::path::PathBuf;
use std::time::Duration;

use hearth_amqp::{BindingSpec, Endpoint, ExchangeKind, ExchangeSpec, LinkConfig, QueueSpec, QueueType, Topology};
use hearth_core::config::Problems;
use serde::Deserialize;

/// The exchange of the built-in default destination.
pub const DEFAULT_EXCHANGE: &str = "hearth.fhir";
const EXCHANGE_TYPES: [&str; 4] = ["topic", "direct", "fanout", "headers"];

/// The AMQP keys of a destination table, exactly as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAmqpDestination {
    /// One URI, or several (the nodes of a RabbitMQ cluster, tried in turn).
    pub endpoint: Option<hearth_core::config::OneOrMany<String>>,
    /// Several URIs (the same as a list in `endpoint`).
    pub endpoints: Option<Vec<String>>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub exchange: Option<String>,
    pub exchange_type: Option<String>,
    pub declare_exchange: Option<bool>,
    pub alternate_exchange: Option<String>,
    pub confirm_timeout_ms: Option<u64>,
    pub exchanges: Option<Vec<RawExchange>>,
    pub queues: Option<Vec<RawQueue>>,
}

/// An extra exchange to declare (e.g. a dead-letter exchange).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExchange {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub durable: Option<bool>,
}

/// A queue to declare, bound to the destination's exchange with `bind` patterns (or to `exchange`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQueue {
    pub name: String,
    pub durable: Option<bool>,
    pub queue_type: Option<String>,
    pub exchange: Option<String>,
    pub bind: Option<Vec<String>>,
    pub dead_letter_exchange: Option<String>,
    pub dead_letter_routing_key: Option<String>,
    pub message_ttl_ms: Option<u32>,
    pub max_length: Option<u32>,
}

/// A validated AMQP destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpDestinationPlan {
    pub endpoint: Endpoint,
    /// Where deliveries are published (with their routing key).
    pub exchange: String,
    pub exchange_type: String,
    pub declare_exchange: bool,
    pub alternate_exchange: Option<String>,
    pub confirm_timeout: Duration,
    /// Extra exchanges to declare: (name, type, durable).
    pub exchanges: Vec<(String, String, bool)>,
    pub queues: Vec<QueuePlan>,
}

/// A queue the destination declares and binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuePlan {
    pub name: String,
    pub durable: bool,
    /// `classic` or `quorum`.
    pub queue_type: String,
    /// The exchange its `bind` patterns bind to (default: the destination's exchange).
    pub exchange: String,
    pub bind: Vec<String>,
    pub dead_letter_exchange: Option<String>,
    pub dead_letter_routing_key: Option<String>,
    pub message_ttl_ms: Option<u32>,
    pub max_length: Option<u32>,
}

fn validate_exchange_type(kind: Option<String>, path: String, problems: &mut Problems) -> String {
    let kind = kind.unwrap_or_else(|| "topic".into());
    if !EXCHANGE_TYPES.contains(&kind.as_str()) {
        problems.add(path, format!("{kind:?} is not one of {EXCHANGE_TYPES:?}"));
    }
    kind
}

/// Validates the AMQP keys of destination `key`.
pub fn validate(a: RawAmqpDestination, key: &str, problems: &mut Problems) -> AmqpDestinationPlan {
    let uris = hearth_amqp::endpoint_uris(a.endpoint, a.endpoints, key, problems);
    let endpoint =
        Endpoint::validate_list(uris, a.password_env, a.password_file, (key, "endpoint", "password"), problems)
            .with_tls([a.ca_file, a.cert_file, a.key_file], key, problems);
    let exchange = a.exchange.unwrap_or_else(|| DEFAULT_EXCHANGE.into());
    if exchange.len() > 255 {
        problems.add(format!("{key}.exchange"), "must be at most 255 bytes");
    }
    let exchange_type = validate_exchange_type(a.exchange_type, format!("{key}.exchange_type"), problems);
    let exchanges = a
        .exchanges
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, x)| {
            let kind = validate_exchange_type(x.kind, format!("{key}.exchanges[{i}].type"), problems);
            (x.name, kind, x.durable.unwrap_or(true))
        })
        .collect();
    let queues = a
        .queues
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, q)| validate_queue(q, &exchange, &format!("{key}.queues[{i}]"), problems))
        .collect();
    AmqpDestinationPlan {
        endpoint,
        exchange,
        exchange_type,
        declare_exchange: a.declare_exchange.unwrap_or(true),
        alternate_exchange: a.alternate_exchange,
        confirm_timeout: Duration::from_millis(a.confirm_timeout_ms.unwrap_or(30_000)),
        exchanges,
        queues,
    }
}

fn validate_queue(q: RawQueue, exchange: &str, key: &str, problems: &mut Problems) -> QueuePlan {
    let queue_type = q.queue_type.unwrap_or_else(|| "classic".into());
    if !["classic", "quorum"].contains(&queue_type.as_str()) {
        problems.add(format!("{key}.queue_type"), format!("{queue_type:?} is not \"classic\" or \"quorum\""));
    }
    if q.name.is_empty() || q.name.len() > 255 {
        problems.add(format!("{key}.name"), "must be 1 to 255 bytes");
    }
    QueuePlan {
        name: q.name,
        durable: q.durable.unwrap_or(true),
        queue_type,
        exchange: q.exchange.unwrap_or_else(|| exchange.to_owned()),
        bind: q.bind.unwrap_or_default(),
        dead_letter_exchange: q.dead_letter_exchange,
        dead_letter_routing_key: q.dead_letter_routing_key,
        message_ttl_ms: q.message_ttl_ms,
        max_length: q.max_length,
    }
}

impl AmqpDestinationPlan {
    /// The destination's part of its topology line (`hearth check`).
    pub fn describe(&self) -> String {
        format!(
            "amqp {} exchange {} ({}), {} queue(s)",
            self.endpoint.redacted(),
            self.exchange,
            self.exchange_type,
            self.queues.len()
        )
    }

    /// The link configuration of destination `name` (its password read here: the only IO).
    pub fn link_config(&self, name: &str, max_in_flight: usize) -> Result<LinkConfig, String> {
        let mut uris = self.endpoint.resolve_all().map_err(|e| e.to_string())?;
        let uri = uris.remove(0);
        let mut cfg = LinkConfig::new(uri, format!("hearth destination {name}"));
        cfg.fallback_uris = uris;
        cfg.tls = self.endpoint.tls.clone();
        cfg.topology = self.topology();
        cfg.max_unconfirmed = max_in_flight;
        cfg.confirm_timeout = self.confirm_timeout;
        cfg.validate().map_err(|e| e.to_string())?;
        Ok(cfg)
    }

    /// What the destination declares on every (re)connect.
    fn topology(&self) -> Topology {
        let mut t = Topology::default();
        if self.declare_exchange {
            t.exchanges.push(ExchangeSpec {
                name: self.exchange.clone(),
                kind: exchange_kind(&self.exchange_type),
                durable: true,
                alternate_exchange: self.alternate_exchange.clone(),
            });
        }
        for (name, kind, durable) in &self.exchanges {
            t.exchanges.push(ExchangeSpec {
                name: name.clone(),
                kind: exchange_kind(kind),
                durable: *durable,
                alternate_exchange: None,
            });
        }
        for q in &self.queues {
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
}

fn exchange_kind(s: &str) -> ExchangeKind {
    match s {
        "direct" => ExchangeKind::Direct,
        "fanout" => ExchangeKind::Fanout,
        "headers" => ExchangeKind::Headers,
        _ => ExchangeKind::Topic,
    }
}
