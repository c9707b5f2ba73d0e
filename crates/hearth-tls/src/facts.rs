//! What a certificate says, for `hearth check`, metrics (seconds until expiry) and log lines: subject, issuer,
//! serial, subject alternative names, validity.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::CertificateDer;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use crate::{TlsError, pem};

/// The facts of one X.509 certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    /// The subject as a distinguished name, e.g. `CN=lab.example.org, O=Example Lab`.
    pub subject: String,
    /// The subject's common name, if it has one.
    pub common_name: Option<String>,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// The serial number, hex bytes separated by colons.
    pub serial: String,
    /// Subject alternative names, each with its kind: `DNS:lab.example.org`, `URI:spiffe://...`, `IP:10.0.0.5`,
    /// `email:...`.
    pub sans: Vec<String>,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
}

impl CertFacts {
    /// The facts of a DER certificate.
    ///
    /// # Errors
    /// The bytes are not an X.509 certificate (the message says why, not where: the caller knows the file).
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
        Ok(Self::from_parsed(&cert))
    }

    fn from_parsed(cert: &X509Certificate<'_>) -> Self {
        let common_name = cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_owned);
        let mut sans = Vec::new();
        if let Ok(Some(ext)) = cert.subject_alternative_name() {
            for name in &ext.value.general_names {
                match name {
                    GeneralName::DNSName(n) => sans.push(format!("DNS:{n}")),
                    GeneralName::URI(u) => sans.push(format!("URI:{u}")),
                    GeneralName::RFC822Name(m) => sans.push(format!("email:{m}")),
                    GeneralName::IPAddress(bytes) => {
                        if let Some(ip) = ip_from_bytes(bytes) {
                            sans.push(format!("IP:{ip}"));
                        }
                    }
                    _ => {}
                }
            }
        }
        let validity = cert.validity();
        Self {
            subject: cert.subject().to_string(),
            common_name,
            issuer: cert.issuer().to_string(),
            serial: cert.raw_serial_as_string(),
            sans,
            not_before: to_system_time(validity.not_before.timestamp()),
            not_after: to_system_time(validity.not_after.timestamp()),
        }
    }

    /// Seconds from `now` until the certificate expires; negative once it has.
    #[must_use]
    pub fn seconds_until_expiry(&self, now: SystemTime) -> i64 {
        match self.not_after.duration_since(now) {
            Ok(left) => i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
            Err(past) => i64::try_from(past.duration().as_secs()).map_or(i64::MIN, |s| -s),
        }
    }

    /// Whether the certificate is valid at `now` (between not-before and not-after).
    #[must_use]
    pub fn is_valid_at(&self, now: SystemTime) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// The names `allowed_subjects` is matched against: the common name, then DNS and URI SANs (without their
    /// kind prefix).
    #[must_use]
    pub fn identities(&self) -> Vec<&str> {
        let sans = self.sans.iter().filter_map(|s| s.strip_prefix("DNS:").or_else(|| s.strip_prefix("URI:")));
        self.common_name.as_deref().into_iter().chain(sans).collect()
    }

    /// Whether one of [`CertFacts::identities`] is in `allowed`. DNS names and the common name compare without
    /// regard to ASCII case (as DNS does); URIs compare exactly.
    #[must_use]
    pub fn is_allowed(&self, allowed: &[String]) -> bool {
        let cn = self.common_name.iter().map(|c| (c.as_str(), false));
        let sans = self.sans.iter().filter_map(|s| {
            s.strip_prefix("DNS:").map(|d| (d, false)).or_else(|| s.strip_prefix("URI:").map(|u| (u, true)))
        });
        cn.chain(sans)
            .any(|(name, exact)| allowed.iter().any(|a| if exact { a == name } else { a.eq_ignore_ascii_case(name) }))
    }
}

fn to_system_time(unix: i64) -> SystemTime {
    match u64::try_from(unix) {
        Ok(secs) => UNIX_EPOCH + Duration::from_secs(secs),
        Err(_) => UNIX_EPOCH - Duration::from_secs(unix.unsigned_abs()),
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// The subject of a DER certificate, or a placeholder when it does not parse (for log lines about a peer).
pub(crate) fn subject_of(der: &CertificateDer<'_>) -> String {
    x509_parser::parse_x509_certificate(der)
        .map_or_else(|_| "(unparsable certificate)".to_owned(), |(_, c)| c.subject().to_string())
}

/// The facts of the first (end-entity) certificate in a PEM file.
///
/// # Errors
/// The file cannot be read or holds no valid certificate.
pub fn inspect_certificate_file(path: &Path) -> Result<CertFacts, TlsError> {
    let bytes = pem::read(path)?;
    first_facts(path, &pem::certificates(path, &bytes)?)
}

/// Checks that `key_file` holds the private key of the certificate in `cert_file`, and returns the
/// certificate's facts (what `hearth check` prints: subject, SANs, issuer, expiry).
///
/// # Errors
/// Either file cannot be read or parsed, the key type is not supported, or the key does not match
/// ([`TlsError::KeyMismatch`]).
pub fn check_key_pair(cert_file: &Path, key_file: &Path) -> Result<CertFacts, TlsError> {
    let cert_bytes = pem::read(cert_file)?;
    let key_bytes = pem::read(key_file)?;
    let certified = pem::certified_key(cert_file, &cert_bytes, key_file, &key_bytes, &pem::provider())?;
    first_facts(cert_file, &certified.cert)
}

pub(crate) fn first_facts(path: &Path, chain: &[CertificateDer<'_>]) -> Result<CertFacts, TlsError> {
    let first =
        chain.first().ok_or_else(|| TlsError::Pem { path: path.to_owned(), reason: "no certificate".into() })?;
    CertFacts::from_der(first).map_err(|reason| TlsError::Pem { path: path.to_owned(), reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(cn: Option<&str>, sans: &[&str]) -> CertFacts {
        CertFacts {
            subject: String::new(),
            common_name: cn.map(str::to_owned),
            issuer: String::new(),
            serial: String::new(),
            sans: sans.iter().map(|s| (*s).to_owned()).collect(),
            not_before: UNIX_EPOCH,
            not_after: UNIX_EPOCH + Duration::from_secs(1000),
        }
    }

    #[test]
    fn allowed_subjects_match_cn_dns_and_uri_only() {
        let f = facts(Some("Lab-Feed"), &["DNS:lab.example.org", "URI:spiffe://hosp/lab", "IP:10.0.0.1", "email:a@b"]);
        let allow = |names: &[&str]| f.is_allowed(&names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert!(allow(&["lab-feed"]));
        assert!(allow(&["LAB.example.org"]));
        assert!(allow(&["spiffe://hosp/lab"]));
        assert!(!allow(&["SPIFFE://hosp/lab"]));
        assert!(!allow(&["10.0.0.1"]));
        assert!(!allow(&["a@b"]));
        assert!(!allow(&[]));
        assert_eq!(f.identities(), vec!["Lab-Feed", "lab.example.org", "spiffe://hosp/lab"]);
    }

    #[test]
    fn expiry_counts_down_and_goes_negative() {
        let f = facts(None, &[]);
        assert_eq!(f.seconds_until_expiry(UNIX_EPOCH), 1000);
        assert_eq!(f.seconds_until_expiry(UNIX_EPOCH + Duration::from_secs(1010)), -10);
        assert!(f.is_valid_at(UNIX_EPOCH + Duration::from_secs(5)));
        assert!(!f.is_valid_at(UNIX_EPOCH + Duration::from_secs(1001)));
    }
}
