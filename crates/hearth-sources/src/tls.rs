//! `tls = { cert_file, key_file, client_ca_file?, allowed_subjects?, client_certificates? }` on a listener (an MLLP channel; the HTTP
//! listener reuses it): the raw table, its validation (pure, no IO), the line `hearth check` prints, the file
//! checks `hearth check` runs, and the upkeep task of a running TLS listener (reload when the files change or
//! on SIGHUP, the expiry gauge). The TLS itself is hearth-tls's; see docs/security.md.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hearth_core::config::{Problems, check_range};
use hearth_core::events::{TlsCertificate, TlsHandshakeFailed};
use hearth_tls::{CertFacts, ClientAuth, Reload, ServerSettings, ServerTls, TlsError};
use serde::Deserialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often a TLS listener looks at its certificate files by default.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(5);
/// How often the expiry gauge is refreshed.
const GAUGE_EVERY: Duration = Duration::from_secs(60);

/// The raw `tls` table, exactly as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_ca_file: Option<PathBuf>,
    #[serde(default)]
    pub allowed_subjects: Vec<String>,
    pub handshake_timeout_ms: Option<u64>,
    pub reload_interval_ms: Option<u64>,
    /// With `client_ca_file`: `"required"` (default: every connection presents a certificate) or, on the HTTP
    /// listener only, `"api"` (any client connects; `/api/v1` demands a certificate).
    pub client_certificates: Option<String>,
}

/// A validated `tls` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPlan {
    pub settings: ServerSettings,
    /// How often the files are compared with what is loaded (a change is reloaded; SIGHUP reloads at once).
    pub reload_interval: Duration,
}

/// Validates a `tls` table under `key` (e.g. `channels.adt.tls`), without reading the files.
pub fn validate(raw: RawTls, key: &str, problems: &mut Problems) -> TlsPlan {
    let mut settings = ServerSettings::new(raw.cert_file, raw.key_file);
    settings.client_ca_file = raw.client_ca_file;
    settings.allowed_subjects = raw.allowed_subjects;
    settings.client_auth = match raw.client_certificates.as_deref() {
        None | Some("required") => ClientAuth::Required,
        Some("api") if key == "http.tls" => ClientAuth::Optional,
        Some("api") => {
            problems.add(format!("{key}.client_certificates"), "\"api\" is for [http] tls only (a channel has no API)");
            ClientAuth::Required
        }
        Some(other) => {
            problems
                .add(format!("{key}.client_certificates"), format!("must be \"required\" or \"api\", not {other:?}"));
            ClientAuth::Required
        }
    };
    if let Some(ms) = raw.handshake_timeout_ms {
        check_range(ms, 100..=600_000, &format!("{key}.handshake_timeout_ms"), problems);
        settings.handshake_timeout = Duration::from_millis(ms.max(1));
    }
    let reload_ms = raw.reload_interval_ms.unwrap_or(DEFAULT_RELOAD_INTERVAL.as_millis() as u64);
    check_range(reload_ms, 100..=86_400_000, &format!("{key}.reload_interval_ms"), problems);
    for (name, path) in [("cert_file", Some(&settings.cert_file)), ("key_file", Some(&settings.key_file))]
        .into_iter()
        .chain(std::iter::once(("client_ca_file", settings.client_ca_file.as_ref())))
    {
        if path.is_some_and(|p| p.as_os_str().is_empty()) {
            problems.add(format!("{key}.{name}"), "must not be empty");
        }
    }
    if let Err(e) = settings.validate() {
        let which = if !settings.allowed_subjects.is_empty() {
            "allowed_subjects"
        } else if settings.client_auth == ClientAuth::Optional {
            "client_certificates"
        } else {
            "handshake_timeout_ms"
        };
        problems.add(format!("{key}.{which}"), e.to_string());
    }
    TlsPlan { settings, reload_interval: Duration::from_millis(reload_ms) }
}

/// The listener's TLS mode for `hearth check`: `plaintext`, `tls`, `mutual tls (any client of <ca>)` or
/// `mutual tls (allowed: a, b)`.
pub fn mode(plan: Option<&TlsPlan>) -> String {
    let Some(p) = plan else { return "plaintext".into() };
    if p.settings.client_auth == ClientAuth::Optional {
        let ca = p.settings.client_ca_file.as_deref().map(|c| c.display().to_string()).unwrap_or_default();
        return match p.settings.allowed_subjects.as_slice() {
            [] => format!("tls; /api/v1 needs a client certificate from {ca}"),
            allowed => format!("tls; /api/v1 needs a client certificate (allowed: {})", allowed.join(", ")),
        };
    }
    match (&p.settings.client_ca_file, p.settings.allowed_subjects.as_slice()) {
        (None, _) => "tls".into(),
        (Some(ca), []) => format!("mutual tls (any client certificate from {})", ca.display()),
        (Some(_), allowed) => format!("mutual tls (allowed: {})", allowed.join(", ")),
    }
}

/// What `hearth check` found in a listener's TLS files.
#[derive(Debug)]
pub struct FileCheck {
    /// The server certificate (its key matches).
    pub certificate: CertFacts,
    /// The client CA certificate, for mutual TLS.
    pub client_ca: Option<CertFacts>,
}

impl FileCheck {
    /// Readable files, a key that matches the certificate, a client CA file that holds a certificate. Expiry is
    /// reported by [`FileCheck::describe`], and an expired certificate is an error.
    ///
    /// # Errors
    /// The first file that cannot be used, or an expired (or not yet valid) certificate.
    pub fn run(plan: &TlsPlan, now: SystemTime) -> Result<FileCheck, TlsError> {
        let s = &plan.settings;
        let certificate = hearth_tls::check_key_pair(&s.cert_file, &s.key_file)?;
        if !certificate.is_valid_at(now) {
            return Err(TlsError::Invalid(format!(
                "the certificate in {} is not valid now (valid until {})",
                s.cert_file.display(),
                date(certificate.not_after)
            )));
        }
        let client_ca = s.client_ca_file.as_deref().map(hearth_tls::inspect_certificate_file).transpose()?;
        // The full configuration, as the listener will build it (catches a CA file rustls refuses).
        ServerTls::new(s.clone())?;
        Ok(FileCheck { certificate, client_ca })
    }

    /// `certificate CN=..., expires 2027-01-02 (364 days)`.
    pub fn describe(&self, now: SystemTime) -> String {
        let c = &self.certificate;
        let days = c.seconds_until_expiry(now) / 86_400;
        let mut s = format!("certificate {} expires {} ({days} days)", c.subject, date(c.not_after));
        if let Some(ca) = &self.client_ca {
            s.push_str(&format!("; client CA {} expires {}", ca.subject, date(ca.not_after)));
        }
        s
    }
}

/// `YYYY-MM-DD` (UTC) of a time.
pub fn date(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(0))
        .map(|d| d.date().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// A running TLS listener's configuration, named by its configuration key (`channels.adt`, `http`).
#[derive(Debug, Clone)]
pub struct TlsListener {
    pub name: String,
    pub tls: Arc<ServerTls>,
}

/// Keeps a TLS listener's certificate current until `shutdown`: reloads when the files change (polled every
/// `every`) or on SIGHUP; a broken new file is refused with a log line naming the file and the old certificate
/// stays; the expiry gauge is refreshed after each reload and every minute.
pub fn upkeep(listener: TlsListener, every: Duration, shutdown: CancellationToken) -> Vec<JoinHandle<()>> {
    let name = listener.name.clone();
    let gauge = move |facts: &CertFacts| {
        TlsCertificate { listener: &name, seconds_until_expiry: facts.seconds_until_expiry(SystemTime::now()) }.emit();
    };
    gauge(&listener.tls.certificate());
    let on_change = {
        let (name, gauge) = (listener.name.clone(), gauge.clone());
        move |event: Result<Reload, TlsError>| report(&name, event, &gauge)
    };
    let watcher = listener.tls.watch(every, shutdown.clone(), on_change);
    let periodic = tokio::spawn(async move {
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(GAUGE_EVERY);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => gauge(&listener.tls.certificate()),
                Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => None } } => {
                    let tls = Arc::clone(&listener.tls);
                    if let Ok(event) = tokio::task::spawn_blocking(move || tls.reload()).await {
                        report(&listener.name, event, &gauge);
                    }
                }
            }
        }
    });
    vec![watcher, periodic]
}

/// A failed handshake on `listener` (`channels.<name>`, `http`): counted, and logged with the peer address and
/// the certificate subject only (never content: none was read).
pub fn handshake_failed(listener: &str, peer: SocketAddr, e: &TlsError) {
    TlsHandshakeFailed { listener, reason: e.kind() }.emit();
    match e {
        TlsError::Refused { subject, reason } => tracing::warn!(
            listener, peer = %peer, subject = subject.as_deref().unwrap_or("none presented"), reason = %reason,
            "TLS client certificate refused"
        ),
        other => tracing::info!(listener, peer = %peer, error = %other, "TLS handshake failed"),
    }
}

fn report(name: &str, event: Result<Reload, TlsError>, gauge: &impl Fn(&CertFacts)) {
    match event {
        Ok(Reload::Reloaded(facts)) => {
            tracing::info!(listener = %name, subject = %facts.subject, expires = %date(facts.not_after),
                "TLS certificate reloaded; new connections use it");
            gauge(&facts);
        }
        Ok(Reload::Unchanged) => {}
        Err(e) => tracing::error!(listener = %name, error = %e,
            "TLS certificate files refused; the certificate in use stays"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn raw(text: &str) -> RawTls {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn validates_without_reading_files() {
        let mut p = Problems::default();
        let plan = validate(raw("cert_file = \"/nope/a.pem\"\nkey_file = \"/nope/a.key\""), "channels.x.tls", &mut p);
        assert!(p.is_empty(), "{p}");
        assert_eq!(plan.settings.handshake_timeout, ServerSettings::DEFAULT_HANDSHAKE_TIMEOUT);
        assert_eq!(plan.reload_interval, DEFAULT_RELOAD_INTERVAL);
        assert_eq!(mode(Some(&plan)), "tls");
        assert_eq!(mode(None), "plaintext");
    }

    #[test]
    fn subjects_need_a_client_ca_and_bad_keys_are_named() {
        let mut p = Problems::default();
        validate(
            raw("cert_file = \"a\"\nkey_file = \"b\"\nallowed_subjects = [\"lab\"]\nhandshake_timeout_ms = 5"),
            "channels.x.tls",
            &mut p,
        );
        let text = p.to_string();
        assert!(
            text.contains(
                "channels.x.tls.allowed_subjects: invalid TLS settings: allowed_subjects needs client_ca_file"
            ),
            "{text}"
        );
        assert!(text.contains("channels.x.tls.handshake_timeout_ms"), "{text}");
        assert!(toml::from_str::<RawTls>("cert_file = \"a\"\nkey_file = \"b\"\nciphers = \"x\"").is_err());

        let mut p = Problems::default();
        let plan = validate(
            raw("cert_file = \"a\"\nkey_file = \"b\"\nclient_ca_file = \"ca\"\nallowed_subjects = [\"lab\", \"ris\"]"),
            "k",
            &mut p,
        );
        assert!(p.is_empty(), "{p}");
        assert_eq!(mode(Some(&plan)), "mutual tls (allowed: lab, ris)");
    }

    #[test]
    fn client_certificates_for_the_api_are_for_the_http_listener_with_a_ca() {
        let with_ca = "cert_file = \"a\"\nkey_file = \"b\"\nclient_ca_file = \"ca\"\nclient_certificates = \"api\"";
        let mut p = Problems::default();
        let plan = validate(raw(with_ca), "http.tls", &mut p);
        assert!(p.is_empty(), "{p}");
        assert_eq!(plan.settings.client_auth, ClientAuth::Optional);
        assert_eq!(mode(Some(&plan)), "tls; /api/v1 needs a client certificate from ca");

        let mut p = Problems::default();
        validate(raw(with_ca), "channels.adt.tls", &mut p);
        assert!(p.to_string().contains("channels.adt.tls.client_certificates: \"api\" is for [http] tls only"), "{p}");

        let mut p = Problems::default();
        validate(raw("cert_file = \"a\"\nkey_file = \"b\"\nclient_certificates = \"api\""), "http.tls", &mut p);
        assert!(p.to_string().contains("http.tls.client_certificates: invalid TLS settings: optional client"), "{p}");

        let mut p = Problems::default();
        let plan = validate(
            raw("cert_file = \"a\"\nkey_file = \"b\"\nclient_certificates = \"sometimes\""),
            "http.tls",
            &mut p,
        );
        assert!(p.to_string().contains("must be \"required\" or \"api\""), "{p}");
        assert_eq!(plan.settings.client_auth, ClientAuth::Required);
    }

    #[test]
    fn dates_are_utc_days() {
        assert_eq!(date(SystemTime::UNIX_EPOCH + Duration::from_secs(86_400 * 365)), "1971-01-01");
    }
}
