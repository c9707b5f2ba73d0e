//! MLLP over TLS through the real `hearth run`: certificates made at test time (hearth-tls's test CA), real
//! sockets, clients that are not Hearth's own (Python's ssl module) beside `hearth send mllps://` and a rustls
//! client; mutual TLS refusals; a flood of silent and garbage connections; certificate rotation while a sender
//! runs; `hearth check`, the expiry gauge and the 14-day alert.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{BIN, Engine, adt, free_port, http_get};
use hearth_mllp::MllpCodec;
use hearth_sources::mllp::AckSummary;
use hearth_tls::testing::{Issued, TestCa};
use hearth_tls::{CertFacts, ClientSettings, ClientTls};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::Framed;

const TOKEN: &str = "e2e-tls-admin-token-0123456789";

/// A test PKI in a temp dir: the CA, the server's certificate and key, and the CA file clients trust.
struct Pki {
    dir: tempfile::TempDir,
    ca: TestCa,
    ca_file: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn pki(server: impl FnOnce(&TestCa) -> Issued) -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Hearth e2e CA");
    let ca_file = ca.write(dir.path(), "ca");
    let (cert, key) = server(&ca).write(dir.path(), "server");
    Pki { dir, ca, ca_file, cert, key }
}

fn localhost(ca: &TestCa) -> Issued {
    ca.server(&["localhost", "127.0.0.1"])
}

impl Pki {
    /// The channel's `tls = {...}` line; `extra` goes inside the braces (`, client_ca_file = ...`).
    fn tls_line(&self, extra: &str) -> String {
        format!("tls = {{ cert_file = \"{}\", key_file = \"{}\"{extra} }}", self.cert.display(), self.key.display())
    }

    fn client(&self, cert: Option<(&Path, &Path)>) -> ClientTls {
        ClientTls::new(&ClientSettings {
            ca_file: Some(self.ca_file.clone()),
            cert_file: cert.map(|c| c.0.to_owned()),
            key_file: cert.map(|c| c.1.to_owned()),
            ..ClientSettings::default()
        })
        .unwrap()
    }
}

/// `hearth run` on free ports with one MLLP channel (`channel` lines added), `top` lines before the tables;
/// stderr goes to `dir/hearth.log` at `HEARTH_LOG=info`.
fn start(dir: &Path, top: &str, channel: &str) -> (Engine, PathBuf) {
    let (mllp_port, http_port) = (free_port(), free_port());
    let db = dir.join("hearth.db");
    let config = dir.join("hearth.toml");
    std::fs::write(
        &config,
        format!(
            "shutdown_timeout_ms = 5000\n{top}\n[journal]\ntype = \"sqlite\"\npath = \"{}\"\n\
             [http]\nlisten = \"127.0.0.1:{http_port}\"\n\
             [channels.adt]\ntype = \"mllp\"\nlisten = \"127.0.0.1:{mllp_port}\"\n{channel}\n",
            db.display()
        ),
    )
    .unwrap();
    let log = dir.join("hearth.log");
    let http = format!("127.0.0.1:{http_port}");
    let mut engine = common::spawn_logged(&config, &log, "info", format!("127.0.0.1:{mllp_port}"), http, db);
    let deadline = Instant::now() + Duration::from_secs(60);
    while http_get(&engine.http, "/readyz").is_none_or(|(code, _)| code != 200) {
        if let Ok(Some(st)) = engine.child.as_mut().unwrap().try_wait() {
            panic!("hearth exited during start-up: {st}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        assert!(Instant::now() < deadline, "hearth did not become ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    (engine, log)
}

/// One TLS connection: the certificate the server presented, and the ACK of each message.
async fn tls_send(
    client: &ClientTls,
    addr: &str,
    messages: &[Vec<u8>],
) -> Result<(CertFacts, Vec<AckSummary>), String> {
    let stream = client.connect(addr, Duration::from_secs(5)).await.map_err(|e| e.to_string())?;
    let served = stream.get_ref().1.peer_certificates().and_then(|c| c.first()).expect("a server certificate");
    let served = CertFacts::from_der(served).unwrap();
    let mut framed = Framed::new(stream, MllpCodec::new(1 << 20));
    let mut acks = Vec::new();
    for m in messages {
        let reply = tokio::time::timeout(Duration::from_secs(10), hearth_mllp::send_and_receive(&mut framed, m))
            .await
            .map_err(|_| "no ACK within 10 s".to_owned())?
            .map_err(|e| e.to_string())?;
        acks.push(AckSummary::parse(&reply));
    }
    Ok((served, acks))
}

fn assert_acked(acks: &[AckSummary], ids: &[&str]) {
    let got: Vec<(&str, &str)> = acks.iter().map(|a| (a.code.as_str(), a.control_id.as_str())).collect();
    let want: Vec<(&str, &str)> = ids.iter().map(|id| ("AA", *id)).collect();
    assert_eq!(got, want);
}

/// Python's ssl module as an independent MLLP-over-TLS client: prints the ACK, exits 1 on any failure.
const PY_CLIENT: &str = r#"
import socket, ssl, sys
host, port, cafile, message = sys.argv[1], int(sys.argv[2]), sys.argv[3], open(sys.argv[4], 'rb').read()
ctx = ssl.create_default_context(cafile=cafile)
ctx.minimum_version = ssl.TLSVersion.TLSv1_2
if len(sys.argv) > 6:
    ctx.load_cert_chain(sys.argv[5], sys.argv[6])
try:
    with socket.create_connection((host, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname='localhost') as s:
            s.sendall(b'\x0b' + message + b'\x1c\x0d')
            reply = b''
            while not reply.endswith(b'\x1c\x0d'):
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
            print(s.version(), reply.strip(b'\x0b\x1c\x0d').decode('ascii', 'replace').replace('\r', '\n'))
            sys.exit(0 if b'MSA|AA|' in reply else 1)
except (OSError, ssl.SSLError) as e:
    print('FAILED', type(e).__name__, e)
    sys.exit(1)
"#;

fn python(addr: &str, pki: &Pki, message: &Path, cert: Option<(&Path, &Path)>) -> Output {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let mut cmd = Command::new("python3");
    cmd.args(["-c", PY_CLIENT, host, port]).arg(&pki.ca_file).arg(message);
    if let Some((c, k)) = cert {
        cmd.arg(c).arg(k);
    }
    cmd.output().expect("python3")
}

fn hearth_send(url: &str, file: &Path, extra: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(["send", url]).arg(file).args(["--timeout-ms", "5000"]);
    for (flag, path) in extra {
        cmd.arg(flag).arg(path);
    }
    cmd.output().unwrap()
}

fn out(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn write_message(dir: &Path, name: &str, control_id: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, adt(control_id)).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_channel_acks_hearth_send_python_and_rustls_and_refuses_plaintext() {
    let pki = pki(localhost);
    let (mut engine, log) = start(pki.dir.path(), "", &pki.tls_line(""));
    let addr = engine.mllp.clone();

    let m1 = write_message(pki.dir.path(), "m1.hl7", "TLS-SEND-1");
    let o = hearth_send(&format!("mllps://{addr}"), &m1, &[("--ca", &pki.ca_file)]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("AA\tTLS-SEND-1"), "{}", out(&o));

    let m2 = write_message(pki.dir.path(), "m2.hl7", "TLS-PY-1");
    let o = python(&addr, &pki, &m2, None);
    assert!(o.status.success(), "python: {}", out(&o));
    assert!(out(&o).contains("MSA|AA|TLS-PY-1"), "{}", out(&o));

    let (served, acks) = tls_send(&pki.client(None), &addr, &[adt("TLS-RS-1"), adt("TLS-RS-2")]).await.unwrap();
    assert_acked(&acks, &["TLS-RS-1", "TLS-RS-2"]);
    assert_eq!(served.common_name.as_deref(), Some("localhost"));

    // Plain MLLP to the TLS port gets no ACK (the bytes are not a ClientHello): nothing is journaled from it.
    let plain = tokio::task::spawn_blocking({
        let addr = addr.clone();
        move || {
            let mut c = hearth_testkit::mllp::Client::connect(&addr, Duration::from_secs(3)).unwrap();
            c.send(&adt("TLS-PLAIN-1"))
        }
    })
    .await
    .unwrap();
    assert!(plain.is_err(), "a plaintext client must not get an ACK from a TLS channel: {plain:?}");

    // A TLS 1.1-only client is refused (TLS 1.2 and 1.3 only).
    let old = Command::new("python3")
        .args([
            "-c",
            "import socket,ssl,sys\nc=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT);c.check_hostname=False;c.verify_mode=ssl.CERT_NONE\n\
             c.set_ciphers('DEFAULT:@SECLEVEL=0');c.minimum_version=ssl.TLSVersion.TLSv1_1;c.maximum_version=ssl.TLSVersion.TLSv1_1\n\
             try:\n  c.wrap_socket(socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=5)).do_handshake();print('CONNECTED')\n\
             except (OSError,ssl.SSLError) as e: print('REFUSED',e)",
        ])
        .args(addr.split(':'))
        .output()
        .unwrap();
    assert!(out(&old).contains("REFUSED"), "{}", out(&old));

    assert!(engine.terminate().success());
    let journal = engine.journal().await;
    let total: u64 = journal.count_by_status(None).await.unwrap().values().sum();
    assert_eq!(total, 4, "the four TLS messages and nothing from the plaintext client");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("tls=tls") && text.contains("mllp channel listening"), "{text}");
    assert!(!text.contains("DOE^JANE") && !text.contains("MRNTLS"), "message content in the log:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_refuses_wrong_clients_at_the_handshake_and_acks_the_allowed_one() {
    let pki = pki(localhost);
    let extra = format!(", client_ca_file = \"{}\", allowed_subjects = [\"lab-feed\"]", pki.ca_file.display());
    let (mut engine, log) = start(pki.dir.path(), "", &pki.tls_line(&extra));
    let addr = engine.mllp.clone();
    let d = pki.dir.path();
    let allowed = pki.ca.client("lab-feed", &[]).write(d, "allowed");
    let disallowed = pki.ca.client("billing-feed", &[]).write(d, "disallowed");
    let other_ca = TestCa::new("Some other CA");
    let stranger = other_ca.client("lab-feed", &[]).write(d, "stranger");

    // An allowed client keeps its connection open throughout: the refusals must not touch it.
    let allowed_client = pki.client(Some((&allowed.0, &allowed.1)));
    let stream = allowed_client.connect(&addr, Duration::from_secs(5)).await.unwrap();
    let mut kept = Framed::new(stream, MllpCodec::new(1 << 20));
    let first = hearth_mllp::send_and_receive(&mut kept, adt("MTLS-KEPT-1")).await.unwrap();
    assert_eq!(AckSummary::parse(&first).code, "AA");

    let msg = write_message(d, "m.hl7", "MTLS-REFUSED");
    let url = format!("mllps://{addr}");
    for (what, cert) in
        [("no certificate", None), ("another CA", Some(&stranger)), ("a subject not allowed", Some(&disallowed))]
    {
        let mut extra = vec![("--ca", pki.ca_file.as_path())];
        if let Some((c, k)) = cert {
            extra.extend([("--cert", c.as_path()), ("--key", k.as_path())]);
        }
        let o = hearth_send(&url, &msg, &extra);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", out(&o));
        assert!(!out(&o).contains("AA\t"), "{what}: {}", out(&o));
        let p = python(&addr, &pki, &msg, cert.map(|(c, k)| (c.as_path(), k.as_path())));
        assert!(!p.status.success() && out(&p).contains("FAILED"), "{what} (python): {}", out(&p));
    }

    let m = write_message(d, "ok.hl7", "MTLS-OK-1");
    let o = hearth_send(&url, &m, &[("--ca", &pki.ca_file), ("--cert", &allowed.0), ("--key", &allowed.1)]);
    assert!(o.status.success() && out(&o).contains("AA\tMTLS-OK-1"), "{}", out(&o));
    let o = python(&addr, &pki, &write_message(d, "py.hl7", "MTLS-PY-1"), Some((&allowed.0, &allowed.1)));
    assert!(o.status.success(), "{}", out(&o));

    let second = hearth_mllp::send_and_receive(&mut kept, adt("MTLS-KEPT-2")).await.unwrap();
    assert_eq!(AckSummary::parse(&second).control_id, "MTLS-KEPT-2");
    kept.get_mut().shutdown().await.unwrap();

    let metrics = http_get(&engine.http, "/metrics").unwrap().1;
    assert!(
        metrics.lines().any(|l| l.starts_with("hearth_tls_handshake_failures_total")
            && l.contains("listener=\"channels.adt\"")
            && l.contains("reason=\"refused\"")),
        "{metrics}"
    );
    assert!(engine.terminate().success());
    let total: u64 = engine.journal().await.count_by_status(None).await.unwrap().values().sum();
    assert_eq!(total, 4, "two on the kept connection, one from hearth send, one from python; none refused");

    let text = std::fs::read_to_string(&log).unwrap();
    let refused: Vec<&str> = text.lines().filter(|l| l.contains("TLS client certificate refused")).collect();
    assert!(refused.len() >= 6, "each refusal is logged:\n{text}");
    assert!(refused.iter().all(|l| l.contains("peer=127.0.0.1:")), "{refused:#?}");
    assert!(
        refused.iter().any(|l| l.contains("subject=\"CN=billing-feed\" reason=subject not in allowed_subjects")),
        "{refused:#?}"
    );
    assert!(
        refused.iter().any(|l| l.contains("subject=\"none presented\" reason=no client certificate presented")),
        "{refused:#?}"
    );
    assert!(refused.iter().any(|l| l.contains("reason=not issued by a CA in client_ca_file")), "{refused:#?}");
    assert!(!text.contains("MTLS-REFUSED") && !text.contains("DOE^JANE"), "message content in the log:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_garbage_connections_do_not_stop_a_good_client() {
    let pki = pki(localhost);
    let line = pki.tls_line(", handshake_timeout_ms = 2000");
    let (mut engine, _log) = start(pki.dir.path(), "", &line);
    let addr = engine.mllp.clone();

    // 200 peers: half connect and say nothing, half send bytes that are not a ClientHello.
    let mut bad = Vec::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..200 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        if i % 2 == 1 {
            let junk: Vec<u8> = (0..512)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed.to_le_bytes()[0]
                })
                .collect();
            let _ = s.write_all(&junk).await;
        }
        bad.push(s);
    }

    let client = pki.client(None);
    for n in 0..20 {
        let id = format!("FLOOD-{n}");
        let (_, acks) = tls_send(&client, &addr, &[adt(&id)]).await.unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_acked(&acks, &[id.as_str()]);
    }
    assert_eq!(http_get(&engine.http, "/readyz").map(|r| r.0), Some(200));

    // The silent ones time out (2 s) and the garbage failed at once: each counted, the engine still serves.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let metrics = http_get(&engine.http, "/metrics").unwrap().1;
    let count = |reason: &str| -> f64 {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("hearth_tls_handshake_failures_total") && l.contains(&format!("reason=\"{reason}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    assert!(count("handshake") >= 100.0, "{metrics}");
    assert!(count("handshake_timeout") >= 100.0, "{metrics}");
    let (_, acks) = tls_send(&client, &addr, &[adt("FLOOD-AFTER")]).await.unwrap();
    assert_acked(&acks, &["FLOOD-AFTER"]);
    drop(bad);
    assert!(engine.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_certificate_files_serve_new_connections_without_losing_a_message() {
    let pki = pki(localhost);
    let (mut engine, log) = start(pki.dir.path(), "", &pki.tls_line(", reload_interval_ms = 200"));
    let addr = engine.mllp.clone();
    let client = Arc::new(pki.client(None));
    let old_serial = {
        let (served, _) = tls_send(&client, &addr, &[adt("ROT-0")]).await.unwrap();
        served.serial
    };

    // A sender that opens a new connection per message until told to stop; it records the serial it was served.
    let stop = Arc::new(AtomicBool::new(false));
    let sender = tokio::spawn({
        let (client, addr, stop) = (Arc::clone(&client), addr.clone(), Arc::clone(&stop));
        async move {
            let mut seen = Vec::new();
            let mut n = 1;
            while !stop.load(Ordering::SeqCst) {
                let id = format!("ROT-{n}");
                let (served, acks) =
                    tls_send(&client, &addr, &[adt(&id)]).await.unwrap_or_else(|e| panic!("{id}: {e}"));
                assert_acked(&acks, &[id.as_str()]);
                seen.push(served.serial);
                n += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Rotate: a new certificate and key from the same CA, each renamed over the old file.
    let next = pki.ca.server(&["localhost", "127.0.0.1"]);
    let new_serial = next.facts.serial.clone();
    assert_ne!(new_serial, old_serial);
    let (c, k) = next.write(pki.dir.path(), "next");
    std::fs::rename(c, &pki.cert).unwrap();
    std::fs::rename(k, &pki.key).unwrap();

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (served, _) = tls_send(&client, &addr, &[adt("ROT-PROBE")]).await.unwrap();
        if served.serial == new_serial {
            break;
        }
        assert!(Instant::now() < deadline, "new connections still get the old certificate");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let seen = sender.await.expect("the sender never failed");
    let first_new = seen.iter().position(|s| *s == new_serial).expect("the sender saw the new certificate");
    assert!(seen[..first_new].iter().all(|s| *s == old_serial), "{seen:?}");
    assert!(seen[first_new..].iter().all(|s| *s == new_serial), "after the switch only the new one: {seen:?}");
    assert!(first_new > 0, "the sender ran before the rotation too");

    assert!(engine.terminate().success());
    let journal = engine.journal().await;
    let rotated = journal
        .list(&hearth_store::MessageFilter::default(), None, 1_000)
        .await
        .unwrap()
        .iter()
        .filter(|m| m.meta.control_id.as_deref().is_some_and(|c| c.starts_with("ROT-") && c != "ROT-PROBE"))
        .count();
    assert_eq!(rotated, seen.len() + 1, "every message the sender sent (and ROT-0) is journaled");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("TLS certificate reloaded"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_prints_tls_modes_and_metrics_and_alerts_report_a_certificate_about_to_expire() {
    // A certificate with 10 days left: within the 14-day warning.
    let pki = pki(|ca| ca.server_valid_for(&["localhost", "127.0.0.1"], 10));
    let token = pki.dir.path().join("token");
    std::fs::write(&token, TOKEN).unwrap();
    let top = format!(
        "[admin]\ntokens = [{{ name = \"e2e\", role = \"admin\", token_file = \"{}\" }}]\n[alerts]\ninterval_ms = 200\n",
        token.display()
    );
    let extra = format!(", client_ca_file = \"{}\", allowed_subjects = [\"lab-feed\", \"ris\"]", pki.ca_file.display());
    let (engine, _log) = start(pki.dir.path(), &top, &pki.tls_line(&extra));

    let check = Command::new(BIN).args(["check", "--config"]).arg(&engine.config).output().unwrap();
    let text = out(&check);
    assert!(check.status.success(), "{text}");
    let line = text.lines().find(|l| l.starts_with("tls      channels.adt")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("mutual tls (allowed: lab-feed, ris)"), "{line}");
    assert!(line.contains("certificate CN=localhost expires") && line.contains("(9 days)"), "{line}");
    assert!(text.contains("mllp 127.0.0.1:") && text.contains("[mutual tls (allowed: lab-feed, ris)]"), "{text}");

    let metrics = http_get(&engine.http, "/metrics").unwrap().1;
    let left: f64 = metrics
        .lines()
        .find(|l| l.starts_with("hearth_tls_certificate_expiry_seconds{listener=\"channels.adt\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!((9.0 * 86_400.0..=10.0 * 86_400.0).contains(&left), "{left}");

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let auth = format!("Bearer {TOKEN}");
        let resp = hearth_testkit::http::request(
            "GET",
            &engine.http,
            "/api/v1/alerts",
            &[("authorization", &auth)],
            Vec::new(),
        )
        .unwrap();
        let alerts = resp.json();
        let found = alerts["active"].as_array().unwrap().iter().find(|a| a["kind"] == "certificate_expiry").cloned();
        if let Some(a) = found {
            assert_eq!(a["subject"], "channels.adt");
            assert_eq!(a["scope"], "listener");
            assert!(a["message"].as_str().unwrap().contains("CN=localhost expires on"), "{a}");
            break;
        }
        assert!(Instant::now() < deadline, "no certificate_expiry alert: {alerts}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A key that is not the certificate's: `hearth check` names both files and exits 2.
    let (_, wrong_key) = pki.ca.server(&["localhost"]).write(pki.dir.path(), "other");
    let toml = std::fs::read_to_string(&engine.config)
        .unwrap()
        .replace(pki.key.to_str().unwrap(), wrong_key.to_str().unwrap());
    let bad = pki.dir.path().join("bad.toml");
    std::fs::write(&bad, toml).unwrap();
    let check = Command::new(BIN).args(["check", "--config"]).arg(&bad).output().unwrap();
    assert_eq!(check.status.code(), Some(2), "{}", out(&check));
    assert!(out(&check).contains("does not match the certificate"), "{}", out(&check));
    // And a plaintext channel says so.
    let plain = std::fs::read_to_string(&engine.config)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("tls ="))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&bad, plain).unwrap();
    let check = Command::new(BIN).args(["check", "--config"]).arg(&bad).output().unwrap();
    assert!(
        check.status.success() && out(&check).contains("tls      channels.adt         plaintext"),
        "{}",
        out(&check)
    );
}
