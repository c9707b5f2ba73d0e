//! The operations sections: `[admin]` (API tokens and roles), `[alerts]` (thresholds and where alerts go) and
//! `[retention]` (how long message content is kept), raw and validated into an [`OpsPlan`].
//!
//! ```toml
//! [admin]
//! tokens = [
//!   { name = "wall", role = "viewer", token_env = "HEARTH_VIEWER_TOKEN" },
//!   { name = "oncall", role = "operator", token_file = "/run/secrets/hearth-operator" },
//! ]
//!
//! [alerts]
//! webhook_url = "http://127.0.0.1:9000/hearth-alerts"
//! [alerts.channels.adt]
//! errors = 5
//! errors_window_ms = 300000
//! idle_ms = 900000
//! [alerts.destinations.fhir]
//! outbox_depth = 10000
//! oldest_pending_ms = 300000
//! disconnected_ms = 10000
//!
//! [retention]
//! content_days = { adt = 30 }
//! stats_days = 14          # the dashboard's per-minute buckets
//! stats_flush_ms = 10000   # how often the engine writes its minute counters to the journal
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use hearth_amqp::Endpoint;
use hearth_core::config::{Problems, SecretSource, is_http_url};
use serde::Deserialize;

/// `[admin]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub tokens: Option<Vec<RawToken>>,
}

/// One API token: where its secret comes from and what it may do.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToken {
    pub name: Option<String>,
    pub role: String,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
}

/// `[alerts]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    pub interval_ms: Option<u64>,
    pub webhook_url: Option<String>,
    pub amqp_endpoint: Option<String>,
    pub amqp_password_env: Option<String>,
    pub amqp_password_file: Option<PathBuf>,
    pub amqp_exchange: Option<String>,
    pub channels: Option<BTreeMap<String, RawChannelAlerts>>,
    pub destinations: Option<BTreeMap<String, RawDestinationAlerts>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChannelAlerts {
    pub errors: Option<u64>,
    pub errors_window_ms: Option<u64>,
    pub idle_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDestinationAlerts {
    pub outbox_depth: Option<u64>,
    pub oldest_pending_ms: Option<u64>,
    pub disconnected_ms: Option<u64>,
}

/// `[retention]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetention {
    pub interval_ms: Option<u64>,
    pub batch: Option<u32>,
    pub content_days: Option<BTreeMap<String, u32>>,
    pub stats_days: Option<u32>,
    pub stats_flush_ms: Option<u64>,
}

/// What an API token may do. Ordered: each role can do what the ones before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Counts and states; no message content.
    Viewer,
    /// Message content, reprocess, resend, pause.
    Operator,
    /// Everything, the audit trail included.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [Role::Viewer, Role::Operator, Role::Admin].into_iter().find(|r| r.as_str() == s)
    }
}

/// A validated token: its secret is resolved when the engine starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPlan {
    /// Who the caller is in logs and the audit trail (never the token).
    pub name: String,
    pub role: Role,
    pub secret: SecretSource,
}

/// The operations surface.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpsPlan {
    /// No tokens: the admin API is off (every `/api/v1` path answers 404).
    pub tokens: Vec<TokenPlan>,
    pub alerts: AlertsPlan,
    pub retention: RetentionPlan,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertsPlan {
    /// How often conditions are evaluated.
    pub interval: Duration,
    /// `http(s)://host[:port]/path`: each raised and cleared alert is POSTed there as JSON.
    pub webhook_url: Option<String>,
    /// Each raised and cleared alert is published there as JSON (routing key `alert.<kind>`).
    pub amqp: Option<(Endpoint, String)>,
    pub channels: BTreeMap<String, ChannelAlerts>,
    /// Every configured destination has an entry (the disconnected alert is always on).
    pub destinations: BTreeMap<String, DestinationAlerts>,
}

impl Default for AlertsPlan {
    fn default() -> Self {
        AlertsPlan {
            interval: Duration::from_secs(1),
            webhook_url: None,
            amqp: None,
            channels: BTreeMap::new(),
            destinations: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelAlerts {
    /// At least this many messages went to `error` within the window.
    pub errors: Option<(u64, Duration)>,
    /// No message received for this long.
    pub idle: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationAlerts {
    pub outbox_depth: Option<u64>,
    pub oldest_pending: Option<Duration>,
    /// Disconnected (or blocked) for at least this long.
    pub disconnected_after: Duration,
}

impl Default for DestinationAlerts {
    fn default() -> Self {
        DestinationAlerts { outbox_depth: None, oldest_pending: None, disconnected_after: DEFAULT_DISCONNECTED }
    }
}

/// A destination is reported disconnected after this long unless configured otherwise (a reconnect after a
/// broker restart takes a few seconds and is not worth paging anyone).
pub const DEFAULT_DISCONNECTED: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPlan {
    pub interval: Duration,
    /// Messages examined per pruning transaction.
    pub batch: u32,
    /// Channel → days after which message content is pruned.
    pub content_days: BTreeMap<String, u32>,
    /// Days the dashboard's per-minute buckets are kept.
    pub stats_days: u32,
    /// How often the engine adds the minute counters it keeps in memory into the journal's buckets.
    pub stats_flush: Duration,
}

impl Default for RetentionPlan {
    fn default() -> Self {
        RetentionPlan {
            interval: Duration::from_secs(60),
            batch: 500,
            content_days: BTreeMap::new(),
            stats_days: 14,
            stats_flush: Duration::from_secs(10),
        }
    }
}

/// Validates the three sections against the plan's channel and destination names.
pub(crate) fn validate(
    admin: Option<RawAdmin>,
    alerts: Option<RawAlerts>,
    retention: Option<RawRetention>,
    names: (&[&str], &[&str]),
    problems: &mut Problems,
) -> OpsPlan {
    OpsPlan {
        tokens: validate_tokens(admin.unwrap_or_default(), problems),
        alerts: validate_alerts(alerts.unwrap_or_default(), names, problems),
        retention: validate_retention(retention.unwrap_or_default(), names.0, problems),
    }
}

fn validate_tokens(raw: RawAdmin, problems: &mut Problems) -> Vec<TokenPlan> {
    let mut tokens = Vec::new();
    for (i, t) in raw.tokens.unwrap_or_default().into_iter().enumerate() {
        let key = format!("admin.tokens[{i}]");
        let role = Role::parse(&t.role).unwrap_or_else(|| {
            problems
                .add(format!("{key}.role"), format!("{:?} is not one of \"viewer\", \"operator\", \"admin\"", t.role));
            Role::Viewer
        });
        let secret = SecretSource::from_keys(t.token_env, t.token_file, &key, "token", Some(&key), problems);
        let name = t.name.unwrap_or_else(|| format!("{}-{i}", role.as_str()));
        if tokens.iter().any(|o: &TokenPlan| o.name == name) {
            problems.add(format!("{key}.name"), format!("{name:?} is used by another token"));
        }
        tokens.push(TokenPlan { name, role, secret });
    }
    tokens
}

fn validate_alerts(raw: RawAlerts, names: (&[&str], &[&str]), problems: &mut Problems) -> AlertsPlan {
    let mut plan =
        AlertsPlan { interval: Duration::from_millis(raw.interval_ms.unwrap_or(1000)), ..Default::default() };
    if plan.interval < Duration::from_millis(100) {
        problems.add("alerts.interval_ms", "must be at least 100");
    }
    if let Some(url) = raw.webhook_url {
        if !is_http_url(&url) {
            problems.add("alerts.webhook_url", "must be an http:// or https:// URL");
        }
        plan.webhook_url = Some(url);
    }
    match (raw.amqp_endpoint, raw.amqp_exchange) {
        (Some(uri), Some(exchange)) => {
            let endpoint = Endpoint::validate(
                Some(uri),
                raw.amqp_password_env,
                raw.amqp_password_file,
                ("alerts", "amqp_endpoint", "amqp_password"),
                problems,
            );
            plan.amqp = Some((endpoint, exchange));
        }
        (None, None) => {}
        _ => problems.add("alerts.amqp_exchange", "give amqp_endpoint and amqp_exchange together"),
    }
    for (name, c) in raw.channels.unwrap_or_default() {
        let key = format!("alerts.channels.{name}");
        if !names.0.contains(&name.as_str()) {
            problems.add(key.clone(), "no such channel");
        }
        let window = Duration::from_millis(c.errors_window_ms.unwrap_or(300_000));
        let plan_c =
            ChannelAlerts { errors: c.errors.map(|n| (n.max(1), window)), idle: c.idle_ms.map(Duration::from_millis) };
        plan.channels.insert(name, plan_c);
    }
    let mut raw_dest = raw.destinations.unwrap_or_default();
    for name in raw_dest.keys().filter(|n| !names.1.contains(&n.as_str())) {
        problems.add(format!("alerts.destinations.{name}"), "no such destination");
    }
    for name in names.1 {
        let d = raw_dest.remove(*name).unwrap_or_default();
        plan.destinations.insert(
            (*name).to_owned(),
            DestinationAlerts {
                outbox_depth: d.outbox_depth,
                oldest_pending: d.oldest_pending_ms.map(Duration::from_millis),
                disconnected_after: d.disconnected_ms.map_or(DEFAULT_DISCONNECTED, Duration::from_millis),
            },
        );
    }
    plan
}

fn validate_retention(raw: RawRetention, channels: &[&str], problems: &mut Problems) -> RetentionPlan {
    let defaults = RetentionPlan::default();
    let plan = RetentionPlan {
        interval: raw.interval_ms.map_or(defaults.interval, Duration::from_millis),
        batch: raw.batch.unwrap_or(defaults.batch),
        content_days: raw.content_days.unwrap_or_default(),
        stats_days: raw.stats_days.unwrap_or(defaults.stats_days),
        stats_flush: raw.stats_flush_ms.map_or(defaults.stats_flush, Duration::from_millis),
    };
    hearth_core::config::check_range(plan.batch, 1..=10_000, "retention.batch", problems);
    hearth_core::config::check_range(plan.stats_days, 1..=3_650, "retention.stats_days", problems);
    if !(Duration::from_millis(100)..=Duration::from_secs(60)).contains(&plan.stats_flush) {
        problems.add("retention.stats_flush_ms", "must be between 100 and 60000");
    }
    if plan.interval < Duration::from_millis(100) {
        problems.add("retention.interval_ms", "must be at least 100");
    }
    for (name, days) in &plan.content_days {
        if !channels.contains(&name.as_str()) {
            problems.add(format!("retention.content_days.{name}"), "no such channel");
        }
        if *days == 0 {
            problems.add(format!("retention.content_days.{name}"), "must be at least 1 day");
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[journal]\ntype = \"sqlite\"\npath = \"/tmp/x.db\"\n[channels.adt]\ntype = \"mllp\"\nlisten = \"127.0.0.1:2575\"\n";

    #[test]
    fn sections_are_validated_against_the_plan() {
        let text = format!(
            "{BASE}[admin]\ntokens = [{{ name = \"wall\", role = \"viewer\", token_env = \"T1\" }}, \
             {{ role = \"operator\", token_file = \"/run/t\" }}]\n\
             [alerts]\nwebhook_url = \"http://127.0.0.1:9/h\"\n[alerts.channels.adt]\nerrors = 3\nidle_ms = 60000\n\
             [alerts.destinations.fhir]\ndisconnected_ms = 0\n[retention]\ncontent_days = {{ adt = 7 }}\nstats_days = 3\n"
        );
        let plan = crate::load_str(&text, &[]).unwrap().ops;
        assert_eq!(
            plan.tokens[0],
            TokenPlan { name: "wall".into(), role: Role::Viewer, secret: SecretSource::Env("T1".into()) }
        );
        assert_eq!(plan.tokens[1].name, "operator-1");
        assert_eq!(plan.alerts.channels["adt"].errors, Some((3, Duration::from_secs(300))));
        assert_eq!(plan.alerts.destinations["fhir"].disconnected_after, Duration::ZERO);
        assert_eq!(plan.retention.content_days["adt"], 7);
        assert_eq!((plan.retention.stats_days, plan.retention.stats_flush), (3, Duration::from_secs(10)));

        // Without sections: API off, the disconnected alert on for every destination.
        let plan = crate::load_str(BASE, &[]).unwrap().ops;
        assert!(plan.tokens.is_empty());
        assert_eq!(plan.alerts.destinations["fhir"].disconnected_after, DEFAULT_DISCONNECTED);
    }

    #[test]
    fn problems_name_their_keys() {
        let text = format!(
            "{BASE}[admin]\ntokens = [{{ role = \"root\", token_env = \"T\" }}, {{ role = \"viewer\" }}]\n\
             [alerts]\nwebhook_url = \"ftp://x/\"\n[alerts.channels.nope]\nerrors = 1\n\
             [retention]\ncontent_days = {{ adt = 0 }}\nstats_days = 0\nstats_flush_ms = 5\n"
        );
        let err = crate::load_str(&text, &[]).unwrap_err().to_string();
        for key in [
            "admin.tokens[0].role",
            "admin.tokens[1]: give exactly one",
            "alerts.webhook_url",
            "alerts.channels.nope: no such channel",
            "retention.content_days.adt",
            "retention.stats_days",
            "retention.stats_flush_ms",
        ] {
            assert!(err.contains(key), "{key} missing in {err}");
        }
        let err = crate::load_str(&format!("{BASE}[admin]\ntokenz = []\n"), &[]).unwrap_err().to_string();
        assert!(err.contains("tokenz"), "{err}");
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        assert_eq!(Role::parse("operator"), Some(Role::Operator));
        assert_eq!(Role::parse("root"), None);
    }
}
