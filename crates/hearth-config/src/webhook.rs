//! `[channels.<name>] type = "webhook"`: contact-center webhooks on `POST /webhooks/<name>` (issue 6).
//!
//! Validation checks shapes only (no IO): the profile file and the secret are read when the engine starts.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::SecretSource;

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
    pub max_body_bytes: usize,
    /// Country calling code for national numbers.
    pub default_country_code: String,
    /// Task.owner for follow-up Tasks (`Group/care-team-outreach`).
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

/// Validates one webhook channel; problems go to `bad` with their key path under `key`.
pub fn validate(w: RawWebhook, key: &str, bad: &mut impl FnMut(String, String)) -> WebhookPlan {
    let profile = validate_profile(&w.profile, key, bad);
    let auth = validate_auth(&w, key, bad);
    let secret = match (w.secret_env, w.secret_file) {
        (Some(_), Some(_)) => {
            bad(format!("{key}.secret_env"), "give secret_env or secret_file, not both".into());
            SecretSource::None
        }
        (Some(v), None) if !v.is_empty() => SecretSource::Env(v),
        (None, Some(f)) if !f.as_os_str().is_empty() => SecretSource::File(f),
        _ => {
            bad(format!("{key}.secret_env"), "a webhook channel needs secret_env or secret_file".into());
            SecretSource::None
        }
    };
    let public_base_url = w.public_base_url.map(|u| u.trim_end_matches('/').to_owned());
    match &public_base_url {
        Some(u) if !valid_base_url(u) => bad(
            format!("{key}.public_base_url"),
            "must be an http:// or https:// URL without query or fragment (e.g. \"https://hearth.example.org\")".into(),
        ),
        None if auth == WebhookAuth::TwilioSignature => bad(
            format!("{key}.public_base_url"),
            "twilio-signature needs the URL Twilio calls (Twilio signs it; Hearth runs behind a proxy)".into(),
        ),
        _ => {}
    }
    let max_body_bytes = w.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
    if !(1024..=64 * 1024 * 1024).contains(&max_body_bytes) {
        bad(format!("{key}.max_body_bytes"), format!("must be between 1024 and 67108864, got {max_body_bytes}"));
    }
    let default_country_code = w.default_country_code.unwrap_or_else(|| "1".into());
    let cc = default_country_code.as_bytes();
    if cc.is_empty() || cc.len() > 3 || !cc.iter().all(u8::is_ascii_digit) || cc[0] == b'0' {
        bad(format!("{key}.default_country_code"), "must be a country calling code of 1 to 3 digits".into());
    }
    if let Some(owner) = &w.care_team_owner
        && !valid_reference(owner)
    {
        bad(format!("{key}.care_team_owner"), "must be a reference like \"Group/care-team-outreach\"".into());
    }
    WebhookPlan {
        profile,
        auth,
        secret,
        public_base_url,
        max_body_bytes,
        default_country_code,
        care_team_owner: w.care_team_owner,
    }
}

fn validate_profile(p: &str, key: &str, bad: &mut impl FnMut(String, String)) -> WebhookProfile {
    if BUILTIN_PROFILES.contains(&p) {
        return WebhookProfile::Builtin(p.to_owned());
    }
    if p.ends_with(".toml") {
        return WebhookProfile::File(PathBuf::from(p));
    }
    bad(
        format!("{key}.profile"),
        format!("{p:?} is neither a built-in profile ({}) nor a path to a .toml file", BUILTIN_PROFILES.join(", ")),
    );
    WebhookProfile::Builtin(p.to_owned())
}

fn validate_auth(w: &RawWebhook, key: &str, bad: &mut impl FnMut(String, String)) -> WebhookAuth {
    let mut header = |value: &Option<String>, name: &str, needed: bool| -> String {
        match value {
            Some(h) if valid_header_name(h) => h.clone(),
            Some(_) => {
                bad(format!("{key}.{name}"), "must be an HTTP header name (letters, digits, '-')".into());
                String::new()
            }
            None if needed => {
                bad(format!("{key}.{name}"), format!("auth = {:?} needs {name}", w.auth));
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
            bad(format!("{key}.auth"), format!("{other:?} is not one of {SCHEMES:?}"));
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
        bad(format!("{key}.{name}"), format!("does not apply to auth = {:?}", w.auth));
    }
    if let Some(0) | Some(86_401..) = w.window_s {
        bad(format!("{key}.window_s"), "must be between 1 and 86400".into());
    }
    auth
}

fn valid_base_url(u: &str) -> bool {
    let rest = u.strip_prefix("https://").or_else(|| u.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.contains(['?', '#', ' ']))
}

fn valid_header_name(h: &str) -> bool {
    !h.is_empty() && h.len() <= 128 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_reference(r: &str) -> bool {
    let Some((kind, id)) = r.split_once('/') else { return false };
    kind.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
        && kind.bytes().all(|b| b.is_ascii_alphabetic())
        && (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::{ConfigError, SourcePlan, load_str};

    use super::*;

    fn channel(body: &str) -> Result<WebhookPlan, ConfigError> {
        let plan = load_str(&format!("[channels.calls]\ntype = \"webhook\"\n{body}"), &[])?;
        match &plan.channels[0].source {
            SourcePlan::Webhook(w) => Ok(w.clone()),
            other => panic!("not a webhook channel: {other:?}"),
        }
    }

    fn problems(body: &str) -> Vec<String> {
        match channel(body) {
            Err(ConfigError::Invalid(p)) => p.into_iter().map(|p| p.path).collect(),
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn a_twilio_channel_with_defaults() {
        let w = channel(
            "profile = \"twilio-voice\"\nauth = \"twilio-signature\"\nsecret_env = \"TWILIO_AUTH_TOKEN\"\n\
             public_base_url = \"https://hearth.example.org/\"\ncare_team_owner = \"Group/care-team-outreach\"\n",
        )
        .unwrap();
        assert_eq!(w.profile, WebhookProfile::Builtin("twilio-voice".into()));
        assert_eq!(w.auth, WebhookAuth::TwilioSignature);
        assert_eq!(w.secret, SecretSource::Env("TWILIO_AUTH_TOKEN".into()));
        assert_eq!(w.public_base_url.as_deref(), Some("https://hearth.example.org"), "trailing / dropped");
        assert_eq!(w.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(w.default_country_code, "1");
        assert_eq!(w.care_team_owner.as_deref(), Some("Group/care-team-outreach"));
    }

    #[test]
    fn every_scheme_with_its_keys() {
        let w = channel(
            "profile = \"zendesk\"\nauth = \"timestamp-hmac\"\nsecret_file = \"/run/secrets/zd\"\n\
             timestamp_header = \"X-Zendesk-Webhook-Signature-Timestamp\"\n\
             signature_header = \"X-Zendesk-Webhook-Signature\"\nwindow_s = 60\n",
        )
        .unwrap();
        assert_eq!(w.secret, SecretSource::File("/run/secrets/zd".into()));
        let WebhookAuth::TimestampHmac { window, .. } = w.auth else { panic!("{:?}", w.auth) };
        assert_eq!(window, Duration::from_secs(60));
        let w = channel(
            "profile = \"amazon-connect\"\nauth = \"shared-secret-header\"\nheader = \"X-Relay-Secret\"\n\
             secret_env = \"S\"\n",
        )
        .unwrap();
        assert_eq!(w.auth, WebhookAuth::SharedSecretHeader { header: "X-Relay-Secret".into() });
        let w =
            channel("profile = \"mappings/acme.toml\"\nauth = \"hub-signature-256\"\nsecret_env = \"S\"\n").unwrap();
        assert_eq!(w.profile, WebhookProfile::File("mappings/acme.toml".into()));
    }

    #[test]
    fn problems_name_their_keys() {
        let got = problems(
            "profile = \"acme\"\nauth = \"basic\"\nmax_body_bytes = 10\ndefault_country_code = \"+44\"\n\
             care_team_owner = \"outreach team\"\n",
        );
        for want in ["profile", "auth", "secret_env", "max_body_bytes", "default_country_code", "care_team_owner"] {
            assert!(got.contains(&format!("channels.calls.{want}")), "{want} missing from {got:?}");
        }
        let got = problems("profile = \"twilio-sms\"\nauth = \"twilio-signature\"\nsecret_env = \"S\"\n");
        assert_eq!(got, ["channels.calls.public_base_url"]);
        let got = problems(
            "profile = \"generic\"\nauth = \"timestamp-hmac\"\nsecret_env = \"S\"\nsecret_file = \"f\"\nheader = \"X\"\n",
        );
        for want in ["secret_env", "header", "timestamp_header", "signature_header"] {
            assert!(got.contains(&format!("channels.calls.{want}")), "{want} missing from {got:?}");
        }
        let got = problems(
            "profile = \"genesys\"\nauth = \"hub-signature-256\"\nsecret_env = \"S\"\npublic_base_url = \"ftp://x\"\n",
        );
        assert_eq!(got, ["channels.calls.public_base_url"]);
    }

    #[test]
    fn the_secret_is_never_a_key_and_unknown_keys_are_errors() {
        let err = channel("profile = \"genesys\"\nauth = \"hub-signature-256\"\nsecret = \"hunter2\"\n").unwrap_err();
        assert!(err.to_string().contains("secret"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "the value is not echoed: {err}");
    }

    #[test]
    fn builtin_names_match_the_library() {
        assert_eq!(BUILTIN_PROFILES, hearth_webhooks::BUILTIN_NAMES);
        let plan = load_str(
            "[channels.calls]\ntype = \"webhook\"\nprofile = \"twilio-voice\"\nauth = \"twilio-signature\"\n\
             secret_env = \"T\"\npublic_base_url = \"https://h.example.org\"\n",
            &[],
        )
        .unwrap();
        let top = plan.topology();
        assert!(top.contains("webhook POST /webhooks/calls"), "{top}");
        assert!(!top.contains("\"T\""), "{top}");
    }
}
