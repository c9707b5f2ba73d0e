//! Reading PEM files into what rustls takes, with errors that name the file.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{Error as RustlsError, InconsistentKeys, RootCertStore};

use crate::TlsError;

/// The crypto provider of every configuration Hearth builds: ring, explicitly, so that no process-wide default
/// (and no second provider pulled in by a dependency) decides.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The bytes of `path`.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_owned(), source })
}

fn pem_error(path: &Path, what: &str, e: &pem::Error) -> TlsError {
    let reason = match e {
        pem::Error::NoItemsFound => format!("no {what} found (expected a PEM file)"),
        other => format!("not a valid PEM file ({other})"),
    };
    TlsError::Pem { path: path.to_owned(), reason }
}

/// Every certificate in a PEM file (a chain: the end-entity certificate first), at least one, each of which
/// parses as X.509.
pub(crate) fn certificates(path: &Path, bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, "certificate", &e))?;
    if certs.is_empty() {
        return Err(pem_error(path, "certificate", &pem::Error::NoItemsFound));
    }
    for (i, cert) in certs.iter().enumerate() {
        if let Err(e) = x509_parser::parse_x509_certificate(cert) {
            let reason = format!("certificate #{} does not parse as X.509 ({e})", i + 1);
            return Err(TlsError::Pem { path: path.to_owned(), reason });
        }
    }
    Ok(certs)
}

/// The private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub(crate) fn private_key(path: &Path, bytes: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(bytes).map_err(|e| pem_error(path, "private key", &e))
}

/// A certificate chain and its key, checked to belong together.
pub(crate) fn certified_key(
    cert_path: &Path,
    cert_bytes: &[u8],
    key_path: &Path,
    key_bytes: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = certificates(cert_path, cert_bytes)?;
    let key = private_key(key_path, key_bytes)?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::Pem { path: key_path.to_owned(), reason: format!("unusable private key ({e})") })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        Err(RustlsError::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::KeyMismatch { cert: cert_path.to_owned(), key: key_path.to_owned() })
        }
        // ring can always say (every key type it loads exposes its public key); anything else is a bug in the
        // certificate, reported against it.
        Err(e) => {
            Err(TlsError::Pem { path: cert_path.to_owned(), reason: format!("cannot check the key against it ({e})") })
        }
    }
}

/// A trust store holding exactly the certificates of a CA file.
pub(crate) fn roots(path: &Path, bytes: &[u8]) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for cert in certificates(path, bytes)? {
        store.add(cert).map_err(|e| TlsError::Pem {
            path: path.to_owned(),
            reason: format!("not usable as a CA certificate ({e})"),
        })?;
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file() {
        let p = Path::new("/x/cert.pem");
        let e = certificates(p, b"hello").unwrap_err();
        assert_eq!(e.to_string(), "/x/cert.pem: no certificate found (expected a PEM file)");
        let e = certificates(p, b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap_err();
        assert!(e.to_string().starts_with("/x/cert.pem: certificate #1 does not parse as X.509"), "{e}");
        let e = private_key(Path::new("/x/k.pem"), b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            .unwrap_err();
        assert!(e.to_string().contains("no private key found"), "{e}");
        let e = read(Path::new("/nonexistent/hearth.pem")).unwrap_err();
        assert!(e.to_string().starts_with("cannot read /nonexistent/hearth.pem"), "{e}");
    }
}
