//! `[channels.<name>] type = "amqp"`: what an AMQP source consumes and how, as configured (raw and validated)
//! and as it runs.

use std::path::PathBuf;

use hearth_amqp::{Endpoint, LinkConfig, QueueSpec};
use hearth_core::PayloadKind;
use hearth_core::config::Problems;
use hearth_hl7v2::Charset;
use serde::Deserialize;

use super::source::AmqpSourceError;
use crate::mapping::{self, MappingPlan, RawMapping};

/// The raw table, exactly as written: consume messages another engine put on a queue.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAmqpSource {
    /// One URI, or several (the nodes of a RabbitMQ cluster, tried in turn).
    pub endpoint: Option<hearth_core::config::OneOrMany<String>>,
    /// Several URIs (the same as a list in `endpoint`).
    pub endpoints: Option<Vec<String>>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub queue: String,
    pub declare_queue: Option<bool>,
    pub prefetch: Option<u16>,
    pub payload: Option<String>,
    pub default_charset: Option<String>,
    pub mapping: Option<RawMapping>,
}

/// A validated AMQP channel: acks to the broker only after the journal has the message.
#[derive(Debug, Clone, PartialEq)]
pub struct AmqpSourcePlan {
    pub endpoint: Endpoint,
    pub queue: String,
    /// Declare the queue (durable) if it does not exist.
    pub declare_queue: bool,
    pub prefetch: u16,
    /// `hl7v2` or `fhir` (a FHIR R4 JSON Bundle or resource).
    pub payload: PayloadKind,
    pub default_charset: Charset,
    pub mapping: MappingPlan,
}

/// Validates one AMQP channel; problems are named under `key`.
pub fn validate(a: RawAmqpSource, key: &str, problems: &mut Problems) -> AmqpSourcePlan {
    let uris = hearth_amqp::endpoint_uris(a.endpoint, a.endpoints, key, problems);
    let endpoint =
        Endpoint::validate_list(uris, a.password_env, a.password_file, (key, "endpoint", "password"), problems)
            .with_tls([a.ca_file, a.cert_file, a.key_file], key, problems);
    if a.queue.is_empty() || a.queue.len() > 255 {
        problems.add(format!("{key}.queue"), "must be 1 to 255 bytes");
    }
    let prefetch = a.prefetch.unwrap_or(64);
    if prefetch == 0 {
        problems.add(format!("{key}.prefetch"), "must be at least 1");
    }
    let payload = match a.payload.as_deref().unwrap_or("hl7v2") {
        "hl7v2" => PayloadKind::Hl7v2,
        "fhir" => PayloadKind::Fhir,
        other => {
            problems.add(format!("{key}.payload"), format!("{other:?} is not one of \"hl7v2\", \"fhir\""));
            PayloadKind::Hl7v2
        }
    };
    AmqpSourcePlan {
        endpoint,
        queue: a.queue,
        declare_queue: a.declare_queue.unwrap_or(true),
        prefetch,
        payload,
        default_charset: mapping::validate_charset(a.default_charset, key, problems),
        mapping: mapping::validate(a.mapping.unwrap_or_default(), &format!("{key}.mapping"), problems),
    }
}

impl AmqpSourcePlan {
    /// The topology line (`hearth check`).
    pub fn describe(&self) -> String {
        format!(
            "amqp {} queue {} (prefetch {}, payload {})",
            self.endpoint.redacted(),
            self.queue,
            self.prefetch,
            self.payload.as_str()
        )
    }

    /// The runtime configuration of channel `name`: the endpoint's password is read here (the only IO).
    pub fn runtime(&self, name: &str) -> Result<AmqpSourceConfig, AmqpSourceError> {
        let mut uris = self.endpoint.resolve_all().map_err(|e| AmqpSourceError::Config(e.to_string()))?;
        let uri = uris.remove(0);
        let mut link = LinkConfig::new(uri, format!("hearth channel {name}"));
        link.fallback_uris = uris;
        link.tls = self.endpoint.tls.clone();
        if self.declare_queue {
            link.topology.queues.push(QueueSpec::durable(self.queue.clone()));
        }
        let mut cfg = AmqpSourceConfig::new(link, self.queue.clone(), self.payload);
        cfg.prefetch = self.prefetch;
        cfg.validate()?;
        Ok(cfg)
    }
}

/// An AMQP source: the link (declaring the queue if the topology says so), the queue, and what it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct AmqpSourceConfig {
    pub link: LinkConfig,
    pub queue: String,
    /// Deliveries in hand at once (`basic.qos`); also how many are journaled concurrently.
    pub prefetch: u16,
    /// `Hl7v2` or `Fhir`.
    pub kind: PayloadKind,
    /// Larger messages are journaled as `rejected` (kept, not parsed) and acknowledged.
    pub max_message_bytes: usize,
}

impl AmqpSourceConfig {
    /// Prefetch 64 and a 16 MiB message limit.
    pub fn new(link: LinkConfig, queue: impl Into<String>, kind: PayloadKind) -> Self {
        Self { link, queue: queue.into(), prefetch: 64, kind, max_message_bytes: 16 * 1024 * 1024 }
    }

    pub fn validate(&self) -> Result<(), AmqpSourceError> {
        self.link.validate().map_err(|e| AmqpSourceError::Config(e.to_string()))?;
        if self.queue.is_empty() || self.queue.len() > 255 {
            return Err(AmqpSourceError::Config("queue name must be 1 to 255 bytes".into()));
        }
        if self.prefetch == 0 {
            return Err(AmqpSourceError::Config("prefetch must be at least 1".into()));
        }
        if self.max_message_bytes == 0 {
            return Err(AmqpSourceError::Config("max_message_bytes must be at least 1".into()));
        }
        if !matches!(self.kind, PayloadKind::Hl7v2 | PayloadKind::Fhir) {
            let kind = self.kind.as_str();
            return Err(AmqpSourceError::Config(format!("kind {kind}: an AMQP source carries hl7v2 or fhir")));
        }
        Ok(())
    }
}
