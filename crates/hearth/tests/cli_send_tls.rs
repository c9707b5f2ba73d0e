//! `hearth send mllps://`: the real binary against a TLS MLLP receiver built on hearth-tls (certificates made
//! at test time), with and without mutual TLS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use hearth_mllp::{Frame, MllpCodec};
use hearth_tls::testing::TestCa;
use hearth_tls::{ServerSettings, ServerTls};
use tokio::net::TcpListener;
use tokio_util::codec::Framed;

const BIN: &str = env!("CARGO_BIN_EXE_hearth");
const MESSAGE: &str =
    "MSH|^~\\&|LAB|HOSP|HEARTH|HOSP|20260101120000||ORU^R01|CTRL-TLS-1|P|2.5.1\rPID|1||123^^^HOSP^MR\r";

/// A receiver that answers every message with an AA for its MSH-10, over TLS.
async fn receiver(tls: ServerTls) -> SocketAddr {
    let tls = Arc::new(tls);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let tls = Arc::clone(&tls);
            tokio::spawn(async move {
                let Ok(accepted) = tls.accept(tcp).await else { return };
                let mut framed = Framed::new(accepted.stream, MllpCodec::new(1 << 20));
                while let Some(Ok(Frame::Message(msg))) = framed.next().await {
                    let text = String::from_utf8_lossy(&msg).into_owned();
                    let control = text.split('|').nth(9).unwrap_or_default().to_owned();
                    let ack = format!(
                        "MSH|^~\\&|HEARTH|HOSP|LAB|HOSP|20260101120001||ACK^R01^ACK|A-{control}|P|2.5.1\rMSA|AA|{control}\r"
                    );
                    if framed.send(ack.as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

async fn hearth_send(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || std::process::Command::new(BIN).arg("send").args(args).output().unwrap())
        .await
        .unwrap()
}

fn args(url: &str, file: &Path, extra: &[(&str, &Path)]) -> Vec<String> {
    let mut v = vec![url.to_owned(), file.display().to_string(), "--timeout-ms".into(), "5000".into()];
    for (flag, path) in extra {
        v.push((*flag).to_owned());
        v.push(path.display().to_string());
    }
    v
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

struct Setup {
    dir: tempfile::TempDir,
    ca: TestCa,
    ca_file: PathBuf,
    message: PathBuf,
    settings: ServerSettings,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("hearth send test CA");
    let ca_file = ca.write(dir.path(), "ca");
    let (cert, key) = ca.server(&["localhost", "127.0.0.1"]).write(dir.path(), "server");
    let message = dir.path().join("message.hl7");
    std::fs::write(&message, MESSAGE).unwrap();
    Setup { dir, ca, ca_file, message, settings: ServerSettings::new(cert, key) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hearth_send_mllps_gets_an_ack_and_verifies_the_receiver() {
    let s = setup();
    let addr = receiver(ServerTls::new(s.settings.clone()).unwrap()).await;
    let url = format!("mllps://{addr}");

    let out = hearth_send(args(&url, &s.message, &[("--ca", &s.ca_file)])).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("AA\tCTRL-TLS-1"), "{stdout}");

    // The same receiver, reached by name: the certificate carries localhost too.
    let by_name = format!("mllps://localhost:{}", addr.port());
    let out = hearth_send(args(&by_name, &s.message, &[("--ca", &s.ca_file)])).await;
    assert!(out.status.success(), "{:?}", text(&out));

    // Without --ca the system trust store does not know the test CA: refused, nothing sent.
    let out = hearth_send(args(&url, &s.message, &[])).await;
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAILED") && stdout.contains("certificate"), "{stdout}");

    // --insecure skips verification, and says so loudly.
    let mut insecure = args(&url, &s.message, &[]);
    insecure.push("--insecure".into());
    let out = hearth_send(insecure).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("WARNING: --insecure"), "{stderr}");

    // TLS options on a plaintext destination are a usage error.
    let out = hearth_send(args(&format!("mllp://{addr}"), &s.message, &[("--ca", &s.ca_file)])).await;
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hearth_send_mllps_presents_a_client_certificate_for_mutual_tls() {
    let s = setup();
    let mut settings = s.settings.clone();
    settings.client_ca_file = Some(s.ca_file.clone());
    settings.allowed_subjects = vec!["lab-sender".into()];
    let addr = receiver(ServerTls::new(settings).unwrap()).await;
    let url = format!("mllps://{addr}");
    let (cert, key) = s.ca.client("lab-sender", &[]).write(s.dir.path(), "client");

    let out = hearth_send(args(&url, &s.message, &[("--ca", &s.ca_file), ("--cert", &cert), ("--key", &key)])).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("AA\tCTRL-TLS-1"), "{stdout}");

    let out = hearth_send(args(&url, &s.message, &[("--ca", &s.ca_file)])).await;
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAILED") && stdout.contains("alert"), "{stdout}");

    // A certificate without its key is a usage error, found before anything is sent.
    let out = hearth_send(args(&url, &s.message, &[("--ca", &s.ca_file), ("--cert", &cert)])).await;
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
}
