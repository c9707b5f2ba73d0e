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
//! // No `[destinations]`: the built-in AMQP destination `fhir` (exchange `hearth.fhir`) and the default route.
//! assert_eq!(plan.destinations[0].name, "fhir");
//! ```
#![forbid(unsafe_code)]

pub mod admin;
pub mod csv;
mod raw;
pub mod webhook;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use csv::{CsvProfileRef, FilePlan, HttpIngestPlan, HttpPayload};
pub use hearth_core::PayloadKind;
pub use hearth_hl7v2::{AckPolicy, Charset};
pub use raw::RawConfig;
pub use webhook::{WebhookAuth, WebhookPlan, WebhookProfile};

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
    pub ops: admin::OpsPlan,
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
    pub source: SourcePlan,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SourcePlan {
    Mllp(MllpPlan),
    Amqp(AmqpSourcePlan),
    /// `POST /webhooks/<name>` on the HTTP listener.
    Webhook(WebhookPlan),
    /// A CSV billing inbox (a directory polled for files).
    File(FilePlan),
    /// `POST /ingest/<name>` on the HTTP listener: a CSV upload or one HL7 v2 message.
    Http(HttpIngestPlan),
}

impl SourcePlan {
    /// How the processing stage converts this channel's messages: the kind of payload, the charset assumed for
    /// HL7 v2 without MSH-18, and the mapping options.
    pub fn conversion(&self) -> (PayloadKind, Charset, &MappingPlan) {
        match self {
            SourcePlan::Mllp(m) => (PayloadKind::Hl7v2, m.default_charset, &m.mapping),
            SourcePlan::Amqp(a) => (a.payload, a.default_charset, &a.mapping),
            // Webhooks map under their profile; the HL7 v2 options do not apply.
            SourcePlan::Webhook(_) => (PayloadKind::Webhook, Charset::Ascii, &NO_MAPPING),
            // CSV maps under its profile (`csv_profile`); the HL7 v2 options do not apply.
            SourcePlan::File(_) => (PayloadKind::Csv, Charset::Ascii, &NO_MAPPING),
            SourcePlan::Http(h) => match &h.payload {
                HttpPayload::Csv { .. } => (PayloadKind::Csv, Charset::Ascii, &NO_MAPPING),
                HttpPayload::Hl7v2 { default_charset, mapping, .. } => (PayloadKind::Hl7v2, *default_charset, mapping),
            },
        }
    }

    /// The CSV profile of a channel that takes CSV (a file inbox, a CSV HTTP upload).
    pub fn csv_profile(&self) -> Option<&CsvProfileRef> {
        match self {
            SourcePlan::File(f) => Some(&f.profile),
            SourcePlan::Http(HttpIngestPlan { payload: HttpPayload::Csv { profile }, .. }) => Some(profile),
            _ => None,
        }
    }
}

/// The mapping options of a channel that has none (webhooks).
static NO_MAPPING: MappingPlan =
    MappingPlan { bundle_type: BundleKind::Transaction, facility_timezone: None, vocabulary: None };

/// Where a secret comes from (never the TOML itself). Resolved by the engine when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// No secret beyond what the endpoint URI holds.
    None,
    Env(String),
    File(PathBuf),
}

/// A connection to an AMQP broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpEndpoint {
    /// `amqp://user[:password]@host:port/vhost`.
    pub uri: String,
    /// Replaces the URI's password when set.
    pub password: SecretSource,
}

/// `[channels.<name>] type = "amqp"`: consumes from a queue; acks to the broker only after the journal has it.
#[derive(Debug, Clone, PartialEq)]
pub struct AmqpSourcePlan {
    pub endpoint: AmqpEndpoint,
    pub queue: String,
    /// Declare the queue (durable) if it does not exist.
    pub declare_queue: bool,
    pub prefetch: u16,
    /// `hl7v2` or `fhir` (a FHIR R4 JSON Bundle or resource).
    pub payload: PayloadKind,
    pub default_charset: Charset,
    pub mapping: MappingPlan,
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

#[derive(Debug, Clone, PartialEq)]
pub enum DestinationKind {
    Amqp(AmqpDestinationPlan),
}

/// Exponential backoff with jitter, then `dead`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPlan {
    /// Attempts in all (the first included) before a delivery goes `dead`.
    pub max_attempts: u32,
    pub initial: Duration,
    pub max: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpDestinationPlan {
    pub endpoint: AmqpEndpoint,
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

#[derive(Debug, Clone, PartialEq)]
pub struct MllpPlan {
    pub listen: SocketAddr,
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
                        m.listen,
                        m.max_frame_bytes,
                        m.max_connections,
                        m.default_charset.hl7_name(),
                        m.ack_policy
                    );
                }
                SourcePlan::Webhook(w) => {
                    let _ = writeln!(
                        s,
                        "channel  {:<12} webhook POST /webhooks/{} (profile {}, auth {}, max body {} bytes)",
                        c.name,
                        c.name,
                        match &w.profile {
                            WebhookProfile::Builtin(n) => n.clone(),
                            WebhookProfile::File(p) => p.display().to_string(),
                        },
                        w.auth.name(),
                        w.max_body_bytes
                    );
                }
                SourcePlan::File(_) | SourcePlan::Http(_) => csv::topology(&mut s, c),
                SourcePlan::Amqp(a) => {
                    let _ = writeln!(
                        s,
                        "channel  {:<12} amqp {} queue {} (prefetch {}, payload {})",
                        c.name,
                        redact_uri(&a.endpoint.uri),
                        a.queue,
                        a.prefetch,
                        a.payload.as_str()
                    );
                }
            }
            let (kind, _, mp) = c.source.conversion();
            if kind == PayloadKind::Hl7v2 {
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
        for d in &self.destinations {
            match &d.kind {
                DestinationKind::Amqp(a) => {
                    let _ = writeln!(
                        s,
                        "dest     {:<12} amqp {} exchange {} ({}), {} queue(s), retry {}x {}..{} ms, in flight {}{}{}",
                        d.name,
                        redact_uri(&a.endpoint.uri),
                        a.exchange,
                        a.exchange_type,
                        a.queues.len(),
                        d.retry.max_attempts,
                        d.retry.initial.as_millis(),
                        d.retry.max.as_millis(),
                        d.max_in_flight,
                        if d.required { ", required" } else { "" },
                        if d.exclude.is_empty() {
                            String::new()
                        } else {
                            format!(", excludes {}", d.exclude.join(" "))
                        }
                    );
                }
            }
        }
        for line in self.routes.describe().lines() {
            let line = line.strip_prefix("route ").unwrap_or(line);
            let _ = writeln!(s, "route    {line}");
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
                && m < 128 * 1024
            {
                bad(
                    "journal.max_size_bytes".into(),
                    format!("must be at least 131072 (the empty schema takes about 80 KiB), got {m}"),
                );
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
            raw::RawChannel::Webhook(w) => {
                let source = webhook::validate(w, &key, &mut bad);
                channels.push(ChannelPlan { name: name.clone(), source: SourcePlan::Webhook(source) });
            }
            raw::RawChannel::File(f) => {
                let source = csv::validate_file(f, &key, &mut bad);
                channels.push(ChannelPlan { name: name.clone(), source: SourcePlan::File(source) });
            }
            raw::RawChannel::Http(h) => {
                let source = csv::validate_http(h, &key, &mut bad);
                channels.push(ChannelPlan { name: name.clone(), source: SourcePlan::Http(source) });
            }
            raw::RawChannel::Amqp(a) => {
                let source = validate_amqp_source(a, &key, &mut bad);
                channels.push(ChannelPlan { name: name.clone(), source: SourcePlan::Amqp(source) });
            }
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
                let default_charset = validate_charset(m.default_charset, &key, &mut bad);
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
                    source: SourcePlan::Mllp(MllpPlan {
                        listen,
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

    // No `[destinations]` at all: the built-in one of DESIGN.md, so the default route has somewhere to go.
    let raw_destinations = raw.destinations.unwrap_or_else(|| {
        BTreeMap::from([("fhir".to_owned(), raw::RawDestination::Amqp(raw::RawAmqpDestination::default()))])
    });
    let mut destinations = Vec::new();
    for (name, d) in raw_destinations {
        let key = format!("destinations.{name}");
        if !valid_name(&name) {
            bad(key.clone(), "destination names use lowercase letters, digits, '-' and '_' (max 64)".into());
        }
        match d {
            raw::RawDestination::Amqp(a) => destinations.push(validate_amqp_destination(name, a, &key, &mut bad)),
        }
    }
    let views: Vec<hearth_route::DestinationView<'_>> =
        destinations.iter().map(|d| hearth_route::DestinationView { name: &d.name, exclude: &d.exclude }).collect();
    let routes = match hearth_route::RouteSet::compile(
        &raw.routing.unwrap_or_default(),
        &raw.routes.unwrap_or_default(),
        &views,
    ) {
        Ok(r) => Some(r),
        Err(route_problems) => {
            for p in route_problems {
                bad(p.path, p.message);
            }
            None
        }
    };
    let max_outbox_pending = raw.outbox.unwrap_or_default().max_pending.unwrap_or(100_000);
    if max_outbox_pending == 0 {
        bad("outbox.max_pending".into(), "must be at least 1".into());
    }
    let channel_names: Vec<&str> = channels.iter().map(|c| c.name.as_str()).collect();
    let destination_names: Vec<&str> = destinations.iter().map(|d| d.name.as_str()).collect();
    let ops = admin::validate(raw.admin, raw.alerts, raw.retention, (&channel_names, &destination_names), &mut bad);

    match routes {
        Some(routes) if problems.is_empty() => Ok(Plan {
            journal,
            http: HttpPlan { listen: http_listen },
            channels,
            destinations,
            routes: std::sync::Arc::new(routes),
            max_outbox_pending,
            shutdown_timeout,
            ops,
        }),
        _ => Err(ConfigError::Invalid(problems)),
    }
}

/// Only the table 0211 spellings here (the parser also accepts aliases in MSH-18).
fn validate_charset(name: Option<String>, key: &str, bad: &mut impl FnMut(String, String)) -> Charset {
    let name = name.unwrap_or_else(|| "ASCII".into());
    match Charset::from_hl7_name(&name) {
        Some(c) if CHARSETS.contains(&name.as_str()) => c,
        _ => {
            bad(format!("{key}.default_charset"), format!("unknown charset {name:?}; one of {CHARSETS:?}"));
            Charset::Ascii
        }
    }
}

/// The broker of DESIGN.md's built-in default.
pub const DEFAULT_AMQP_ENDPOINT: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

pub(crate) fn validate_endpoint(
    uri: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    key: &str,
    bad: &mut impl FnMut(String, String),
) -> AmqpEndpoint {
    let uri = uri.unwrap_or_else(|| DEFAULT_AMQP_ENDPOINT.to_owned());
    if uri.starts_with("amqps://") {
        bad(format!("{key}.endpoint"), "amqps:// (TLS) is not supported by this build; use amqp:// on a trusted network or a TLS-terminating proxy".into());
    } else if !uri.starts_with("amqp://") {
        bad(format!("{key}.endpoint"), format!("must be an amqp:// URI, got {:?}", redact_uri(&uri)));
    }
    let password = match (password_env, password_file) {
        (Some(_), Some(_)) => {
            bad(format!("{key}.password_env"), "give password_env or password_file, not both".into());
            SecretSource::None
        }
        (Some(v), None) if v.is_empty() => {
            bad(format!("{key}.password_env"), "must name an environment variable".into());
            SecretSource::None
        }
        (Some(v), None) => SecretSource::Env(v),
        (None, Some(f)) => SecretSource::File(f),
        (None, None) => SecretSource::None,
    };
    AmqpEndpoint { uri, password }
}

/// An AMQP URI with its password hidden, for messages and logs.
pub fn redact_uri(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else { return uri.to_owned() };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
            None => uri.to_owned(),
        },
        None => uri.to_owned(),
    }
}

fn validate_amqp_source(a: raw::RawAmqpSource, key: &str, bad: &mut impl FnMut(String, String)) -> AmqpSourcePlan {
    let endpoint = validate_endpoint(a.endpoint, a.password_env, a.password_file, key, bad);
    if a.queue.is_empty() || a.queue.len() > 255 {
        bad(format!("{key}.queue"), "must be 1 to 255 bytes".into());
    }
    let prefetch = a.prefetch.unwrap_or(64);
    if prefetch == 0 {
        bad(format!("{key}.prefetch"), "must be at least 1".into());
    }
    let payload = match a.payload.as_deref().unwrap_or("hl7v2") {
        "hl7v2" => PayloadKind::Hl7v2,
        "fhir" => PayloadKind::Fhir,
        other => {
            bad(format!("{key}.payload"), format!("{other:?} is not one of \"hl7v2\", \"fhir\""));
            PayloadKind::Hl7v2
        }
    };
    AmqpSourcePlan {
        endpoint,
        queue: a.queue,
        declare_queue: a.declare_queue.unwrap_or(true),
        prefetch,
        payload,
        default_charset: validate_charset(a.default_charset, key, bad),
        mapping: validate_mapping(a.mapping.unwrap_or_default(), &format!("{key}.mapping"), bad),
    }
}

const EXCHANGE_TYPES: [&str; 4] = ["topic", "direct", "fanout", "headers"];

fn validate_exchange_type(kind: Option<String>, path: String, bad: &mut impl FnMut(String, String)) -> String {
    let kind = kind.unwrap_or_else(|| "topic".into());
    if !EXCHANGE_TYPES.contains(&kind.as_str()) {
        bad(path, format!("{kind:?} is not one of {EXCHANGE_TYPES:?}"));
    }
    kind
}

fn validate_amqp_destination(
    name: String,
    a: raw::RawAmqpDestination,
    key: &str,
    bad: &mut impl FnMut(String, String),
) -> DestinationPlan {
    let endpoint = validate_endpoint(a.endpoint, a.password_env, a.password_file, key, bad);
    let exchange = a.exchange.unwrap_or_else(|| "hearth.fhir".into());
    if exchange.len() > 255 {
        bad(format!("{key}.exchange"), "must be at most 255 bytes".into());
    }
    let exchange_type = validate_exchange_type(a.exchange_type, format!("{key}.exchange_type"), bad);
    let max_attempts = a.max_attempts.unwrap_or(10);
    if !(1..=1000).contains(&max_attempts) {
        bad(format!("{key}.max_attempts"), format!("must be between 1 and 1000, got {max_attempts}"));
    }
    let initial = a.retry_initial_ms.unwrap_or(1_000);
    let max = a.retry_max_ms.unwrap_or(300_000);
    if initial == 0 || max < initial {
        bad(format!("{key}.retry_max_ms"), format!("need 0 < retry_initial_ms ({initial}) <= retry_max_ms ({max})"));
    }
    let max_in_flight = a.max_in_flight.unwrap_or(256);
    if !(1..=MAX_IN_FLIGHT).contains(&max_in_flight) {
        bad(format!("{key}.max_in_flight"), format!("must be between 1 and {MAX_IN_FLIGHT}, got {max_in_flight}"));
    }
    let exchanges = a
        .exchanges
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, x)| {
            let kind = validate_exchange_type(x.kind, format!("{key}.exchanges[{i}].type"), bad);
            (x.name, kind, x.durable.unwrap_or(true))
        })
        .collect();
    let queues = a
        .queues
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, q)| {
            let queue_type = q.queue_type.unwrap_or_else(|| "classic".into());
            if !["classic", "quorum"].contains(&queue_type.as_str()) {
                bad(
                    format!("{key}.queues[{i}].queue_type"),
                    format!("{queue_type:?} is not \"classic\" or \"quorum\""),
                );
            }
            if q.name.is_empty() || q.name.len() > 255 {
                bad(format!("{key}.queues[{i}].name"), "must be 1 to 255 bytes".into());
            }
            QueuePlan {
                name: q.name,
                durable: q.durable.unwrap_or(true),
                queue_type,
                exchange: q.exchange.unwrap_or_else(|| exchange.clone()),
                bind: q.bind.unwrap_or_default(),
                dead_letter_exchange: q.dead_letter_exchange,
                dead_letter_routing_key: q.dead_letter_routing_key,
                message_ttl_ms: q.message_ttl_ms,
                max_length: q.max_length,
            }
        })
        .collect();
    DestinationPlan {
        name,
        exclude: a.exclude.unwrap_or_default(),
        required: a.required.unwrap_or(false),
        retry: RetryPlan { max_attempts, initial: Duration::from_millis(initial), max: Duration::from_millis(max) },
        max_in_flight,
        kind: DestinationKind::Amqp(AmqpDestinationPlan {
            endpoint,
            exchange,
            exchange_type,
            declare_exchange: a.declare_exchange.unwrap_or(true),
            alternate_exchange: a.alternate_exchange,
            confirm_timeout: Duration::from_millis(a.confirm_timeout_ms.unwrap_or(30_000)),
            exchanges,
            queues,
        }),
    }
}

/// Upper bound for a destination's `max_in_flight`.
pub const MAX_IN_FLIGHT: usize = 1000;

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
