//! The dashboard's charts against the real binary: after a load run, the series the page draws (read back from
//! the chart data table the page fills from its uPlot charts) equal what was sent, and they are still there after
//! an engine restart (the per-minute buckets live in the journal). And the message browser: a link with a
//! patient identifier lists that patient's message; a link to the message shows its raw HL7 one segment a line
//! with every field titled by its position (`PID-5`, `PID-5.1`), and the view is audited.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Engine, adt, api_as, chromium, headless, mllp_send, wait_for};

const TOKEN: &str = "e2e-charts-token-0123456789";
const OPERATOR: &str = "e2e-operator-token-0123456789";
const SENT: usize = 60;

/// `[admin]` with a viewer and an admin token, the `fhir` AMQP destination (its own exchange, with `queue`
/// bound: unroutable deliveries would stay pending), and a quick stats flush.
fn charts_toml(dir: &Path, amqp_uri: &str, queue: &str) -> String {
    let (token_file, operator_file) = (dir.join("token"), dir.join("operator"));
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    std::fs::write(&operator_file, format!("{OPERATOR}\n")).unwrap();
    format!(
        "[admin]\ntokens = [{{ name = \"wall\", role = \"viewer\", token_file = \"{}\" }}, \
         {{ name = \"oncall\", role = \"admin\", token_file = \"{}\" }}]\n\
         [retention]\nstats_flush_ms = 300\n\
         [destinations.fhir]\ntype = \"amqp\"\nendpoint = \"{amqp_uri}\"\nexchange = \"{queue}-x\"\n\
         [[destinations.fhir.queues]]\nname = \"{queue}\"\nbind = [\"#\"]\n",
        token_file.display(),
        operator_file.display()
    )
}

fn api(addr: &str, path: &str) -> serde_json::Value {
    api_as(TOKEN, addr, path)
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
    // The outbox was sampled; a minute shows its largest sample, at most every delivery there was.
    let depth_points: u32 = series_field(dom, "destination/fhir/outbox/depth", "points").unwrap().parse().unwrap();
    assert!(depth_points >= 1);
    let depth: f64 = series_field(dom, "destination/fhir/outbox/depth", "last").unwrap().parse().unwrap();
    assert!((0.0..=sent as f64).contains(&depth), "depth {depth} of {sent} deliveries");
}

#[test]
fn charts_show_what_was_sent_and_survive_a_restart() {
    let Some(chromium) = chromium() else { return };
    let Some(uri) = hearth_testkit::amqp("charts_show_what_was_sent_and_survive_a_restart") else { return };
    let dir = tempfile::tempdir().unwrap();
    let queue = hearth_testkit::unique_name("hearth-charts-q");
    let mut engine = Engine::start(dir.path(), "", &charts_toml(dir.path(), &uri, &queue));
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
    screenshot_of(
        &chromium,
        &format!("http://{}/#token={TOKEN}", engine.http),
        dir.path(),
        "dashboard-charts.png",
        1100,
    );
    assert!(engine.terminate().success());
    common::delete_queue(&queue);
}

/// A screenshot of `url`; written to docs/img/`name` when `HEARTH_SCREENSHOT=1`.
fn screenshot_of(chromium: &Path, url: &str, dir: &Path, name: &str, height: u32) {
    let png = dir.join(name);
    let out = headless(chromium, &dir.join("profile-shot"))
        .arg(format!("--window-size=1400,{height}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(url)
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium screenshot: {}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
    if std::env::var("HEARTH_SCREENSHOT").as_deref() == Ok("1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/img").join(name);
        std::fs::create_dir_all(docs.parent().unwrap()).unwrap();
        std::fs::write(docs, bytes).unwrap();
    }
}

#[test]
fn message_browser_finds_a_patients_message_and_shows_its_fields_by_position() {
    let Some(chromium) = chromium() else { return };
    let Some(uri) = hearth_testkit::amqp("message_browser_finds_a_patients_message") else { return };
    let dir = tempfile::tempdir().unwrap();
    let queue = hearth_testkit::unique_name("hearth-browse-q");
    let mut engine = Engine::start(dir.path(), "", &charts_toml(dir.path(), &uri, &queue));
    let messages: Vec<Vec<u8>> = (0..30).map(|i| adt(&format!("BROWSE{i:04}"))).collect();
    mllp_send(&engine.mllp, &messages);
    wait_for("the messages to be converted", Duration::from_secs(60), || {
        let c = api(&engine.http, "/api/v1/channels");
        c["channels"][0]["counts"]["received"] == 0 && c["channels"][0]["total"] == 30
    });
    let found = api_as(OPERATOR, &engine.http, "/api/v1/messages?control_id=BROWSE0017");
    let id = found["messages"][0]["id"].as_i64().unwrap();
    let view = api_as(OPERATOR, &engine.http, &format!("/api/v1/messages/{id}"));
    let patient = view["patient_identifiers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .find(|p| p.ends_with("|MRNBROWSE0017"));
    let patient = patient.unwrap_or_else(|| panic!("no MRN among {:?}", view["patient_identifiers"])).to_owned();
    let audited_before = api_as(OPERATOR, &engine.http, &format!("/api/v1/audit?message_id={id}"))["events"]
        .as_array()
        .map_or(0, Vec::len);

    // The search link lists exactly this patient's message.
    let q = patient.replace('|', "%7C").replace(':', "%3A");
    let dom = page(&chromium, &engine, &dir.path().join("p1"), &format!("/?patient={q}"));
    assert!(dom.contains(&format!("data-message=\"{id}\"")), "message {id} not listed:\n{dom}");
    assert_eq!(dom.matches("<tr data-message=").count(), 1, "only this patient's message");

    // The message link shows the raw message one segment a line, fields titled by position.
    let dom = page(&chromium, &engine, &dir.path().join("p2"), &format!("/?message={id}"));
    for seg in ["MSH", "EVN", "PID", "PV1"] {
        assert!(dom.contains(&format!("data-segment=\"{seg}\"")), "segment {seg} missing");
    }
    assert!(dom.contains("title=\"PID-5\""), "no PID-5 field title");
    let family =
        dom.find("title=\"PID-5.1\"").map(|at| &dom[at..]).unwrap_or_else(|| panic!("no PID-5.1 title:\n{dom}"));
    assert!(family[family.find('>').unwrap() + 1..].starts_with("DOE<"), "PID-5.1 is the family name");
    assert!(dom.contains("title=\"MSH-10\""), "MSH numbering starts at MSH-1 = the separator");
    let msh10 = &dom[dom.find("title=\"MSH-10.1\"").unwrap()..];
    assert!(msh10[msh10.find('>').unwrap() + 1..].starts_with("BROWSE0017<"), "MSH-10 is the control id");
    assert!(dom.contains("<details id=\"bundle-box\">"), "the Bundle is collapsible");
    // Viewing the content from the page is on record.
    let audited = api_as(OPERATOR, &engine.http, &format!("/api/v1/audit?message_id={id}"))["events"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(audited > audited_before, "the page's view was not audited ({audited_before} -> {audited})");
    let url = format!("http://{}/?message={id}#token={OPERATOR}", engine.http);
    screenshot_of(&chromium, &url, dir.path(), "message-browser.png", 2000);
    assert!(engine.terminate().success());
    common::delete_queue(&queue);
}

fn page(chromium: &Path, engine: &Engine, profile: &Path, path: &str) -> String {
    let out = headless(chromium, profile)
        .arg("--dump-dom")
        .arg(format!("http://{}{path}#token={OPERATOR}", engine.http))
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium: {}", String::from_utf8_lossy(&out.stderr));
    let dom = String::from_utf8(out.stdout).unwrap();
    assert!(dom.contains("data-load-ms="), "the page never finished loading:\n{dom}");
    dom
}
