//! The destination kinds, in one place: what `[destinations.<name>] type = ...` may say, the keys every
//! destination shares (retries, `max_in_flight`, `exclude`, `required`), and how each kind is validated,
//! described and started. A new destination kind joins here (a variant in [`RawKind`], [`DestinationKind`] and
//! [`Publisher`], an arm in each match) and in its own folder beside `amqp/`, which holds its config, its
//! publisher and its tests.

use std::collections::BTreeMap;
use std::time::Duration;

use hearth_amqp::Link;
use hearth_core::config::{Problems, check_name, check_range};
use hearth_store::{DueDelivery, Journal};
use serde::{Deserialize, Deserializer};
use tokio_util::sync::CancellationToken;

use crate::amqp::{self, AmqpDestinationPlan, AmqpPublisher, RawAmqpDestination};
use crate::fhir::{self, FhirDestinationPlan, FhirPublisher, RawFhirDestination};
use crate::outbox::{Backoff, NotReady, RetrySettings, SendError, Sink, SinkConfig};

/// Upper bound for a destination's `max_in_flight`.
pub const MAX_IN_FLIGHT: usize = 1000;

/// `[destinations.<name>]`, exactly as written: the keys every destination has, and its kind's own keys (the
/// `type` key picks the kind). Unknown keys are errors.
#[derive(Debug)]
pub struct RawDestination {
    pub common: RawCommon,
    pub kind: RawKind,
}

/// The keys every destination has.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommon {
    pub exclude: Option<Vec<String>>,
    pub required: Option<bool>,
    pub max_attempts: Option<u32>,
    pub retry_initial_ms: Option<u64>,
    pub retry_max_ms: Option<u64>,
    pub max_in_flight: Option<usize>,
}

const COMMON_KEYS: [&str; 6] =
    ["exclude", "required", "max_attempts", "retry_initial_ms", "retry_max_ms", "max_in_flight"];

/// A destination kind's own keys.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RawKind {
    Amqp(RawAmqpDestination),
    Fhir(RawFhirDestination),
}

impl<'de> Deserialize<'de> for RawDestination {
    /// serde cannot combine `flatten` with `deny_unknown_fields`: the table is split by hand, then each part is
    /// read strictly.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = toml::Table::deserialize(d)?;
        let mut common = toml::Table::new();
        for key in COMMON_KEYS {
            if let Some(v) = table.remove(key) {
                common.insert(key.to_owned(), v);
            }
        }
        let common = RawCommon::deserialize(common).map_err(D::Error::custom)?;
        let kind = RawKind::deserialize(table).map_err(D::Error::custom)?;
        Ok(RawDestination { common, kind })
    }
}

/// An outbound destination.
#[derive(Debug, Clone, PartialEq)]
pub struct DestinationPlan {
    pub name: String,
    /// Element paths this destination must not see (`Patient.telecom`).
    pub exclude: Vec<String>,
    /// `/readyz` fails while a required destination is disconnected.
    pub required: bool,
    pub retry: RetryPlan,
    /// Deliveries published and awaiting the destination's confirmation at most.
    pub max_in_flight: usize,
    pub kind: DestinationKind,
}

/// A validated destination of one of the kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum DestinationKind {
    Amqp(AmqpDestinationPlan),
    Fhir(FhirDestinationPlan),
}

/// Exponential backoff with jitter, then `dead`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPlan {
    /// Attempts in all (the first included) before a delivery goes `dead`.
    pub max_attempts: u32,
    pub initial: Duration,
    pub max: Duration,
}

/// Validates every destination. No `[destinations]` at all: the built-in AMQP destination `fhir` (exchange
/// `hearth.fhir` on the default broker), so the default route has somewhere to go.
pub fn validate(raw: Option<BTreeMap<String, RawDestination>>, problems: &mut Problems) -> Vec<DestinationPlan> {
    let raw = raw.unwrap_or_else(|| {
        let builtin =
            RawDestination { common: RawCommon::default(), kind: RawKind::Amqp(RawAmqpDestination::default()) };
        BTreeMap::from([("fhir".to_owned(), builtin)])
    });
    raw.into_iter()
        .map(|(name, d)| {
            let key = format!("destinations.{name}");
            check_name(&name, &key, "destination", problems);
            let c = d.common;
            let max_attempts = c.max_attempts.unwrap_or(10);
            check_range(max_attempts, 1..=1000, &format!("{key}.max_attempts"), problems);
            let initial = c.retry_initial_ms.unwrap_or(1_000);
            let max = c.retry_max_ms.unwrap_or(300_000);
            if initial == 0 || max < initial {
                problems.add(
                    format!("{key}.retry_max_ms"),
                    format!("need 0 < retry_initial_ms ({initial}) <= retry_max_ms ({max})"),
                );
            }
            // An HTTP server takes far fewer concurrent requests than a broker takes unconfirmed publishes.
            let default_in_flight = if matches!(d.kind, RawKind::Fhir(_)) { 8 } else { 256 };
            let max_in_flight = c.max_in_flight.unwrap_or(default_in_flight);
            check_range(max_in_flight, 1..=MAX_IN_FLIGHT, &format!("{key}.max_in_flight"), problems);
            let kind = match d.kind {
                RawKind::Amqp(a) => DestinationKind::Amqp(amqp::validate(a, &key, problems)),
                RawKind::Fhir(f) => DestinationKind::Fhir(fhir::validate(f, &key, problems)),
            };
            DestinationPlan {
                name,
                exclude: c.exclude.unwrap_or_default(),
                required: c.required.unwrap_or(false),
                retry: RetryPlan {
                    max_attempts,
                    initial: Duration::from_millis(initial),
                    max: Duration::from_millis(max),
                },
                max_in_flight,
                kind,
            }
        })
        .collect()
}

impl DestinationPlan {
    /// The destination's line in `hearth check`'s topology.
    pub fn describe(&self) -> String {
        let what = match &self.kind {
            DestinationKind::Amqp(a) => a.describe(),
            DestinationKind::Fhir(f) => f.describe(),
        };
        let excludes =
            if self.exclude.is_empty() { String::new() } else { format!(", excludes {}", self.exclude.join(" ")) };
        format!(
            "dest     {:<12} {what}, retry {}x {}..{} ms, in flight {}{}{excludes}\n",
            self.name,
            self.retry.max_attempts,
            self.retry.initial.as_millis(),
            self.retry.max.as_millis(),
            self.max_in_flight,
            if self.required { ", required" } else { "" },
        )
    }

    /// Starts the destination: its connection (secrets read here, the only IO) and its outbox worker, which
    /// the caller runs.
    pub fn start(&self, journal: &Journal, shutdown: &CancellationToken) -> Result<Destination, StartError> {
        let fail = |reason: String| StartError { destination: self.name.clone(), reason };
        let publisher = match &self.kind {
            DestinationKind::Amqp(a) => {
                let link = Link::start(a.link_config(&self.name, self.max_in_flight).map_err(fail)?, shutdown.clone());
                Publisher::Amqp(AmqpPublisher { link, exchange: a.exchange.clone() })
            }
            DestinationKind::Fhir(f) => {
                let settings = f.client_settings(self.max_in_flight).map_err(fail)?;
                let client = hearth_fhir_client::FhirClient::new(&settings, None).map_err(|e| fail(e.to_string()))?;
                Publisher::Fhir(FhirPublisher::start(client, shutdown.clone()))
            }
        };
        let cfg = SinkConfig {
            destination: self.name.clone(),
            max_attempts: self.retry.max_attempts,
            backoff: Backoff { initial: self.retry.initial, max: self.retry.max },
            max_in_flight: self.max_in_flight,
        };
        let sink = Sink::new(cfg, journal.clone(), publisher.clone());
        let retry = sink.retry_settings();
        Ok(Destination { name: self.name.clone(), required: self.required, publisher, sink, retry })
    }
}

/// A destination that could not start.
#[derive(Debug, thiserror::Error)]
#[error("destinations.{destination}: {reason}")]
pub struct StartError {
    pub destination: String,
    pub reason: String,
}

/// A started destination: its publisher (for readiness and the ingest gate) and its outbox worker.
#[derive(Debug)]
pub struct Destination {
    pub name: String,
    pub required: bool,
    pub publisher: Publisher,
    pub sink: Sink,
    /// The sink's retry settings (a configuration reload replaces them).
    pub retry: RetrySettings,
}

/// Where a sink sends: one variant per destination kind.
#[derive(Debug, Clone)]
pub enum Publisher {
    Amqp(AmqpPublisher),
    Fhir(FhirPublisher),
}

impl Publisher {
    pub(crate) async fn send(&self, d: &DueDelivery, body: &str) -> Result<(), SendError> {
        match self {
            Publisher::Amqp(p) => p.send(d, body).await,
            Publisher::Fhir(p) => p.send(d, body).await,
        }
    }

    /// `Ok` when the destination can take deliveries now; otherwise why not.
    pub fn ready(&self) -> Result<(), NotReady> {
        match self {
            Publisher::Amqp(p) => p.ready(),
            Publisher::Fhir(p) => p.ready(),
        }
    }

    /// Resolves when the destination's state may have changed.
    pub(crate) async fn changed(&self) {
        match self {
            Publisher::Amqp(p) => p.changed().await,
            Publisher::Fhir(p) => p.changed().await,
        }
    }
}
