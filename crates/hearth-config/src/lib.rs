//! Configuration: TOML and `HEARTH__SECTION__KEY` environment variables, read into raw structs and validated
//! into a [`Plan`] that cannot be invalid. Validation does no IO: it checks shapes, ranges and names and reports
//! the key path of every problem (`channels.adt.listen: ...`).
//!
//! This crate holds the loader and the sections that belong to no component (`[journal]`, `[http]`,
//! `[outbox]`, routes and the operations sections). Each channel and destination kind validates its own table:
//! see `hearth_sources::registry` and `hearth_sinks::registry`.
//!
//! With no file, [`Plan::default_plan`] is the built-in default: MLLP on `0.0.0.0:2575`, HTTP on
//! `0.0.0.0:8080`, the journal in SQLite at `./data/hearth.db`.
//!
//! ```
//! let plan = hearth_config::load_str(r#"
//!     [journal]
//!     type = "sqlite"
//!     path = "/tmp/hearth-doc.db"
//!
//!     [channels.adt]
//!     type = "mllp"
//!     listen = "127.0.0.1:2575"
//! "#, &[]).unwrap();
//! assert_eq!(plan.channels[0].name, "adt");
//! // No `[destinations]`: the built-in AMQP destination `fhir` (exchange `hearth.fhir`) and the default route.
//! assert_eq!(plan.destinations[0].name, "fhir");
//! ```
#![forbid(unsafe_code)]

mod journal;
pub mod ops;
mod raw;
pub mod telemetry;
mod validate;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

pub use hearth_amqp::DEFAULT_ENDPOINT as DEFAULT_AMQP_ENDPOINT;
pub use hearth_core::PayloadKind;
pub use hearth_core::config::{Problem, SecretSource};
pub use hearth_hl7v2::{AckPolicy, Charset};
pub use hearth_sinks::{DestinationKind, DestinationPlan, RetryPlan};
pub use hearth_sources::mapping::{BundleKind, MappingPlan};
pub use hearth_sources::{ChannelPlan, SourcePlan};
pub use journal::{DEFAULT_NODE_LEASE_MS, JournalPlan, PostgresPlan};
pub use raw::RawConfig;
pub use telemetry::TracingPlan;
pub use validate::validate;

/// Prefix of environment overrides: `HEARTH__JOURNAL__PATH=/var/lib/hearth/journal.db`.
pub const ENV_PREFIX: &str = "HEARTH";

/// A configuration problem, naming the key path.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration: {0}")]
    Load(String),
    #[error("{}", format_problems(.0))]
    Invalid(Vec<Problem>),
}

fn format_problems(p: &[Problem]) -> String {
    let mut s = String::from("invalid configuration:");
    for pr in p {
        let _ = write!(s, "\n  {}: {}", pr.path, pr.message);
    }
    s
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Plan {
    pub journal: JournalPlan,
    pub http: HttpPlan,
    pub channels: Vec<ChannelPlan>,
    pub destinations: Vec<DestinationPlan>,
    /// The compiled route rules (the built-in default route included unless turned off).
    pub routes: std::sync::Arc<hearth_route::RouteSet>,
    /// Pending deliveries beyond which new input waits instead of being acknowledged.
    pub max_outbox_pending: u64,
    /// How long a graceful shutdown waits for in-flight messages.
    pub shutdown_timeout: Duration,
    /// API tokens, alerts and retention (`[admin]`, `[alerts]`, `[retention]`).
    pub ops: ops::OpsPlan,
    /// `[tracing]`: OpenTelemetry traces (off unless `otlp_endpoint` is set).
    pub tracing: telemetry::TracingPlan,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpPlan {
    pub listen: SocketAddr,
    /// HTTPS on `listen`; `None`: plaintext HTTP.
    pub tls: Option<hearth_sources::tls::TlsPlan>,
    /// A plaintext listener for `/healthz` only.
    pub health_listen: Option<SocketAddr>,
}

impl Plan {
    /// The built-in default used by `hearth run` with no `--config`, plus environment overrides.
    pub fn default_plan() -> Result<Plan, ConfigError> {
        load_str(DEFAULT_TOML, &std::env::vars().collect::<Vec<_>>())
    }

    /// A human-readable topology, printed by `hearth check`.
    pub fn topology(&self) -> String {
        let mut s = self.journal.describe();
        let scheme = if self.http.tls.is_some() { "https" } else { "http" };
        let _ = writeln!(s, "http     {} {scheme} (/healthz /readyz /metrics)", self.http.listen);
        if let Some(h) = self.http.health_listen {
            let _ = writeln!(s, "http     {h} http (/healthz only)");
        }
        for c in &self.channels {
            s.push_str(&c.describe());
        }
        for d in &self.destinations {
            s.push_str(&d.describe());
        }
        for line in self.routes.describe().lines() {
            let line = line.strip_prefix("route ").unwrap_or(line);
            let _ = writeln!(s, "route    {line}");
        }
        s.push_str(&self.tracing.describe());
        s
    }
}

/// The built-in default configuration, as TOML (also shipped as deploy/hearth.example.toml).
pub const DEFAULT_TOML: &str = r#"
[journal]
type = "sqlite"
path = "./data/hearth.db"

[http]
listen = "0.0.0.0:8080"

[channels.hl7v2]
type = "mllp"
listen = "0.0.0.0:2575"
"#;

/// Load a file plus environment overrides (`HEARTH__...`).
pub fn load_file(path: &Path) -> Result<Plan, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Load(format!("{}: {e}", path.display())))?;
    load_str(&text, &std::env::vars().collect::<Vec<_>>())
}

/// Load TOML text plus the given environment (only `HEARTH__` variables are looked at).
pub fn load_str(toml_text: &str, env: &[(String, String)]) -> Result<Plan, ConfigError> {
    load_merged(&[toml_text], env)
}

/// Load several TOML texts merged in order (a later table's keys are added to, or replace, an earlier one's),
/// plus the environment: a route fragment such as `mappings/routes/discharge-followup.toml` on top of a base
/// configuration (`hearth test`).
pub fn load_merged(toml_texts: &[&str], env: &[(String, String)]) -> Result<Plan, ConfigError> {
    let env_map: config::Map<String, String> =
        env.iter().filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}__"))).cloned().collect();
    let mut builder = config::Config::builder();
    for text in toml_texts {
        builder = builder.add_source(config::File::from_str(text, config::FileFormat::Toml));
    }
    let cfg = builder
        .add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(env_map)),
        )
        .build()
        .map_err(|e| ConfigError::Load(e.to_string()))?;
    let raw: RawConfig = cfg.try_deserialize().map_err(|e| ConfigError::Load(e.to_string()))?;
    validate(raw)
}

#[cfg(test)]
mod tests;

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
