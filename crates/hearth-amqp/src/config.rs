//! What a link connects to and what it declares. Plain data; [`LinkConfig::validate`] checks it without IO.

use std::time::Duration;

use hearth_tls::ClientSettings;
use lapin::uri::{AMQPScheme, AMQPUri, SASLMechanism};

use crate::error::ConfigError;

/// AMQP 0-9-1 short strings (names, routing keys, property values) are at most 255 bytes on the wire.
pub(crate) const MAX_SHORT: usize = 255;

/// Everything a [`crate::Link`] needs: where to connect, what to declare, and how hard to push.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    /// `amqp://user:pass@host:port/vhost`, or `amqps://...` for TLS (port 5671 by default). With a client
    /// certificate in `tls`, `amqps://host/vhost?auth_mechanism=external` logs in as the certificate's user
    /// (RabbitMQ's EXTERNAL mechanism, plugin `rabbitmq_auth_mechanism_ssl`).
    pub uri: String,
    /// Further URIs of the same broker (the other nodes of a RabbitMQ cluster): when the current one is
    /// unreachable the link connects to the next, in turn, `uri` first (docs/scale-out.md).
    pub fallback_uris: Vec<String>,
    /// TLS for `amqps://`: `ca_file` (else the system trust store), `cert_file`/`key_file` (client
    /// certificate), `server_name` (else the URI's host). The server's certificate and name are always
    /// verified unless the test-only insecure switch is set. Must stay empty for `amqp://`.
    pub tls: ClientSettings,
    /// Shown in the RabbitMQ management UI and `rabbitmqctl list_connections client_properties`.
    pub connection_name: String,
    /// Declared on every (re)connect, before anyone may publish or consume.
    pub topology: Topology,
    /// Publishes awaiting the broker's confirm, at most (the publisher window).
    pub max_unconfirmed: usize,
    /// How long one publish may wait for its confirm.
    pub confirm_timeout: Duration,
    /// TCP connect, AMQP handshake and topology declaration together, at most.
    pub connect_timeout: Duration,
    /// First reconnect delay; doubles per failed attempt up to `reconnect_max`, with jitter.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

impl LinkConfig {
    /// A configuration with Hearth's defaults: window 256, 30 s confirm timeout, 10 s connect timeout,
    /// reconnect between 250 ms and 30 s, no topology.
    pub fn new(uri: impl Into<String>, connection_name: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            fallback_uris: Vec::new(),
            connection_name: connection_name.into(),
            tls: ClientSettings::default(),
            topology: Topology::default(),
            max_unconfirmed: 256,
            confirm_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            reconnect_min: Duration::from_millis(250),
            reconnect_max: Duration::from_secs(30),
        }
    }

    /// Checks the configuration without touching the network or files: the URI parses, TLS settings go with
    /// `amqps://` (and EXTERNAL with a client certificate), bounds are sane, names fit AMQP short strings,
    /// quorum queues are durable, bindings name declared or pre-existing resources (not checked: the broker
    /// may already have them). Whether the TLS files are usable is found at connect (and by
    /// `hearth_tls::check_key_pair` for `hearth check`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        for uri in self.uris() {
            self.validate_tls(&parse_uri(uri)?)?;
        }
        if self.max_unconfirmed == 0 {
            return Err(ConfigError::Invalid("max_unconfirmed must be at least 1".into()));
        }
        if self.confirm_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(ConfigError::Invalid("confirm_timeout and connect_timeout must be positive".into()));
        }
        if self.reconnect_min.is_zero() || self.reconnect_min > self.reconnect_max {
            return Err(ConfigError::Invalid("reconnect_min must be positive and at most reconnect_max".into()));
        }
        self.topology.validate()
    }
}

impl LinkConfig {
    /// `uri`, then the fallbacks: the order the link tries them in.
    pub fn uris(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.uri).chain(&self.fallback_uris)
    }

    fn validate_tls(&self, uri: &AMQPUri) -> Result<(), ConfigError> {
        let tls = &self.tls;
        if uri.scheme == AMQPScheme::AMQP && *tls != ClientSettings::default() {
            return Err(ConfigError::Invalid("TLS settings are given but the URI is amqp:// (use amqps://)".into()));
        }
        if tls.cert_file.is_some() != tls.key_file.is_some() {
            return Err(ConfigError::Invalid("a client certificate needs both cert_file and key_file".into()));
        }
        if uri.query.auth_mechanism == Some(SASLMechanism::External) && tls.cert_file.is_none() {
            return Err(ConfigError::Invalid(
                "auth_mechanism=external needs amqps:// with a client certificate (cert_file and key_file)".into(),
            ));
        }
        Ok(())
    }
}

/// Parses an AMQP URI (`amqp://` or `amqps://`).
pub(crate) fn parse_uri(uri: &str) -> Result<AMQPUri, ConfigError> {
    uri.parse().map_err(|e: String| ConfigError::Uri(e))
}

/// Exchanges, queues and bindings a link declares (idempotently) each time it connects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    pub exchanges: Vec<ExchangeSpec>,
    pub queues: Vec<QueueSpec>,
    pub bindings: Vec<BindingSpec>,
}

impl Topology {
    fn validate(&self) -> Result<(), ConfigError> {
        for e in &self.exchanges {
            check_declared("exchange", &e.name)?;
            if let Some(ae) = &e.alternate_exchange {
                check_name("alternate_exchange", ae, false)?;
            }
        }
        for q in &self.queues {
            check_declared("queue", &q.name)?;
            if q.queue_type == QueueType::Quorum && !q.durable {
                return Err(ConfigError::Invalid(format!("queue {}: quorum queues must be durable", q.name)));
            }
            for v in [&q.dead_letter_exchange, &q.dead_letter_routing_key].into_iter().flatten() {
                check_name("dead letter setting", v, true)?;
            }
        }
        for b in &self.bindings {
            check_name("binding queue", &b.queue, false)?;
            check_name("binding exchange", &b.exchange, false)?;
            check_name("binding routing key", &b.routing_key, true)?;
        }
        Ok(())
    }
}

fn check_name(what: &str, name: &str, may_be_empty: bool) -> Result<(), ConfigError> {
    if name.is_empty() && !may_be_empty {
        return Err(ConfigError::Invalid(format!("{what} name is empty")));
    }
    if name.len() > MAX_SHORT {
        return Err(ConfigError::Invalid(format!("{what} {name:.40}...: longer than {MAX_SHORT} bytes")));
    }
    Ok(())
}

/// A name Hearth declares: the broker refuses the `amq.` prefix (ACCESS_REFUSED closes the channel), so say it
/// at validation instead of in a reconnect loop.
fn check_declared(what: &str, name: &str) -> Result<(), ConfigError> {
    check_name(what, name, false)?;
    if name.starts_with("amq.") {
        return Err(ConfigError::Invalid(format!("{what} {name}: the amq. prefix is reserved by the broker")));
    }
    Ok(())
}

/// An exchange to declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeSpec {
    pub name: String,
    pub kind: ExchangeKind,
    pub durable: bool,
    /// Where the broker sends messages this exchange cannot route (`alternate-exchange` argument).
    pub alternate_exchange: Option<String>,
}

impl ExchangeSpec {
    /// A durable exchange without an alternate exchange.
    pub fn durable(name: impl Into<String>, kind: ExchangeKind) -> Self {
        Self { name: name.into(), kind, durable: true, alternate_exchange: None }
    }
}

/// Exchange types Hearth declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeKind {
    Topic,
    Direct,
    Fanout,
    Headers,
}

/// A queue to declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub name: String,
    pub durable: bool,
    pub queue_type: QueueType,
    pub dead_letter_exchange: Option<String>,
    pub dead_letter_routing_key: Option<String>,
    pub message_ttl_ms: Option<u32>,
    pub max_length: Option<u32>,
}

impl QueueSpec {
    /// A durable classic queue with no dead-lettering, TTL or length limit.
    pub fn durable(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            durable: true,
            queue_type: QueueType::Classic,
            dead_letter_exchange: None,
            dead_letter_routing_key: None,
            message_ttl_ms: None,
            max_length: None,
        }
    }
}

/// RabbitMQ queue types (`x-queue-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueType {
    #[default]
    Classic,
    /// Replicated (Raft); what a RabbitMQ cluster should use.
    Quorum,
}

/// `queue` receives what `exchange` routes with `routing_key` (a pattern for topic exchanges).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingSpec {
    pub queue: String,
    pub exchange: String,
    pub routing_key: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> LinkConfig {
        LinkConfig::new("amqp://guest:guest@127.0.0.1:5672/%2f", "test")
    }

    #[test]
    fn default_config_is_valid() {
        cfg().validate().unwrap();
    }

    #[test]
    fn tls_settings_go_with_amqps_and_external_with_a_client_certificate() {
        let mut c = cfg();
        c.uri = "amqps://guest:guest@broker.example/%2f".into();
        c.validate().unwrap();
        c.tls.ca_file = Some("/etc/hearth/ca.pem".into());
        c.validate().unwrap();

        c.uri = "amqps://broker.example/%2f?auth_mechanism=external".into();
        let err = c.validate().unwrap_err();
        assert!(err.to_string().contains("auth_mechanism=external needs"), "{err}");
        c.tls.cert_file = Some("/etc/hearth/client.pem".into());
        assert!(c.validate().unwrap_err().to_string().contains("both cert_file and key_file"));
        c.tls.key_file = Some("/etc/hearth/client.key".into());
        c.validate().unwrap();

        c.uri = "amqp://guest:guest@127.0.0.1:5672/%2f".into();
        let err = c.validate().unwrap_err();
        assert!(err.to_string().contains("use amqps://"), "{err}");
    }

    #[test]
    fn bad_uri_and_bounds_are_refused() {
        let mut c = cfg();
        c.uri = "http://nope".into();
        assert!(matches!(c.validate(), Err(ConfigError::Uri(_))));
        let mut c = cfg();
        c.max_unconfirmed = 0;
        assert!(c.validate().is_err());
        let mut c = cfg();
        c.reconnect_min = c.reconnect_max * 2;
        assert!(c.validate().is_err());
    }

    #[test]
    fn topology_names_are_checked() {
        let mut c = cfg();
        c.topology.queues.push(QueueSpec { durable: false, queue_type: QueueType::Quorum, ..QueueSpec::durable("q") });
        assert!(c.validate().unwrap_err().to_string().contains("durable"));
        let mut c = cfg();
        c.topology.exchanges.push(ExchangeSpec::durable("x".repeat(256), ExchangeKind::Topic));
        assert!(c.validate().is_err());
        let mut c = cfg();
        c.topology.exchanges.push(ExchangeSpec::durable("amq.mine", ExchangeKind::Topic));
        assert!(c.validate().is_err());
        let mut c = cfg();
        c.topology.bindings.push(BindingSpec {
            queue: "q".into(),
            exchange: "amq.topic".into(),
            routing_key: "#".into(),
        });
        c.validate().unwrap();
    }
}
