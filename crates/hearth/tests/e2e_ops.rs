//! The operations surface against the real binary: the dashboard in headless Chromium shows what the API says,
//! and a destination whose broker is stopped raises a "disconnected" alert, shown on the dashboard, that clears
//! once the broker is back. The latter stops RabbitMQ, so `scripts/test.sh` runs it alone (`disruptive_`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Engine, adt, api_as, chromium, headless, http_get, mllp_send, wait_for};

const TOKEN: &str = "e2e-admin-token-0123456789";

/// `[admin]` with one admin token read from a file in `dir`, and fast alert evaluation.
fn ops_toml(dir: &Path, amqp_uri: &str) -> String {
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    format!(
        "[admin]\ntokens = [{{ name = \"e2e\", role = \"admin\", token_file = \"{}\" }}]\n\
         [alerts]\ninterval_ms = 200\n[alerts.destinations.fhir]\ndisconnected_ms = 1000\n\
         [destinations.fhir]\ntype = \"amqp\"\nendpoint = \"{amqp_uri}\"\n",
        token_file.display()
    )
}

/// GET with the bearer token, as JSON.
fn api(addr: &str, path: &str) -> serde_json::Value {
    api_as(TOKEN, addr, path)
}

fn rabbitmqctl(args: &[&str]) {
    let st = Command::new("rabbitmqctl").args(args).status().expect("rabbitmqctl");
    assert!(st.success(), "rabbitmqctl {args:?} failed");
}

fn active_alerts(http: &str) -> Vec<(String, String)> {
    let a = api(http, "/api/v1/alerts");
    a["active"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["kind"].as_str().unwrap().to_owned(), x["subject"].as_str().unwrap().to_owned()))
        .collect()
}

/// The text of the `<td data-field="{field}">` in the row `<tr {row_attr}>` of the dumped DOM.
fn cell(dom: &str, row_attr: &str, field: &str) -> Option<String> {
    let row = &dom[dom.find(row_attr)?..];
    let row = &row[..row.find("</tr>")?];
    let at = row.find(&format!("data-field=\"{field}\""))?;
    let text = &row[at..];
    let text = &text[text.find('>')? + 1..];
    let text = &text[..text.find("</td>")?];
    // Strip nested tags (the state badge).
    let mut out = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    Some(out)
}

#[test]
fn dashboard_in_chromium_shows_what_the_api_says() {
    let Some(chromium) = chromium() else { return };
    let Some(uri) = hearth_testkit::amqp("dashboard_in_chromium_shows_what_the_api_says") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::start(dir.path(), "", &ops_toml(dir.path(), &uri));
    let messages: Vec<Vec<u8>> = (0..40).map(|i| adt(&format!("OPS{i:04}"))).collect();
    mllp_send(&engine.mllp, &messages);
    wait_for("the messages to be converted", Duration::from_secs(60), || {
        let c = api(&engine.http, "/api/v1/channels");
        c["channels"][0]["counts"]["received"] == 0 && c["channels"][0]["total"] == 40
    });

    let dom = {
        let out = headless(&chromium, &dir.path().join("profile"))
            .arg("--dump-dom")
            .arg(format!("http://{}/#token={TOKEN}", engine.http))
            .output()
            .unwrap();
        assert!(out.status.success(), "chromium: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(dom.contains("data-ready=\"1\""), "the page never loaded its data:\n{dom}");
    assert!(!dom.contains(TOKEN), "the token is not left in the page");

    let api_channels = api(&engine.http, "/api/v1/channels");
    let ch = &api_channels["channels"][0];
    for field in ["total", "processed", "filtered", "error", "received"] {
        let want = if field == "total" { ch["total"].to_string() } else { ch["counts"][field].to_string() };
        assert_eq!(cell(&dom, "data-channel=\"adt\"", field).as_deref(), Some(want.as_str()), "{field}");
    }
    let api_dest = &api(&engine.http, "/api/v1/destinations")["destinations"][0];
    for field in ["pending", "dead"] {
        let want = api_dest[field].to_string();
        assert_eq!(cell(&dom, "data-destination=\"fhir\"", field).as_deref(), Some(want.as_str()), "{field}");
    }
    let want_state = if api_dest["connected"] == true { "connected" } else { "disconnected" };
    assert_eq!(cell(&dom, "data-destination=\"fhir\"", "state").as_deref(), Some(want_state));
    assert_eq!(cell(&dom, "data-channel=\"adt\"", "state").as_deref(), Some("ok"));

    // The screenshot is taken under load: a sender keeps the channel busy meanwhile.
    let addr = engine.mllp.clone();
    let load = std::thread::spawn(move || {
        for batch in 0..20 {
            let msgs: Vec<Vec<u8>> = (0..50).map(|i| adt(&format!("LOAD{batch:02}{i:03}"))).collect();
            mllp_send(&addr, &msgs);
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    screenshot(&chromium, &engine, dir.path());
    load.join().unwrap();
    assert_eq!(http_get(&engine.http, "/healthz").map(|r| r.0), Some(200));
    engine.terminate();
}

/// A screenshot of the dashboard; written to docs/img/dashboard.png when `HEARTH_SCREENSHOT=1`.
fn screenshot(chromium: &Path, engine: &Engine, dir: &Path) {
    let png = dir.join("dashboard.png");
    let out = headless(chromium, &dir.join("profile-shot"))
        .arg("--window-size=1400,900")
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("http://{}/#token={TOKEN}", engine.http))
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium screenshot: {}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
    if std::env::var("HEARTH_SCREENSHOT").as_deref() == Ok("1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/img/dashboard.png");
        std::fs::create_dir_all(docs.parent().unwrap()).unwrap();
        std::fs::write(docs, bytes).unwrap();
    }
}

/// The page as Chromium renders it after its first data load.
fn dump_dom(chromium: &Path, engine: &Engine, profile: &Path) -> String {
    let out = headless(chromium, profile)
        .arg("--dump-dom")
        .arg(format!("http://{}/#token={TOKEN}", engine.http))
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium: {}", String::from_utf8_lossy(&out.stderr));
    let dom = String::from_utf8(out.stdout).unwrap();
    assert!(dom.contains("data-ready=\"1\""), "the page never loaded its data:\n{dom}");
    dom
}

#[test]
fn disruptive_a_stopped_broker_raises_disconnected_on_the_dashboard_and_clears() {
    let Some(chromium) = chromium() else { return };
    let Some(uri) = hearth_testkit::amqp("a_stopped_broker_raises_disconnected") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::start(dir.path(), "", &ops_toml(dir.path(), &uri));
    wait_for("the destination to connect", Duration::from_secs(30), || {
        api(&engine.http, "/api/v1/destinations")["destinations"][0]["connected"] == true
    });
    assert!(active_alerts(&engine.http).is_empty());

    rabbitmqctl(&["stop_app"]);
    let want = vec![("disconnected".to_owned(), "fhir".to_owned())];
    let raised = std::panic::catch_unwind(|| {
        wait_for("the disconnected alert", Duration::from_secs(30), || active_alerts(&engine.http) == want);
        dump_dom(&chromium, &engine, &dir.path().join("profile-down"))
    });
    // Whatever happened, bring the broker back before asserting.
    rabbitmqctl(&["start_app"]);
    let dom = raised.unwrap_or_else(|e| std::panic::resume_unwind(e));
    assert!(
        dom.contains("data-alert-kind=\"disconnected\" data-alert-subject=\"fhir\""),
        "the dashboard lists the alert:\n{dom}"
    );
    assert_eq!(cell(&dom, "data-destination=\"fhir\"", "state").as_deref(), Some("disconnected"));

    // The link reconnects after its backoff; the alert clears once, and stays cleared.
    wait_for("the alert to clear", Duration::from_secs(90), || active_alerts(&engine.http).is_empty());
    let a = api(&engine.http, "/api/v1/alerts");
    let recent = a["recent"].as_array().unwrap();
    let disconnected: Vec<_> = recent.iter().filter(|x| x["kind"] == "disconnected").collect();
    assert_eq!(disconnected.len(), 1, "one episode, one clear: {a}");
    assert_eq!(disconnected[0]["state"], "cleared", "{a}");
    assert_eq!(api(&engine.http, "/api/v1/destinations")["destinations"][0]["connected"], true);
    let dom = dump_dom(&chromium, &engine, &dir.path().join("profile-up"));
    assert!(!dom.contains("data-alert-kind=\"disconnected\""), "the alert is gone from the dashboard:\n{dom}");
    assert_eq!(cell(&dom, "data-destination=\"fhir\"", "state").as_deref(), Some("connected"));
    engine.terminate();
}
