//! Where a link connects, as configured: the `endpoint` URI and where its password comes from
//! (`password_env` / `password_file`; never the TOML itself). Shared by the AMQP source, the AMQP destination
//! and the alert exchange. A source or destination may name several URIs (the nodes of a RabbitMQ cluster:
//! `endpoint = ["amqp://a", "amqp://b"]` or `endpoints = [...]`); its link fails over from one to the next.

use std::path::PathBuf;

use hearth_core::config::{OneOrMany, Problems, SecretError, SecretSource};
use hearth_tls::ClientSettings;

/// The broker of the built-in default configuration.
pub const DEFAULT_ENDPOINT: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A configured broker endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `amqp://user[:password]@host:port/vhost`.
    pub uri: String,
    /// Further URIs of the same broker cluster, tried in turn after `uri` (same password).
    pub fallbacks: Vec<String>,
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
        let uris = uri.map(|u| vec![u]);
        Self::validate_list(uris, password_env, password_file, (key, endpoint_key, prefix), problems)
    }

    /// [`Endpoint::validate`] for one URI or several (the nodes of one broker cluster, tried in turn).
    pub fn validate_list(
        uris: Option<Vec<String>>,
        password_env: Option<String>,
        password_file: Option<PathBuf>,
        (key, endpoint_key, prefix): (&str, &str, &str),
        problems: &mut Problems,
    ) -> Endpoint {
        let mut uris = uris.unwrap_or_else(|| vec![DEFAULT_ENDPOINT.to_owned()]);
        if uris.is_empty() {
            problems.add(format!("{key}.{endpoint_key}"), "must name at least one amqp:// URI");
            uris.push(DEFAULT_ENDPOINT.to_owned());
        }
        for uri in &uris {
            check_uri(uri, &format!("{key}.{endpoint_key}"), problems);
        }
        let password = SecretSource::from_keys(password_env, password_file, key, prefix, None, problems);
        let uri = uris.remove(0);
        Endpoint { uri, fallbacks: uris, password, tls: ClientSettings::default() }
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

    /// Every URI, in the order tried, with the password read from its source.
    pub fn resolve_all(&self) -> Result<Vec<String>, EndpointError> {
        let secret = self.password.resolve()?;
        std::iter::once(&self.uri)
            .chain(&self.fallbacks)
            .map(|uri| match &secret {
                None => Ok(uri.clone()),
                Some(secret) => with_password(uri, secret).ok_or(EndpointError::NoUser),
            })
            .collect()
    }

    /// The URIs with their passwords hidden, for `hearth check`, messages and logs.
    pub fn redacted(&self) -> String {
        std::iter::once(&self.uri).chain(&self.fallbacks).map(|u| redact_uri(u)).collect::<Vec<_>>().join(" | ")
    }
}

/// The `endpoint` (one URI or a list) and `endpoints` (a list) keys of `key` as one list; both given is a
/// problem. `None`: neither (the built-in default broker).
pub fn endpoint_uris(
    endpoint: Option<OneOrMany<String>>,
    endpoints: Option<Vec<String>>,
    key: &str,
    problems: &mut Problems,
) -> Option<Vec<String>> {
    match (endpoint, endpoints) {
        (Some(_), Some(list)) => {
            problems.add(format!("{key}.endpoints"), "give endpoint or endpoints, not both");
            Some(list)
        }
        (Some(one), None) => Some(one.into_vec()),
        (None, list) => list,
    }
}

fn check_uri(uri: &str, path: &str, problems: &mut Problems) {
    if !uri.starts_with("amqp://") && !uri.starts_with("amqps://") {
        problems.add(path, format!("must be an amqp:// or amqps:// URI, got {:?}", redact_uri(uri)));
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
    const UNRESERVED: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    let encoded = percent_encoding::utf8_percent_encode(secret, UNRESERVED);
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
