//! A TLS MLLP test server over real loopback sockets, and the client side of one round trip.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use hearth_mllp::{Frame, MllpCodec, send_and_receive};
use hearth_tls::testing::{Issued, TestCa};
use hearth_tls::{ClientSettings, ClientTls, ServerSettings, ServerTls, TlsError};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

pub const LIMIT: Duration = Duration::from_secs(10);

/// A CA, a server certificate for `localhost` and `127.0.0.1`, and files for them in a temp dir.
pub struct Pki {
    pub dir: TempDir,
    pub ca: TestCa,
    pub ca_file: PathBuf,
    pub server: Issued,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl Pki {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("Hearth Test CA");
        let ca_file = ca.write(dir.path(), "ca");
        let server = ca.server(&["localhost", "127.0.0.1"]);
        let (cert_file, key_file) = server.write(dir.path(), "server");
        Self { dir, ca, ca_file, server, cert_file, key_file }
    }

    pub fn server_settings(&self) -> ServerSettings {
        ServerSettings::new(&self.cert_file, &self.key_file)
    }

    /// A client that trusts this CA and presents `identity` (written to files) if given.
    pub fn client(&self, identity: Option<(&Issued, &str)>) -> ClientTls {
        let (cert_file, key_file) = match identity {
            Some((issued, stem)) => {
                let (c, k) = issued.write(self.dir.path(), stem);
                (Some(c), Some(k))
            }
            None => (None, None),
        };
        ClientTls::new(&ClientSettings {
            ca_file: Some(self.ca_file.clone()),
            cert_file,
            key_file,
            server_name: Some("localhost".into()),
            ..ClientSettings::default()
        })
        .unwrap()
    }
}

/// What the server saw: each failed handshake, as the listener would log it (peer address and error).
#[derive(Clone, Default)]
pub struct Seen(Arc<Mutex<Vec<(SocketAddr, TlsError)>>>);

impl Seen {
    pub fn failures(&self) -> Vec<String> {
        self.0.lock().unwrap().iter().map(|(peer, e)| format!("{peer}: {e}")).collect()
    }

    pub fn take(&self) -> Vec<(SocketAddr, TlsError)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A listener the way an MLLP source runs one: the accept loop only accepts; each connection's task does
/// the handshake (with its timeout) and then answers every frame with `ACK:<payload>`.
pub struct TestServer {
    pub addr: SocketAddr,
    pub seen: Seen,
    stop: CancellationToken,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub async fn serve(tls: Arc<ServerTls>) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen, stop) = (Seen::default(), CancellationToken::new());
    let (seen2, stop2) = (seen.clone(), stop.clone());
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = tokio::select! {
                () = stop2.cancelled() => break,
                a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
            };
            let _ = tcp.set_nodelay(true);
            let (tls, seen, stop) = (Arc::clone(&tls), seen2.clone(), stop2.clone());
            tokio::spawn(async move {
                match tls.accept(tcp).await {
                    Ok(accepted) => {
                        let mut framed = Framed::new(accepted.stream, MllpCodec::new(1 << 20));
                        loop {
                            let frame = tokio::select! {
                                () = stop.cancelled() => break,
                                f = framed.next() => f,
                            };
                            let Some(Ok(Frame::Message(payload))) = frame else { break };
                            if framed.send([b"ACK:", &payload[..]].concat()).await.is_err() {
                                break;
                            }
                        }
                    }
                    Err(e) => seen.0.lock().unwrap().push((peer, e)),
                }
            });
        }
    });
    TestServer { addr, seen, stop }
}

/// Connects, sends one frame, returns the reply: one whole TLS MLLP exchange on a new connection.
pub async fn round_trip(client: &ClientTls, addr: SocketAddr, payload: &str) -> Result<Bytes, String> {
    let stream = client.connect(&addr.to_string(), LIMIT).await.map_err(|e| e.to_string())?;
    let mut framed = Framed::new(stream, MllpCodec::new(1 << 20));
    exchange(&mut framed, payload).await
}

pub async fn exchange<S>(framed: &mut Framed<S, MllpCodec>, payload: &str) -> Result<Bytes, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match tokio::time::timeout(LIMIT, send_and_receive(framed, payload)).await {
        Err(_) => Err("no reply within the limit".into()),
        Ok(r) => r.map_err(|e| e.to_string()),
    }
}

/// Waits (up to the limit) until the server has recorded `n` failed handshakes.
pub async fn wait_for_failures(seen: &Seen, n: usize) -> Vec<(SocketAddr, TlsError)> {
    let deadline = tokio::time::Instant::now() + LIMIT;
    while seen.0.lock().unwrap().len() < n && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    seen.take()
}
