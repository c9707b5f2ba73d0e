//! Test support (feature `testing`; product code never enables it): a throwaway CA made at test time, and
//! server and client certificates it signs, as PEM text and files.
//!
//! Generation failures panic: they are bugs in the test, not conditions to handle.
#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType,
};
use time::{Duration, OffsetDateTime};

use crate::facts::CertFacts;

/// A certificate authority that exists only for a test.
#[derive(Debug)]
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

/// A certificate and its key, as PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// Its private key (PKCS#8 PEM).
    pub key_pem: String,
    /// The certificate's facts (subject, serial, SANs, validity).
    pub facts: CertFacts,
}

impl TestCa {
    /// A new CA whose subject is `CN=<name>, O=Hearth test PKI`, valid from two days ago for a year.
    ///
    /// # Panics
    /// If key generation or signing fails.
    #[must_use]
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.distinguished_name.push(DnType::OrganizationName, "Hearth test PKI");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        set_validity(&mut params, 365);
        let cert_pem = params.self_signed(&key).expect("CA certificate").pem();
        Self { issuer: Issuer::new(params, key), cert_pem }
    }

    /// A CA from an existing certificate and key (PEM), e.g. the one a test broker was set up with, to issue
    /// more certificates it trusts.
    ///
    /// # Errors
    /// The PEM texts are not a certificate and its key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, String> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| format!("CA key: {e}"))?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key).map_err(|e| format!("CA certificate: {e}"))?;
        Ok(Self { issuer, cert_pem: cert_pem.to_owned() })
    }

    /// The CA certificate (PEM): what `client_ca_file` / `ca_file` point to.
    #[must_use]
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A server certificate for `names` (DNS names or IP addresses; the first is also the CN), valid 30 days.
    #[must_use]
    pub fn server(&self, names: &[&str]) -> Issued {
        self.issue(names.first().copied().unwrap_or("server"), names, ExtendedKeyUsagePurpose::ServerAuth, 30)
    }

    /// A server certificate for `names` valid for `days` from now (an expiry alert within 14 days, say).
    #[must_use]
    pub fn server_valid_for(&self, names: &[&str], days: i64) -> Issued {
        self.issue(names.first().copied().unwrap_or("server"), names, ExtendedKeyUsagePurpose::ServerAuth, days)
    }

    /// A client certificate with CN `common_name` and `sans` (DNS names, IP addresses or URIs), valid 30 days.
    #[must_use]
    pub fn client(&self, common_name: &str, sans: &[&str]) -> Issued {
        self.issue(common_name, sans, ExtendedKeyUsagePurpose::ClientAuth, 30)
    }

    /// A client certificate that expired yesterday.
    #[must_use]
    pub fn expired_client(&self, common_name: &str) -> Issued {
        self.issue(common_name, &[], ExtendedKeyUsagePurpose::ClientAuth, -1)
    }

    fn issue(&self, common_name: &str, sans: &[&str], usage: ExtendedKeyUsagePurpose, days: i64) -> Issued {
        let key = KeyPair::generate().expect("leaf key");
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.subject_alt_names = sans.iter().map(|s| san(s)).collect();
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, days);
        let cert = params.signed_by(&key, &self.issuer).expect("leaf certificate");
        let facts = CertFacts::from_der(cert.der()).expect("rcgen makes parsable certificates");
        Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem(), facts }
    }
}

impl Issued {
    /// Writes `<stem>.pem` (certificate) and `<stem>.key` into `dir`; returns their paths.
    ///
    /// # Panics
    /// If the files cannot be written.
    pub fn write(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{stem}.pem"));
        let key = dir.join(format!("{stem}.key"));
        std::fs::write(&cert, &self.cert_pem).expect("write certificate");
        std::fs::write(&key, &self.key_pem).expect("write key");
        (cert, key)
    }
}

impl TestCa {
    /// Writes the CA certificate to `<dir>/<stem>.pem`; returns the path.
    ///
    /// # Panics
    /// If the file cannot be written.
    pub fn write(&self, dir: &Path, stem: &str) -> PathBuf {
        let path = dir.join(format!("{stem}.pem"));
        std::fs::write(&path, &self.cert_pem).expect("write CA certificate");
        path
    }
}

fn san(name: &str) -> SanType {
    if let Ok(ip) = name.parse() {
        SanType::IpAddress(ip)
    } else if name.contains("://") {
        SanType::URI(name.try_into().expect("an ASCII URI"))
    } else {
        SanType::DnsName(name.try_into().expect("an ASCII DNS name"))
    }
}

/// From two days ago until `days` from now (negative: already expired).
fn set_validity(params: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(2);
    params.not_after = now + Duration::days(days);
}
