//! The engine's one error type: why it could not start (or stopped badly), with the class of each cause.

use std::net::SocketAddr;

use hearth_core::ErrorClass;

/// Why the engine could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("journal: {0}")]
    Journal(#[from] hearth_store::StoreError),
    #[error("journal password: {0}")]
    JournalSecret(#[from] hearth_core::config::SecretError),
    #[error("cannot listen on {addr} (http): {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Source(#[from] hearth_sources::SourceError),
    #[error(transparent)]
    Destination(#[from] hearth_sinks::StartError),
    #[error(transparent)]
    Mapping(#[from] crate::process::SetupError),
    /// `[admin]`, `[alerts]`: a token that cannot be read, an alert destination that cannot start.
    #[error("{key}: {reason}")]
    Ops { key: String, reason: String },
    /// `[http] tls`: the certificate or key files cannot be used.
    #[error("http.tls: {0}")]
    HttpTls(#[from] hearth_tls::TlsError),
}

impl EngineError {
    pub fn class(&self) -> ErrorClass {
        match self {
            EngineError::Journal(e) => e.class(),
            EngineError::Source(e) => e.class(),
            EngineError::Bind { .. }
            | EngineError::Destination(_)
            | EngineError::Mapping(_)
            | EngineError::Ops { .. }
            | EngineError::JournalSecret(_)
            | EngineError::HttpTls(_) => ErrorClass::Permanent,
        }
    }
}
