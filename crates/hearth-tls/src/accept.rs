//! The server handshake with a deadline, and the file watcher that reloads certificates.

use std::cell::RefCell;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::TlsError;
use crate::facts::CertFacts;
use crate::server::{Reload, ServerTls, Snapshot};
use crate::verify::{REFUSED_SUBJECT, refusal_reason};

/// A completed server handshake.
#[derive(Debug)]
pub struct Accepted<IO> {
    /// The encrypted stream; use it as any `AsyncRead + AsyncWrite` (e.g. under `Framed` with the MLLP codec).
    pub stream: TlsStream<IO>,
    /// The client's certificate (mutual TLS), for the connection's log line.
    pub client_certificate: Option<CertFacts>,
}

impl ServerTls {
    /// Runs the server side of the handshake on `io` (an accepted TCP stream) with the configuration current
    /// now, within the settings' handshake timeout.
    ///
    /// Call it in the task spawned for the connection, never in the accept loop: a peer that sends nothing
    /// then costs that one task until the timeout, and a peer that sends garbage fails at once.
    ///
    /// # Errors
    /// [`TlsError::HandshakeTimeout`]; [`TlsError::Refused`] when mutual TLS refused the client's certificate
    /// (with the certificate's subject, to log beside the peer address); [`TlsError::Handshake`] for anything
    /// else (not TLS, no common version, the peer hung up).
    pub async fn accept<IO>(&self, io: IO) -> Result<Accepted<IO>, TlsError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let acceptor = TlsAcceptor::from(Arc::clone(&self.current().config));
        let limit = self.settings.handshake_timeout;
        let (outcome, refused_subject) = REFUSED_SUBJECT
            .scope(RefCell::new(None), async move {
                let outcome = tokio::time::timeout(limit, acceptor.accept(io)).await;
                (outcome, REFUSED_SUBJECT.with(|slot| slot.borrow_mut().take()))
            })
            .await;
        match outcome {
            Err(_elapsed) => Err(TlsError::HandshakeTimeout(limit)),
            Ok(Err(e)) => Err(classify(e, refused_subject)),
            Ok(Ok(stream)) => {
                let client_certificate = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .and_then(|ee| CertFacts::from_der(ee).ok());
                Ok(Accepted { stream, client_certificate })
            }
        }
    }

    /// Polls the certificate, key and CA files every `every` until `shutdown`, and reloads when their bytes
    /// change. `on_change` hears of each reload and of each *new* failure (a broken file is reported once, not
    /// at every poll); while files are broken the configuration in use stays.
    ///
    /// Polling rather than filesystem notifications, on purpose: certificates are replaced by renaming a new
    /// file over the old one or by switching a symlink (certbot's `live/`, Kubernetes secret volumes), which
    /// inotify-style watches on the old file miss; a few small files read every few seconds cost nothing and
    /// work the same on every filesystem (NFS included) without another thread or dependency.
    pub fn watch<F>(self: &Arc<Self>, every: Duration, shutdown: CancellationToken, mut on_change: F) -> JoinHandle<()>
    where
        F: FnMut(Result<Reload, TlsError>) + Send + 'static,
    {
        let tls = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            let mut last_failure: Option<Failure> = None;
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let polled = Arc::clone(&tls);
                let seen = last_failure.clone();
                let Ok((event, failure)) = tokio::task::spawn_blocking(move || polled.poll_files(seen)).await else {
                    continue;
                };
                last_failure = failure;
                if let Some(event) = event {
                    on_change(event);
                }
            }
        })
    }

    /// One poll: `(what to report, the failure to remember)`.
    fn poll_files(&self, last_failure: Option<Failure>) -> (Option<Result<Reload, TlsError>>, Option<Failure>) {
        let mut attempt = self.try_files();
        if attempt.is_err() {
            // Rotation tools write the certificate and the key one after the other; a poll between the two
            // sees a mismatch that is gone a moment later. Look once more before calling it broken.
            std::thread::sleep(SETTLE);
            attempt = self.try_files();
        }
        match attempt.map_err(|boxed| *boxed) {
            Ok(Reload::Unchanged) => (None, None),
            Ok(reloaded) => (Some(Ok(reloaded)), None),
            Err((failure, _)) if Some(&failure) == last_failure.as_ref() => (None, Some(failure)),
            Err((failure, error)) => (Some(Err(error)), Some(failure)),
        }
    }

    fn try_files(&self) -> Result<Reload, Box<(Failure, TlsError)>> {
        let snapshot = Snapshot::read(&self.settings).map_err(|e| Box::new((Failure::Unreadable(e.to_string()), e)))?;
        if self.is_current(&snapshot) {
            return Ok(Reload::Unchanged);
        }
        self.apply(snapshot.clone()).map_err(|e| Box::new((Failure::Refused(snapshot), e)))
    }
}

/// How long the watcher waits before re-reading files that looked broken.
const SETTLE: Duration = Duration::from_millis(250);

/// What the watcher last refused: the same files (or the same read error) are not reported again.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    Unreadable(String),
    Refused(Snapshot),
}

/// A failed server handshake as a [`TlsError`]: a refused client certificate becomes [`TlsError::Refused`].
fn classify(e: io::Error, refused_subject: Option<String>) -> TlsError {
    let reason = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()).and_then(refusal_reason);
    match reason {
        Some(reason) => TlsError::Refused { subject: refused_subject, reason },
        None => TlsError::Handshake(e),
    }
}
