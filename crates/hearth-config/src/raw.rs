//! What the configuration file and environment may contain, exactly as written. Unknown keys are errors.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub journal: Option<RawJournal>,
    pub http: Option<RawHttp>,
    pub channels: Option<BTreeMap<String, RawChannel>>,
    pub destinations: Option<BTreeMap<String, RawDestination>>,
    pub routing: Option<hearth_route::RawRouting>,
    pub routes: Option<BTreeMap<String, hearth_route::RawRoute>>,
    pub outbox: Option<RawOutbox>,
    pub shutdown_timeout_ms: Option<u64>,
    pub admin: Option<crate::admin::RawAdmin>,
    pub alerts: Option<crate::admin::RawAlerts>,
    pub retention: Option<crate::admin::RawRetention>,
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
pub enum RawDestination {
    Amqp(RawAmqpDestination),
}

/// `[destinations.<name>] type = "amqp"`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAmqpDestination {
    pub endpoint: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub exchange: Option<String>,
    pub exchange_type: Option<String>,
    pub declare_exchange: Option<bool>,
    pub alternate_exchange: Option<String>,
    pub exclude: Option<Vec<String>>,
    pub required: Option<bool>,
    pub max_attempts: Option<u32>,
    pub retry_initial_ms: Option<u64>,
    pub retry_max_ms: Option<u64>,
    pub max_in_flight: Option<usize>,
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

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RawJournal {
    Sqlite(RawSqlite),
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub listen: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RawChannel {
    Mllp(RawMllp),
    Amqp(RawAmqpSource),
    Webhook(crate::webhook::RawWebhook),
    File(crate::csv::RawFile),
    Http(crate::csv::RawHttpIngest),
}

/// `[channels.<name>] type = "amqp"`: consume messages another engine put on a queue.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAmqpSource {
    pub endpoint: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub queue: String,
    pub declare_queue: Option<bool>,
    pub prefetch: Option<u16>,
    pub payload: Option<String>,
    pub default_charset: Option<String>,
    pub mapping: Option<RawMapping>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMllp {
    pub listen: String,
    pub max_frame_bytes: Option<usize>,
    pub max_connections: Option<usize>,
    pub idle_timeout_ms: Option<u64>,
    pub default_charset: Option<String>,
    pub ack_sending_application: Option<String>,
    pub ack_sending_facility: Option<String>,
    pub ack_policy: Option<String>,
    pub mapping: Option<RawMapping>,
}

/// `[channels.<name>.mapping]`: how this channel's messages become FHIR.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMapping {
    pub bundle_type: Option<String>,
    pub facility_timezone: Option<String>,
    pub vocabulary: Option<PathBuf>,
}
