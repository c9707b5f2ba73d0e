//! Webhook channels, loaded through the whole configuration.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use hearth_core::config::SecretSource;
use hearth_sources::webhook::{BUILTIN_PROFILES, DEFAULT_MAX_BODY_BYTES, WebhookAuth, WebhookPlan, WebhookProfile};

use crate::{ConfigError, SourcePlan, load_str};

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
         public_base_url = \"https://hearth.example.org/\"\ncare_team_owner = \"CareTeam/care-team-outreach\"\n",
    )
    .unwrap();
    assert_eq!(w.profile, WebhookProfile::Builtin("twilio-voice".into()));
    assert_eq!(w.auth, WebhookAuth::TwilioSignature);
    assert_eq!(w.secret, SecretSource::Env("TWILIO_AUTH_TOKEN".into()));
    assert_eq!(w.public_base_url.as_deref(), Some("https://hearth.example.org"), "trailing / dropped");
    assert_eq!(w.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
    assert_eq!(w.default_country_code, "1");
    assert_eq!(w.care_team_owner.as_deref(), Some("CareTeam/care-team-outreach"));
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
    let w = channel("profile = \"mappings/acme.toml\"\nauth = \"hub-signature-256\"\nsecret_env = \"S\"\n").unwrap();
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
