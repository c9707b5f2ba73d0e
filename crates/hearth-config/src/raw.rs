//! What the configuration file and environment may contain, exactly as written. Unknown keys are errors. The
//! tables of channels and destinations are the component registries' own raw types.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hearth_sinks::RawDestination;
use hearth_sources::RawSource;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub journal: Option<RawJournal>,
    pub http: Option<RawHttp>,
    pub channels: Option<BTreeMap<String, RawSource>>,
    pub destinations: Option<BTreeMap<String, RawDestination>>,
    pub routing: Option<hearth_route::RawRouting>,
    pub routes: Option<BTreeMap<String, hearth_route::RawRoute>>,
    pub outbox: Option<RawOutbox>,
    pub shutdown_timeout_ms: Option<u64>,
    pub admin: Option<crate::ops::RawAdmin>,
    pub alerts: Option<crate::ops::RawAlerts>,
    pub retention: Option<crate::ops::RawRetention>,
    pub tracing: Option<crate::telemetry::RawTracing>,
}

/// `[outbox]`: limits shared by every destination.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutbox {
    /// Pending deliveries (all destinations) beyond which new input waits instead of being acknowledged.
    pub max_pending: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RawJournal {
    Sqlite(RawSqlite),
    Postgres(RawPostgres),
}

impl Default for RawJournal {
    fn default() -> Self {
        RawJournal::Sqlite(RawSqlite {
            path: PathBuf::from("./data/hearth.db"),
            max_batch: None,
            queue_capacity: None,
            max_size_bytes: None,
            busy_timeout_ms: None,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSqlite {
    pub path: PathBuf,
    pub max_batch: Option<usize>,
    pub queue_capacity: Option<usize>,
    pub max_size_bytes: Option<u64>,
    pub busy_timeout_ms: Option<u64>,
}

/// `[journal] type = "postgres"`: one database shared by every node (docs/scale-out.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPostgres {
    pub url: String,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub schema: Option<String>,
    pub pool_size: Option<u32>,
    pub statement_timeout_ms: Option<u64>,
    pub connect_timeout_ms: Option<u64>,
    pub node_lease_ms: Option<u64>,
    pub max_batch: Option<usize>,
    pub queue_capacity: Option<usize>,
    pub max_size_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub listen: Option<String>,
    /// HTTPS on `listen` (docs/security.md).
    pub tls: Option<hearth_sources::tls::RawTls>,
    /// A second, plaintext listener that serves `/healthz` only (for load balancers).
    pub health_listen: Option<String>,
}
