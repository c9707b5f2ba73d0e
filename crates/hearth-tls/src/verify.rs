//! Client-certificate checking for mutual TLS: the chain must lead to `client_ca_file` (rustls' WebPKI verifier)
//! and, when `allowed_subjects` is set, the certificate's CN or a DNS/URI SAN must be one of them. Both are
//! decided inside the handshake, so a refused client gets a TLS alert and never a byte of application data.
//!
//! A verifier is shared by every connection of a configuration, yet the caller wants the subject of the
//! certificate that *this* connection's peer presented when it is refused. The verifier runs synchronously
//! inside the poll of the handshake future, so [`crate::ServerTls::accept`] gives each handshake a task-local
//! slot and the verifier writes the refused subject there. The alert the peer sees stays the precise one
//! (unknown CA, expired, access denied).

use std::cell::RefCell;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, RootCertStore, SignatureScheme};

use crate::TlsError;
use crate::facts::{CertFacts, subject_of};

tokio::task_local! {
    /// The subject of the client certificate refused during the current handshake (see the module docs).
    pub(crate) static REFUSED_SUBJECT: RefCell<Option<String>>;
}

/// The WebPKI chain check followed by the allowed-subjects check.
#[derive(Debug)]
pub(crate) struct PeerCheck {
    chain: Arc<dyn ClientCertVerifier>,
    allowed_subjects: Vec<String>,
    mandatory: bool,
}

impl PeerCheck {
    /// A verifier requiring a client certificate chained to `roots`, with one of `allowed_subjects` (any
    /// subject when the list is empty); `mandatory` false lets a client without a certificate through.
    pub(crate) fn new(
        roots: RootCertStore,
        allowed_subjects: Vec<String>,
        mandatory: bool,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<Self, TlsError> {
        let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let builder = if mandatory { builder } else { builder.allow_unauthenticated() };
        let chain =
            builder.build().map_err(|e| TlsError::Invalid(format!("client_ca_file cannot verify clients: {e}")))?;
        Ok(Self { chain, allowed_subjects, mandatory })
    }

    fn subject_allowed(&self, end_entity: &CertificateDer<'_>) -> bool {
        self.allowed_subjects.is_empty()
            || CertFacts::from_der(end_entity).is_ok_and(|f| f.is_allowed(&self.allowed_subjects))
    }
}

impl ClientCertVerifier for PeerCheck {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.chain.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let verdict = self.chain.verify_client_cert(end_entity, intermediates, now).and_then(|ok| {
            if self.subject_allowed(end_entity) {
                Ok(ok)
            } else {
                // Maps to the `access_denied` alert.
                Err(Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure))
            }
        });
        if verdict.is_err() {
            // Outside `accept` (no slot) there is nobody to tell; the handshake fails all the same.
            let _ = REFUSED_SUBJECT.try_with(|slot| *slot.borrow_mut() = Some(subject_of(end_entity)));
        }
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}

/// Why a client certificate was refused, in words for a log line, if `e` is such a refusal.
pub(crate) fn refusal_reason(e: &Error) -> Option<String> {
    match e {
        Error::NoCertificatesPresented => Some("no client certificate presented".into()),
        Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure) => {
            Some("subject not in allowed_subjects".into())
        }
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            Some("not issued by a CA in client_ca_file".into())
        }
        Error::InvalidCertificate(c) => Some(format!("invalid client certificate: {c}")),
        _ => None,
    }
}
