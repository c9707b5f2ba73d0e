//! Test support shared by every crate's tests (a dev-dependency only; nothing in the product depends on it).
//!
//! Tests talk to real services on 127.0.0.1. This crate says where each one is (an environment variable, or the
//! service's default on this machine) and applies the one rule about a missing service or corpus: under
//! `CI=true` it is a **failure**; otherwise the test prints one `NOT RUN` line naming what is missing and
//! returns early. A test never skips silently. It also has the clients tests talk with: [`mllp`] (framed by
//! `hearth_mllp`) and [`http`] (reqwest).
//!
//! ```
//! // A test that needs RabbitMQ starts like this:
//! fn publishes_with_confirms() {
//!     let Some(uri) = hearth_testkit::amqp("publishes_with_confirms") else { return };
//!     assert!(uri.starts_with("amqp"));
//! }
//! # let _ = publishes_with_confirms;
//! ```
#![forbid(unsafe_code)]

pub mod fhir_proxy;
pub mod http;
pub mod mllp;
mod pg_cluster;
pub mod tcp_relay;

pub use pg_cluster::PgCluster;

use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// True when the run is CI's (`CI=true`): a missing service or corpus is then a failure, never a skip.
pub fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// The rule for anything a test needs and cannot find: under `CI=true` this panics with `why`; otherwise it
/// prints `<test>: NOT RUN: <why>` on stderr and returns `None`, so the caller returns early.
///
/// # Panics
/// Under `CI=true`, always.
pub fn unavailable<T>(test: &str, why: &str) -> Option<T> {
    assert!(!ci(), "{test}: required under CI=true, but {why}");
    eprintln!("{test}: NOT RUN: {why}");
    None
}

/// `Some(value)` when `found` is `Ok`, else [`unavailable`] with its reason.
pub fn require<T>(test: &str, found: Result<T, String>) -> Option<T> {
    match found {
        Ok(v) => Some(v),
        Err(why) => unavailable(test, &why),
    }
}

/// The third-party corpus: `HEARTH_CORPUS`, or `shared/corpus` beside the workspace's checkout.
pub fn corpus_dir() -> PathBuf {
    std::env::var_os("HEARTH_CORPUS").map_or_else(|| workspace().join("../shared/corpus"), PathBuf::from)
}

/// The corpus, or [`unavailable`] when it is absent.
pub fn corpus(test: &str) -> Option<PathBuf> {
    let dir = corpus_dir();
    if dir.is_dir() {
        Some(dir)
    } else {
        unavailable(test, &format!("corpus not found at {} (set HEARTH_CORPUS)", dir.display()))
    }
}

/// The workspace root (the directory holding the top-level Cargo.toml).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The broker tests use: `HEARTH_TEST_AMQP_URI`, or RabbitMQ's defaults on 127.0.0.1.
pub fn amqp_uri() -> String {
    std::env::var("HEARTH_TEST_AMQP_URI").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// The broker's URI when it accepts TCP connections, else [`unavailable`].
pub fn amqp(test: &str) -> Option<String> {
    let uri = amqp_uri();
    let found = reachable(&uri)
        .map(|()| uri)
        .map_err(|why| format!("RabbitMQ is not reachable ({why}); start it or set HEARTH_TEST_AMQP_URI"));
    require(test, found)
}

/// The test broker's TLS listener as guest (`HEARTH_TEST_AMQPS_URI`; scripts/rabbitmq-tls.sh sets one up).
pub fn amqps_uri() -> String {
    std::env::var("HEARTH_TEST_AMQPS_URI").unwrap_or_else(|_| "amqps://guest:guest@localhost:5671/%2f".into())
}

/// The same listener with the EXTERNAL login (the client certificate's CN is the user):
/// `HEARTH_TEST_AMQPS_EXTERNAL_URI`.
pub fn amqps_external_uri() -> String {
    std::env::var("HEARTH_TEST_AMQPS_EXTERNAL_URI")
        .unwrap_or_else(|_| "amqps://localhost:5671/%2f?auth_mechanism=external".into())
}

/// Where scripts/rabbitmq-tls.sh keeps the test broker's CA (`ca.pem`, `ca.key`) and the client certificate
/// (`client.pem`, `client.key`, CN `hearth-test-client`): `HEARTH_TEST_TLS_DIR`.
pub fn tls_dir() -> PathBuf {
    std::env::var_os("HEARTH_TEST_TLS_DIR")
        .map_or_else(|| PathBuf::from("/var/lib/rabbitmq/hearth-test-tls"), PathBuf::from)
}

/// The test broker's TLS listener and its certificates.
#[derive(Debug, Clone)]
pub struct AmqpsBroker {
    /// [`amqps_uri`].
    pub uri: String,
    /// [`amqps_external_uri`].
    pub external_uri: String,
    /// [`tls_dir`].
    pub tls_dir: PathBuf,
}

/// The TLS listener when it accepts connections and [`tls_dir`] holds the CA and client files, else
/// [`unavailable`].
pub fn amqps(test: &str) -> Option<AmqpsBroker> {
    let broker = AmqpsBroker { uri: amqps_uri(), external_uri: amqps_external_uri(), tls_dir: tls_dir() };
    let missing = ["ca.pem", "client.pem", "client.key"].into_iter().find(|f| !broker.tls_dir.join(f).is_file());
    let found = match (reachable(&broker.uri), missing) {
        (Err(why), _) => Err(format!("RabbitMQ's TLS listener is not reachable ({why})")),
        (Ok(()), Some(f)) => Err(format!("{} is missing", broker.tls_dir.join(f).display())),
        (Ok(()), None) => Ok(broker),
    };
    require(test, found.map_err(|why| format!("{why}; run scripts/rabbitmq-tls.sh (as root) and use what it prints")))
}

/// The PostgreSQL server tests use: `HEARTH_TEST_PG_URL`, or the local server with trust authentication.
pub fn postgres_url() -> String {
    std::env::var("HEARTH_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// The PostgreSQL URL when the server accepts TCP connections, else [`unavailable`].
pub fn postgres(test: &str) -> Option<String> {
    let url = postgres_url();
    let found = reachable(&url)
        .map(|()| url)
        .map_err(|why| format!("PostgreSQL is not reachable ({why}); start it or set HEARTH_TEST_PG_URL"));
    require(test, found)
}

/// The FHIR R4 server tests use (`HEARTH_TEST_FHIR_URL`, e.g. `http://127.0.0.1:8089/fhir`); scripts/test.sh
/// starts one and sets it.
pub fn fhir_server(test: &str) -> Option<String> {
    let found = match std::env::var("HEARTH_TEST_FHIR_URL") {
        Ok(url) => reachable(&url).map(|()| url).map_err(|why| format!("the FHIR server is not reachable ({why})")),
        Err(_) => Err("HEARTH_TEST_FHIR_URL is not set (scripts/test.sh starts a FHIR server and sets it)".into()),
    };
    require(test, found)
}

/// Whether something accepts TCP connections at the host and port of `uri` (`scheme://[user@]host:port/...`).
pub fn reachable(uri: &str) -> Result<(), String> {
    let addr = host_port(uri).ok_or_else(|| format!("no host:port in {}", redact(uri)))?;
    let addrs = addr.to_socket_addrs().map_err(|e| format!("{addr}: {e}"))?;
    for a in addrs {
        if TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok() {
            return Ok(());
        }
    }
    Err(format!("nothing accepts connections on {addr}"))
}

fn host_port(uri: &str) -> Option<String> {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.contains(':') && !host_port.ends_with(']') {
        Some(host_port.to_owned())
    } else {
        let default = match uri.split_once("://").map(|(s, _)| s) {
            Some("amqp") => 5672,
            Some("amqps") => 5671,
            Some("postgres" | "postgresql") => 5432,
            Some("https") => 443,
            _ => 80,
        };
        Some(format!("{host_port}:{default}"))
    }
}

fn redact(uri: &str) -> String {
    match uri.split_once("://").and_then(|(s, r)| r.split_once('@').map(|(_, h)| (s, h))) {
        Some((scheme, host)) => format!("{scheme}://***@{host}"),
        None => uri.to_owned(),
    }
}

/// A name unique to this process and call, for exchanges, queues, schemas and databases tests create.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{prefix}_{}_{nanos:x}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A TCP port free on 127.0.0.1 at the time of the call, for a server the test starts next.
///
/// Taken below the kernel's ephemeral range when there is room: a port the kernel hands out for `bind(0)` is one
/// it also hands to outgoing connections, so between this call and the server's bind any connection of any test
/// (to RabbitMQ, PostgreSQL, another engine) could take it ("Address already in use"). Below the range only
/// another test picking the same port at random can, one chance in thousands.
///
/// # Panics
/// When the system has no free port.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0);
    const LOW: u16 = 10_000;
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(LOW);
    if ephemeral_start > LOW + 1_000 {
        let span = u64::from(ephemeral_start - LOW);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs().wrapping_mul(1_000_000_007) ^ u64::from(d.subsec_nanos()))
            .unwrap_or_default()
            ^ (u64::from(std::process::id()) << 32);
        for _ in 0..64 {
            // splitmix64 over a per-process sequence: different processes start far apart.
            let mut z = seed.wrapping_add(STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed));
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let Ok(port) = u16::try_from(u64::from(LOW) + z % span) else { continue };
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    #[allow(clippy::expect_used)]
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// The python of the strict FHIR R4 validator's virtualenv (`scripts/fhir-validate.py`, Google's FHIR protos):
/// `HEARTH_FHIR_VALIDATOR_PYTHON`, else `target/fhir-validator/bin/python` in the workspace, where
/// `scripts/fhir-validator/install.sh` (run by scripts/test.sh) puts it. [`unavailable`] when it cannot import
/// the validator.
pub fn fhir_validator(test: &str) -> Option<PathBuf> {
    let python = std::env::var_os("HEARTH_FHIR_VALIDATOR_PYTHON")
        .map_or_else(|| workspace().join("target/fhir-validator/bin/python"), PathBuf::from);
    let works = std::process::Command::new(&python)
        .args(["-c", "import google.fhir.r4.json_format"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let found = if works {
        Ok(python)
    } else {
        Err(format!(
            "the strict FHIR validator is not installed at {} (run scripts/fhir-validator/install.sh or set \
             HEARTH_FHIR_VALIDATOR_PYTHON)",
            python.display()
        ))
    };
    require(test, found)
}

/// Runs the strict validator over files and directories of Bundles (see `scripts/fhir-validate.py`): `Ok` with
/// its summary when every Bundle is valid, `Err` with its findings otherwise. `None` when the validator is
/// missing (see [`fhir_validator`]).
pub fn strict_fhir_validate(test: &str, paths: &[&Path]) -> Option<Result<String, String>> {
    let python = fhir_validator(test)?;
    let out = std::process::Command::new(python).arg(workspace().join("scripts/fhir-validate.py")).args(paths).output();
    Some(match out {
        Ok(o) => {
            let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
            if o.status.success() { Ok(text) } else { Err(text) }
        }
        Err(e) => Err(format!("cannot run the validator: {e}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_reads_the_authority() {
        assert_eq!(host_port("amqp://guest:guest@127.0.0.1:5672/%2f").as_deref(), Some("127.0.0.1:5672"));
        assert_eq!(host_port("postgres://postgres@127.0.0.1/test").as_deref(), Some("127.0.0.1:5432"));
        assert_eq!(host_port("http://127.0.0.1:8089/fhir").as_deref(), Some("127.0.0.1:8089"));
        assert_eq!(host_port("amqps://localhost").as_deref(), Some("localhost:5671"));
        assert_eq!(host_port("amqps://localhost:5671/%2f?auth_mechanism=external").as_deref(), Some("localhost:5671"));
    }

    #[test]
    fn unique_names_differ() {
        assert_ne!(unique_name("t"), unique_name("t"));
    }

    #[test]
    fn free_ports_are_bindable_distinct_and_outside_the_ephemeral_range() {
        let ephemeral: Option<(u16, u16)> =
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok().and_then(|r| {
                let mut it = r.split_whitespace().map(|n| n.parse::<u16>().ok());
                Some((it.next()??, it.next()??))
            });
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        for &p in &ports {
            assert!(TcpListener::bind(("127.0.0.1", p)).is_ok(), "port {p} is free");
            if let Some((low, high)) = ephemeral.filter(|(low, _)| *low > 11_000) {
                assert!(!(low..=high).contains(&p), "port {p} is outside the ephemeral range {low}-{high}");
            }
        }
        let distinct: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
        assert!(distinct.len() > 45, "{ports:?}");
    }

    #[test]
    fn redacts_credentials() {
        assert_eq!(redact("amqp://guest:secret@host:5672/"), "amqp://***@host:5672/");
    }
}

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
