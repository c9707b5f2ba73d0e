//! The dashboard's charts against the real binary: after a load run, the series the page draws (read back from
//! the chart data table the page fills from its uPlot charts) equal what was sent, and they are still there after
//! an engine restart (the per-minute buckets live in the journal).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Engine, adt, chromium, headless, mllp_send};

const TOKEN: &str = "e2e-charts-token-0123456789";
const SENT: usize = 60;

/// `[admin]` with one viewer token, the `fhir` AMQP destination, and a quick stats flush.
fn charts_toml(dir: &Path, amqp_uri: &str) -> String {
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    format!(
        "[admin]\ntokens = [{{ name = \"wall\", role = \"viewer\", token_file = \"{}\" }}]\n\
         [retention]\nstats_flush_ms = 300\n\
         [destinations.fhir]\ntype = \"amqp\"\nendpoint = \"{amqp_uri}\"\n",
        token_file.display()
    )
}

fn api(addr: &str, path: &str) -> serde_json::Value {
    let auth = format!("Bearer {TOKEN}");
    hearth_testkit::http::request("GET", addr, path, &[("authorization", &auth)], Vec::new())
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .json()
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The text of `<td data-field="{field}">` in the chart data row of `series` (`channel/adt/messages/received`).
fn series_field(dom: &str, series: &str, field: &str) -> Option<String> {
    let row = &dom[dom.find(&format!("data-series=\"{series}\""))?..];
    let row = &row[..row.find("</tr>")?];
    let text = &row[row.find(&format!("data-field=\"{field}\""))?..];
    let text = &text[text.find('>')? + 1..];
    Some(text[..text.find("</td>")?].to_owned())
}

fn sum(dom: &str, series: &str) -> f64 {
    let s = series_field(dom, series, "sum").unwrap_or_else(|| panic!("no series {series} in the page"));
    s.parse().unwrap_or_else(|_| panic!("{series}: sum {s:?}"))
}

fn dump_dom(chromium: &Path, engine: &Engine, profile: &Path) -> String {
    let out = headless(chromium, profile)
        .arg("--window-size=1400,1000")
        .arg("--dump-dom")
        .arg(format!("http://{}/#token={TOKEN}", engine.http))
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium: {}", String::from_utf8_lossy(&out.stderr));
    let dom = String::from_utf8(out.stdout).unwrap();
    assert!(dom.contains("id=\"charts-panel\" data-window=\"1h\""), "the charts never loaded:\n{dom}");
    dom
}

/// What the charts must show: per status from the API's counts, deliveries from the journal.
fn assert_charted(dom: &str, processed: u64, filtered: u64, sent: u64) {
    assert_eq!(sum(dom, "channel/adt/messages/received"), SENT as f64);
    assert_eq!(sum(dom, "channel/adt/messages/processed"), processed as f64);
    assert_eq!(sum(dom, "channel/adt/messages/filtered"), filtered as f64);
    assert_eq!(sum(dom, "channel/adt/messages/error"), 0.0);
    assert_eq!(sum(dom, "channel/adt/messages/rejected"), 0.0);
    assert_eq!(sum(dom, "destination/fhir/deliveries/sent"), sent as f64);
    assert_eq!(sum(dom, "destination/fhir/deliveries/dead"), 0.0);
    // ACK latency: a percentile in every minute that had ACKs, each a positive number of milliseconds.
    let points: u32 = series_field(dom, "channel/adt/ack/ack_p99_ms", "points").unwrap().parse().unwrap();
    assert!((1..=3).contains(&points), "ACK minutes: {points}");
    let p99: f64 = series_field(dom, "channel/adt/ack/ack_p99_ms", "last").unwrap().parse().unwrap();
    assert!(p99 > 0.0, "{p99}");
    // The outbox was sampled (drained by now: its latest depth is 0).
    let depth_points: u32 = series_field(dom, "destination/fhir/outbox/depth", "points").unwrap().parse().unwrap();
    assert!(depth_points >= 1);
    assert_eq!(series_field(dom, "destination/fhir/outbox/depth", "last").as_deref(), Some("0"));
}

#[test]
fn charts_show_what_was_sent_and_survive_a_restart() {
    let Some(chromium) = chromium() else { return };
    let Some(uri) = hearth_testkit::amqp("charts_show_what_was_sent_and_survive_a_restart") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::start(dir.path(), "", &charts_toml(dir.path(), &uri));
    let messages: Vec<Vec<u8>> = (0..SENT).map(|i| adt(&format!("CHART{i:04}"))).collect();
    for chunk in messages.chunks(20) {
        mllp_send(&engine.mllp, chunk);
    }
    wait_for("the messages to be converted and delivered", Duration::from_secs(60), || {
        let c = api(&engine.http, "/api/v1/channels");
        let d = api(&engine.http, "/api/v1/destinations");
        c["channels"][0]["counts"]["received"] == 0
            && c["channels"][0]["total"] == SENT
            && d["destinations"][0]["pending"] == 0
    });
    let counts = api(&engine.http, "/api/v1/channels")["channels"][0]["counts"].clone();
    let (processed, filtered) = (counts["processed"].as_u64().unwrap(), counts["filtered"].as_u64().unwrap());
    assert_eq!(processed + filtered, SENT as u64);
    // The counters reach the journal within a flush; then the API has them.
    wait_for("the stats to be flushed", Duration::from_secs(10), || {
        let s = api(&engine.http, "/api/v1/stats?channel=adt");
        let received: u64 = s["channels"][0]["received"].as_array().unwrap().iter().filter_map(|v| v.as_u64()).sum();
        received == SENT as u64
    });
    std::thread::sleep(Duration::from_millis(800)); // the sinks' last outcomes and one more outbox sample
    let before = dump_dom(&chromium, &engine, &dir.path().join("profile-1"));

    // What the journal says was delivered is what the deliveries chart shows.
    assert!(engine.terminate().success());
    let sent = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let journal = engine.journal().await;
        let stats = journal.outbox_stats().await.unwrap();
        journal.close().await;
        stats.iter().find(|s| s.destination == "fhir").map_or(0, |s| s.sent)
    });
    assert!(sent >= SENT as u64, "every message has at least one delivery: {sent}");
    assert_charted(&before, processed, filtered, sent);

    // After a restart the charts are read back from the journal's buckets.
    engine.restart();
    let after = dump_dom(&chromium, &engine, &dir.path().join("profile-2"));
    assert_charted(&after, processed, filtered, sent);
    screenshot(&chromium, &engine, dir.path());
    assert!(engine.terminate().success());
}

/// The charts as a screenshot; written to docs/img/dashboard-charts.png when `HEARTH_SCREENSHOT=1`.
fn screenshot(chromium: &Path, engine: &Engine, dir: &Path) {
    let png = dir.join("charts.png");
    let out = headless(chromium, &dir.join("profile-shot"))
        .arg("--window-size=1400,1100")
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("http://{}/#token={TOKEN}", engine.http))
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium screenshot: {}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
    if std::env::var("HEARTH_SCREENSHOT").as_deref() == Ok("1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/img/dashboard-charts.png");
        std::fs::create_dir_all(docs.parent().unwrap()).unwrap();
        std::fs::write(docs, bytes).unwrap();
    }
}
