//! Configuration reload without a restart (docs/config-testing.md), through the real binary: eight senders keep
//! sending over persistent MLLP connections while the route changes once a second for 30 s (SIGHUP, and now
//! and then `POST /api/v1/reload`); every acknowledged message is delivered exactly once, under the route in
//! force when it was converted (its report records the configuration version, the delivery's routing key names
//! the route), no connection drops, and a broken file is refused while the routes in force keep working.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{BIN, Engine, free_port};
use hearth_testkit::http;

const TOKEN: &str = "e2e-reload-admin-token-0123456789";
const LOAD: Duration = Duration::from_secs(30);

/// The configuration whose one route sends each message's Bundle with routing key `r{route}.{channel}`.
fn config(d: &Path, amqp: &str, exchange: &str, queue: &str, ports: (u16, u16), route: u32) -> String {
    format!(
        "shutdown_timeout_ms = 10000\n\
         [journal]\ntype = \"sqlite\"\npath = \"{db}\"\n\
         [http]\nlisten = \"127.0.0.1:{http}\"\n\
         [admin]\ntokens = [{{ name = \"e2e-admin\", role = \"admin\", token_file = \"{token}\" }}]\n\
         [channels.adt]\ntype = \"mllp\"\nlisten = \"127.0.0.1:{mllp}\"\n\
         [destinations.fhir]\ntype = \"amqp\"\nendpoint = \"{amqp}\"\nexchange = \"{exchange}\"\n\
         [[destinations.fhir.queues]]\nname = \"{queue}\"\nbind = [\"#\"]\n\
         [routing]\ndefault_route = false\n\
         [routes.all]\npayload = \"bundle\"\ndestinations = [\"fhir\"]\nrouting_key = \"r{route}.{{channel}}\"\n",
        db = d.join("hearth.db").display(),
        http = ports.1,
        mllp = ports.0,
        token = d.join("token").display(),
    )
}

/// Writes the file whole (a rename), as configuration management tools do.
fn install(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// An admin API call with the admin token (or `token`).
fn call(addr: &str, method: &str, path: &str, token: Option<&str>) -> http::Response {
    let auth = format!("Bearer {}", token.unwrap_or(TOKEN));
    http::request(method, addr, path, &[("authorization", &auth)], Vec::new()).unwrap()
}

fn config_version(addr: &str) -> u64 {
    let r = call(addr, "GET", "/api/v1/config", None);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["version"].as_u64().unwrap()
}

fn wait_version(addr: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while config_version(addr) < want {
        assert!(Instant::now() < deadline, "configuration version {want} not reached");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(config_version(addr), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_routes_change_every_second_under_load_without_losing_or_dropping_anything() {
    let test = "serial_routes_change_every_second_under_load_without_losing_or_dropping_anything";
    let Some(amqp) = hearth_testkit::amqp(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("token"), TOKEN).unwrap();
    let (exchange, queue) =
        (hearth_testkit::unique_name("hearth-reload-x"), hearth_testkit::unique_name("hearth-reload-q"));
    let ports = (free_port(), free_port());
    let path = d.join("hearth.toml");
    install(&path, &config(d, &amqp, &exchange, &queue, ports, 1));
    let child = std::process::Command::new(BIN)
        .args(["run", "--config"])
        .arg(&path)
        .env("HEARTH_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let mut engine = Engine {
        child: Some(child),
        mllp: format!("127.0.0.1:{}", ports.0),
        http: format!("127.0.0.1:{}", ports.1),
        db: d.join("hearth.db"),
        config: path.clone(),
        env: Vec::new(),
    };
    engine.wait_ready();
    let api = engine.http.clone();
    assert_eq!(config_version(&api), 1);

    // Eight senders, each on one connection for the whole run; a dropped connection fails the test.
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..8)
        .map(|s| {
            let (addr, stop) = (engine.mllp.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut conn = hearth_testkit::mllp::Client::connect(&addr, Duration::from_secs(5)).unwrap();
                let mut acked = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    let id = format!("RLD-{s}-{n}");
                    let ack =
                        conn.send(&common::adt(&id)).unwrap_or_else(|e| panic!("sender {s} lost its connection: {e}"));
                    assert_eq!(hearth_sources::mllp::AckSummary::parse(&ack).code, "AA", "{id}");
                    acked.push(id);
                    n += 1;
                }
                acked
            })
        })
        .collect();

    // A new route every second: SIGHUP mostly, the API every fifth time; one broken file half-way.
    let started = Instant::now();
    let mut route = 1;
    let mut refused_once = false;
    while started.elapsed() < LOAD {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if !refused_once && started.elapsed() > LOAD / 2 {
            refused_once = true;
            install(&path, "[journal]\ntype = \"sqlite\"\npath = 42\n");
            let r = call(&api, "POST", "/api/v1/reload", None);
            assert_eq!(r.status, 409, "{}", r.body);
            assert_eq!(r.json()["error"]["code"], "reload_refused", "{}", r.body);
            // A change that needs a restart is refused too, naming it.
            let moved = config(d, &amqp, &exchange, &queue, (ports.0 + 1, ports.1), route + 1);
            install(&path, &moved);
            let r = call(&api, "POST", "/api/v1/reload", None);
            assert_eq!(r.status, 409, "{}", r.body);
            assert!(r.body.contains("channels.adt"), "{}", r.body);
            assert_eq!(config_version(&api), route as u64, "a refused reload changed the version");
            continue;
        }
        route += 1;
        install(&path, &config(d, &amqp, &exchange, &queue, ports, route));
        if route % 5 == 0 {
            let r = call(&api, "POST", "/api/v1/reload", None);
            assert_eq!(r.status, 200, "{}", r.body);
        } else {
            assert!(
                std::process::Command::new("kill")
                    .args(["-HUP", &engine.pid().to_string()])
                    .status()
                    .unwrap()
                    .success()
            );
        }
        wait_version(&api, route as u64);
    }
    stop.store(true, Ordering::SeqCst);
    let acked: Vec<String> = senders.into_iter().flat_map(|s| s.join().unwrap()).collect();
    assert!(route >= 10, "only {route} reloads in {LOAD:?}");
    assert!(acked.len() > 100, "only {} messages acknowledged", acked.len());

    // Every acknowledged message: journaled once, converted, one delivery sent under the route of its version.
    let journal = engine.journal().await;
    let deliveries = common::wait_outbox_drained(&journal, "fhir", acked.len(), Duration::from_secs(240)).await;
    let mut by_message: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for dl in &deliveries {
        assert_eq!(dl.status, hearth_store::DeliveryStatus::Sent, "{dl:?}");
        by_message.entry(dl.message_id).or_default().push(dl.routing_key.clone());
    }
    let mut seen = BTreeSet::new();
    let mut versions = BTreeSet::new();
    for (id, keys) in &by_message {
        let m = journal.get(*id).await.unwrap().unwrap();
        let control_id = m.summary.meta.control_id.clone().unwrap();
        assert!(seen.insert(control_id.clone()), "{control_id} journaled twice");
        let report: serde_json::Value = serde_json::from_str(m.report.as_deref().unwrap()).unwrap();
        let version = report["routing"]["config_version"].as_u64().unwrap();
        versions.insert(version);
        assert_eq!(
            keys,
            &[format!("r{version}.adt")],
            "{control_id}: delivered under another route than its version's"
        );
    }
    let acked_set: BTreeSet<String> = acked.iter().cloned().collect();
    assert_eq!(acked_set.len(), acked.len());
    assert_eq!(seen, acked_set, "every acknowledged message, and only those, delivered once");
    assert!(versions.len() >= 5, "messages routed under only {versions:?}");

    // The broker has each delivery exactly once.
    let consumed = common::consume(&amqp, &queue, deliveries.len(), Duration::from_secs(60)).await;
    let mut broker_keys: Vec<String> = consumed.iter().map(|c| c.routing_key.clone()).collect();
    let mut journal_keys: Vec<String> = deliveries.iter().map(|d| d.routing_key.clone()).collect();
    broker_keys.sort();
    journal_keys.sort();
    assert_eq!(broker_keys, journal_keys);
    assert!(common::consume_available(&amqp, &queue, Duration::from_secs(1)).await.is_empty(), "more than once");

    // Every reload attempt is audited with the file's digest.
    let audit = journal.audit_events(None, None, 1000).await.unwrap();
    let reloads: Vec<_> = audit.iter().filter(|a| a.action == "reload").collect();
    // route - 1 applied, 2 refused.
    assert!(reloads.len() > route as usize, "{} reload audit events for {route} routes", reloads.len());
    journal.close().await;
    assert!(engine.terminate().success());
    common::delete_queue(&queue);
}

#[test]
fn tokens_change_live_and_a_bad_file_leaves_the_engine_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("token"), TOKEN).unwrap();
    std::fs::write(d.join("viewer"), "e2e-reload-viewer-token-987654").unwrap();
    let admin = format!("{{ name = \"e2e-admin\", role = \"admin\", token_file = \"{}\" }}", d.join("token").display());
    let viewer = format!("{{ name = \"late\", role = \"viewer\", token_file = \"{}\" }}", d.join("viewer").display());
    // Engine::start writes `extra_journal` right after [journal]: a top-level [admin] table is fine there.
    let mut engine = Engine::start(d, &format!("[admin]\ntokens = [{admin}]\n"), "");
    let first = call(&engine.http, "GET", "/api/v1/config", None);
    assert_eq!(first.status, 200, "{}", first.body);
    let first = first.json();
    assert_eq!(first["version"], 1);
    assert_eq!(first["reloadable"], true);
    assert_eq!(first["loaded_by"], "start");
    assert_eq!(first["digest"].as_str().map(str::len), Some(64), "{first}");

    // A second token, live: refused before the reload, accepted after it, without a restart.
    let text = std::fs::read_to_string(&engine.config).unwrap();
    install(&engine.config, &text.replace(&format!("tokens = [{admin}]"), &format!("tokens = [{admin}, {viewer}]")));
    let late = Some("e2e-reload-viewer-token-987654");
    assert_eq!(call(&engine.http, "GET", "/api/v1/channels", late).status, 401);
    let r = call(&engine.http, "POST", "/api/v1/reload", None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["version"], 2);
    assert_eq!(r.json()["loaded_by"], "e2e-admin");
    assert_ne!(r.json()["digest"], first["digest"]);
    assert_eq!(call(&engine.http, "GET", "/api/v1/channels", late).status, 200);
    // Reload is for admins only.
    assert_eq!(call(&engine.http, "POST", "/api/v1/reload", late).status, 403);

    // A file that does not parse: refused with the reason, version and tokens as they were, messages still
    // acknowledged.
    install(&engine.config, "this is not toml = = =");
    let r = call(&engine.http, "POST", "/api/v1/reload", None);
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "reload_refused");
    assert_eq!(call(&engine.http, "GET", "/api/v1/config", None).json()["version"], 2);
    assert_eq!(call(&engine.http, "GET", "/api/v1/channels", late).status, 200);
    let acks = common::mllp_send(&engine.mllp, &[common::adt("AFTER-BAD-RELOAD")]);
    assert_eq!(hearth_sources::mllp::AckSummary::parse(acks[0].as_bytes()).code, "AA");
    assert!(engine.terminate().success());
}

/// The active alerts of `kind` on `subject`, as the API lists them.
fn active_alerts(addr: &str, kind: &str, subject: &str) -> usize {
    let r = call(addr, "GET", "/api/v1/alerts", None);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["active"].as_array().unwrap().iter().filter(|a| a["kind"] == kind && a["subject"] == subject).count()
}

fn wait_alerts(addr: &str, kind: &str, subject: &str, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while active_alerts(addr, kind, subject) != want {
        assert!(Instant::now() < deadline, "{kind} alerts on {subject} never became {want}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn alert_thresholds_change_live_and_a_removed_threshold_clears_its_alert() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("token"), TOKEN).unwrap();
    let admin = format!("{{ name = \"e2e-admin\", role = \"admin\", token_file = \"{}\" }}", d.join("token").display());
    let engine = Engine::start(d, &format!("[admin]\ntokens = [{admin}]\n"), "");
    let base = std::fs::read_to_string(&engine.config).unwrap();
    // No threshold: the channel, silent since start, raises nothing.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(active_alerts(&engine.http, "idle", "adt"), 0);

    // An idle threshold, live: the next rounds raise it (nothing has been received since start).
    install(&engine.config, &format!("{base}[alerts.channels.adt]\nidle_ms = 200\n"));
    let r = call(&engine.http, "POST", "/api/v1/reload", None);
    assert_eq!(r.status, 200, "{}", r.body);
    wait_alerts(&engine.http, "idle", "adt", 1);

    // The interval is bound to the running evaluator: refused, naming it; the threshold stays in force.
    install(&engine.config, &format!("{base}[alerts]\ninterval_ms = 500\n[alerts.channels.adt]\nidle_ms = 200\n"));
    let r = call(&engine.http, "POST", "/api/v1/reload", None);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("alerts (interval_ms"), "{}", r.body);
    assert_eq!(active_alerts(&engine.http, "idle", "adt"), 1);

    // The threshold removed: its alert clears (nothing else would check it again).
    install(&engine.config, &base);
    let r = call(&engine.http, "POST", "/api/v1/reload", None);
    assert_eq!(r.status, 200, "{}", r.body);
    wait_alerts(&engine.http, "idle", "adt", 0);
    let recent = call(&engine.http, "GET", "/api/v1/alerts", None).json();
    let cleared =
        recent["recent"].as_array().unwrap().iter().filter(|a| a["kind"] == "idle" && a["state"] == "cleared");
    assert_eq!(cleared.count(), 1, "{recent}");
}
