//! For tests against a real broker (here and in crates that build on this one): where the broker is, and
//! the one rule about a missing broker: under `CI=true` it is a failure, otherwise the test says why it did
//! not run and returns.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The broker tests use: `HEARTH_TEST_AMQP_URI`, or RabbitMQ's defaults on 127.0.0.1.
pub fn broker_uri() -> String {
    std::env::var("HEARTH_TEST_AMQP_URI").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// `Some(uri)` when the broker accepts TCP connections. Otherwise panics under `CI=true`, or prints why the
/// calling test does not run and returns `None` (the test then returns early).
///
/// # Panics
/// When the broker is unreachable and `CI=true`.
pub fn broker_or_skip(test: &str) -> Option<String> {
    let uri = broker_uri();
    match reachable(&uri) {
        Ok(()) => Some(uri),
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: RabbitMQ is required under CI=true but {why}")
        }
        Err(why) => {
            eprintln!("{test}: NOT RUN: RabbitMQ is not reachable ({why}); set HEARTH_TEST_AMQP_URI or start it");
            None
        }
    }
}

fn reachable(uri: &str) -> Result<(), String> {
    let parsed = crate::config::parse_uri(uri).map_err(|e| e.to_string())?;
    let addr = format!("{}:{}", parsed.authority.host, parsed.authority.port);
    let addrs = addr.to_socket_addrs().map_err(|e| format!("{addr}: {e}"))?;
    for a in addrs {
        if TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok() {
            return Ok(());
        }
    }
    Err(format!("nothing accepts connections on {addr}"))
}

/// A name unique to this process and call, for exchanges and queues that tests create and delete.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{prefix}.{}.{nanos:x}.{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Deletes test queues and exchanges (best effort: missing ones are fine).
pub async fn delete(uri: &str, queues: &[&str], exchanges: &[&str]) {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    let Ok(conn) = lapin::Connection::connect(uri, lapin::ConnectionProperties::default()).await else { return };
    if let Ok(ch) = conn.create_channel().await {
        for q in queues {
            let _ = ch.queue_delete(crate::topology::short(q), QueueDeleteOptions::default()).await;
        }
        for x in exchanges {
            let _ = ch.exchange_delete(crate::topology::short(x), ExchangeDeleteOptions::default()).await;
        }
    }
    let _ = conn.close(200, "test cleanup".into()).await;
}
