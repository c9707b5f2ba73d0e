//! What TLS adds to an MLLP exchange: the same round trips (an ADT message, then its ACK) with the real
//! hearth-mllp codec, plaintext and over the hearth-tls acceptor, in one run.
//!
//! - `round_trip`: one persistent connection, one message at a time (latency per message);
//! - `eight_connections`: eight persistent connections sending at once (CPU cost per message under load);
//! - `connect_and_send`: a new connection (and handshake) per message, for scale.
//!
//! `cargo bench -p hearth-tls --bench mllp_tls`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::{SinkExt, StreamExt};
use hearth_mllp::{Frame, MllpCodec, send_and_receive};
use hearth_tls::testing::TestCa;
use hearth_tls::{ClientSettings, ClientTls, ServerSettings, ServerTls};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::Mutex;
use tokio_util::codec::Framed;

const ACK: &[u8] = b"MSH|^~\\&|HEARTH|HOSP|ADT|HOSP|20260101120001||ACK^A01^ACK|ACK00001|P|2.5.1\rMSA|AA|MSG00001\r";

/// An ADT^A01 of about 1.3 KB, the size of a typical admission.
fn message() -> Vec<u8> {
    let mut m = b"MSH|^~\\&|ADT|HOSP|HEARTH|HOSP|20260101120000||ADT^A01^ADT_A01|MSG00001|P|2.5.1\r\
EVN|A01|20260101120000\r\
PID|1||123456^^^HOSP^MR~987654321^^^USSSA^SS||DOE^JANE^Q^^^^L||19800101|F|||1 MAIN ST^^SPRINGFIELD^IL^62701^USA||^PRN^PH^^1^217^5550100|||M|||987-65-4321\r\
NK1|1|DOE^JOHN|SPO|1 MAIN ST^^SPRINGFIELD^IL^62701^USA|^PRN^PH^^1^217^5550101\r\
PV1|1|I|4W^401^1^HOSP||||1234^ATTENDING^ALICE^^^DR|5678^REFERRING^BOB^^^DR||MED||||ADM|||1234^ATTENDING^ALICE^^^DR|IN|V0001|||||||||||||||||||||||||20260101120000\r"
        .to_vec();
    for i in 0..6 {
        m.extend_from_slice(
            format!("OBX|{i}|ST|8867-4^Heart rate^LN||72|/min|60-100|N|||F|||20260101115500\rAL1|{i}|DA|70618^Penicillin^RXNORM|MO|Rash\r")
                .as_bytes(),
        );
    }
    m
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(stream: S) {
    let mut framed = Framed::new(stream, MllpCodec::default());
    while let Some(Ok(Frame::Message(_))) = framed.next().await {
        if framed.send(ACK).await.is_err() {
            break;
        }
    }
}

/// A receiver answering every frame with an ACK; over TLS when `tls` is given.
async fn receiver(tls: Option<Arc<ServerTls>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    Some(tls) => {
                        if let Ok(accepted) = tls.accept(tcp).await {
                            answer(accepted.stream).await;
                        }
                    }
                    None => answer(tcp).await,
                }
            });
        }
    });
    addr
}

type Conn = Box<dyn Exchange>;

trait Exchange: Send {
    fn exchange<'a>(&'a mut self, payload: &'a [u8]) -> futures::future::BoxFuture<'a, ()>;
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Exchange for Framed<S, MllpCodec> {
    fn exchange<'a>(&'a mut self, payload: &'a [u8]) -> futures::future::BoxFuture<'a, ()> {
        Box::pin(async move {
            let reply = send_and_receive(self, payload).await.unwrap();
            assert_eq!(&reply[..], ACK);
        })
    }
}

struct Setup {
    plain: SocketAddr,
    tls: SocketAddr,
    client: ClientTls,
    _dir: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("bench CA");
        let (cert, key) = ca.server(&["localhost"]).write(dir.path(), "server");
        let server = Arc::new(ServerTls::new(ServerSettings::new(cert, key)).unwrap());
        let client = ClientTls::new(&ClientSettings {
            ca_file: Some(ca.write(dir.path(), "ca")),
            server_name: Some("localhost".into()),
            ..ClientSettings::default()
        })
        .unwrap();
        Self { plain: receiver(None).await, tls: receiver(Some(server)).await, client, _dir: dir }
    }

    async fn connect(&self, tls: bool) -> Conn {
        if tls {
            let stream = self.client.connect(&self.tls.to_string(), Duration::from_secs(5)).await.unwrap();
            Box::new(Framed::new(stream, MllpCodec::default()))
        } else {
            let tcp = TcpStream::connect(self.plain).await.unwrap();
            tcp.set_nodelay(true).unwrap();
            Box::new(Framed::new(tcp, MllpCodec::default()))
        }
    }
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let setup = Arc::new(rt.block_on(Setup::new()));
    let msg: Arc<[u8]> = message().into();

    let mut group = c.benchmark_group("round_trip");
    group.throughput(Throughput::Elements(1));
    for (name, tls) in [("plain", false), ("tls", true)] {
        let conn = Arc::new(Mutex::new(rt.block_on(setup.connect(tls))));
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (conn, msg) = (Arc::clone(&conn), Arc::clone(&msg));
                async move {
                    let mut conn = conn.lock().await;
                    let started = Instant::now();
                    for _ in 0..iters {
                        conn.exchange(&msg).await;
                    }
                    started.elapsed()
                }
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("eight_connections");
    group.throughput(Throughput::Elements(8));
    for (name, tls) in [("plain", false), ("tls", true)] {
        let conns: Vec<_> = (0..8).map(|_| Arc::new(Mutex::new(rt.block_on(setup.connect(tls))))).collect();
        let conns = Arc::new(conns);
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (conns, msg) = (Arc::clone(&conns), Arc::clone(&msg));
                async move {
                    let started = Instant::now();
                    let mut tasks = tokio::task::JoinSet::new();
                    for conn in conns.iter() {
                        let (conn, msg) = (Arc::clone(conn), Arc::clone(&msg));
                        tasks.spawn(async move {
                            let mut conn = conn.lock().await;
                            for _ in 0..iters {
                                conn.exchange(&msg).await;
                            }
                        });
                    }
                    while tasks.join_next().await.is_some() {}
                    started.elapsed()
                }
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("connect_and_send");
    group.throughput(Throughput::Elements(1));
    for (name, tls) in [("plain", false), ("tls", true)] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let (setup, msg) = (Arc::clone(&setup), Arc::clone(&msg));
                async move {
                    let mut conn = setup.connect(tls).await;
                    conn.exchange(&msg).await;
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
