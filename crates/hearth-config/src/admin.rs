//! The operations sections: `[admin]` (API tokens and roles), `[alerts]` (thresholds and where alerts go) and
//! `[retention]` (how long message content is kept), raw and validated.
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
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::{AmqpEndpoint, SecretSource};

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
    /// `http://host:port/path`: each raised and cleared alert is POSTed there as JSON.
    pub webhook_url: Option<String>,
    /// Each raised and cleared alert is published there as JSON (routing key `alert.<kind>`).
    pub amqp: Option<(AmqpEndpoint, String)>,
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
}

impl Default for RetentionPlan {
    fn default() -> Self {
        RetentionPlan { interval: Duration::from_secs(60), batch: 500, content_days: BTreeMap::new() }
    }
}

/// Validates the three sections against the plan's channel and destination names.
pub(crate) fn validate(
    admin: Option<RawAdmin>,
    alerts: Option<RawAlerts>,
    retention: Option<RawRetention>,
    names: (&[&str], &[&str]),
    bad: &mut impl FnMut(String, String),
) -> OpsPlan {
    OpsPlan {
        tokens: validate_tokens(admin.unwrap_or_default(), bad),
        alerts: validate_alerts(alerts.unwrap_or_default(), names, bad),
        retention: validate_retention(retention.unwrap_or_default(), names.0, bad),
    }
}

fn validate_tokens(raw: RawAdmin, bad: &mut impl FnMut(String, String)) -> Vec<TokenPlan> {
    let mut tokens = Vec::new();
    for (i, t) in raw.tokens.unwrap_or_default().into_iter().enumerate() {
        let key = format!("admin.tokens[{i}]");
        let role = Role::parse(&t.role).unwrap_or_else(|| {
            bad(format!("{key}.role"), format!("{:?} is not one of \"viewer\", \"operator\", \"admin\"", t.role));
            Role::Viewer
        });
        let secret = match (t.token_env, t.token_file) {
            (Some(v), None) if !v.is_empty() => SecretSource::Env(v),
            (None, Some(f)) => SecretSource::File(f),
            _ => {
                bad(key.clone(), "give exactly one of token_env (a variable name) or token_file".into());
                SecretSource::None
            }
        };
        let name = t.name.unwrap_or_else(|| format!("{}-{i}", role.as_str()));
        if tokens.iter().any(|o: &TokenPlan| o.name == name) {
            bad(format!("{key}.name"), format!("{name:?} is used by another token"));
        }
        tokens.push(TokenPlan { name, role, secret });
    }
    tokens
}

fn validate_alerts(raw: RawAlerts, names: (&[&str], &[&str]), bad: &mut impl FnMut(String, String)) -> AlertsPlan {
    let mut plan =
        AlertsPlan { interval: Duration::from_millis(raw.interval_ms.unwrap_or(1000)), ..Default::default() };
    if plan.interval < Duration::from_millis(100) {
        bad("alerts.interval_ms".into(), "must be at least 100".into());
    }
    if let Some(url) = raw.webhook_url {
        if crate::admin::split_http_url(&url).is_none() {
            bad("alerts.webhook_url".into(), "must be http://host:port/path (plain HTTP)".into());
        }
        plan.webhook_url = Some(url);
    }
    match (raw.amqp_endpoint, raw.amqp_exchange) {
        (Some(uri), Some(exchange)) => {
            let endpoint = crate::validate_endpoint(
                Some(uri),
                raw.amqp_password_env,
                raw.amqp_password_file,
                "alerts.amqp",
                &mut *bad,
            );
            plan.amqp = Some((endpoint, exchange));
        }
        (None, None) => {}
        _ => bad("alerts.amqp_exchange".into(), "give amqp_endpoint and amqp_exchange together".into()),
    }
    for (name, c) in raw.channels.unwrap_or_default() {
        let key = format!("alerts.channels.{name}");
        if !names.0.contains(&name.as_str()) {
            bad(key.clone(), "no such channel".into());
        }
        let window = Duration::from_millis(c.errors_window_ms.unwrap_or(300_000));
        let plan_c =
            ChannelAlerts { errors: c.errors.map(|n| (n.max(1), window)), idle: c.idle_ms.map(Duration::from_millis) };
        plan.channels.insert(name, plan_c);
    }
    let mut raw_dest = raw.destinations.unwrap_or_default();
    for name in raw_dest.keys().filter(|n| !names.1.contains(&n.as_str())) {
        bad(format!("alerts.destinations.{name}"), "no such destination".into());
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

fn validate_retention(raw: RawRetention, channels: &[&str], bad: &mut impl FnMut(String, String)) -> RetentionPlan {
    let defaults = RetentionPlan::default();
    let plan = RetentionPlan {
        interval: raw.interval_ms.map_or(defaults.interval, Duration::from_millis),
        batch: raw.batch.unwrap_or(defaults.batch),
        content_days: raw.content_days.unwrap_or_default(),
    };
    if !(1..=10_000).contains(&plan.batch) {
        bad("retention.batch".into(), format!("must be between 1 and 10000, got {}", plan.batch));
    }
    if plan.interval < Duration::from_millis(100) {
        bad("retention.interval_ms".into(), "must be at least 100".into());
    }
    for (name, days) in &plan.content_days {
        if !channels.contains(&name.as_str()) {
            bad(format!("retention.content_days.{name}"), "no such channel".into());
        }
        if *days == 0 {
            bad(format!("retention.content_days.{name}"), "must be at least 1 day".into());
        }
    }
    plan
}

/// `http://host:port/path` → (`host:port`, `/path`). Only plain HTTP: the alert webhook is sent with tokio alone.
pub fn split_http_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let authority = if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Some((authority, path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls() {
        assert_eq!(split_http_url("http://127.0.0.1:9000/a/b"), Some(("127.0.0.1:9000".into(), "/a/b".into())));
        assert_eq!(split_http_url("http://alerts.local"), Some(("alerts.local:80".into(), "/".into())));
        assert_eq!(split_http_url("https://x/"), None);
        assert_eq!(split_http_url("http://u:p@x/"), None);
        assert_eq!(split_http_url("http:///x"), None);
    }

    const BASE: &str = "[journal]\ntype = \"sqlite\"\npath = \"/tmp/x.db\"\n[channels.adt]\ntype = \"mllp\"\nlisten = \"127.0.0.1:2575\"\n";

    #[test]
    fn sections_are_validated_against_the_plan() {
        let text = format!(
            "{BASE}[admin]\ntokens = [{{ name = \"wall\", role = \"viewer\", token_env = \"T1\" }}, \
             {{ role = \"operator\", token_file = \"/run/t\" }}]\n\
             [alerts]\nwebhook_url = \"http://127.0.0.1:9/h\"\n[alerts.channels.adt]\nerrors = 3\nidle_ms = 60000\n\
             [alerts.destinations.fhir]\ndisconnected_ms = 0\n[retention]\ncontent_days = {{ adt = 7 }}\n"
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

        // Without sections: API off, the disconnected alert on for every destination.
        let plan = crate::load_str(BASE, &[]).unwrap().ops;
        assert!(plan.tokens.is_empty());
        assert_eq!(plan.alerts.destinations["fhir"].disconnected_after, DEFAULT_DISCONNECTED);
    }

    #[test]
    fn problems_name_their_keys() {
        let text = format!(
            "{BASE}[admin]\ntokens = [{{ role = \"root\", token_env = \"T\" }}, {{ role = \"viewer\" }}]\n\
             [alerts]\nwebhook_url = \"https://x/\"\n[alerts.channels.nope]\nerrors = 1\n\
             [retention]\ncontent_days = {{ adt = 0 }}\n"
        );
        let err = crate::load_str(&text, &[]).unwrap_err().to_string();
        for key in [
            "admin.tokens[0].role",
            "admin.tokens[1]: give exactly one",
            "alerts.webhook_url",
            "alerts.channels.nope: no such channel",
            "retention.content_days.adt",
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
