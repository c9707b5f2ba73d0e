//! Traces end to end (docs/operations.md, "Traces"): the real binary exports OTLP/HTTP JSON to a tiny collector
//! in this test (a std `TcpListener` that reads HTTP/1.1 POSTs and answers `200 {}`). HL7 v2 messages carrying
//! seeded PHI go in over MLLP and out to two RabbitMQ destinations; for each message there must be exactly one
//! trace, the one the admin API names, with the root `receive` and its children `journal`, `map`, `route` and
//! one `publish` per destination, and no seeded marker may appear in anything exported. A second test starts the
//! engine with nothing listening at the endpoint: messages are still acknowledged and delivered, and the failed
//! exports are counted and logged once per interval, not per span.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Engine, free_port, mllp_send};
use hearth_testkit::{http, unique_name};
use serde_json::Value;
use sha2::{Digest, Sha256};

const TOKEN: &str = "e2e-otlp-operator-token-0123456789";
const T: Duration = Duration::from_secs(60);
/// Seeded PHI (and control ids, which traces must not carry either): none may reach the collector.
const MARKERS: [&str; 5] = ["Zqotfamily", "Zqotgiven", "ZQOTMRN8842", "5550187342", "OTLPCTL"];

fn marked(control_id: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|LAB|NORTH|HEARTH|HOSP|20260101120000||ADT^A01^ADT_A01|{control_id}|P|2.5.1\r\
         EVN|A01|20260101120000\r\
         PID|1||ZQOTMRN8842^^^NORTH^MR||Zqotfamily^Zqotgiven||19800214|F|||1 MAIN ST^^SPRINGFIELD^IL^62701||^PRN^PH^^^555^0187342\r\
         PV1|1|I|WARD1^101^A\r"
    )
    .into_bytes()
}

/// What the collector received: (request line, content type, body) per request.
type Received = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A minimal OTLP/HTTP collector: every request's body is kept and answered `200 {}` (keep-alive honoured).
fn collector() -> (u16, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Received = Arc::default();
    let keep = Arc::clone(&got);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let keep = Arc::clone(&keep);
            std::thread::spawn(move || serve(stream, &keep));
        }
    });
    (port, got)
}

fn serve(stream: TcpStream, got: &Received) {
    let mut out = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let (mut length, mut content_type) = (0usize, String::new());
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap(),
                    "content-type" => value.trim().clone_into(&mut content_type),
                    "transfer-encoding" => panic!("the exporter sent a chunked body; Content-Length expected"),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        got.lock().unwrap().push((request_line.trim_end().to_owned(), content_type, body));
        let answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        if out.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// Two AMQP destinations (one queue each) fed by one route sending each message's Bundle: one delivery per
/// message and destination.
fn config(d: &Path, amqp: &str, names: &Names, ports: (u16, u16), endpoint: &str) -> String {
    format!(
        "shutdown_timeout_ms = 10000\n\
         [journal]\ntype = \"sqlite\"\npath = \"{db}\"\n\
         [http]\nlisten = \"127.0.0.1:{http}\"\n\
         [admin]\ntokens = [{{ name = \"e2e\", role = \"operator\", token_file = \"{token}\" }}]\n\
         [channels.adt]\ntype = \"mllp\"\nlisten = \"127.0.0.1:{mllp}\"\n\
         [destinations.fhir]\ntype = \"amqp\"\nendpoint = \"{amqp}\"\nexchange = \"{x1}\"\n\
         [[destinations.fhir.queues]]\nname = \"{q1}\"\nbind = [\"#\"]\n\
         [destinations.audit]\ntype = \"amqp\"\nendpoint = \"{amqp}\"\nexchange = \"{x2}\"\n\
         [[destinations.audit.queues]]\nname = \"{q2}\"\nbind = [\"#\"]\n\
         [routing]\ndefault_route = false\n\
         [routes.all]\npayload = \"bundle\"\ndestinations = [\"fhir\", \"audit\"]\nrouting_key = \"{{channel}}\"\n\
         [tracing]\notlp_endpoint = \"{endpoint}\"\nservice_name = \"hearth-e2e\"\nexport_interval_ms = 200\n\
         trace_url = \"https://jaeger.example/trace/{{trace_id}}\"\n",
        db = d.join("hearth.db").display(),
        http = ports.1,
        mllp = ports.0,
        token = d.join("token").display(),
        x1 = names.exchanges[0],
        x2 = names.exchanges[1],
        q1 = names.queues[0],
        q2 = names.queues[1],
    )
}

struct Names {
    exchanges: [String; 2],
    queues: [String; 2],
}

impl Names {
    fn new() -> Names {
        Names {
            exchanges: [unique_name("hearth-otlp-x1"), unique_name("hearth-otlp-x2")],
            queues: [unique_name("hearth-otlp-q1"), unique_name("hearth-otlp-q2")],
        }
    }
}

fn start(d: &Path, amqp: &str, names: &Names, endpoint_port: u16) -> Engine {
    std::fs::write(d.join("token"), TOKEN).unwrap();
    let ports = (free_port(), free_port());
    let path = d.join("hearth.toml");
    std::fs::write(&path, config(d, amqp, names, ports, &format!("http://127.0.0.1:{endpoint_port}"))).unwrap();
    let (mllp, http) = (format!("127.0.0.1:{}", ports.0), format!("127.0.0.1:{}", ports.1));
    let mut engine = common::spawn_logged(&path, &d.join("hearth.log"), "warn", mllp, http, d.join("hearth.db"));
    engine.wait_ready();
    engine
}

fn api(addr: &str, path: &str) -> Value {
    let r = http::request("GET", addr, path, &[("authorization", &format!("Bearer {TOKEN}"))], Vec::new()).unwrap();
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.json()
}

/// The journal id and trace id the API reports for the message with this control id.
fn reported(addr: &str, control_id: &str) -> (i64, String, Value) {
    let found = api(addr, &format!("/api/v1/messages?control_id={control_id}"));
    let id = found["messages"][0]["id"].as_i64().unwrap_or_else(|| panic!("{control_id} not found: {found}"));
    let view = api(addr, &format!("/api/v1/messages/{id}"));
    let trace = view["trace_id"].as_str().unwrap_or_else(|| panic!("no trace_id in {view}")).to_owned();
    assert_eq!(found["messages"][0]["trace_id"].as_str(), Some(trace.as_str()), "search and view agree");
    (id, trace, view)
}

/// One exported span, flattened.
#[derive(Debug, Clone)]
struct Span {
    trace: String,
    id: String,
    parent: Option<String>,
    name: String,
    start: u64,
    end: u64,
    attrs: BTreeMap<String, String>,
    status: Value,
}

fn spans(received: &Received) -> (Vec<Span>, Vec<Value>) {
    let mut spans = Vec::new();
    let mut resources = Vec::new();
    for (_, _, body) in received.lock().unwrap().iter() {
        let req: Value = serde_json::from_slice(body).unwrap();
        for rs in req["resourceSpans"].as_array().unwrap() {
            resources.push(rs["resource"].clone());
            for ss in rs["scopeSpans"].as_array().unwrap() {
                for s in ss["spans"].as_array().unwrap() {
                    let attrs = s["attributes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| {
                            let v = &a["value"];
                            let v = v["stringValue"].as_str().or(v["intValue"].as_str()).unwrap_or_else(|| {
                                panic!("attribute values are stringValue or intValue (as a string): {a}")
                            });
                            (a["key"].as_str().unwrap().to_owned(), v.to_owned())
                        })
                        .collect();
                    let time = |k: &str| -> u64 {
                        s[k].as_str().unwrap_or_else(|| panic!("{k} is a string: {s}")).parse().unwrap()
                    };
                    spans.push(Span {
                        trace: s["traceId"].as_str().unwrap().to_owned(),
                        id: s["spanId"].as_str().unwrap().to_owned(),
                        parent: s["parentSpanId"].as_str().filter(|p| !p.is_empty()).map(str::to_owned),
                        name: s["name"].as_str().unwrap().to_owned(),
                        start: time("startTimeUnixNano"),
                        end: time("endTimeUnixNano"),
                        attrs,
                        status: s["status"].clone(),
                    });
                }
            }
        }
    }
    (spans, resources)
}

fn lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The root span id the docs promise: the first 8 bytes of SHA-256 over the trace id's 16 bytes.
fn derived_root(trace: &str) -> String {
    let bytes: Vec<u8> = (0..16).map(|i| u8::from_str_radix(&trace[2 * i..2 * i + 2], 16).unwrap()).collect();
    Sha256::digest(&bytes)[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_message_is_one_trace_from_receipt_to_each_delivery_without_phi() {
    let test = "each_message_is_one_trace_from_receipt_to_each_delivery_without_phi";
    let Some(amqp) = hearth_testkit::amqp(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (port, received) = collector();
    let names = Names::new();
    let mut engine = start(d, &amqp, &names, port);

    let controls: Vec<String> = (1..=3).map(|i| format!("OTLPCTL{i:04}")).collect();
    let acks = mllp_send(&engine.mllp, &controls.iter().map(|c| marked(c)).collect::<Vec<_>>());
    assert!(acks.iter().all(|a| a.contains("|AA|")), "{acks:?}");
    for q in &names.queues {
        assert_eq!(common::consume(&amqp, q, controls.len(), T).await.len(), controls.len());
    }

    let messages: Vec<(i64, String, Value)> = controls.iter().map(|c| reported(&engine.http, c)).collect();
    for (_, trace, view) in &messages {
        assert!(lower_hex(trace, 32) && trace != &"0".repeat(32), "a W3C trace id: {trace}");
        assert_eq!(view["trace_url"].as_str(), Some(format!("https://jaeger.example/trace/{trace}").as_str()));
    }
    // Every span of every message reaches the collector (the sinks record their outcome before the last span ends).
    let deadline = Instant::now() + T;
    loop {
        let (all, _) = spans(&received);
        let complete = messages.iter().all(|(_, trace, _)| all.iter().filter(|s| &s.trace == trace).count() >= 6);
        if complete {
            break;
        }
        assert!(Instant::now() < deadline, "spans missing after {T:?}: {all:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let any late (unexpected) span arrive before counting exactly: the export interval is 200 ms.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let (all, resources) = spans(&received);

    for (path, content_type, _) in received.lock().unwrap().iter() {
        assert_eq!(path, "POST /v1/traces HTTP/1.1");
        assert_eq!(content_type, "application/json");
    }
    for r in &resources {
        let attrs: BTreeMap<&str, &str> = r["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["key"].as_str().unwrap(), a["value"]["stringValue"].as_str().unwrap()))
            .collect();
        assert_eq!(attrs.get("service.name"), Some(&"hearth-e2e"), "{r}");
        assert!(attrs.get("service.version").is_some_and(|v| !v.is_empty()), "{r}");
        assert!(attrs.get("hearth.node").is_some_and(|v| !v.is_empty()), "{r}");
    }
    // Exactly one trace per message: the three the API names, nothing else.
    let traces: BTreeSet<&str> = all.iter().map(|s| s.trace.as_str()).collect();
    let reported_traces: BTreeSet<&str> = messages.iter().map(|(_, t, _)| t.as_str()).collect();
    assert_eq!(traces, reported_traces, "one trace per message, the one the API reports");

    for (id, trace, _) in &messages {
        let of: Vec<&Span> = all.iter().filter(|s| &s.trace == trace).collect();
        // Every span naming this message is in its trace.
        for s in all.iter().filter(|s| s.attrs.get("hearth.message_id") == Some(&id.to_string())) {
            assert_eq!(&s.trace, trace, "{s:?}");
        }
        let mut names: Vec<&str> = of.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["journal", "map", "publish", "publish", "receive", "route"], "message {id}: {of:#?}");
        let root = of.iter().find(|s| s.name == "receive").unwrap();
        assert_eq!(root.parent, None, "receive is the root");
        assert_eq!(root.id, derived_root(trace), "the root span id is derived from the trace id");
        for s in &of {
            assert!(lower_hex(&s.id, 16) && s.id != "0".repeat(16), "{s:?}");
            assert!(s.start <= s.end, "start after end: {s:?}");
            assert!(s.start > 1_600_000_000_000_000_000, "unix nanoseconds: {s:?}");
            assert_eq!(s.attrs.get("hearth.channel").map(String::as_str), Some("adt"), "{s:?}");
            assert_eq!(s.attrs.get("hearth.message_id"), Some(&id.to_string()), "{s:?}");
            assert_eq!(s.status, serde_json::json!({}), "no error: {s:?}");
            if s.name != "receive" {
                assert_eq!(s.parent.as_deref(), Some(root.id.as_str()), "{} is a child of receive", s.name);
            }
        }
        for name in ["receive", "map", "route"] {
            let s = of.iter().find(|s| s.name == name).unwrap();
            assert_eq!(s.attrs.get("hearth.message_type").map(String::as_str), Some("ADT^A01"), "{s:?}");
        }
        // The journal write happens within the receipt; routing starts when the conversion ends. (Across tasks,
        // e.g. journal → map, the order of the recorded times is not guaranteed: the stage may wake first.)
        let journal = of.iter().find(|s| s.name == "journal").unwrap();
        let map = of.iter().find(|s| s.name == "map").unwrap();
        let route = of.iter().find(|s| s.name == "route").unwrap();
        assert!(root.start <= journal.start && journal.end <= root.end, "{root:?} {journal:?}");
        assert!(map.end <= route.start, "{map:?} {route:?}");
        assert!(root.start <= map.start, "converted after it was received: {root:?} {map:?}");
        let destinations: BTreeSet<&str> = of
            .iter()
            .filter(|s| s.name == "publish")
            .map(|s| {
                assert_eq!(s.attrs.get("hearth.status").map(String::as_str), Some("sent"), "{s:?}");
                assert_eq!(s.attrs.get("hearth.route").map(String::as_str), Some("all"), "{s:?}");
                assert!(map.end <= s.start, "published after the conversion: {s:?}");
                s.attrs["hearth.destination"].as_str()
            })
            .collect();
        assert_eq!(destinations, BTreeSet::from(["audit", "fhir"]), "one publish per destination");
    }

    // Nothing identifying left the engine: no seeded PHI, no control id, in any request.
    for (_, _, body) in received.lock().unwrap().iter() {
        let text = String::from_utf8_lossy(body);
        for m in MARKERS {
            assert!(!text.contains(m), "{m} was exported: {text}");
        }
    }
    // The scan is not vacuous: the markers did reach the journal and the destinations.
    assert!(messages[0].2["raw"].as_str().unwrap().contains("Zqotfamily"));

    assert!(engine.terminate().success());
    for q in &names.queues {
        common::delete_queue(q);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_does_not_stop_messages_and_is_logged_once_per_interval() {
    let test = "a_collector_that_is_down_does_not_stop_messages_and_is_logged_once_per_interval";
    let Some(amqp) = hearth_testkit::amqp(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A port nobody listens on.
    let down = free_port();
    let names = Names::new();
    let started = Instant::now();
    let mut engine = start(d, &amqp, &names, down);

    let controls: Vec<String> = (1..=5).map(|i| format!("OTLPDOWN{i:04}")).collect();
    let acks = mllp_send(&engine.mllp, &controls.iter().map(|c| marked(c)).collect::<Vec<_>>());
    assert!(acks.iter().all(|a| a.contains("|AA|")), "acknowledged with the collector down: {acks:?}");
    for q in &names.queues {
        assert_eq!(common::consume(&amqp, q, controls.len(), T).await.len(), controls.len(), "delivered");
    }
    // The failed exports are counted as dropped spans.
    let deadline = Instant::now() + T;
    let dropped = loop {
        let metrics = common::http_get(&engine.http, "/metrics").unwrap().1;
        let dropped: f64 = metrics
            .lines()
            .filter(|l| l.starts_with("hearth_trace_spans_dropped_total") && l.contains("reason=\"export_failed\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        // 5 messages × 6 spans, all lost.
        if dropped >= 30.0 {
            break dropped;
        }
        assert!(Instant::now() < deadline, "export failures not counted: {metrics}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(engine.terminate().success());
    let elapsed = started.elapsed();
    let log = std::fs::read_to_string(d.join("hearth.log")).unwrap();
    let lines = log.lines().filter(|l| l.contains("trace export failed")).count();
    // Logged per interval (10 s), never per span or per batch.
    let most = usize::try_from(elapsed.as_secs() / 10).unwrap() + 1;
    assert!(lines >= 1 && lines <= most, "{lines} log lines in {elapsed:?} for {dropped} dropped spans:\n{log}");
    for m in MARKERS {
        assert!(!log.contains(m), "{m} in the log");
    }
    for q in &names.queues {
        common::delete_queue(q);
    }
}
