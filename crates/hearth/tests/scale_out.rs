//! Several `hearth run` nodes on one PostgreSQL journal, through the real binaries (docs/scale-out.md):
//! three nodes under load with one SIGKILLed and restarted; PostgreSQL crashed and restarted under load (a
//! private cluster, never the shared server); a file inbox led by one of two nodes, taken over when it dies.
//! Every test works in a database of its own, dropped at the end. The load tests are `serial_` (one load test at
//! a time, see .config/nextest.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Engine, free_port};
use hearth_store::{Journal, JournalConfig, MessageFilter, PostgresConfig};
use hearth_testkit::mllp::Client;
use hearth_testkit::unique_name;
use sqlx::Connection;

const T: Duration = Duration::from_secs(300);

/// A database of its own on a PostgreSQL server, dropped (with whatever is still connected) on drop.
struct Database {
    admin_url: String,
    name: String,
}

impl Database {
    async fn create(admin_url: &str) -> Database {
        let name = unique_name("hearth_scale");
        let mut conn = sqlx::PgConnection::connect(admin_url).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        Database { admin_url: admin_url.to_owned(), name }
    }

    /// The same server, this database.
    fn url(&self) -> String {
        let (base, _) = self.admin_url.rsplit_once('/').unwrap();
        format!("{base}/{}", self.name)
    }

    async fn journal(&self) -> Journal {
        let cfg = PostgresConfig { max_connections: 2, ..PostgresConfig::new(self.url()) };
        Journal::open(&JournalConfig::Postgres(cfg)).await.unwrap()
    }

    async fn drop_now(self) {
        let mut conn = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
        let drop = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        sqlx::query(&drop).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }
}

/// Starts a node on the PostgreSQL journal at `url`; `extra` is TOML added after the channel table.
fn node(dir: &Path, name: &str, url: &str, extra: &str) -> Engine {
    let (mllp_port, http_port) = (free_port(), free_port());
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "shutdown_timeout_ms = 5000\n\
             [journal]\ntype = \"postgres\"\nurl = \"{url}\"\npool_size = 3\nnode_lease_ms = 3000\n\
             statement_timeout_ms = 10000\nconnect_timeout_ms = 2000\n\
             [http]\nlisten = \"127.0.0.1:{http_port}\"\n\
             [channels.adt]\ntype = \"mllp\"\nlisten = \"127.0.0.1:{mllp_port}\"\n{extra}\n"
        ),
    )
    .unwrap();
    let (mllp, http) = (format!("127.0.0.1:{mllp_port}"), format!("127.0.0.1:{http_port}"));
    Engine::start_with(config, PathBuf::new(), mllp, http, None)
}

/// One ordered route: the whole Bundle of every message to `fhir`, in order per patient; a queue bound to it.
fn ordered_amqp(uri: &str, exchange: &str, queue: &str) -> String {
    format!(
        "[routing]\ndefault_route = false\n\
         [routes.ordered]\npayload = \"bundle\"\ndestinations = [\"fhir\"]\nordered = true\n\
         [destinations.fhir]\ntype = \"amqp\"\nendpoint = \"{uri}\"\nexchange = \"{exchange}\"\n\
         retry_initial_ms = 200\nretry_max_ms = 2000\n\
         [[destinations.fhir.queues]]\nname = \"{queue}\"\nbind = [\"#\"]\n"
    )
}

/// A synthetic ADT^A08 of patient `p`, the `seq`-th of that patient: control id `P{p}-{seq}`.
fn adt(p: usize, seq: usize) -> Vec<u8> {
    format!(
        "MSH|^~\\&|SCALE|NORTH|HEARTH|HOSP|20260101120000||ADT^A08^ADT_A01|P{p:03}-{seq:05}|P|2.5.1\r\
         EVN|A08|20260101120000\r\
         PID|1||SCALE{p:03}^^^NORTH^MR||DOE^ALEX{p}||19800214|F\r\
         PV1|1|I|WARD1^101^A\r"
    )
    .into_bytes()
}

/// `(patient, seq)` from a control id `P{p}-{seq}`.
fn parse_control(id: &str) -> (usize, usize) {
    let (p, seq) = id.trim_start_matches('P').split_once('-').unwrap();
    (p.parse().unwrap(), seq.parse().unwrap())
}

/// What the senders saw.
#[derive(Default)]
struct Sent {
    /// Control ids answered with a positive ACK.
    acked: Vec<String>,
    /// Negative ACKs and failed exchanges (a node or the database down), each retried.
    refused: usize,
}

/// Sends `per_patient` messages of each of `patients`, in turn, each after the previous one was acknowledged;
/// each attempt goes to the next node (a patient's messages spread over every node). A refused or failed
/// attempt is retried on the next node.
fn send_spread(
    nodes: &[String],
    patients: &[usize],
    per_patient: usize,
    acked: &AtomicUsize,
    first_node: usize,
) -> Sent {
    let mut conns: Vec<Option<Client>> = nodes.iter().map(|_| None).collect();
    let mut next = first_node;
    let mut sent = Sent::default();
    let deadline = Instant::now() + T;
    for seq in 0..per_patient {
        for &p in patients {
            let msg = adt(p, seq);
            loop {
                assert!(Instant::now() < deadline, "patient {p} message {seq} not acknowledged in {T:?}");
                let n = next % nodes.len();
                next += 1;
                if conns[n].is_none() {
                    conns[n] = Client::connect(&nodes[n], Duration::from_secs(15)).ok();
                }
                let Some(conn) = conns[n].as_mut() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                match conn.send(&msg) {
                    Ok(ack) if String::from_utf8_lossy(&ack).contains("|AA|") => break,
                    Ok(_) => {
                        sent.refused += 1;
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(_) => {
                        sent.refused += 1;
                        conns[n] = None;
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
            sent.acked.push(format!("P{p:03}-{seq:05}"));
            acked.fetch_add(1, Ordering::Relaxed);
        }
    }
    sent
}

/// Every message of the journal, by id.
async fn all_messages(journal: &Journal) -> BTreeMap<i64, hearth_store::MessageSummary> {
    let (mut out, mut after) = (BTreeMap::new(), None);
    loop {
        let page = journal.list(&MessageFilter::default(), after, 1000).await.unwrap();
        let Some(last) = page.last() else { return out };
        after = Some(last.id);
        out.extend(page.into_iter().map(|m| (m.id, m)));
    }
}

/// Waits until nothing is `received` and no delivery is pending; answers every message.
async fn wait_settled(journal: &Journal, want: usize) -> BTreeMap<i64, hearth_store::MessageSummary> {
    let deadline = Instant::now() + T;
    loop {
        let counts = journal.count_by_status(None).await.unwrap();
        let total: u64 = counts.values().sum();
        let received = counts.get(&hearth_core::MessageStatus::Received).copied().unwrap_or(0);
        let pending = journal.destination_stats("fhir").await.unwrap().pending;
        if total as usize >= want && received == 0 && pending == 0 {
            return all_messages(journal).await;
        }
        assert!(Instant::now() < deadline, "not settled in {T:?}: {counts:?}, {pending} pending");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Consumes `queue` until every journal id in `want` arrived; answers the journal ids in arrival order (with
/// any duplicates: delivery is at least once).
async fn consume_ids(uri: &str, queue: &str, want: &BTreeSet<i64>) -> Vec<i64> {
    let stop = tokio_util::sync::CancellationToken::new();
    let link = hearth_amqp::Link::start(hearth_amqp::LinkConfig::new(uri, "hearth scale-out consumer"), stop.clone());
    let mut consumer = link.consume(queue, 1000).await.unwrap();
    let (mut order, mut seen) = (Vec::new(), BTreeSet::new());
    let deadline = tokio::time::Instant::now() + T;
    while seen.len() < want.len() {
        match tokio::time::timeout_at(deadline, consumer.next()).await {
            Ok(Some(d)) => {
                let id: i64 = d.header("x-hearth-message-id").unwrap().parse().unwrap();
                d.ack().await.unwrap();
                assert!(want.contains(&id), "journal id {id} arrived but is not in the journal");
                seen.insert(id);
                order.push(id);
            }
            Ok(None) => panic!("the consumer ended after {} of {}", seen.len(), want.len()),
            Err(_) => panic!("only {} of {} messages arrived on {queue}", seen.len(), want.len()),
        }
    }
    consumer.close().await;
    link.close().await;
    stop.cancel();
    order
}

/// The checks every load test ends with: each acknowledged message is in the journal exactly once (and
/// nothing else is), converted, delivered to RabbitMQ, and each patient's messages arrived in the order they
/// were acknowledged.
async fn check_delivered(journal: &Journal, uri: &str, queue: &str, acked: &[String]) {
    let messages = wait_settled(journal, acked.len()).await;
    let by_control: HashMap<&str, i64> =
        messages.values().map(|m| (m.meta.control_id.as_deref().unwrap(), m.id)).collect();
    assert_eq!(by_control.len(), messages.len(), "a control id is in the journal twice");
    let acked_set: BTreeSet<&str> = acked.iter().map(String::as_str).collect();
    assert_eq!(acked_set.len(), acked.len(), "a message was acknowledged twice by the senders");
    let journaled: BTreeSet<&str> = by_control.keys().copied().collect();
    assert_eq!(journaled, acked_set, "the journal holds exactly the acknowledged messages");
    let unconverted: Vec<_> =
        messages.values().filter(|m| m.status != hearth_core::MessageStatus::Processed).map(|m| m.id).collect();
    assert!(unconverted.is_empty(), "not processed: {unconverted:?}");
    let dead = journal.destination_stats("fhir").await.unwrap().dead;
    assert_eq!(dead, 0, "dead deliveries");

    let ids: BTreeSet<i64> = messages.keys().copied().collect();
    let arrived = consume_ids(uri, queue, &ids).await;
    let mut first = BTreeSet::new();
    let mut per_patient: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for id in &arrived {
        if first.insert(*id) {
            let (p, seq) = parse_control(messages[id].meta.control_id.as_deref().unwrap());
            per_patient.entry(p).or_default().push(seq);
        }
    }
    // The senders acknowledged each patient's messages in seq order.
    for (p, seqs) in &per_patient {
        let expected: Vec<usize> = (0..seqs.len()).collect();
        assert!(seqs == &expected, "patient {p}: arrival order broken: {:?}", first_disorder(seqs));
    }
    eprintln!(
        "{} messages, {} deliveries received ({} redelivered)",
        ids.len(),
        arrived.len(),
        arrived.len() - ids.len()
    );
}

fn first_disorder(seqs: &[usize]) -> Option<(usize, usize, usize)> {
    seqs.windows(2).enumerate().find(|(_, w)| w[1] != w[0] + 1).map(|(i, w)| (i, w[0], w[1]))
}

/// Runs `senders` threads over `patients` patients (`per_patient` messages each) against `nodes`.
fn start_senders(
    nodes: &[String],
    senders: usize,
    patients: usize,
    per_patient: usize,
    acked: &Arc<AtomicUsize>,
) -> Vec<std::thread::JoinHandle<Sent>> {
    (0..senders)
        .map(|s| {
            let nodes = nodes.to_vec();
            let acked = Arc::clone(acked);
            let mine: Vec<usize> = (s..patients).step_by(senders).collect();
            std::thread::spawn(move || send_spread(&nodes, &mine, per_patient, &acked, s))
        })
        .collect()
}

fn wait_acked(acked: &AtomicUsize, n: usize) {
    let deadline = Instant::now() + T;
    while acked.load(Ordering::Relaxed) < n {
        assert!(Instant::now() < deadline, "only {} acknowledged", acked.load(Ordering::Relaxed));
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn join_senders(handles: Vec<std::thread::JoinHandle<Sent>>) -> Sent {
    let mut all = Sent::default();
    for h in handles {
        let s = h.join().unwrap();
        all.acked.extend(s.acked);
        all.refused += s.refused;
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_three_nodes_one_killed_and_restarted_lose_nothing_and_keep_patient_order() {
    let test = "three_nodes_one_killed";
    let Some(pg) = hearth_testkit::postgres(test) else { return };
    let Some(uri) = hearth_testkit::amqp(test) else { return };
    let db = Database::create(&pg).await;
    let dir = tempfile::tempdir().unwrap();
    let (exchange, queue) = (unique_name("hearth-scale-x"), unique_name("hearth-scale-q"));
    let extra = ordered_amqp(&uri, &exchange, &queue);
    let mut nodes: Vec<Engine> = (0..3).map(|i| node(dir.path(), &format!("n{i}"), &db.url(), &extra)).collect();
    let addrs: Vec<String> = nodes.iter().map(|n| n.mllp.clone()).collect();

    let (senders, patients, per_patient) = (8, 40, 500);
    let total = patients * per_patient;
    let acked = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let handles = start_senders(&addrs, senders, patients, per_patient, &acked);
    wait_acked(&acked, total / 3);
    nodes[1].kill9();
    eprintln!("node 1 killed after {} acknowledged ({:?})", acked.load(Ordering::Relaxed), started.elapsed());
    wait_acked(&acked, total * 2 / 3);
    nodes[1].restart();
    eprintln!("node 1 restarted after {} acknowledged ({:?})", acked.load(Ordering::Relaxed), started.elapsed());
    let sent = join_senders(handles);
    eprintln!(
        "{} acknowledged, {} attempts refused or failed, in {:?}",
        sent.acked.len(),
        sent.refused,
        started.elapsed()
    );
    assert_eq!(sent.acked.len(), total);

    let journal = db.journal().await;
    check_delivered(&journal, &uri, &queue, &sent.acked).await;
    // The killed node's registration lapsed; the three running nodes are alive.
    let alive = journal.nodes().await.unwrap().into_iter().filter(|n| n.alive).count();
    assert_eq!(alive, 3, "three live nodes after the restart");
    journal.close().await;
    for n in &mut nodes {
        assert!(n.terminate().success());
    }
    eprintln!("done in {:?}", started.elapsed());
    common::delete_queue(&queue);
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_postgresql_restarted_under_load_nacks_while_down_and_the_nodes_resume() {
    let test = "postgresql_restarted_under_load";
    let Some(uri) = hearth_testkit::amqp(test) else { return };
    let Some(cluster) = hearth_testkit::PgCluster::create(test) else { return };
    let db = Database::create(&cluster.url()).await;
    let dir = tempfile::tempdir().unwrap();
    let (exchange, queue) = (unique_name("hearth-pgr-x"), unique_name("hearth-pgr-q"));
    let extra = ordered_amqp(&uri, &exchange, &queue);
    let mut nodes: Vec<Engine> = (0..2).map(|i| node(dir.path(), &format!("n{i}"), &db.url(), &extra)).collect();
    let addrs: Vec<String> = nodes.iter().map(|n| n.mllp.clone()).collect();

    let (senders, patients, per_patient) = (4, 8, 250);
    let total = patients * per_patient;
    let acked = Arc::new(AtomicUsize::new(0));
    let handles = start_senders(&addrs, senders, patients, per_patient, &acked);
    wait_acked(&acked, total / 4);
    cluster.crash().unwrap();
    let down_at = acked.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(4));
    let while_down = acked.load(Ordering::Relaxed) - down_at;
    // A few exchanges answered at the moment of the crash may still count; nothing is acknowledged for long.
    assert!(while_down <= senders, "{while_down} messages acknowledged while PostgreSQL was down");
    let ready_while_down = common::http_get(&nodes[0].http, "/readyz").map(|(code, _)| code);
    cluster.start().unwrap();
    let sent = join_senders(handles);
    eprintln!("{} acknowledged, {} attempts refused or failed", sent.acked.len(), sent.refused);
    assert_eq!(sent.acked.len(), total);
    assert!(sent.refused > 0, "no attempt was refused while PostgreSQL was down");
    assert_eq!(ready_while_down, Some(503), "/readyz while PostgreSQL was down");

    let journal = db.journal().await;
    check_delivered(&journal, &uri, &queue, &sent.acked).await;
    for n in &nodes {
        assert_eq!(common::http_get(&n.http, "/readyz").map(|(code, _)| code), Some(200), "node resumed");
    }
    let alive = journal.nodes().await.unwrap().into_iter().filter(|n| n.alive).count();
    assert_eq!(alive, 2);
    journal.close().await;
    for n in &mut nodes {
        assert!(n.terminate().success());
    }
    common::delete_queue(&queue);
    db.drop_now().await;
}

const CSV_HEADER: &str = "charge_id,mrn,visit_number,account_number,service_date,cpt_hcpcs,modifier_1,modifier_2,\
                          revenue_code,units,unit_price,amount,performing_npi,payer\n";

/// A synthetic charges file of `rows` rows, ids prefixed by `tag`.
fn charges(tag: &str, rows: usize) -> Vec<u8> {
    let mut s = String::from(CSV_HEADER);
    for i in 0..rows {
        s.push_str(&format!(
            "{tag}-{i},MRN{:06},V{i},A{i},2025-03-{:02},99213,25,,0510,1,125.00,125.00,1234567893,PAYER01\n",
            i % 50,
            i % 28 + 1
        ));
    }
    s.into_bytes()
}

fn drop_file(inbox: &Path, name: &str, bytes: &[u8]) {
    let tmp = inbox.join(format!(".{name}.partial"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, inbox.join(name)).unwrap();
}

/// The names in `dir` (files only), sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn wait_done(done: &Path, files: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !files.iter().all(|f| done.join(f).exists() && done.join(format!("{f}.report.json")).exists()) {
        assert!(Instant::now() < deadline, "not all of {files:?} processed: {:?}", listing(done));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Which node leads `name` now, by its pid (the node id is `host-pid-start`).
async fn leader_pid(journal: &Journal, name: &str) -> Option<i32> {
    let nodes = journal.nodes().await.unwrap();
    let leader = nodes.iter().find(|n| n.alive && n.leads.iter().any(|l| l == name))?;
    leader.id.rsplit('-').nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_inbox_runs_on_one_of_two_nodes_and_moves_when_its_leader_dies() {
    let test = "file_inbox_two_nodes";
    let Some(pg) = hearth_testkit::postgres(test) else { return };
    let Some(uri) = hearth_testkit::amqp(test) else { return };
    let db = Database::create(&pg).await;
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    let (exchange, queue) = (unique_name("hearth-inbox-x"), unique_name("hearth-inbox-q"));
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "scale-viewer-token").unwrap();
    let extra = format!(
        "[channels.billing]\ntype = \"file\"\ninbox = \"{}\"\nprofile = \"charges\"\npoll_ms = 50\nsettle_ms = 200\n\
         [destinations.fhir]\ntype = \"amqp\"\nendpoint = \"{uri}\"\nexchange = \"{exchange}\"\n\
         [[destinations.fhir.queues]]\nname = \"{queue}\"\nbind = [\"billing.#\"]\n\
         [admin]\ntokens = [{{ name = \"wall\", role = \"viewer\", token_file = \"{}\" }}]\n",
        inbox.display(),
        token_file.display()
    );
    let mut nodes: Vec<Engine> = (0..2).map(|i| node(dir.path(), &format!("n{i}"), &db.url(), &extra)).collect();
    let journal = db.journal().await;

    // One leader, seen by both nodes' API.
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        if let Some(pid) = leader_pid(&journal, "inbox.billing").await {
            break pid;
        }
        assert!(Instant::now() < deadline, "no node leads the inbox");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let auth = [("authorization", "Bearer scale-viewer-token")];
    for n in &nodes {
        let r = hearth_testkit::http::request("GET", &n.http, "/api/v1/nodes", &auth, Vec::new()).unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        let body = r.json();
        let list = body["nodes"].as_array().unwrap();
        assert_eq!(list.iter().filter(|x| x["alive"] == true).count(), 2, "{body}");
        assert_eq!(list.iter().filter(|x| x["self"] == true).count(), 1, "{body}");
        let leaders: Vec<&serde_json::Value> =
            list.iter().filter(|x| x["leads"].as_array().unwrap().iter().any(|l| l == "inbox.billing")).collect();
        assert_eq!(leaders.len(), 1, "{body}");
        let (_, ready) = common::http_get(&n.http, "/readyz").unwrap();
        assert!(ready.contains(&format!("node {}", body["node"].as_str().unwrap())), "{ready}");
    }

    let batch1: Vec<String> = (0..6).map(|i| format!("a{i}.csv")).collect();
    for (i, f) in batch1.iter().enumerate() {
        drop_file(&inbox, f, &charges(&format!("A{i}"), 30));
    }
    wait_done(&inbox.join("done"), &batch1);

    // Kill the leader: the other node takes the inbox over.
    let leader = nodes.iter().position(|n| n.pid() == first).expect("the leader is one of ours");
    nodes[leader].kill9();
    let other = 1 - leader;
    let batch2: Vec<String> = (0..6).map(|i| format!("b{i}.csv")).collect();
    for (i, f) in batch2.iter().enumerate() {
        drop_file(&inbox, f, &charges(&format!("B{i}"), 30));
    }
    wait_done(&inbox.join("done"), &batch2);
    // The nodes view says so once the dead node's lease has run out (its row keeps its last `leads` until then).
    let deadline = Instant::now() + Duration::from_secs(30);
    while leader_pid(&journal, "inbox.billing").await != Some(nodes[other].pid()) {
        assert!(Instant::now() < deadline, "the nodes view does not show the other node leading the inbox");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Each file once: no second copy in done/ (a file taken twice would get a numbered name), nothing in
    // error/, and no chunk journaled twice.
    let mut want: Vec<String> =
        batch1.iter().chain(&batch2).flat_map(|f| [f.clone(), format!("{f}.report.json")]).collect();
    want.sort();
    assert_eq!(listing(&inbox.join("done")), want);
    assert!(listing(&inbox.join("error")).is_empty());
    let messages = all_messages(&journal).await;
    let billing: Vec<_> = messages.values().filter(|m| m.channel == "billing").collect();
    let mut chunks = 0;
    for f in batch1.iter().chain(&batch2) {
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(inbox.join("done").join(format!("{f}.report.json"))).unwrap())
                .unwrap();
        assert_eq!(report["rows_converted"], 30, "{f}: {report}");
        assert_eq!(report["chunks_duplicate"], 0, "{f} was read twice: {report}");
        chunks += report["chunks"].as_u64().unwrap();
    }
    assert_eq!(billing.len() as u64, chunks, "every chunk journaled once");
    assert!(billing.iter().all(|m| m.duplicates == 0), "a chunk was journaled twice");

    journal.close().await;
    assert!(nodes[other].terminate().success());
    common::delete_queue(&queue);
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hearth_migrate_and_check_on_postgres_and_a_newer_schema_is_refused() {
    let test = "hearth_migrate_on_postgres";
    let Some(pg) = hearth_testkit::postgres(test) else { return };
    let db = Database::create(&pg).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hearth.toml");
    std::fs::write(
        &config,
        format!(
            "[journal]\ntype = \"postgres\"\nurl = \"{}\"\npassword_env = \"HEARTH_SCALE_TEST_PG_PASSWORD\"\n\
             [http]\nlisten = \"127.0.0.1:{}\"\n[channels.adt]\ntype = \"mllp\"\nlisten = \"127.0.0.1:{}\"\n",
            db.url(),
            free_port(),
            free_port()
        ),
    )
    .unwrap();
    let hearth = |args: &[&str]| {
        let out = std::process::Command::new(common::BIN)
            .args(args)
            .arg("--config")
            .arg(&config)
            .env("HEARTH_SCALE_TEST_PG_PASSWORD", "unused-with-trust")
            .env("HEARTH_LOG", "warn")
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };

    let (code, out, _) = hearth(&["check"]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with(&format!("journal  postgres {}", db.url())), "{out}");
    assert!(out.contains("password from $HEARTH_SCALE_TEST_PG_PASSWORD"), "{out}");

    let (code, out, err) = hearth(&["migrate"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("journal schema migrated from none (new journal) to version "), "{out}");
    let version: i64 = out.trim().rsplit(' ').next().unwrap().parse().unwrap();
    let (code, out, _) = hearth(&["migrate"]);
    assert_eq!((code, out), (Some(0), format!("journal schema is current (version {version})\n")));

    // A newer Hearth migrated the journal further: this one neither migrates nor runs against it.
    let mut conn = sqlx::PgConnection::connect(&db.url()).await.unwrap();
    let insert = format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ({}, 'from the future', TRUE, decode('00', 'hex'), 0)",
        version + 1000
    );
    sqlx::query(&insert).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    for command in ["migrate", "run"] {
        let (code, _, err) = hearth(&[command]);
        assert_eq!(code, Some(1), "{command}: {err}");
        assert!(err.contains(&format!("version {}, newer than this Hearth knows", version + 1000)), "{command}: {err}");
    }
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_fails_over_to_the_next_broker_endpoint() {
    let Some(uri) = hearth_testkit::amqp("amqp_endpoint_failover") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (exchange, queue) = (unique_name("hearth-failover-x"), unique_name("hearth-failover-q"));
    // The first endpoint is a port nothing listens on (a cluster node that is down); the broker is second.
    let dead = format!("amqp://guest:guest@127.0.0.1:{}/%2f", free_port());
    let extra = format!(
        "[destinations.fhir]\ntype = \"amqp\"\nendpoints = [\"{dead}\", \"{uri}\"]\nexchange = \"{exchange}\"\n\
         required = true\n[[destinations.fhir.queues]]\nname = \"{queue}\"\nbind = [\"#\"]\n"
    );
    // `required`: the node is ready only once the destination is connected, i.e. once it failed over.
    let mut engine = Engine::start(dir.path(), "", &extra);
    let msgs: Vec<Vec<u8>> = (0..5).map(|i| common::adt(&format!("FAILOVER-{i}"))).collect();
    assert!(common::mllp_send(&engine.mllp, &msgs).iter().all(|a| a.contains("|AA|")));
    let journal = engine.journal().await;
    let sent = common::wait_outbox_drained(&journal, "fhir", 5, T).await;
    let got = common::consume(&uri, &queue, sent.len(), T).await;
    assert_eq!(got.len(), sent.len());
    journal.close().await;
    assert!(engine.terminate().success());
    common::delete_queue(&queue);
}
