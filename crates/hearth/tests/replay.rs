#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure with its message
//! `hearth replay` with the real binary over journals the real engine wrote (messages sent over MLLP, converted,
//! routed and published to RabbitMQ): a candidate configuration with one more route is replayed and
//! - the changed messages are exactly those a direct computation over the sent messages names;
//! - nothing is published: queues bound with `#` on every exchange of the candidate receive nothing;
//! - the SQLite journal file is byte-identical before and after; on PostgreSQL, the journal's tables are.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use hearth_testkit::unique_name;
use sha2::{Digest, Sha256};

/// Events by `i % 4` and patient class by `i % 3`: a quarter are A01, half A03, a quarter A08; a third inpatient.
fn message(i: usize) -> Vec<u8> {
    let (event, structure) = [("A01", "ADT_A01"), ("A03", "ADT_A03"), ("A08", "ADT_A01"), ("A03", "ADT_A03")][i % 4];
    let class = if i.is_multiple_of(3) { "I" } else { "E" };
    let patient = i % 500;
    format!(
        "MSH|^~\\&|TESTEHR|NORTH|HEARTH|HOSP|20260101120000||ADT^{event}^{structure}|RPL{i}|P|2.5.1\r\
         EVN|{event}|20260101120000\r\
         PID|1||MRN{patient}^^^NORTH^MR||DOE{patient}^JANE||19800214|F|||1 MAIN ST^^SPRINGFIELD^IL^62701\r\
         PV1|1|{class}|WARD1^101^A||||1234^SMITH^ANNA^^^DR|||||||||||VN{i}^^^NORTH^VN\r"
    )
    .into_bytes()
}

/// What the candidate's new route takes: inpatient discharges. Computed from the generator, not from Hearth.
fn changes(i: usize) -> bool {
    i % 4 % 2 == 1 && i.is_multiple_of(3)
}

/// The destinations (and their `#` queues, declared by the engine) and the routing of the running engine.
fn running(uri: &str, names: &Names) -> String {
    format!(
        "[routing]\ndefault_route = false\n\
         [destinations.fhir]\ntype = \"amqp\"\nendpoint = \"{uri}\"\nexchange = \"{x1}\"\n\
         [[destinations.fhir.queues]]\nname = \"{q1}\"\nbind = [\"#\"]\n\
         [destinations.followup]\ntype = \"amqp\"\nendpoint = \"{uri}\"\nexchange = \"{x2}\"\n\
         [[destinations.followup.queues]]\nname = \"{q2}\"\nbind = [\"#\"]\n\
         [routes.everything]\npayload = \"bundle\"\ndestinations = [\"fhir\"]\n",
        x1 = names.x1,
        q1 = names.q1,
        x2 = names.x2,
        q2 = names.q2,
    )
}

/// The candidate's change: inpatient discharges also go to `followup`.
const NEW_ROUTE: &str = "[routes.inpatient_discharges]\nevents = [\"ADT^A03\"]\n\
    condition = \"Bundle.entry.resource.ofType(Encounter).class.code = 'IMP'\"\n\
    payload = \"bundle\"\ndestinations = [\"followup\"]\n";

struct Names {
    x1: String,
    q1: String,
    x2: String,
    q2: String,
}

impl Names {
    fn new() -> Names {
        Names {
            x1: unique_name("hearth-replay-x1"),
            q1: unique_name("hearth-replay-q1"),
            x2: unique_name("hearth-replay-x2"),
            q2: unique_name("hearth-replay-q2"),
        }
    }
}

/// Sends `n` messages over `senders` MLLP connections; every one must be accepted.
fn send(addr: &str, n: usize, senders: usize) {
    let addr: Arc<str> = addr.into();
    let handles: Vec<_> = (0..senders)
        .map(|s| {
            let addr = Arc::clone(&addr);
            std::thread::spawn(move || {
                let mut client = hearth_testkit::mllp::Client::connect(&addr, Duration::from_secs(10)).unwrap();
                for i in (s..n).step_by(senders) {
                    let ack = String::from_utf8_lossy(&client.send(&message(i)).unwrap()).into_owned();
                    assert!(ack.contains("MSA|AA"), "message {i}: {ack}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

fn replay(candidate: &Path, from: &Path) -> (Option<i32>, serde_json::Value) {
    let out = Command::new(BIN)
        .args(["replay", "--format", "json", "--config"])
        .arg(candidate)
        .arg("--from")
        .arg(from)
        .env("HEARTH_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), json)
}

fn group(summary: &serde_json::Value, name: &str, detail: &str) -> u64 {
    summary["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["group"] == name && g["detail"] == detail)
        .map(|g| g["count"].as_u64().unwrap())
        .sum()
}

/// Checks the replay's counts against the generator's and that no example names anything but ids.
fn check_summary(summary: &serde_json::Value, n: usize) {
    let expected = (0..n).filter(|i| changes(*i)).count() as u64;
    assert!(expected > 0);
    assert_eq!(summary["replayed"], n as u64, "{summary}");
    assert_eq!(summary["changed"], expected, "{summary}");
    assert_eq!(group(summary, "routes", "+inpatient_discharges"), expected, "{summary}");
    assert_eq!(summary["unchanged"], n as u64 - expected, "{summary}");
    assert_eq!((summary["newly_failing"].as_u64(), summary["newly_unmatched"].as_u64()), (Some(0), Some(0)));
    // Examples are journal ids and control ids of messages that really change.
    for g in summary["groups"].as_array().unwrap() {
        for ex in g["examples"].as_array().unwrap() {
            let control = ex["control_id"].as_str().unwrap();
            let i: usize = control.strip_prefix("RPL").unwrap().parse().unwrap();
            assert!(changes(i), "{control} is not an inpatient discharge");
            assert_eq!(ex.as_object().unwrap().len(), 2, "ids only: {ex}");
        }
    }
}

fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

async fn nothing_published(uri: &str, names: &Names) {
    for q in [&names.q1, &names.q2] {
        let got = consume_available(uri, q, Duration::from_secs(2)).await;
        assert!(got.is_empty(), "{} messages published to {q} during the replay", got.len());
    }
}

/// The engine's run on `config` (its ports filled in): returns when every message is converted and its Bundle
/// consumed from the `#` queue of `fhir`, with the engine stopped.
async fn run_engine(config: PathBuf, db: PathBuf, uri: &str, q1: &str, n: usize) {
    let text = std::fs::read_to_string(&config).unwrap();
    let port = |key: &str| {
        text.split(&format!("{key}\nlisten = \"")).nth(1).and_then(|r| r.split('"').next()).unwrap().to_owned()
    };
    let (http, mllp) = (port("[http]"), port("type = \"mllp\""));
    let started = std::time::Instant::now();
    let mut engine = Engine::start_with(config, db, mllp.clone(), http, None);
    send(&mllp, n, 8);
    eprintln!("{n} messages acknowledged in {:?}", started.elapsed());
    // Every message's Bundle reaches the `#` queue of `fhir`: then all are converted and published.
    let got = consume(uri, q1, n, Duration::from_secs(600)).await;
    assert_eq!(got.len(), n);
    eprintln!("{n} Bundles consumed after {:?}", started.elapsed());
    assert!(engine.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_replay_of_10000_messages_on_sqlite_counts_the_changes_publishes_nothing_and_leaves_the_journal_as_it_was()
 {
    let test = "replay_on_sqlite";
    let Some(uri) = hearth_testkit::amqp(test) else { return };
    let n = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new();
    let db = dir.path().join("hearth.db");
    let base = format!(
        "shutdown_timeout_ms = 5000\n[journal]\ntype = \"sqlite\"\npath = \"{}\"\n\
         [http]\nlisten = \"127.0.0.1:{}\"\n[channels.adt]\ntype = \"mllp\"\nlisten = \"127.0.0.1:{}\"\n{}",
        db.display(),
        free_port(),
        free_port(),
        running(&uri, &names)
    );
    let config = dir.path().join("running.toml");
    std::fs::write(&config, &base).unwrap();
    run_engine(config, db.clone(), &uri, &names.q1, n).await;

    let candidate = dir.path().join("candidate.toml");
    std::fs::write(&candidate, format!("{base}{NEW_ROUTE}")).unwrap();
    let before = sha256_file(&db);
    let (code, summary) = replay(&candidate, &db);
    assert_eq!(code, Some(1), "changes found: exit 1; {summary}");
    check_summary(&summary, n);
    assert_eq!(sha256_file(&db), before, "the journal file changed");
    nothing_published(&uri, &names).await;

    // The running configuration itself replays with no change at all (exit 0): the replay reproduces the
    // engine's routes, routing keys and content ids exactly.
    let (code, same) = replay(&dir.path().join("running.toml"), &db);
    assert_eq!(
        (code, same["changed"].as_u64(), same["unchanged"].as_u64()),
        (Some(0), Some(0), Some(n as u64)),
        "{same}"
    );
    assert_eq!(sha256_file(&db), before, "the journal file changed");
    for q in [&names.q1, &names.q2] {
        delete_queue(q);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_replay_on_postgresql_reads_in_read_only_transactions_and_counts_the_same() {
    let test = "replay_on_postgresql";
    let Some(pg) = hearth_testkit::postgres(test) else { return };
    let Some(uri) = hearth_testkit::amqp(test) else { return };
    let n = 400;
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new();
    let schema = format!("replay_{}_{}", std::process::id(), free_port());
    let journal = format!("[journal]\ntype = \"postgres\"\nurl = \"{pg}\"\nschema = \"{schema}\"\n");
    let base = format!(
        "shutdown_timeout_ms = 5000\n{journal}\
         [http]\nlisten = \"127.0.0.1:{}\"\n[channels.adt]\ntype = \"mllp\"\nlisten = \"127.0.0.1:{}\"\n{}",
        free_port(),
        free_port(),
        running(&uri, &names)
    );
    let config = dir.path().join("running.toml");
    std::fs::write(&config, &base).unwrap();
    run_engine(config, PathBuf::new(), &uri, &names.q1, n).await;

    let candidate = dir.path().join("candidate.toml");
    std::fs::write(&candidate, format!("{base}{NEW_ROUTE}")).unwrap();
    let from = dir.path().join("journal.toml");
    std::fs::write(&from, &journal).unwrap();
    let before = digest(&pg, &schema).await;
    let (code, summary) = replay(&candidate, &from);
    assert_eq!(code, Some(1), "{summary}");
    check_summary(&summary, n);
    assert_eq!(digest(&pg, &schema).await, before, "the journal's tables changed");
    nothing_published(&uri, &names).await;

    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&pg).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE")).execute(&mut conn).await.unwrap();
    for q in [&names.q1, &names.q2] {
        delete_queue(q);
    }
}

/// A digest of every row of the journal's message, content and delivery tables.
async fn digest(pg: &str, schema: &str) -> String {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(pg).await.unwrap();
    let mut out = String::new();
    for table in ["messages", "message_content", "deliveries"] {
        let sql =
            format!("SELECT coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM \"{schema}\".{table} t");
        let d: String = sqlx::query_scalar(&sql).fetch_one(&mut conn).await.unwrap();
        out.push_str(&d);
    }
    out
}
