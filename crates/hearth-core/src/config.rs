//! The vocabulary every component's configuration shares: problems named by their key path, secrets that come
//! from the environment or a file (never from the TOML itself), and the small validators several components use.
//!
//! Validation is pure: it collects every problem (it does not stop at the first) and does no IO. Secrets are
//! *named* during validation and *read* when the engine starts ([`SecretSource::resolve`]).
//!
//! ```
//! use hearth_core::config::{Problems, SecretSource};
//!
//! let mut problems = Problems::default();
//! let secret = SecretSource::from_keys(Some("MQ_PASSWORD".into()), None, "destinations.fhir", "password", None, &mut problems);
//! assert_eq!(secret, SecretSource::Env("MQ_PASSWORD".into()));
//! let _ = SecretSource::from_keys(Some("A".into()), Some("/run/b".into()), "channels.x", "secret", Some("channels.x"), &mut problems);
//! assert_eq!(problems.to_string(), "invalid configuration:\n  channels.x.secret_env: give secret_env or secret_file, not both");
//! ```

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

/// One invalid key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key path (`destinations.billing.retry_max_ms`).
    pub path: String,
    pub message: String,
}

/// The problems one validation found, in the order found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems(Vec<Problem>);

impl Problems {
    /// Records a problem at `path`.
    pub fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem { path: path.into(), message: message.into() });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Problem] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<Problem> {
        self.0
    }
}

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::from("invalid configuration:");
        for p in &self.0 {
            let _ = write!(s, "\n  {}: {}", p.path, p.message);
        }
        f.write_str(&s)
    }
}

/// A key that takes one value or a list (`endpoint = "amqp://a"` or `endpoint = ["amqp://a", "amqp://b"]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    /// The values, in order.
    pub fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v],
            OneOrMany::Many(v) => v,
        }
    }
}

/// Where a secret comes from. Named by validation, read by [`SecretSource::resolve`] when the engine starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// No secret configured.
    None,
    /// An environment variable's name.
    Env(String),
    /// A file holding the secret (a trailing line break is not part of it).
    File(PathBuf),
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    EnvNotSet(String),
    #[error("{}: {source}", path.display())]
    File { path: PathBuf, source: std::io::Error },
    #[error("the secret is empty")]
    Empty,
}

impl SecretSource {
    /// Reads the `<prefix>_env` / `<prefix>_file` pair of keys under `key`. At most one may be given; with
    /// `required = Some(path)`, exactly one, and a missing one is reported at `path`.
    pub fn from_keys(
        env: Option<String>,
        file: Option<PathBuf>,
        key: &str,
        prefix: &str,
        required: Option<&str>,
        problems: &mut Problems,
    ) -> SecretSource {
        let (env_key, file_key) = (format!("{prefix}_env"), format!("{prefix}_file"));
        match (env, file) {
            (Some(_), Some(_)) => {
                problems.add(format!("{key}.{env_key}"), format!("give {env_key} or {file_key}, not both"));
                SecretSource::None
            }
            (Some(v), None) if v.is_empty() => {
                problems.add(format!("{key}.{env_key}"), "must name an environment variable");
                SecretSource::None
            }
            (Some(v), None) => SecretSource::Env(v),
            (None, Some(f)) if f.as_os_str().is_empty() => {
                problems.add(format!("{key}.{file_key}"), "must name a file");
                SecretSource::None
            }
            (None, Some(f)) => SecretSource::File(f),
            (None, None) => {
                if let Some(path) = required {
                    problems.add(path, format!("give exactly one of {env_key} (a variable name) or {file_key}"));
                }
                SecretSource::None
            }
        }
    }

    /// Reads the secret: `Ok(None)` when none is configured. An empty secret is an error (it would make an
    /// authentication check pass for anyone sending nothing).
    pub fn resolve(&self) -> Result<Option<String>, SecretError> {
        let secret = match self {
            SecretSource::None => return Ok(None),
            SecretSource::Env(var) => std::env::var(var).map_err(|_| SecretError::EnvNotSet(var.clone()))?,
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map_err(|source| SecretError::File { path: path.clone(), source })?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
        };
        if secret.is_empty() { Err(SecretError::Empty) } else { Ok(Some(secret)) }
    }
}

/// Parses an `IP:port` socket address at `path`.
pub fn socket_addr(s: &str, path: &str, problems: &mut Problems) -> SocketAddr {
    s.parse::<SocketAddr>().unwrap_or_else(|_| {
        problems.add(path, format!("{s:?} is not an IP:port socket address"));
        SocketAddr::from(([0, 0, 0, 0], 0))
    })
}

/// Channel and destination names: the path segment of URLs and the journal's channel column.
pub fn check_name(name: &str, path: &str, what: &str, problems: &mut Problems) {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !ok {
        problems.add(path, format!("{what} names use lowercase letters, digits, '-' and '_' (max 64)"));
    }
}

/// Checks that `value` (already defaulted) lies in `range`, naming the key.
pub fn check_range<T>(value: T, range: std::ops::RangeInclusive<T>, path: &str, problems: &mut Problems)
where
    T: PartialOrd + std::fmt::Display + Copy,
{
    if !range.contains(&value) {
        problems.add(path, format!("must be between {} and {}, got {value}", range.start(), range.end()));
    }
}

/// An `http://` or `https://` URL with a host, no credentials, no whitespace or control characters.
pub fn is_http_url(u: &str) -> bool {
    let Some(rest) = u.strip_prefix("https://").or_else(|| u.strip_prefix("http://")) else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    !authority.is_empty() && !authority.contains('@') && !u.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn secret_keys() {
        let mut p = Problems::default();
        assert_eq!(SecretSource::from_keys(None, None, "k", "secret", None, &mut p), SecretSource::None);
        assert!(p.is_empty());
        SecretSource::from_keys(None, None, "k", "token", Some("k"), &mut p);
        SecretSource::from_keys(Some(String::new()), None, "k", "password", None, &mut p);
        let paths: Vec<&str> = p.as_slice().iter().map(|x| x.path.as_str()).collect();
        assert_eq!(paths, ["k", "k.password_env"]);
    }

    #[test]
    fn secrets_resolve_from_files_without_the_line_break() {
        let dir = std::env::temp_dir().join(format!("hearth-core-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s");
        std::fs::write(&path, "s3cret\r\n").unwrap();
        assert_eq!(SecretSource::File(path.clone()).resolve().unwrap().as_deref(), Some("s3cret"));
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(SecretSource::File(path).resolve(), Err(SecretError::Empty)));
        assert!(matches!(SecretSource::File(dir.join("missing")).resolve(), Err(SecretError::File { .. })));
        assert!(matches!(
            SecretSource::Env("HEARTH_CORE_TEST_UNSET_VARIABLE".into()).resolve(),
            Err(SecretError::EnvNotSet(_))
        ));
        assert_eq!(SecretSource::None.resolve().unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_and_ranges() {
        let mut p = Problems::default();
        check_name("adt-1_b", "channels.adt-1_b", "channel", &mut p);
        assert!(p.is_empty());
        check_name("ADT", "channels.ADT", "channel", &mut p);
        check_range(0u32, 1..=10, "x.max", &mut p);
        assert_eq!(socket_addr("nope", "http.listen", &mut p), SocketAddr::from(([0, 0, 0, 0], 0)));
        assert_eq!(p.as_slice().len(), 3);
        assert_eq!(p.as_slice()[1].message, "must be between 1 and 10, got 0");
    }

    #[test]
    fn http_urls() {
        assert!(is_http_url("http://127.0.0.1:9000/a/b"));
        assert!(is_http_url("https://alerts.example.org"));
        assert!(!is_http_url("ftp://x/"));
        assert!(!is_http_url("http://u:p@x/"));
        assert!(!is_http_url("http:///x"));
        assert!(!is_http_url("http://x/a b"));
    }
}
