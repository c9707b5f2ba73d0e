//! A TLS stack that is not rustls (Python's ssl module, i.e. OpenSSL) completes the handshake with Hearth's
//! server configuration, with and without a client certificate, over TLS 1.3 and 1.2; older versions fail.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use hearth_tls::ServerTls;

use crate::common::{Pki, serve};

/// Connects with Python's ssl module, sends one MLLP frame, prints the TLS version and the reply.
const CLIENT: &str = r#"
import socket, ssl, sys
host, port, ca, cert, key, version = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=ca)
if cert:
    ctx.load_cert_chain(cert, key)
if version:
    v = getattr(ssl.TLSVersion, version)
    ctx.minimum_version = v
    ctx.maximum_version = v
try:
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"\x0bMSH|python\x1c\x0d")
            data = b""
            while not data.endswith(b"\x1c\x0d"):
                chunk = tls.recv(4096)
                if not chunk:
                    break
                data += chunk
            print(tls.version(), data.strip(b"\x0b\x1c\x0d").decode())
except (ssl.SSLError, OSError) as e:
    print("FAILED", type(e).__name__, e)
"#;

fn python(test: &str) -> Option<&'static str> {
    match Command::new("python3").arg("-c").arg("import ssl").output() {
        Ok(out) if out.status.success() => Some("python3"),
        _ => {
            hearth_testkit::unavailable(test, "python3 with the ssl module is not installed (apt-get install python3)")
        }
    }
}

async fn run_client(
    python: &'static str,
    addr: std::net::SocketAddr,
    ca: &Path,
    identity: Option<(&Path, &Path)>,
    version: &str,
) -> String {
    let mut cmd = Command::new(python);
    cmd.arg("-c").arg(CLIENT).arg(addr.ip().to_string()).arg(addr.port().to_string()).arg(ca);
    match identity {
        Some((c, k)) => cmd.arg(c).arg(k),
        None => cmd.arg("").arg(""),
    };
    cmd.arg(version);
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap();
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_ssl_gets_an_ack_over_tls_13_and_12_and_mtls() {
    let Some(python) = python("python_ssl_gets_an_ack_over_tls_13_and_12_and_mtls") else { return };
    let pki = Pki::new();
    let server = serve(Arc::new(ServerTls::new(pki.server_settings()).unwrap())).await;
    assert_eq!(run_client(python, server.addr, &pki.ca_file, None, "").await, "TLSv1.3 ACK:MSH|python");
    assert_eq!(run_client(python, server.addr, &pki.ca_file, None, "TLSv1_2").await, "TLSv1.2 ACK:MSH|python");
    let old = run_client(python, server.addr, &pki.ca_file, None, "TLSv1_1").await;
    assert!(old.starts_with("FAILED"), "TLS 1.1 must not be offered: {old}");

    let mut settings = pki.server_settings();
    settings.client_ca_file = Some(pki.ca_file.clone());
    settings.allowed_subjects = vec!["python-client".into()];
    let mtls = serve(Arc::new(ServerTls::new(settings).unwrap())).await;
    let (cert, key) = pki.ca.client("python-client", &[]).write(pki.dir.path(), "python");
    for version in ["", "TLSv1_2"] {
        let out = run_client(python, mtls.addr, &pki.ca_file, Some((&cert, &key)), version).await;
        assert!(out.ends_with("ACK:MSH|python"), "{version}: {out}");
    }
    let refused = run_client(python, mtls.addr, &pki.ca_file, None, "").await;
    assert!(refused.starts_with("FAILED"), "without a certificate: {refused}");
    let (cert, key) = pki.ca.client("someone-else", &[]).write(pki.dir.path(), "else");
    let refused = run_client(python, mtls.addr, &pki.ca_file, Some((&cert, &key)), "TLSv1_2").await;
    assert!(refused.starts_with("FAILED"), "a subject not allowed: {refused}");
}
