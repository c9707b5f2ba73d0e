//! HTTPS on the HTTP listener (`[http] tls`) through the real `hearth run`: the admin API and a webhook answer
//! over TLS to a client that trusts the test CA (reqwest with hearth-tls's client configuration), a client that
//! does not trust it is refused, plaintext HTTP to the TLS port gets nothing, and the plaintext `/healthz`-only
//! listener serves `/healthz` and nothing else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Engine, free_port, http_get};
use hearth_tls::ClientSettings;
use hearth_tls::testing::TestCa;

const TOKEN: &str = "e2e-https-admin-token-0123456789";
const RELAY_SECRET: &str = "synthetic-relay-secret-https";

fn client(ca_file: Option<&Path>) -> reqwest::Client {
    client_with(ClientSettings { ca_file: ca_file.map(Path::to_owned), ..ClientSettings::default() })
}

/// The Amazon Connect fixture POSTed to the `connect` webhook channel with its relay secret.
async fn post_webhook(client: &reqwest::Client, base: &str) -> reqwest::Response {
    let body =
        std::fs::read(common::fixtures().join("../webhooks/amazon-connect__callback_queued_linked.json")).unwrap();
    client
        .post(format!("{base}/webhooks/connect"))
        .header("content-type", "application/json")
        .header("X-Relay-Secret", RELAY_SECRET)
        .body(body)
        .send()
        .await
        .unwrap()
}

fn client_with(settings: ClientSettings) -> reqwest::Client {
    let config = hearth_tls::client_config(&settings).unwrap();
    reqwest::Client::builder().tls_backend_preconfigured(config).timeout(Duration::from_secs(10)).build().unwrap()
}

/// A running `hearth run` with `[http] tls` (the test CA's server certificate for localhost), a plaintext
/// `/healthz`-only listener, an admin token and a webhook channel; ready over HTTPS.
struct Https {
    _dir: tempfile::TempDir,
    engine: Engine,
    base: String,
    http_port: u16,
    health: String,
    config: std::path::PathBuf,
    ca_file: std::path::PathBuf,
    trusted: reqwest::Client,
    ca: TestCa,
}

/// `tls_extra` goes inside `[http] tls = { ... }` after the certificate and key; `{ca}` in it names the test
/// CA's file.
async fn start(tls_extra: &str) -> Https {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = TestCa::new("Hearth HTTPS e2e CA");
    let ca_file = ca.write(d, "ca");
    let tls_extra = tls_extra.replace("{ca}", &ca_file.display().to_string());
    let (cert, key) = ca.server(&["localhost", "127.0.0.1"]).write(d, "server");
    std::fs::write(d.join("token"), TOKEN).unwrap();
    std::fs::write(d.join("relay"), RELAY_SECRET).unwrap();
    let (http_port, health_port, mllp_port) = (free_port(), free_port(), free_port());
    let config = d.join("hearth.toml");
    std::fs::write(
        &config,
        format!(
            "[journal]\ntype = \"sqlite\"\npath = \"{db}\"\n\
             [http]\nlisten = \"127.0.0.1:{http_port}\"\nhealth_listen = \"127.0.0.1:{health_port}\"\n\
             tls = {{ cert_file = \"{cert}\", key_file = \"{key}\"{tls_extra} }}\n\
             [admin]\ntokens = [{{ name = \"e2e\", role = \"admin\", token_file = \"{token}\" }}]\n\
             [channels.adt]\ntype = \"mllp\"\nlisten = \"127.0.0.1:{mllp_port}\"\n\
             [channels.connect]\ntype = \"webhook\"\nprofile = \"amazon-connect\"\nauth = \"shared-secret-header\"\n\
             header = \"X-Relay-Secret\"\nsecret_file = \"{relay}\"\n",
            db = d.join("hearth.db").display(),
            cert = cert.display(),
            key = key.display(),
            token = d.join("token").display(),
            relay = d.join("relay").display(),
        ),
    )
    .unwrap();
    let child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .env("HEARTH_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let health = format!("127.0.0.1:{health_port}");
    let engine = Engine {
        child: Some(child),
        mllp: format!("127.0.0.1:{mllp_port}"),
        http: health.clone(),
        db: d.join("hearth.db"),
        config: config.clone(),
        env: Vec::new(),
    };
    let base = format!("https://localhost:{http_port}");
    let trusted = client(Some(&ca_file));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = trusted.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(Instant::now() < deadline, "hearth did not become ready over https");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    Https { _dir: dir, engine, base, http_port, health, config, ca_file, trusted, ca }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_and_webhooks_answer_over_https_and_healthz_stays_plaintext() {
    let Https { _dir, mut engine, base, http_port, health, config, trusted, .. } = start("").await;
    // The admin API, with its token, over TLS.
    let alerts = trusted.get(format!("{base}/api/v1/alerts")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(alerts.status(), 200);
    let alerts: serde_json::Value = serde_json::from_str(&alerts.text().await.unwrap()).unwrap();
    assert!(alerts["active"].is_array(), "{alerts}");
    let anonymous = trusted.get(format!("{base}/api/v1/alerts")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    // A webhook, over TLS, journaled.
    let hook = post_webhook(&trusted, &base).await;
    let status = hook.status();
    let answer: serde_json::Value = serde_json::from_str(&hook.text().await.unwrap()).unwrap();
    assert_eq!(status, 200, "{answer}");
    assert!(answer["journal_id"].as_i64().is_some_and(|id| id > 0), "{answer}");

    // A client without the test CA is refused; plaintext HTTP to the TLS port gets no HTTP answer.
    let untrusted = client(None).get(format!("{base}/healthz")).send().await;
    assert!(untrusted.is_err(), "{untrusted:?}");
    assert_eq!(http_get(&format!("127.0.0.1:{http_port}"), "/healthz"), None);

    // The plaintext listener: /healthz only.
    assert_eq!(http_get(&health, "/healthz"), Some((200, "ok\n".into())));
    assert_eq!(http_get(&health, "/metrics").map(|r| r.0), Some(404));
    assert_eq!(http_get(&health, "/api/v1/alerts").map(|r| r.0), Some(404));

    // `hearth check` reports the HTTP listener's TLS.
    let check = Command::new(BIN).args(["check", "--config"]).arg(&config).output().unwrap();
    let text = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(check.status.success(), "{text}");
    assert!(text.contains(&format!("http     127.0.0.1:{http_port} https")), "{text}");
    assert!(text.contains(&format!("http     {health} http (/healthz only)")), "{text}");
    let line = text.lines().find(|l| l.starts_with("tls      http ")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("tls; certificate CN=localhost expires"), "{line}");
    assert!(text.contains("tls      channels.adt         plaintext"), "{text}");

    assert!(engine.terminate().success());
}

/// The dashboard in headless Chromium over HTTPS: with the test CA trusted (an NSS database in the HOME Chromium
/// runs with, as `certutil` from Debian's libnss3-tools writes it) the page loads and shows the channel; without
/// it, Chromium refuses the certificate and the page never loads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_loads_in_chromium_over_https_with_the_test_ca_trusted() {
    let test = "the_dashboard_loads_in_chromium_over_https_with_the_test_ca_trusted";
    let Some(chromium) = common::chromium() else { return };
    let Some(certutil) = common::program(test, &["certutil"], "apt-get install libnss3-tools") else { return };
    let https = start("").await;
    let acks = tokio::task::spawn_blocking({
        let mllp = https.engine.mllp.clone();
        move || common::mllp_send(&mllp, &[common::adt("HTTPS1"), common::adt("HTTPS2")])
    })
    .await
    .unwrap();
    assert!(acks.iter().all(|a| a.contains("|AA|")), "{acks:?}");

    let dir = tempfile::tempdir().unwrap();
    let trusting_home = dir.path().join("trusting");
    let nssdb = trusting_home.join(".pki/nssdb");
    std::fs::create_dir_all(&nssdb).unwrap();
    let db = format!("sql:{}", nssdb.display());
    let run = |args: &[&str]| {
        let out = Command::new(&certutil).args(args).output().unwrap();
        assert!(out.status.success(), "certutil {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["-d", &db, "-N", "--empty-password"]);
    run(&["-d", &db, "-A", "-t", "C,,", "-n", "Hearth HTTPS e2e CA", "-i", &https.ca_file.display().to_string()]);
    let untrusting_home = dir.path().join("untrusting");
    std::fs::create_dir_all(&untrusting_home).unwrap();

    let page = format!("{}/#token={TOKEN}", https.base);
    let dump = |home: &Path, profile: &str| {
        let out = common::headless(&chromium, &dir.path().join(profile))
            .env("HOME", home)
            .arg("--dump-dom")
            .arg(&page)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = tokio::task::block_in_place(|| dump(&trusting_home, "profile-trusting"));
    assert!(dom.contains("data-ready=\"1\""), "the page never loaded its data over https:\n{dom}");
    assert!(dom.contains("data-channel=\"adt\""), "the adt channel is not on the dashboard:\n{dom}");
    assert!(!dom.contains(TOKEN), "the token is not left in the page");
    let refused = tokio::task::block_in_place(|| dump(&untrusting_home, "profile-untrusting"));
    assert!(!refused.contains("data-ready"), "a browser without the test CA loaded the page:\n{refused}");

    let mut engine = https.engine;
    assert!(engine.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_for_the_api_only_leave_webhooks_and_health_open() {
    let https =
        start(", client_ca_file = \"{ca}\", client_certificates = \"api\", allowed_subjects = [\"ops-console\"]").await;
    let (base, d) = (&https.base, https.config.parent().unwrap());
    let with_certificate = |issued: &hearth_tls::testing::Issued, stem: &str| {
        let (cert_file, key_file) = issued.write(d, stem);
        client_with(ClientSettings {
            ca_file: Some(https.ca_file.clone()),
            cert_file: Some(cert_file),
            key_file: Some(key_file),
            ..ClientSettings::default()
        })
    };

    // No client certificate: the connection is admitted, /readyz and webhooks answer, the API refuses (even
    // with a valid token) with a stable error code.
    let anonymous = &https.trusted;
    assert_eq!(anonymous.get(format!("{base}/readyz")).send().await.unwrap().status(), 200);
    let refused = anonymous.get(format!("{base}/api/v1/alerts")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let body: serde_json::Value = serde_json::from_str(&refused.text().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "client_certificate_required", "{body}");
    let hook = post_webhook(anonymous, base).await;
    assert_eq!(hook.status(), 200);

    // The allowed certificate: the API answers, and the token is still required.
    let ops = with_certificate(&https.ca.client("ops-console", &[]), "ops");
    assert_eq!(ops.get(format!("{base}/api/v1/alerts")).bearer_auth(TOKEN).send().await.unwrap().status(), 200);
    assert_eq!(ops.get(format!("{base}/api/v1/alerts")).send().await.unwrap().status(), 401);

    // A presented certificate is checked at the handshake: another CA's, or a subject not allowed, gets no
    // connection at all (not even for /readyz).
    let other = TestCa::new("Some Other CA");
    for (stem, issued) in
        [("other-ca", other.client("ops-console", &[])), ("intruder", https.ca.client("intruder", &[]))]
    {
        let c = with_certificate(&issued, stem);
        let r = c.get(format!("{base}/readyz")).send().await;
        assert!(r.is_err(), "{stem}: {r:?}");
    }

    // `hearth check` says what the listener demands.
    let check = Command::new(BIN).args(["check", "--config"]).arg(&https.config).output().unwrap();
    let text = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(check.status.success(), "{text}");
    let line = text.lines().find(|l| l.starts_with("tls      http ")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("/api/v1 needs a client certificate (allowed: ops-console)"), "{line}");
}
