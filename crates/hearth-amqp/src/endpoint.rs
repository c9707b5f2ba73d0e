//! Where a link connects, as configured: the `endpoint` URI and where its password comes from
//! (`password_env` / `password_file`; never the TOML itself). Shared by the AMQP source, the AMQP destination
//! and the alert exchange.

use std::path::PathBuf;

use hearth_core::config::{Problems, SecretError, SecretSource};
use hearth_tls::ClientSettings;

/// The broker of the built-in default configuration.
pub const DEFAULT_ENDPOINT: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A configured broker endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `amqp://user[:password]@host:port/vhost`.
    pub uri: String,
    /// Replaces the URI's password when set.
    pub password: SecretSource,
    /// `amqps://`: the CA file the broker's certificate must chain to (default: the system's roots) and the
    /// client certificate for EXTERNAL; the server name checked is the URI's host.
    pub tls: ClientSettings,
}

/// Why an endpoint's URI could not be completed with its password.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("password: {0}")]
    Secret(#[from] SecretError),
    #[error("endpoint must name a user (amqp://user@host/...) when a password is configured")]
    NoUser,
}

impl Endpoint {
    /// Validates the `endpoint` and `<prefix>_env` / `<prefix>_file` keys under `key` (`prefix` is `password`,
    /// or `amqp_password` in `[alerts]`). No endpoint: the built-in default broker.
    pub fn validate(
        uri: Option<String>,
        password_env: Option<String>,
        password_file: Option<PathBuf>,
        (key, endpoint_key, prefix): (&str, &str, &str),
        problems: &mut Problems,
    ) -> Endpoint {
        let uri = uri.unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
        if !uri.starts_with("amqp://") && !uri.starts_with("amqps://") {
            problems.add(
                format!("{key}.{endpoint_key}"),
                format!("must be an amqp:// or amqps:// URI, got {:?}", redact_uri(&uri)),
            );
        }
        let password = SecretSource::from_keys(password_env, password_file, key, prefix, None, problems);
        Endpoint { uri, password, tls: ClientSettings::default() }
    }

    /// Adds the TLS keys of the same table (`ca_file`, `cert_file`, `key_file`): they need an `amqps://`
    /// endpoint, and a client certificate needs its key. Files are read when the link connects (and by
    /// `hearth check`).
    #[must_use]
    pub fn with_tls(
        mut self,
        [ca_file, cert_file, key_file]: [Option<PathBuf>; 3],
        key: &str,
        problems: &mut Problems,
    ) -> Self {
        let given = ca_file.is_some() || cert_file.is_some() || key_file.is_some();
        if given && !self.uri.starts_with("amqps://") {
            problems.add(format!("{key}.endpoint"), "ca_file, cert_file and key_file need an amqps:// endpoint");
        }
        if cert_file.is_some() != key_file.is_some() {
            problems.add(format!("{key}.cert_file"), "a client certificate needs both cert_file and key_file");
        }
        self.tls = ClientSettings { ca_file, cert_file, key_file, ..ClientSettings::default() };
        self
    }

    /// The URI to connect to, with the password read from its source (the only IO).
    pub fn resolve(&self) -> Result<String, EndpointError> {
        match self.password.resolve()? {
            None => Ok(self.uri.clone()),
            Some(secret) => with_password(&self.uri, &secret).ok_or(EndpointError::NoUser),
        }
    }

    /// The URI with its password hidden, for `hearth check`, messages and logs.
    pub fn redacted(&self) -> String {
        redact_uri(&self.uri)
    }
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

/// `amqp://user[:old]@host/vhost` → `amqp://user:<percent-encoded secret>@host/vhost`.
fn with_password(uri: &str, secret: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let (userinfo, host) = rest.split_once('@')?;
    let user = userinfo.split(':').next().filter(|u| !u.is_empty())?;
    let mut encoded = String::with_capacity(secret.len());
    for b in secret.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    Some(format!("{scheme}://{user}:{encoded}@{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_is_injected_percent_encoded() {
        assert_eq!(
            with_password("amqp://hearth:old@mq:5672/%2f", "p@ss word").as_deref(),
            Some("amqp://hearth:p%40ss%20word@mq:5672/%2f")
        );
        assert_eq!(with_password("amqp://mq:5672/%2f", "x"), None);
    }

    #[test]
    fn uris_are_redacted() {
        assert_eq!(redact_uri("amqp://u:secret@h:5672/%2f"), "amqp://u:***@h:5672/%2f");
        assert_eq!(redact_uri("amqp://h/"), "amqp://h/");
    }

    #[test]
    fn keys_are_named() {
        let mut p = Problems::default();
        let e = Endpoint::validate(
            Some("http://x".into()),
            None,
            None,
            ("alerts", "amqp_endpoint", "amqp_password"),
            &mut p,
        );
        assert_eq!(e.password, SecretSource::None);
        assert_eq!(p.as_slice()[0].path, "alerts.amqp_endpoint");
    }

    #[test]
    fn amqps_is_accepted_with_its_tls_keys() {
        let mut p = Problems::default();
        let e = Endpoint::validate(
            Some("amqps://mq.example.org/%2f".into()),
            None,
            None,
            ("d", "endpoint", "password"),
            &mut p,
        )
        .with_tls([Some("/ca.pem".into()), Some("/c.pem".into()), Some("/c.key".into())], "d", &mut p);
        assert!(p.is_empty(), "{p}");
        assert_eq!(e.tls.ca_file.as_deref(), Some(std::path::Path::new("/ca.pem")));

        let mut p = Problems::default();
        let _ = Endpoint::validate(Some("amqp://mq/%2f".into()), None, None, ("d", "endpoint", "password"), &mut p)
            .with_tls([Some("/ca.pem".into()), Some("/c.pem".into()), None], "d", &mut p);
        let text = p.to_string();
        assert!(text.contains("d.endpoint: ca_file, cert_file and key_file need an amqps:// endpoint"), "{text}");
        assert!(text.contains("d.cert_file: a client certificate needs both"), "{text}");

        let mut p = Problems::default();
        let _ = Endpoint::validate(Some("mqtt://x".into()), None, None, ("d", "endpoint", "password"), &mut p);
        assert!(p.to_string().contains("must be an amqp:// or amqps:// URI"), "{p}");
    }
}
