//! `[channels.<name>] type = "webhook"`: contact-center webhooks on `POST /webhooks/<name>`, as configured (raw
//! and validated) and as the HTTP source runs them ([`WebhookChannel`]: secret read, profile loaded).
//!
//! Validation checks shapes only (no IO): the profile file and the secret are read by [`WebhookChannel::load`]
//! when the engine starts, so a missing secret or a bad profile fails start-up, not the first request.

use std::path::PathBuf;
use std::time::Duration;

use hearth_core::config::{Problems, SecretSource, check_range};
use hearth_webhooks::{AuthConfig, MapConfig, Profile};
use serde::Deserialize;

/// Default largest request body: 1 MiB (vendors send a few KiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default replay window of `timestamp-hmac`.
pub const DEFAULT_WINDOW_S: u64 = 300;
/// The profiles shipped in `mappings/webhooks/` (as `hearth_webhooks::BUILTIN_NAMES`).
pub const BUILTIN_PROFILES: [&str; 6] =
    ["twilio-voice", "twilio-sms", "amazon-connect", "genesys", "generic", "zendesk"];
const SCHEMES: [&str; 4] = ["twilio-signature", "hub-signature-256", "timestamp-hmac", "shared-secret-header"];

/// The raw table, exactly as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub profile: String,
    pub auth: String,
    pub secret_env: Option<String>,
    pub secret_file: Option<PathBuf>,
    /// `shared-secret-header`: the header holding the secret.
    pub header: Option<String>,
    /// `timestamp-hmac`: the headers holding the timestamp and the signature.
    pub timestamp_header: Option<String>,
    pub signature_header: Option<String>,
    pub window_s: Option<u64>,
    pub public_base_url: Option<String>,
    pub public_url: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub default_country_code: Option<String>,
    pub care_team_owner: Option<String>,
}

/// A validated webhook channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookPlan {
    pub profile: WebhookProfile,
    pub auth: WebhookAuth,
    /// Where the secret comes from (never the TOML).
    pub secret: SecretSource,
    /// The scheme, host and optional path prefix the vendor calls (Hearth runs behind a proxy), without a
    /// trailing `/`. The signed URL is this + the request path + `?query`. Required by `twilio-signature`.
    pub public_base_url: Option<String>,
    /// The exact URL the vendor calls for this channel, used verbatim for signature checks (behind a proxy that
    /// rewrites paths it need not be `public_base_url` + `/webhooks/<name>`); wins over `public_base_url`.
    pub public_url: Option<String>,
    pub max_body_bytes: usize,
    /// Country calling code for national numbers.
    pub default_country_code: String,
    /// Task.owner for follow-up Tasks (`CareTeam/care-team-outreach`).
    pub care_team_owner: Option<String>,
}

/// `profile`: a built-in name or a path to a profile TOML (read at start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookProfile {
    Builtin(String),
    File(PathBuf),
}

/// `auth`: the vendor's signature scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookAuth {
    TwilioSignature,
    HubSignature256,
    TimestampHmac { timestamp_header: String, signature_header: String, window: Duration },
    SharedSecretHeader { header: String },
}

impl WebhookAuth {
    pub fn name(&self) -> &'static str {
        match self {
            WebhookAuth::TwilioSignature => SCHEMES[0],
            WebhookAuth::HubSignature256 => SCHEMES[1],
            WebhookAuth::TimestampHmac { .. } => SCHEMES[2],
            WebhookAuth::SharedSecretHeader { .. } => SCHEMES[3],
        }
    }
}

/// Validates one webhook channel; problems are named under `key`.
pub fn validate(w: RawWebhook, key: &str, problems: &mut Problems) -> WebhookPlan {
    let profile = validate_profile(&w.profile, key, problems);
    let auth = validate_auth(&w, key, problems);
    let secret = SecretSource::from_keys(
        w.secret_env,
        w.secret_file,
        key,
        "secret",
        Some(&format!("{key}.secret_env")),
        problems,
    );
    let public_base_url = w.public_base_url.map(|u| u.trim_end_matches('/').to_owned());
    let public_url = w.public_url;
    match &public_base_url {
        Some(u) if !valid_base_url(u) => problems.add(
            format!("{key}.public_base_url"),
            "must be an http:// or https:// URL without query or fragment (e.g. \"https://hearth.example.org\")",
        ),
        None if auth == WebhookAuth::TwilioSignature && public_url.is_none() => problems.add(
            format!("{key}.public_base_url"),
            "twilio-signature needs the URL Twilio calls (public_base_url, or this channel's public_url): Twilio \
             signs it, and Hearth runs behind a proxy",
        ),
        _ => {}
    }
    if let Some(u) = &public_url
        && !valid_public_url(u)
    {
        problems.add(
            format!("{key}.public_url"),
            "must be the full http:// or https:// URL the vendor calls, without fragment or spaces \
             (e.g. \"https://edge.example.org/twilio/voice\")",
        );
    }
    let max_body_bytes = w.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
    check_range(max_body_bytes, 1024..=64 * 1024 * 1024, &format!("{key}.max_body_bytes"), problems);
    let default_country_code = w.default_country_code.unwrap_or_else(|| "1".into());
    let cc = default_country_code.as_bytes();
    if cc.is_empty() || cc.len() > 3 || !cc.iter().all(u8::is_ascii_digit) || cc[0] == b'0' {
        problems.add(format!("{key}.default_country_code"), "must be a country calling code of 1 to 3 digits");
    }
    if let Some(owner) = &w.care_team_owner
        && !hearth_core::task_owner_allowed(owner)
    {
        problems.add(
            format!("{key}.care_team_owner"),
            format!(
                "must be a reference R4 allows as Task.owner (one of {}), like \"CareTeam/care-team-outreach\"",
                hearth_core::TASK_OWNER_TYPES.join(", ")
            ),
        );
    }
    WebhookPlan {
        profile,
        auth,
        secret,
        public_base_url,
        public_url,
        max_body_bytes,
        default_country_code,
        care_team_owner: w.care_team_owner,
    }
}

fn validate_profile(p: &str, key: &str, problems: &mut Problems) -> WebhookProfile {
    if BUILTIN_PROFILES.contains(&p) {
        return WebhookProfile::Builtin(p.to_owned());
    }
    if p.ends_with(".toml") {
        return WebhookProfile::File(PathBuf::from(p));
    }
    problems.add(
        format!("{key}.profile"),
        format!("{p:?} is neither a built-in profile ({}) nor a path to a .toml file", BUILTIN_PROFILES.join(", ")),
    );
    WebhookProfile::Builtin(p.to_owned())
}

fn validate_auth(w: &RawWebhook, key: &str, problems: &mut Problems) -> WebhookAuth {
    let mut header = |value: &Option<String>, name: &str, needed: bool| -> String {
        match value {
            Some(h) if valid_header_name(h) => h.clone(),
            Some(_) => {
                problems.add(format!("{key}.{name}"), "must be an HTTP header name (letters, digits, '-')");
                String::new()
            }
            None if needed => {
                problems.add(format!("{key}.{name}"), format!("auth = {:?} needs {name}", w.auth));
                String::new()
            }
            None => String::new(),
        }
    };
    let auth = match w.auth.as_str() {
        "twilio-signature" => WebhookAuth::TwilioSignature,
        "hub-signature-256" => WebhookAuth::HubSignature256,
        "timestamp-hmac" => WebhookAuth::TimestampHmac {
            timestamp_header: header(&w.timestamp_header, "timestamp_header", true),
            signature_header: header(&w.signature_header, "signature_header", true),
            window: Duration::from_secs(w.window_s.unwrap_or(DEFAULT_WINDOW_S)),
        },
        "shared-secret-header" => WebhookAuth::SharedSecretHeader { header: header(&w.header, "header", true) },
        other => {
            problems.add(format!("{key}.auth"), format!("{other:?} is not one of {SCHEMES:?}"));
            WebhookAuth::TwilioSignature
        }
    };
    let unused = |present: bool, name: &str| present.then(|| name.to_owned());
    let is_ts = matches!(auth, WebhookAuth::TimestampHmac { .. });
    let stray = [
        unused(w.header.is_some() && !matches!(auth, WebhookAuth::SharedSecretHeader { .. }), "header"),
        unused(w.timestamp_header.is_some() && !is_ts, "timestamp_header"),
        unused(w.signature_header.is_some() && !is_ts, "signature_header"),
        unused(w.window_s.is_some() && !is_ts, "window_s"),
    ];
    for name in stray.into_iter().flatten() {
        problems.add(format!("{key}.{name}"), format!("does not apply to auth = {:?}", w.auth));
    }
    if let Some(0) | Some(86_401..) = w.window_s {
        problems.add(format!("{key}.window_s"), "must be between 1 and 86400");
    }
    auth
}

fn valid_base_url(u: &str) -> bool {
    let rest = u.strip_prefix("https://").or_else(|| u.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.contains(['?', '#', ' ']))
}

/// A full URL used verbatim: scheme, a host, optionally a path and a query; no fragment, no whitespace.
fn valid_public_url(u: &str) -> bool {
    let rest = u.strip_prefix("https://").or_else(|| u.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?']).next().unwrap_or("");
        !host.is_empty() && !r.contains('#') && !r.contains(char::is_whitespace)
    })
}

fn valid_header_name(h: &str) -> bool {
    !h.is_empty() && h.len() <= 128 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl WebhookPlan {
    /// The topology line (`hearth check`).
    pub fn describe(&self, name: &str) -> String {
        let profile = match &self.profile {
            WebhookProfile::Builtin(n) => n.clone(),
            WebhookProfile::File(p) => p.display().to_string(),
        };
        format!(
            "webhook POST /webhooks/{name} (profile {profile}, auth {}, max body {} bytes{})",
            self.auth.name(),
            self.max_body_bytes,
            if self.public_url.is_some() { ", signed URL = public_url" } else { "" }
        )
    }

    /// The channel's profile: built in or read from its file, with the channel's country code.
    pub fn load_profile(&self) -> Result<Profile, String> {
        let profile = match &self.profile {
            WebhookProfile::Builtin(name) => Profile::builtin(name).map_err(|e| format!("profile: {e}"))?,
            WebhookProfile::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("profile {}: {e}", path.display()))?;
                Profile::from_toml(&text).map_err(|e| format!("profile {}: {e}", path.display()))?
            }
        };
        profile.with_default_country_code(&self.default_country_code).map_err(|e| format!("default_country_code: {e}"))
    }

    /// How the processing stage maps this channel's events.
    pub fn map_config(&self) -> MapConfig {
        MapConfig {
            care_team_owner: self.care_team_owner.clone(),
            default_country_code: self.default_country_code.clone(),
        }
    }

    fn auth_config(&self, secret: hearth_webhooks::Secret) -> AuthConfig {
        match &self.auth {
            WebhookAuth::TwilioSignature => AuthConfig::TwilioSignature { auth_token: secret },
            WebhookAuth::HubSignature256 => AuthConfig::HubSignature256 { secret },
            WebhookAuth::TimestampHmac { timestamp_header, signature_header, window } => AuthConfig::TimestampHmac {
                secret,
                timestamp_header: timestamp_header.clone(),
                signature_header: signature_header.clone(),
                window: *window,
            },
            WebhookAuth::SharedSecretHeader { header } => {
                AuthConfig::SharedSecretHeader { header: header.clone(), secret }
            }
        }
    }
}

/// One webhook channel as the HTTP source runs it.
#[derive(Debug, Clone)]
pub struct WebhookChannel {
    /// The channel name: the path segment of `POST /webhooks/{name}` and the journal's channel.
    pub name: String,
    pub auth: AuthConfig,
    pub profile: Profile,
    /// The URL base the vendor calls, without a trailing `/` (Twilio signs the full URL; Hearth runs behind a
    /// proxy, so the request's own Host is not it). `None` for schemes that do not sign the URL.
    pub public_base_url: Option<String>,
    /// The channel's own URL as the vendor calls it, used verbatim (see [`WebhookPlan::public_url`]).
    pub public_url: Option<String>,
    /// Larger bodies get 413 before anything else is read.
    pub max_body_bytes: usize,
}

impl WebhookChannel {
    /// Reads the channel's secret and loads its profile (the only IO).
    pub fn load(name: &str, plan: &WebhookPlan) -> Result<WebhookChannel, String> {
        let secret = match plan.secret.resolve() {
            Ok(Some(s)) => s,
            Ok(None) => return Err("no secret configured".into()),
            Err(e) => return Err(format!("secret: {e}")),
        };
        Ok(WebhookChannel {
            name: name.to_owned(),
            auth: plan.auth_config(hearth_webhooks::Secret::new(secret)),
            profile: plan.load_profile()?,
            public_base_url: plan.public_base_url.clone(),
            public_url: plan.public_url.clone(),
            max_body_bytes: plan.max_body_bytes,
        })
    }

    /// The URL the vendor called and signed: the channel's `public_url` verbatim when configured, else the public
    /// base + the request's path; then `?query` exactly as received ([`hearth_webhooks::signed_url`]).
    pub(crate) fn public_url(&self, path: &str, query: Option<&str>) -> String {
        hearth_webhooks::signed_url(self.public_url.as_deref(), self.public_base_url.as_deref(), path, query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(public_base_url: Option<&str>, public_url: Option<&str>) -> RawWebhook {
        RawWebhook {
            profile: "twilio-voice".into(),
            auth: "twilio-signature".into(),
            secret_env: Some("TWILIO_AUTH_TOKEN".into()),
            secret_file: None,
            header: None,
            timestamp_header: None,
            signature_header: None,
            window_s: None,
            public_base_url: public_base_url.map(Into::into),
            public_url: public_url.map(Into::into),
            max_body_bytes: None,
            default_country_code: None,
            care_team_owner: None,
        }
    }

    fn problems_of(w: RawWebhook) -> (WebhookPlan, String) {
        let mut problems = Problems::default();
        let plan = validate(w, "channels.voice", &mut problems);
        (plan, format!("{problems:?}"))
    }

    #[test]
    fn public_url_is_an_http_url_and_enough_for_twilio() {
        let (plan, problems) = problems_of(raw(None, Some("https://edge.example.org/tw/voice?x=1")));
        assert_eq!(plan.public_url.as_deref(), Some("https://edge.example.org/tw/voice?x=1"), "{problems}");
        assert!(!problems.contains("channels.voice"), "{problems}");
        for bad in ["edge.example.org/tw", "ftp://edge/x", "https:///x", "https://e/x#f", "https://e/a b"] {
            let (_, problems) = problems_of(raw(Some("https://hearth.example.org"), Some(bad)));
            assert!(problems.contains("channels.voice.public_url"), "{bad}: {problems}");
        }
        let (_, problems) = problems_of(raw(None, None));
        assert!(problems.contains("channels.voice.public_base_url"), "{problems}");
        assert!(plan.describe("voice").ends_with(", signed URL = public_url)"), "{}", plan.describe("voice"));
    }
}
