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
    pub shutdown_timeout_ms: Option<u64>,
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
