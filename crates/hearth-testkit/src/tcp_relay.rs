//! A TCP relay in front of a real service (RabbitMQ, say), for an outage that hurts no other test: `cut`
//! closes every relayed connection and refuses new ones (accepted, then closed at once, as a broker host that
//! went away would look to its clients); `restore` relays again. The service itself keeps running.
//!
//! ```no_run
//! # async fn demo() {
//! let relay = hearth_testkit::tcp_relay::Relay::start("127.0.0.1:5672").await;
//! // point the code under test at relay.addr, then:
//! relay.cut();
//! relay.restore();
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running relay (it lives as long as the test's runtime).
#[derive(Debug, Clone)]
pub struct Relay {
    /// Where clients connect: `127.0.0.1:PORT`.
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    /// Bumped by each `cut`: every connection task watches it and drops both sockets.
    cuts: Arc<watch::Sender<u64>>,
}

impl Relay {
    /// Starts relaying loopback connections to `upstream` (`host:port`).
    ///
    /// # Panics
    /// When no loopback port can be bound (a test's precondition).
    pub async fn start(upstream: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind a relay port: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("relay address: {e}"));
        let up = Arc::new(AtomicBool::new(true));
        let cuts = Arc::new(watch::Sender::new(0u64));
        let (upstream, up2, cuts2) = (upstream.to_owned(), Arc::clone(&up), Arc::clone(&cuts));
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let (upstream, mut cut) = (upstream.clone(), cuts2.subscribe());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else { return };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Relay { addr, up, cuts }
    }

    /// The outage: every relayed connection is closed now, and new ones are closed as soon as accepted.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    /// The service is back: new connections are relayed again.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}
