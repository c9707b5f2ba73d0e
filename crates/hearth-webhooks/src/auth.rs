//! Webhook authentication: each vendor's signature scheme, checked before the body is parsed (beyond what the
//! scheme itself needs), with constant-time comparisons.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::Request;
use crate::parse::{form_pairs, parse_time};

/// A shared secret. Its `Debug` never shows it; compare it only through this module.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(secret: impl Into<Vec<u8>>) -> Secret {
        Secret(secret.into())
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How a channel's webhooks prove where they come from.
#[derive(Debug, Clone)]
pub enum AuthConfig {
    /// Twilio `X-Twilio-Signature`: base64 HMAC-SHA1 over the public URL followed by the form parameters sorted
    /// by name, each as name+value. JSON bodies instead carry `bodySHA256` (hex) in the signed URL.
    TwilioSignature { auth_token: Secret },
    /// Genesys `X-Hub-Signature-256`: `sha256=` + HMAC-SHA256 of the body, base64 (what Genesys sends) or hex.
    HubSignature256 { secret: Secret },
    /// Generic (Zendesk-style): HMAC-SHA256 over the timestamp header's value followed by the body, base64 or hex,
    /// accepted within `window` of the request's `now` either way.
    TimestampHmac { secret: Secret, timestamp_header: String, signature_header: String, window: Duration },
    /// A header that must equal the secret: for Amazon Connect, whose EventBridge/Kinesis deliveries sign nothing
    /// (the relay in front of Hearth adds the header). Weakest of the schemes; use it over TLS only.
    SharedSecretHeader { header: String, secret: Secret },
}

/// Why a request is not authentic (HTTP 401 upstream). Says which check failed, never what was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing header {0}")]
    MissingHeader(String),
    #[error("header {0} is not in the scheme's format")]
    MalformedHeader(String),
    #[error("signature does not match")]
    BadSignature,
    #[error("body does not match the signed bodySHA256")]
    BodyHashMismatch,
    #[error("timestamp outside the replay window")]
    StaleTimestamp,
}

const TWILIO_HEADER: &str = "X-Twilio-Signature";
const HUB_HEADER: &str = "X-Hub-Signature-256";

/// Checks `req` against `auth`. Only the Twilio form scheme reads the body's structure (the signature covers
/// the parsed parameters); nothing else is parsed before this returns `Ok`.
pub fn verify(auth: &AuthConfig, req: &Request<'_>) -> Result<(), AuthError> {
    match auth {
        AuthConfig::TwilioSignature { auth_token } => twilio(auth_token, req),
        AuthConfig::HubSignature256 { secret } => {
            let given = header(req, HUB_HEADER)?;
            let sig = given.strip_prefix("sha256=").ok_or_else(|| AuthError::MalformedHeader(HUB_HEADER.into()))?;
            let given = decode_mac(sig, 32).ok_or_else(|| AuthError::MalformedHeader(HUB_HEADER.into()))?;
            check(&hmac_sha256(secret, &[req.body]), &given)
        }
        AuthConfig::TimestampHmac { secret, timestamp_header, signature_header, window } => {
            let ts = header(req, timestamp_header)?;
            let sig = header(req, signature_header)?;
            let given = decode_mac(sig, 32).ok_or_else(|| AuthError::MalformedHeader(signature_header.clone()))?;
            check(&hmac_sha256(secret, &[ts.as_bytes(), req.body]), &given)?;
            // Checked after the MAC, so a stale-timestamp log line always means an authentic replay.
            let at = parse_time(ts).ok_or_else(|| AuthError::MalformedHeader(timestamp_header.clone()))?;
            let skew = (req.now - at).unsigned_abs();
            if skew > *window { Err(AuthError::StaleTimestamp) } else { Ok(()) }
        }
        AuthConfig::SharedSecretHeader { header: name, secret } => {
            let given = header(req, name)?;
            // Hash both sides so the comparison time does not depend on the secret's length either.
            check(&Sha256::digest(secret.bytes()), &Sha256::digest(given.as_bytes()))
        }
    }
}

/// The URL a vendor signed, for [`Request::public_url`]. A channel's `public_url`, when configured, is used
/// verbatim (behind a proxy that rewrites paths the vendor's URL need not be `public_base_url` + the path Hearth
/// sees), followed by the request's `?query` when it has none of its own (Twilio adds `bodySHA256` per request);
/// else `public_base_url` + the request's path + `?query`, exactly as received.
pub fn signed_url(public_url: Option<&str>, public_base_url: Option<&str>, path: &str, query: Option<&str>) -> String {
    match (public_url, query) {
        (Some(url), Some(q)) if !url.contains('?') => format!("{url}?{q}"),
        (Some(url), _) => url.to_owned(),
        (None, Some(q)) => format!("{}{path}?{q}", public_base_url.unwrap_or("")),
        (None, None) => format!("{}{path}", public_base_url.unwrap_or("")),
    }
}

fn twilio(token: &Secret, req: &Request<'_>) -> Result<(), AuthError> {
    let given = header(req, TWILIO_HEADER)?;
    let given = decode_mac(given, 20).ok_or_else(|| AuthError::MalformedHeader(TWILIO_HEADER.into()))?;
    if let Some(hash) = body_sha256_param(req.public_url) {
        // JSON bodies: the URL (with its bodySHA256) is what is signed; the body is bound through the hash.
        check(&hmac_sha1(token, &[req.public_url.as_bytes()]), &given)?;
        let want = hex::decode(hash).map_err(|_| AuthError::BodyHashMismatch)?;
        return check(&Sha256::digest(req.body), &want).map_err(|_| AuthError::BodyHashMismatch);
    }
    let mut pairs = form_pairs(req.body).map_err(|_| AuthError::BadSignature)?;
    // Sorted by name then value, duplicates once: what Twilio's own validators sign.
    pairs.sort();
    pairs.dedup();
    let mut signed = Vec::with_capacity(req.public_url.len() + req.body.len());
    signed.extend_from_slice(req.public_url.as_bytes());
    for (k, v) in &pairs {
        signed.extend_from_slice(k.as_bytes());
        signed.extend_from_slice(v.as_bytes());
    }
    check(&hmac_sha1(token, &[&signed]), &given)
}

/// The `bodySHA256` query parameter of the public URL, if any.
fn body_sha256_param(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "bodySHA256").map(|(_, v)| v.into_owned())
}

/// Header lookup ignoring ASCII case (HTTP header names are case-insensitive).
fn header<'r>(req: &'r Request<'_>, name: &str) -> Result<&'r str, AuthError> {
    req.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .ok_or_else(|| AuthError::MissingHeader(name.to_owned()))
}

/// A MAC written in base64 or hex; `None` unless it decodes to exactly `len` bytes.
fn decode_mac(s: &str, len: usize) -> Option<Vec<u8>> {
    let bytes = if s.len() == 2 * len { hex::decode(s).ok() } else { B64.decode(s).ok() }?;
    (bytes.len() == len).then_some(bytes)
}

fn check(expected: &[u8], given: &[u8]) -> Result<(), AuthError> {
    if bool::from(expected.ct_eq(given)) { Ok(()) } else { Err(AuthError::BadSignature) }
}

fn hmac_sha1(key: &Secret, parts: &[&[u8]]) -> Vec<u8> {
    // HMAC takes keys of any length: `new_from_slice` cannot fail here.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key.bytes()) else { return Vec::new() };
    parts.iter().for_each(|p| mac.update(p));
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha256(key: &Secret, parts: &[&[u8]]) -> Vec<u8> {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.bytes()) else { return Vec::new() };
    parts.iter().for_each(|p| mac.update(p));
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn req<'a>(url: &'a str, headers: &'a [(String, String)], body: &'a [u8]) -> Request<'a> {
        Request { public_url: url, headers, content_type: None, body, now: datetime!(2025-06-03 14:03:22 UTC) }
    }

    #[test]
    fn a_configured_public_url_is_what_twilio_signed() {
        // Behind a proxy the vendor calls https://edge.example/tw/voice; Hearth sees /webhooks/twilio-voice.
        let token = Secret::new("twilio-token");
        let body = b"CallSid=CA1&CallStatus=completed";
        let vendor_url = "https://edge.example/tw/voice";
        let mac = hmac_sha1(&token, &[b"https://edge.example/tw/voiceCallSidCA1CallStatuscompleted"]);
        let headers = [(TWILIO_HEADER.to_owned(), B64.encode(mac))];
        let auth = AuthConfig::TwilioSignature { auth_token: token };
        let configured = signed_url(Some(vendor_url), Some("https://hearth.example"), "/webhooks/twilio-voice", None);
        assert_eq!(configured, vendor_url);
        assert_eq!(verify(&auth, &req(&configured, &headers, body)), Ok(()));
        let derived = signed_url(None, Some("https://hearth.example"), "/webhooks/twilio-voice", None);
        assert_eq!(verify(&auth, &req(&derived, &headers, body)), Err(AuthError::BadSignature));
        // The request's query follows a configured URL that has none of its own.
        assert_eq!(
            signed_url(Some(vendor_url), None, "/x", Some("bodySHA256=ab")),
            format!("{vendor_url}?bodySHA256=ab")
        );
        assert_eq!(signed_url(Some("https://e/x?k=1"), None, "/x", Some("k=2")), "https://e/x?k=1");
        assert_eq!(signed_url(None, Some("https://h"), "/webhooks/a", Some("q=1")), "https://h/webhooks/a?q=1");
    }

    #[test]
    fn secret_debug_is_redacted() {
        let auth = AuthConfig::HubSignature256 { secret: Secret::new("hunter2") };
        assert!(!format!("{auth:?}").contains("hunter2"));
    }

    #[test]
    fn shared_secret_header() {
        let auth = AuthConfig::SharedSecretHeader { header: "X-Hearth-Key".into(), secret: Secret::new("k1") };
        let ok = [("x-hearth-key".to_owned(), "k1".to_owned())];
        assert_eq!(verify(&auth, &req("https://h/x", &ok, b"{}")), Ok(()));
        let bad = [("X-Hearth-Key".to_owned(), "k2".to_owned())];
        assert_eq!(verify(&auth, &req("https://h/x", &bad, b"{}")), Err(AuthError::BadSignature));
        assert!(matches!(verify(&auth, &req("https://h/x", &[], b"{}")), Err(AuthError::MissingHeader(_))));
    }

    #[test]
    fn malformed_hub_header() {
        let auth = AuthConfig::HubSignature256 { secret: Secret::new("s") };
        let h = [(HUB_HEADER.to_owned(), "md5=abc".to_owned())];
        assert!(matches!(verify(&auth, &req("https://h/x", &h, b"{}")), Err(AuthError::MalformedHeader(_))));
    }
}
