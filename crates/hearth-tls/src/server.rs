//! The server side: settings, a configuration that can be replaced while connections are open, and the
//! reload rules (a broken new file never replaces a working configuration).

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::SingleCertAndKey;

use crate::facts::{CertFacts, first_facts};
use crate::verify::PeerCheck;
use crate::{TlsError, pem};

/// TLS 1.3 and 1.2, nothing older.
pub(crate) static VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

/// What a TLS listener needs (the `tls = { ... }` table of a listener, plus two code-level choices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// PEM: the server's certificate, then any intermediates.
    pub cert_file: PathBuf,
    /// PEM: its private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// PEM: the CA(s) client certificates must chain to. Set, it makes client certificates mandatory, unless
    /// [`ServerSettings::client_auth`] says [`ClientAuth::Optional`].
    pub client_ca_file: Option<PathBuf>,
    /// Whether a client without a certificate may complete the handshake (only meaningful with
    /// `client_ca_file`; a certificate that *is* presented is always checked).
    pub client_auth: ClientAuth,
    /// CN or DNS/URI SAN values a client certificate must carry one of (empty: any certificate from
    /// `client_ca_file`). Needs `client_ca_file`.
    pub allowed_subjects: Vec<String>,
    /// How long a peer may take to complete the handshake after the TCP connection is accepted.
    pub handshake_timeout: Duration,
    /// ALPN protocols offered, most preferred first (e.g. `h2`, `http/1.1` for the HTTP listener; none for
    /// MLLP).
    pub alpn_protocols: Vec<Vec<u8>>,
}

impl ServerSettings {
    /// Default handshake timeout: long enough for a slow WAN peer, short enough that idle sockets do not pile up.
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

    /// Server-only TLS (no client certificates) with the default handshake timeout and no ALPN.
    pub fn new(cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> Self {
        Self {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
            client_ca_file: None,
            client_auth: ClientAuth::Required,
            allowed_subjects: Vec::new(),
            handshake_timeout: Self::DEFAULT_HANDSHAKE_TIMEOUT,
            alpn_protocols: Vec::new(),
        }
    }

    /// Checks what can be checked without reading files.
    ///
    /// # Errors
    /// `allowed_subjects` without `client_ca_file`, an empty subject, or a zero handshake timeout.
    pub fn validate(&self) -> Result<(), TlsError> {
        if !self.allowed_subjects.is_empty() && self.client_ca_file.is_none() {
            return Err(TlsError::Invalid(
                "allowed_subjects needs client_ca_file (a subject means nothing without a trusted issuer)".into(),
            ));
        }
        if self.client_auth == ClientAuth::Optional && self.client_ca_file.is_none() {
            return Err(TlsError::Invalid(
                "optional client certificates need client_ca_file (the CA they must chain to)".into(),
            ));
        }
        if self.allowed_subjects.iter().any(|s| s.trim().is_empty()) {
            return Err(TlsError::Invalid("allowed_subjects contains an empty name".into()));
        }
        if self.handshake_timeout.is_zero() {
            return Err(TlsError::Invalid("the handshake timeout must be positive".into()));
        }
        Ok(())
    }
}

/// Whether the handshake demands a client certificate (with `client_ca_file`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No certificate, no connection (mutual TLS on the whole listener).
    #[default]
    Required,
    /// The server asks for a certificate; a client without one still connects (and
    /// [`crate::Accepted::client_certificate`] is `None`), so the application decides per request (the HTTP
    /// listener requires one for `/api/v1` only). A certificate that is presented must still chain to
    /// `client_ca_file` and carry an allowed subject, or the handshake fails.
    Optional,
}

/// The files as last read: a reload that finds the same bytes changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

impl Snapshot {
    pub(crate) fn read(settings: &ServerSettings) -> Result<Self, TlsError> {
        Ok(Self {
            cert: pem::read(&settings.cert_file)?,
            key: pem::read(&settings.key_file)?,
            client_ca: settings.client_ca_file.as_deref().map(pem::read).transpose()?,
        })
    }
}

/// One loaded configuration and what it was built from.
#[derive(Debug)]
pub(crate) struct Generation {
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) facts: CertFacts,
    pub(crate) snapshot: Snapshot,
}

impl Generation {
    fn build(settings: &ServerSettings, snapshot: Snapshot) -> Result<Self, TlsError> {
        let provider = pem::provider();
        let certified =
            pem::certified_key(&settings.cert_file, &snapshot.cert, &settings.key_file, &snapshot.key, &provider)?;
        let facts = first_facts(&settings.cert_file, &certified.cert)?;
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(VERSIONS)
            .map_err(TlsError::Config)?;
        let builder = match (&settings.client_ca_file, &snapshot.client_ca) {
            (Some(path), Some(bytes)) => {
                let roots = pem::roots(path, bytes)?;
                let mandatory = settings.client_auth == ClientAuth::Required;
                let check = PeerCheck::new(roots, settings.allowed_subjects.clone(), mandatory, provider)?;
                builder.with_client_cert_verifier(Arc::new(check))
            }
            _ => builder.with_client_cert_verifier(WebPkiClientVerifier::no_client_auth()),
        };
        let mut config = builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
        // Each generation keeps rustls' default (fresh) session cache on purpose: a session from before a
        // reload must not resume under the new configuration, where its client certificate might no longer be
        // allowed and where the peer should see the new server certificate.
        config.alpn_protocols.clone_from(&settings.alpn_protocols);
        Ok(Self { config: Arc::new(config), facts, snapshot })
    }
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The files hold the same bytes as the configuration in use: nothing changed.
    Unchanged,
    /// New handshakes now use the new certificate (whose facts these are); open connections keep their session.
    Reloaded(CertFacts),
}

/// A TLS server configuration that can be replaced while the listener runs.
///
/// [`ServerTls::accept`] takes the configuration current at that moment, so a reload affects new handshakes
/// only. [`ServerTls::reload`] (the engine calls it on SIGHUP) and [`ServerTls::watch`] (polls the files)
/// replace it when the files changed and the new ones are sound; otherwise the old configuration stays.
#[derive(Debug)]
pub struct ServerTls {
    pub(crate) settings: ServerSettings,
    current: RwLock<Arc<Generation>>,
}

impl ServerTls {
    /// Loads the files and builds the first configuration.
    ///
    /// # Errors
    /// Invalid settings, or a file that cannot be read, parsed, or whose key does not match.
    pub fn new(settings: ServerSettings) -> Result<Self, TlsError> {
        settings.validate()?;
        let first = Generation::build(&settings, Snapshot::read(&settings)?)?;
        Ok(Self { settings, current: RwLock::new(Arc::new(first)) })
    }

    /// The settings this configuration was built from.
    #[must_use]
    pub fn settings(&self) -> &ServerSettings {
        &self.settings
    }

    /// The rustls configuration new handshakes use right now.
    #[must_use]
    pub fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.current().config)
    }

    /// The facts of the certificate new handshakes present (for `hearth check` and the expiry metric).
    #[must_use]
    pub fn certificate(&self) -> CertFacts {
        self.current().facts.clone()
    }

    pub(crate) fn current(&self) -> Arc<Generation> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Re-reads the files now. Unchanged bytes change nothing; sound new files replace the configuration for
    /// new handshakes; broken ones are refused with the reason and the configuration in use stays.
    ///
    /// Reads files: call it from a blocking context or accept a few microseconds of blocking IO.
    ///
    /// # Errors
    /// The new files cannot be read or used (the old configuration is still in use).
    pub fn reload(&self) -> Result<Reload, TlsError> {
        let snapshot = Snapshot::read(&self.settings)?;
        self.apply(snapshot)
    }

    pub(crate) fn is_current(&self, snapshot: &Snapshot) -> bool {
        self.current().snapshot == *snapshot
    }

    pub(crate) fn apply(&self, snapshot: Snapshot) -> Result<Reload, TlsError> {
        if self.is_current(&snapshot) {
            return Ok(Reload::Unchanged);
        }
        let next = Generation::build(&self.settings, snapshot)?;
        let facts = next.facts.clone();
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
        Ok(Reload::Reloaded(facts))
    }

    /// The files this configuration is read from (for messages and `hearth check`).
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        [Some(self.settings.cert_file.as_path()), Some(self.settings.key_file.as_path())]
            .into_iter()
            .chain(std::iter::once(self.settings.client_ca_file.as_deref()))
            .flatten()
    }
}
