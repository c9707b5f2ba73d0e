//! Configuration: raw serde structs read from TOML and `HEARTH__SECTION__KEY` environment variables, then
//! validated into a [`Plan`] that cannot be invalid. Validation does no IO: it checks shapes, ranges and names
//! and reports the key path of every problem (`channels.adt.listen: ...`).
//!
//! With no file, [`Plan::default_plan`] is the built-in default of DESIGN.md: MLLP on `0.0.0.0:2575`, HTTP on
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
//! assert_eq!(plan.channels[0].listen.port(), 2575);
//! ```
#![forbid(unsafe_code)]

mod raw;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use hearth_hl7v2::{AckPolicy, Charset};
pub use raw::RawConfig;

/// Prefix of environment overrides: `HEARTH__JOURNAL__PATH=/var/lib/hearth/journal.db`.
pub const ENV_PREFIX: &str = "HEARTH";
/// Default maximum MLLP frame: 10 MiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 10 * 1024 * 1024;
/// The character sets MSH-18 may name, as accepted for `default_charset`.
pub const CHARSETS: [&str; 4] = ["ASCII", "8859/1", "8859/15", "UNICODE UTF-8"];

/// A configuration problem, naming the key path.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration: {0}")]
    Load(String),
    #[error("{}", format_problems(.0))]
    Invalid(Vec<Problem>),
}

/// One invalid key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

fn format_problems(p: &[Problem]) -> String {
    let mut s = String::from("invalid configuration:");
    for pr in p {
        let _ = write!(s, "\n  {}: {}", pr.path, pr.message);
    }
    s
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub journal: JournalPlan,
    pub http: HttpPlan,
    pub channels: Vec<ChannelPlan>,
    /// How long a graceful shutdown waits for in-flight messages.
    pub shutdown_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JournalPlan {
    Sqlite { path: PathBuf, max_batch: usize, queue_capacity: usize, max_size_bytes: Option<u64>, busy_timeout_ms: u64 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpPlan {
    pub listen: SocketAddr,
}

/// One inbound channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelPlan {
    pub name: String,
    pub listen: SocketAddr,
    pub source: SourcePlan,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SourcePlan {
    Mllp(MllpPlan),
}

#[derive(Debug, Clone, PartialEq)]
pub struct MllpPlan {
    pub max_frame_bytes: usize,
    pub max_connections: usize,
    pub idle_timeout: Duration,
    /// MSH-18 value assumed when a message names none.
    pub default_charset: Charset,
    /// Our own MSH-3/MSH-4 on ACKs when the sender named no receiver.
    pub ack_sending_application: String,
    pub ack_sending_facility: String,
    /// When to answer: every message (default), or as MSH-15/MSH-16 ask.
    pub ack_policy: AckPolicy,
    /// How the processing stage converts this channel's messages to FHIR.
    pub mapping: MappingPlan,
}

/// `channels.<name>.mapping`: per-channel conversion options.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MappingPlan {
    /// `bundle_type`: `"transaction"` (default), `"message"` or `"collection"`.
    pub bundle_type: BundleKind,
    /// `facility_timezone`: IANA name (`"America/Chicago"`) for HL7 times sent without an offset; checked against
    /// the tz database compiled into Hearth (no IO). `None`: such times are cut to their date.
    pub facility_timezone: Option<String>,
    /// `vocabulary`: a CSV file or a directory of CSV files overriding the built-in vocabulary maps (read when
    /// the engine starts, not here: validation does no IO).
    pub vocabulary: Option<PathBuf>,
}

/// The FHIR Bundle type a channel produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BundleKind {
    #[default]
    Transaction,
    Message,
    Collection,
}

impl Plan {
    /// The built-in default used by `hearth run` with no `--config`, plus environment overrides.
    pub fn default_plan() -> Result<Plan, ConfigError> {
        load_str(DEFAULT_TOML, &std::env::vars().collect::<Vec<_>>())
    }

    /// A human-readable topology, printed by `hearth check`.
    pub fn topology(&self) -> String {
        let mut s = String::new();
        match &self.journal {
            JournalPlan::Sqlite { path, max_batch, max_size_bytes, .. } => {
                let _ = writeln!(
                    s,
                    "journal  sqlite {} (group commit up to {max_batch}{})",
                    path.display(),
                    max_size_bytes.map(|b| format!(", max {b} bytes")).unwrap_or_default()
                );
            }
        }
        let _ = writeln!(s, "http     {} (/healthz /readyz /metrics)", self.http.listen);
        for c in &self.channels {
            match &c.source {
                SourcePlan::Mllp(m) => {
                    let _ = writeln!(
                        s,
                        "channel  {:<12} mllp {} (max frame {} bytes, max {} connections, charset {}, acks {:?})",
                        c.name,
                        c.listen,
                        m.max_frame_bytes,
                        m.max_connections,
                        m.default_charset.hl7_name(),
                        m.ack_policy
                    );
                    let mp = &m.mapping;
                    let _ = writeln!(
                        s,
                        "         {:<12} map hl7v2 -> FHIR R4 {:?} bundle (time zone {}, vocabulary {})",
                        "",
                        mp.bundle_type,
                        mp.facility_timezone.as_deref().unwrap_or("none"),
                        mp.vocabulary
                            .as_ref()
                            .map_or_else(|| "built-in".to_owned(), |p| format!("built-in + {}", p.display()))
                    );
                }
            }
        }
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
    let env_map: config::Map<String, String> =
        env.iter().filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}__"))).cloned().collect();
    let cfg = config::Config::builder()
        .add_source(config::File::from_str(toml_text, config::FileFormat::Toml))
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

/// Validate raw configuration into a plan. Pure.
pub fn validate(raw: RawConfig) -> Result<Plan, ConfigError> {
    let mut problems = Vec::new();
    let mut bad = |path: String, message: String| problems.push(Problem { path, message });

    let journal = match raw.journal.unwrap_or_default() {
        raw::RawJournal::Sqlite(j) => {
            let max_batch = j.max_batch.unwrap_or(512);
            if !(1..=10_000).contains(&max_batch) {
                bad("journal.max_batch".into(), format!("must be between 1 and 10000, got {max_batch}"));
            }
            let queue_capacity = j.queue_capacity.unwrap_or(4096);
            if !(1..=1_000_000).contains(&queue_capacity) {
                bad("journal.queue_capacity".into(), format!("must be between 1 and 1000000, got {queue_capacity}"));
            }
            if j.path.as_os_str().is_empty() {
                bad("journal.path".into(), "must not be empty".into());
            }
            if let Some(m) = j.max_size_bytes
                && m < 64 * 1024
            {
                bad("journal.max_size_bytes".into(), format!("must be at least 65536, got {m}"));
            }
            JournalPlan::Sqlite {
                path: j.path,
                max_batch,
                queue_capacity,
                max_size_bytes: j.max_size_bytes,
                busy_timeout_ms: j.busy_timeout_ms.unwrap_or(5000),
            }
        }
    };

    let http_raw = raw.http.unwrap_or_default();
    let http_listen = parse_addr(&http_raw.listen.unwrap_or_else(|| "0.0.0.0:8080".into()), "http.listen", &mut bad);

    let mut channels = Vec::new();
    let mut seen_ports: BTreeMap<SocketAddr, String> = BTreeMap::new();
    for (name, ch) in raw.channels.unwrap_or_default() {
        let key = format!("channels.{name}");
        if !valid_name(&name) {
            bad(key.clone(), "channel names use lowercase letters, digits, '-' and '_' (max 64)".into());
        }
        match ch {
            raw::RawChannel::Mllp(m) => {
                let listen = parse_addr(&m.listen, &format!("{key}.listen"), &mut bad);
                if let Some(other) = seen_ports.insert(listen, name.clone()) {
                    bad(format!("{key}.listen"), format!("{listen} is already used by channel {other}"));
                }
                let max_frame_bytes = m.max_frame_bytes.unwrap_or(DEFAULT_MAX_FRAME_BYTES);
                if !(1024..=1024 * 1024 * 1024).contains(&max_frame_bytes) {
                    bad(
                        format!("{key}.max_frame_bytes"),
                        format!("must be between 1024 and 1073741824, got {max_frame_bytes}"),
                    );
                }
                let max_connections = m.max_connections.unwrap_or(1024);
                if !(1..=65_536).contains(&max_connections) {
                    bad(
                        format!("{key}.max_connections"),
                        format!("must be between 1 and 65536, got {max_connections}"),
                    );
                }
                let charset_name = m.default_charset.unwrap_or_else(|| "ASCII".into());
                // Only the table 0211 spellings here (the parser also accepts aliases in MSH-18).
                let default_charset = match Charset::from_hl7_name(&charset_name) {
                    Some(c) if CHARSETS.contains(&charset_name.as_str()) => c,
                    _ => {
                        bad(
                            format!("{key}.default_charset"),
                            format!("unknown charset {charset_name:?}; one of {CHARSETS:?}"),
                        );
                        Charset::Ascii
                    }
                };
                let ack_policy = match m.ack_policy.as_deref().unwrap_or("always") {
                    "always" => AckPolicy::Always,
                    "msh15" => AckPolicy::Msh15,
                    other => {
                        bad(format!("{key}.ack_policy"), format!("{other:?} is not one of \"always\", \"msh15\""));
                        AckPolicy::Always
                    }
                };
                let mapping = validate_mapping(m.mapping.unwrap_or_default(), &format!("{key}.mapping"), &mut bad);
                channels.push(ChannelPlan {
                    name: name.clone(),
                    listen,
                    source: SourcePlan::Mllp(MllpPlan {
                        max_frame_bytes,
                        max_connections,
                        idle_timeout: Duration::from_millis(m.idle_timeout_ms.unwrap_or(300_000)),
                        default_charset,
                        ack_sending_application: m.ack_sending_application.unwrap_or_else(|| "HEARTH".into()),
                        ack_sending_facility: m.ack_sending_facility.unwrap_or_default(),
                        ack_policy,
                        mapping,
                    }),
                });
            }
        }
    }
    if seen_ports.contains_key(&http_listen) {
        bad("http.listen".into(), format!("{http_listen} is also a channel's listen address"));
    }
    let shutdown_timeout = Duration::from_millis(raw.shutdown_timeout_ms.unwrap_or(10_000));

    if problems.is_empty() {
        Ok(Plan { journal, http: HttpPlan { listen: http_listen }, channels, shutdown_timeout })
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

fn validate_mapping(m: raw::RawMapping, key: &str, bad: &mut impl FnMut(String, String)) -> MappingPlan {
    let bundle_type = match m.bundle_type.as_deref().unwrap_or("transaction") {
        "transaction" => BundleKind::Transaction,
        "message" => BundleKind::Message,
        "collection" => BundleKind::Collection,
        other => {
            bad(
                format!("{key}.bundle_type"),
                format!("{other:?} is not one of \"transaction\", \"message\", \"collection\""),
            );
            BundleKind::Transaction
        }
    };
    if let Some(tz) = &m.facility_timezone
        && jiff::tz::TimeZone::get(tz).is_err()
    {
        bad(
            format!("{key}.facility_timezone"),
            format!("{tz:?} is not an IANA time zone name (e.g. \"America/Chicago\")"),
        );
    }
    if m.vocabulary.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
        bad(format!("{key}.vocabulary"), "must not be empty".into());
    }
    MappingPlan { bundle_type, facility_timezone: m.facility_timezone, vocabulary: m.vocabulary }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn parse_addr(s: &str, path: &str, bad: &mut impl FnMut(String, String)) -> SocketAddr {
    match s.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            bad(path.into(), format!("{s:?} is not an IP:port socket address"));
            SocketAddr::from(([0, 0, 0, 0], 0))
        }
    }
}

#[cfg(test)]
mod tests;
