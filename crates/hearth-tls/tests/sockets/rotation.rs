//! Certificate rotation without a restart: replaced files are picked up for new handshakes, open connections
//! keep their session, broken files are refused and the old certificate stays.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hearth_mllp::MllpCodec;
use hearth_tls::{CertFacts, ClientTls, Reload, ServerTls, TlsError};
use tokio::sync::mpsc;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use crate::common::{LIMIT, Pki, exchange, serve};

/// The serial of the certificate the server presented on `stream`.
fn server_serial<IO>(stream: &hearth_tls::tokio_rustls::client::TlsStream<IO>) -> String {
    let chain = stream.get_ref().1.peer_certificates().unwrap();
    CertFacts::from_der(&chain[0]).unwrap().serial
}

/// Replaces `path` the way deployment tools do: write beside it, then rename over it.
fn replace(path: &Path, contents: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_files_reach_new_connections_and_broken_ones_are_refused() {
    let pki = Pki::new();
    let tls = Arc::new(ServerTls::new(pki.server_settings()).unwrap());
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let _watcher = tls.watch(Duration::from_millis(50), stop.clone(), move |e| {
        let _ = events_tx.send(e);
    });
    let server = serve(Arc::clone(&tls)).await;
    let client = pki.client(None);
    let old_serial = pki.server.facts.serial.clone();

    // A connection opened before the rotation.
    let early = client.connect(&server.addr.to_string(), LIMIT).await.unwrap();
    assert_eq!(server_serial(&early), old_serial);
    let mut early = Framed::new(early, MllpCodec::new(1 << 20));

    // A sender that keeps opening connections and sending, recording what it saw.
    let seen: Arc<Mutex<Vec<Result<String, String>>>> = Arc::default();
    let running = Arc::new(AtomicBool::new(true));
    let sender = {
        let (seen, running, client, addr) = (Arc::clone(&seen), Arc::clone(&running), client.clone(), server.addr);
        tokio::spawn(async move {
            let mut i = 0;
            while running.load(Ordering::Relaxed) {
                i += 1;
                let outcome = send_once(&client, addr, i).await;
                seen.lock().unwrap().push(outcome);
            }
        })
    };
    let wait_for_serial = |serial: String| {
        let seen = Arc::clone(&seen);
        async move {
            let deadline = tokio::time::Instant::now() + LIMIT;
            while tokio::time::Instant::now() < deadline {
                if seen.lock().unwrap().last().is_some_and(|r| r.as_deref() == Ok(serial.as_str())) {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            false
        }
    };
    assert!(wait_for_serial(old_serial.clone()).await);

    // Rotate: key first, then certificate (a poll in between sees a mismatch for a moment).
    let rotated = pki.ca.server(&["localhost", "127.0.0.1"]);
    replace(&pki.key_file, &rotated.key_pem);
    replace(&pki.cert_file, &rotated.cert_pem);
    assert!(wait_for_serial(rotated.facts.serial.clone()).await, "new connections never saw the new certificate");
    let event = tokio::time::timeout(LIMIT, events.recv()).await.unwrap().unwrap();
    assert_eq!(event.unwrap(), Reload::Reloaded(rotated.facts.clone()));
    assert_eq!(tls.certificate(), rotated.facts);

    // The connection from before the rotation keeps its session.
    assert_eq!(server_serial(early.get_ref()), old_serial);
    assert_eq!(&exchange(&mut early, "MSH|early").await.unwrap()[..], b"ACK:MSH|early");

    // A broken certificate file: refused once (by the watcher and by an explicit reload), the rotated
    // certificate stays in use.
    std::fs::write(&pki.cert_file, "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n").unwrap();
    let event = tokio::time::timeout(LIMIT, events.recv()).await.unwrap().unwrap();
    let err = event.unwrap_err();
    assert!(matches!(err, TlsError::Pem { ref path, .. } if path == &pki.cert_file), "{err}");
    assert!(err.to_string().starts_with(&pki.cert_file.display().to_string()), "{err}");
    let err = tls.reload().unwrap_err();
    assert!(matches!(err, TlsError::Pem { .. }), "{err}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(events.try_recv().is_err(), "an unchanged broken file is reported once");
    assert!(wait_for_serial(rotated.facts.serial.clone()).await);

    // A certificate with somebody else's key: refused as a mismatch naming both files.
    let other = pki.ca.server(&["localhost"]);
    replace(&pki.cert_file, &other.cert_pem);
    let err = tokio::time::timeout(LIMIT, events.recv()).await.unwrap().unwrap().unwrap_err();
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
    assert!(err.to_string().contains("does not match"), "{err}");
    // A missing key file.
    std::fs::remove_file(&pki.key_file).unwrap();
    let err = tls.reload().unwrap_err();
    assert!(matches!(err, TlsError::Read { ref path, .. } if path == &pki.key_file), "{err}");
    assert_eq!(tls.certificate(), rotated.facts);
    assert!(wait_for_serial(rotated.facts.serial.clone()).await);

    // Put the rotated pair back: nothing to reload (same bytes as the configuration in use).
    replace(&pki.key_file, &rotated.key_pem);
    replace(&pki.cert_file, &rotated.cert_pem);
    assert_eq!(tls.reload().unwrap(), Reload::Unchanged);

    running.store(false, Ordering::Relaxed);
    sender.await.unwrap();
    stop.cancel();
    let seen = seen.lock().unwrap();
    let failed: Vec<_> = seen.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failed.is_empty(), "{} of {} sends failed: {failed:?}", failed.len(), seen.len());
    let first_new = seen.iter().position(|r| r.as_deref() == Ok(rotated.facts.serial.as_str())).unwrap();
    assert!(seen[..first_new].iter().all(|r| r.as_deref() == Ok(old_serial.as_str())));
    assert!(seen[first_new..].iter().all(|r| r.as_deref() == Ok(rotated.facts.serial.as_str())));
    eprintln!("rotation: {} sends, {} before the new certificate, none failed", seen.len(), first_new);
}

/// One new connection and one message; `Ok(server certificate serial)` when the ACK came back.
async fn send_once(client: &ClientTls, addr: std::net::SocketAddr, i: usize) -> Result<String, String> {
    let stream = client.connect(&addr.to_string(), LIMIT).await.map_err(|e| e.to_string())?;
    let serial = server_serial(&stream);
    let mut framed = Framed::new(stream, MllpCodec::new(1 << 20));
    let payload = format!("MSH|{i}");
    let ack = exchange(&mut framed, &payload).await?;
    if ack == format!("ACK:{payload}").into_bytes() { Ok(serial) } else { Err(format!("unexpected reply {ack:?}")) }
}
