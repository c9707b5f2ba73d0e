//! Peers that open TCP and never handshake (silent, or garbage instead of a ClientHello) cost one task each,
//! never the listener.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hearth_tls::{ServerTls, TlsError};
use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{LIMIT, Pki, round_trip, serve, wait_for_failures};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_silent_or_garbage_connections_do_not_stop_a_good_client() {
    let pki = Pki::new();
    let mut settings = pki.server_settings();
    // Longer than the whole test: every silent connection is still pending while the good client works, so
    // its successes show that pending handshakes do not hold up the listener.
    settings.handshake_timeout = Duration::from_secs(60);
    let server = serve(Arc::new(ServerTls::new(settings).unwrap())).await;
    let good = pki.client(None);

    let baseline = measure(&good, server.addr, 20).await;

    let mut flood = Vec::new();
    for i in 0..200 {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        if i % 2 == 1 {
            let mut junk = vec![0u8; 64 + i];
            rand::rng().fill_bytes(&mut junk);
            // Not a TLS record: make sure the first byte is no handshake content type.
            junk[0] = 0x0B;
            tcp.write_all(&junk).await.unwrap();
        }
        flood.push(tcp);
    }
    let during = measure(&good, server.addr, 100).await;

    // The garbage senders were answered (alert or close) and dropped at once; the silent ones are pending.
    let failures = wait_for_failures(&server.seen, 100).await;
    assert_eq!(failures.len(), 100, "{failures:?}");
    assert!(failures.iter().all(|(_, e)| matches!(e, TlsError::Handshake(_))), "{failures:?}");
    let mut silent_still_open = 0;
    for tcp in flood.iter_mut().step_by(2) {
        let mut byte = [0u8; 1];
        if tokio::time::timeout(Duration::from_millis(1), tcp.read(&mut byte)).await.is_err() {
            silent_still_open += 1;
        }
    }
    assert_eq!(silent_still_open, 100, "the silent connections should still be waiting for their handshake");

    eprintln!(
        "handshake flood: good client {} round trips before (median {:?}, max {:?}), {} during 200 bad connections \
         (median {:?}, max {:?})",
        baseline.len(),
        percentile(&baseline, 0.5),
        percentile(&baseline, 1.0),
        during.len(),
        percentile(&during, 0.5),
        percentile(&during, 1.0),
    );
    // Sanity only (performance is for benchmarks): nothing waited anywhere near a handshake timeout.
    assert!(percentile(&during, 1.0) < LIMIT);
}

#[tokio::test]
async fn a_silent_peer_is_dropped_after_the_handshake_timeout() {
    let pki = Pki::new();
    let mut settings = pki.server_settings();
    settings.handshake_timeout = Duration::from_millis(200);
    let server = serve(Arc::new(ServerTls::new(settings).unwrap())).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(LIMIT, tcp.read(&mut buf)).await.expect("the server should close the socket");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    let failures = wait_for_failures(&server.seen, 1).await;
    assert!(
        matches!(failures[..], [(_, TlsError::HandshakeTimeout(d))] if d == Duration::from_millis(200)),
        "{failures:?}"
    );
}

/// `n` handshakes + MLLP round trips on new connections, each one's latency.
async fn measure(client: &hearth_tls::ClientTls, addr: std::net::SocketAddr, n: usize) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        let ack = round_trip(client, addr, &format!("MSH|{i}")).await.unwrap();
        assert_eq!(ack, format!("ACK:MSH|{i}").into_bytes());
        latencies.push(started.elapsed());
    }
    latencies
}

fn percentile(latencies: &[Duration], p: f64) -> Duration {
    let mut sorted = latencies.to_vec();
    sorted.sort_unstable();
    let idx = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}
