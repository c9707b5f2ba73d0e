//! The one error type of this crate. None carries message content: only file names, certificate subjects and
//! what rustls said about the handshake.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while loading TLS material or making a TLS connection.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate, key or CA file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },

    /// A file was read but does not hold what it must (no PEM block of the right kind, bad PEM, a certificate
    /// that does not parse, an unsupported key type).
    #[error("{}: {reason}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The private key is not the key of the certificate.
    #[error("the private key in {} does not match the certificate in {}", key.display(), cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },

    /// The settings cannot work, whatever the files hold (e.g. `allowed_subjects` without `client_ca_file`).
    #[error("invalid TLS settings: {0}")]
    Invalid(String),

    /// rustls refused to build a configuration from material that parsed.
    #[error("cannot build the TLS configuration: {0}")]
    Config(#[source] rustls::Error),

    /// The peer did not finish the handshake in time (sent nothing, or too little).
    #[error("TLS handshake not finished within {0:?}")]
    HandshakeTimeout(Duration),

    /// The handshake failed for a reason other than the peer's certificate: not TLS at all, a protocol
    /// version or cipher we do not offer, the peer closed the connection, or (as a client) the server's
    /// certificate was not trusted.
    #[error("TLS handshake failed: {0}")]
    Handshake(#[source] io::Error),

    /// The client's certificate was refused at the handshake (mutual TLS): missing, not chained to
    /// `client_ca_file`, expired, or its subject is not in `allowed_subjects`. The peer got a TLS alert.
    #[error("client certificate refused ({reason}); subject: {}", subject.as_deref().unwrap_or("none presented"))]
    Refused {
        /// The subject of the certificate the peer presented (`CN=..., O=...`), if it presented one.
        subject: Option<String>,
        /// Why it was refused.
        reason: String,
    },

    /// The TCP connection could not be made (client side).
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Where to.
        addr: String,
        /// Why.
        source: io::Error,
    },
}

impl TlsError {
    /// Whether doing the same thing again later may succeed without anyone changing a file or a setting.
    ///
    /// Connection-level failures (timeouts, refused or failed handshakes, connect errors) are transient: the
    /// next peer or the next attempt may do better. Bad files and settings are permanent until an operator
    /// fixes them.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::HandshakeTimeout(_) | Self::Handshake(_) | Self::Refused { .. } | Self::Connect { .. } => true,
            Self::Read { .. } | Self::Pem { .. } | Self::KeyMismatch { .. } | Self::Invalid(_) | Self::Config(_) => {
                false
            }
        }
    }

    /// A short, bounded label for metrics (`error_type`).
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Read { .. } => "read",
            Self::Pem { .. } => "pem",
            Self::KeyMismatch { .. } => "key_mismatch",
            Self::Invalid(_) => "invalid",
            Self::Config(_) => "config",
            Self::HandshakeTimeout(_) => "handshake_timeout",
            Self::Handshake(_) => "handshake",
            Self::Refused { .. } => "refused",
            Self::Connect { .. } => "connect",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_file_and_the_subject() {
        let e = TlsError::KeyMismatch { cert: "/etc/hearth/a.pem".into(), key: "/etc/hearth/a.key".into() };
        assert_eq!(
            e.to_string(),
            "the private key in /etc/hearth/a.key does not match the certificate in /etc/hearth/a.pem"
        );
        assert!(!e.is_transient());
        let e = TlsError::Refused { subject: Some("CN=lab".into()), reason: "not allowed".into() };
        assert!(e.to_string().contains("CN=lab"));
        assert!(e.is_transient());
        let e = TlsError::Refused { subject: None, reason: "no client certificate".into() };
        assert!(e.to_string().contains("none presented"));
        assert_eq!(e.kind(), "refused");
    }
}
