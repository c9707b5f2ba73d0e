//! The client side: one `rustls::ClientConfig` for every outgoing TLS link (`hearth send mllps://`, `amqps://`
//! through lapin, HTTPS through reqwest's `use_preconfigured_tls`), and a connect helper.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::SingleCertAndKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::server::VERSIONS;
use crate::{TlsError, pem};

/// What an outgoing TLS link needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientSettings {
    /// PEM: the CA(s) the server's certificate must chain to. `None`: the system's trust store.
    pub ca_file: Option<PathBuf>,
    /// PEM: a client certificate to present (mutual TLS, RabbitMQ's EXTERNAL mechanism). Needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM: the client certificate's private key. Needs `cert_file`.
    pub key_file: Option<PathBuf>,
    /// **Dangerous, for tests only**: accept any server certificate, from anyone, for any name. The traffic
    /// is still encrypted, but to whoever answers.
    pub insecure_accept_any_server_certificate: bool,
    /// The name the server's certificate must carry, when it differs from the host connected to (e.g. the
    /// connection goes to an IP address). `None`: the host.
    pub server_name: Option<String>,
}

/// Builds the rustls client configuration for `settings`: ring, TLS 1.3 and 1.2, server verification on
/// (unless the insecure switch is set), the client certificate if any. No ALPN is set; an HTTP client that
/// wants HTTP/2 sets `alpn_protocols` itself.
///
/// # Errors
/// A file cannot be read or used, the key does not match the certificate, only one of `cert_file` and
/// `key_file` is set, or (without `ca_file`) the system trust store is empty.
pub fn client_config(settings: &ClientSettings) -> Result<ClientConfig, TlsError> {
    let provider = pem::provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(VERSIONS)
        .map_err(TlsError::Config)?;
    let builder = if settings.insecure_accept_any_server_certificate {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAnyServerCertificate(provider.clone())))
    } else {
        builder.with_root_certificates(trust_store(settings)?)
    };
    match (&settings.cert_file, &settings.key_file) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(cert), Some(key)) => {
            let certified = pem::certified_key(cert, &pem::read(cert)?, key, &pem::read(key)?, &provider)?;
            Ok(builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified))))
        }
        _ => Err(TlsError::Invalid("a client certificate needs both cert_file and key_file".into())),
    }
}

fn trust_store(settings: &ClientSettings) -> Result<RootCertStore, TlsError> {
    if let Some(ca) = &settings.ca_file {
        return pem::roots(ca, &pem::read(ca)?);
    }
    let mut store = RootCertStore::empty();
    store.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if store.is_empty() {
        return Err(TlsError::Invalid("no ca_file given and the system trust store has no CA certificates".into()));
    }
    Ok(store)
}

/// A client configuration with the server name to verify, ready to connect.
#[derive(Debug, Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    server_name: Option<String>,
}

impl ClientTls {
    /// Loads the files of `settings`.
    ///
    /// # Errors
    /// As [`client_config`].
    pub fn new(settings: &ClientSettings) -> Result<Self, TlsError> {
        Ok(Self { config: Arc::new(client_config(settings)?), server_name: settings.server_name.clone() })
    }

    /// The rustls configuration (for lapin's connector or reqwest).
    #[must_use]
    pub fn config(&self) -> Arc<ClientConfig> {
        Arc::clone(&self.config)
    }

    /// The name to verify when connecting to `host`: the configured override, else the host itself (a DNS
    /// name or an IP address; brackets around IPv6 are removed).
    ///
    /// # Errors
    /// The name is neither a valid DNS name nor an IP address.
    pub fn server_name_for(&self, host: &str) -> Result<ServerName<'static>, TlsError> {
        let name = self.server_name.as_deref().unwrap_or(host);
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        ServerName::try_from(bare.to_owned())
            .map_err(|_| TlsError::Invalid(format!("{name:?} is not a valid server name for TLS")))
    }

    /// Connects to `addr` (`host:port`) and completes the handshake, all within `timeout`.
    ///
    /// # Errors
    /// [`TlsError::Connect`], [`TlsError::HandshakeTimeout`] (also when the TCP connect is what took too long),
    /// [`TlsError::Handshake`] (e.g. the server's certificate is not trusted, or it refused ours).
    pub async fn connect(&self, addr: &str, timeout: Duration) -> Result<TlsStream<TcpStream>, TlsError> {
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
        let name = self.server_name_for(host)?;
        let connect = async {
            let tcp =
                TcpStream::connect(addr).await.map_err(|source| TlsError::Connect { addr: addr.to_owned(), source })?;
            // MLLP and AMQP exchange small frames and wait for answers: do not let Nagle hold them back.
            let _ = tcp.set_nodelay(true);
            self.handshake_as(tcp, name).await
        };
        tokio::time::timeout(timeout, connect).await.map_err(|_| TlsError::HandshakeTimeout(timeout))?
    }

    /// The client side of the handshake over an already connected stream, verifying the server as `host`.
    ///
    /// # Errors
    /// As [`ClientTls::connect`], without the timeout (wrap it in one).
    pub async fn handshake<IO>(&self, io: IO, host: &str) -> Result<TlsStream<IO>, TlsError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let name = self.server_name_for(host)?;
        self.handshake_as(io, name).await
    }

    async fn handshake_as<IO>(&self, io: IO, name: ServerName<'static>) -> Result<TlsStream<IO>, TlsError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        TlsConnector::from(Arc::clone(&self.config)).connect(name, io).await.map_err(TlsError::Handshake)
    }
}

/// The verifier behind `insecure_accept_any_server_certificate`: any certificate for any name is accepted, but
/// the handshake signatures are still checked (the peer must hold the key of the certificate it sent).
#[derive(Debug)]
struct AcceptAnyServerCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_a_client_identity_is_refused() {
        let s = ClientSettings {
            cert_file: Some("/x/c.pem".into()),
            insecure_accept_any_server_certificate: true,
            ..ClientSettings::default()
        };
        let e = client_config(&s).unwrap_err();
        assert!(e.to_string().contains("both cert_file and key_file"), "{e}");
    }

    #[test]
    fn server_names_accept_dns_and_ip_and_the_override_wins() {
        let tls = ClientTls::new(&ClientSettings {
            insecure_accept_any_server_certificate: true,
            ..ClientSettings::default()
        })
        .unwrap();
        assert!(matches!(tls.server_name_for("127.0.0.1").unwrap(), ServerName::IpAddress(_)));
        assert!(matches!(tls.server_name_for("[::1]").unwrap(), ServerName::IpAddress(_)));
        assert!(matches!(tls.server_name_for("lab.example.org").unwrap(), ServerName::DnsName(_)));
        assert!(tls.server_name_for("bad name!").is_err());
        let tls = ClientTls { server_name: Some("broker.example".into()), ..tls };
        assert_eq!(tls.server_name_for("10.0.0.1").unwrap().to_str(), "broker.example");
    }
}
