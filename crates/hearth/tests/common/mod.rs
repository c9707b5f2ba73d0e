#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Shared helpers for the end-to-end tests: they start the real `hearth` binary on free ports with a journal in
//! a temp dir, talk to it over real sockets, and inspect the journal it wrote.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use hearth_store::{Journal, JournalConfig, SqliteConfig};

pub const BIN: &str = env!("CARGO_BIN_EXE_hearth");

pub use hearth_testkit::free_port;

/// The shared corpus (`HEARTH_CORPUS`); absent: a failure under `CI=true`, else a NOT RUN line and `None`.
pub fn corpus(test: &str) -> Option<PathBuf> {
    hearth_testkit::corpus(test)
}

/// Every sample of Microsoft's HL7 v2 set, sorted.
pub fn corpus_samples(corpus: &Path) -> Vec<PathBuf> {
    let dir = corpus.join("hl7v2/ms-fhir-converter/samples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "hl7"))
        .collect();
    files.sort();
    files
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/hl7v2")
}

/// A running `hearth run`.
pub struct Engine {
    pub child: Option<Child>,
    pub mllp: String,
    pub http: String,
    pub db: PathBuf,
    pub config: PathBuf,
    /// Environment variables the process is started (and restarted) with, beside the test's own.
    pub env: Vec<(String, String)>,
}

impl Engine {
    /// Start with a config whose `[journal]` path is `dir/hearth.db`; `extra_channel` and `extra_journal` are TOML
    /// lines added to the channel and journal tables.
    pub fn start(dir: &Path, extra_journal: &str, extra_channel: &str) -> Engine {
        Self::start_env(dir, extra_journal, extra_channel, &[])
    }

    /// As [`Engine::start`], with these environment variables set for the process (e.g. `TZ`).
    pub fn start_env(dir: &Path, extra_journal: &str, extra_channel: &str, env: &[(&str, &str)]) -> Engine {
        let (mllp_port, http_port) = (free_port(), free_port());
        let db = dir.join("hearth.db");
        let config = dir.join("hearth.toml");
        std::fs::write(
            &config,
            format!(
                "shutdown_timeout_ms = 5000\n[journal]\ntype = \"sqlite\"\npath = \"{}\"\n{extra_journal}\n\
                 [http]\nlisten = \"127.0.0.1:{http_port}\"\n\
                 [channels.adt]\ntype = \"mllp\"\nlisten = \"127.0.0.1:{mllp_port}\"\n{extra_channel}\n",
                db.display()
            ),
        )
        .unwrap();
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let (mllp, http) = (format!("127.0.0.1:{mllp_port}"), format!("127.0.0.1:{http_port}"));
        let child = spawn(Some(&config), None, &env);
        let mut e = Engine { child: Some(child), mllp, http, db, config, env };
        e.wait_ready();
        e
    }

    pub fn start_with(config: PathBuf, db: PathBuf, mllp: String, http: String, cwd: Option<&Path>) -> Engine {
        // With a working directory, run with no --config at all: the built-in default.
        let child = spawn(cwd.is_none().then_some(config.as_path()), cwd, &[]);
        let mut e = Engine { child: Some(child), mllp, http, db, config, env: Vec::new() };
        e.wait_ready();
        e
    }

    /// Restart on the same configuration and journal.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop it first");
        self.child = Some(spawn(Some(&self.config), None, &self.env));
        self.wait_ready();
    }

    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                panic!("hearth exited during start-up: {st}");
            }
            if http_get(&self.http, "/readyz").is_some_and(|(code, _)| code == 200) {
                return;
            }
            assert!(Instant::now() < deadline, "hearth did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).expect("running")
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM and wait for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("running");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                c.kill().unwrap();
                panic!("hearth did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Open the journal this engine wrote (call after stopping it).
    pub async fn journal(&self) -> Journal {
        Journal::open(&JournalConfig::Sqlite(SqliteConfig::new(self.db.clone()))).await.unwrap()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn(config: Option<&Path>, cwd: Option<&Path>, env: &[(String, String)]) -> Child {
    let mut cmd = Command::new(BIN);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd.arg("run");
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    cmd.env("HEARTH_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start hearth")
}

/// GET: (status, body). None when nothing listens.
pub fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    hearth_testkit::http::get(addr, path).map(|r| (r.status, r.body))
}

/// A synthetic ADT^A01 with the given control id (and optional MSH-15/16).
pub fn adt(control_id: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|TESTEHR|NORTH|HEARTH|HOSP|20260101120000||ADT^A01^ADT_A01|{control_id}|P|2.5.1\r\
         EVN|A01|20260101120000\r\
         PID|1||MRN{control_id}^^^NORTH^MR||DOE^JANE^Q||19800214|F|||1 MAIN ST^^SPRINGFIELD^IL^62701||^PRN^PH^^^217^5550100\r\
         PV1|1|I|WARD1^101^A||||1234^SMITH^ANNA^^^DR\r"
    )
    .into_bytes()
}

/// Sends each message over one MLLP connection and returns the ACK texts (blocking, for tests).
pub fn mllp_send(addr: &str, messages: &[Vec<u8>]) -> Vec<String> {
    hearth_testkit::mllp::send_all(addr, messages).into_iter().map(|a| a.trim_end_matches('\r').to_owned()).collect()
}

/// Polls the journal of a running engine (opened beside it: SQLite WAL lets a second process read; this handle
/// never writes) until `done` holds for the newest message with this MSH-10, or panics after `timeout`.
pub async fn wait_for_message(
    journal: &Journal,
    control_id: &str,
    timeout: Duration,
    done: impl Fn(&hearth_store::StoredMessage) -> bool,
) -> hearth_store::StoredMessage {
    let deadline = Instant::now() + timeout;
    let filter = hearth_store::MessageFilter { control_id: Some(control_id.to_owned()), ..Default::default() };
    loop {
        let page = journal.list(&filter, None, 100).await.unwrap();
        if let Some(last) = page.last()
            && let Some(m) = journal.get(last.id).await.unwrap()
            && done(&m)
        {
            return m;
        }
        assert!(Instant::now() < deadline, "message {control_id} did not reach the expected state in {timeout:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Waits until the outbox of `destination` holds deliveries of at least `messages` messages and none pending;
/// returns them all.
pub async fn wait_outbox_drained(
    journal: &Journal,
    destination: &str,
    messages: usize,
    timeout: Duration,
) -> Vec<hearth_store::DeliveryRecord> {
    let deadline = Instant::now() + timeout;
    let filter = hearth_store::DeliveryFilter { destination: Some(destination.to_owned()), ..Default::default() };
    loop {
        let all = all_deliveries(journal, &filter).await;
        let distinct: std::collections::BTreeSet<i64> = all.iter().map(|d| d.message_id).collect();
        let pending = all.iter().filter(|d| d.status == hearth_store::DeliveryStatus::Pending).count();
        let unprocessed = journal.count_by_status(None).await.unwrap()[&hearth_core::MessageStatus::Received];
        if distinct.len() >= messages && pending == 0 && unprocessed == 0 {
            return all;
        }
        assert!(
            Instant::now() < deadline,
            "outbox of {destination} not drained in {timeout:?}: {} messages, {pending} pending",
            distinct.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until exactly `count` deliveries of `destination` have `status`; returns those.
pub async fn wait_deliveries(
    journal: &Journal,
    destination: &str,
    status: hearth_store::DeliveryStatus,
    count: usize,
    timeout: Duration,
) -> Vec<hearth_store::DeliveryRecord> {
    let deadline = Instant::now() + timeout;
    let filter = hearth_store::DeliveryFilter {
        destination: Some(destination.to_owned()),
        status: Some(status),
        ..Default::default()
    };
    loop {
        let got = all_deliveries(journal, &filter).await;
        if got.len() == count {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{destination}: {} deliveries {status} after {timeout:?}, want {count}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn all_deliveries(
    journal: &Journal,
    filter: &hearth_store::DeliveryFilter,
) -> Vec<hearth_store::DeliveryRecord> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = journal.list_deliveries(filter, after, 1000).await.unwrap();
        let Some(last) = page.last() else { return out };
        after = Some(last.id);
        out.extend(page);
    }
}

/// Consumes (and acks) from `queue` until `n` messages arrived; panics after `timeout`.
pub async fn consume(uri: &str, queue: &str, n: usize, timeout: Duration) -> Vec<hearth_amqp::Delivery> {
    let stop = tokio_util::sync::CancellationToken::new();
    let link = hearth_amqp::Link::start(hearth_amqp::LinkConfig::new(uri, "hearth e2e consumer"), stop.clone());
    let deadline = tokio::time::Instant::now() + timeout;
    // The engine declares its queues when its destination connects, which may be after the test starts waiting.
    let mut consumer = loop {
        match link.consume(queue, 500).await {
            Ok(c) => break c,
            Err(hearth_amqp::ConsumeError::Refused { code: 404, .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot consume from {queue}: {e}"),
        }
    };
    let mut got = Vec::new();
    while got.len() < n {
        match tokio::time::timeout_at(deadline, consumer.next()).await {
            Ok(Some(d)) => {
                d.ack().await.unwrap();
                got.push(d);
            }
            Ok(None) => panic!("consumer on {queue} ended after {} of {n}", got.len()),
            Err(_) => panic!("only {} of {n} messages arrived on {queue} in {timeout:?}", got.len()),
        }
    }
    consumer.close().await;
    link.close().await;
    stop.cancel();
    got
}

/// Best effort: removes a queue a test declared.
pub fn delete_queue(name: &str) {
    let _ =
        Command::new("rabbitmqctl").args(["delete_queue", name]).stdout(Stdio::null()).stderr(Stdio::null()).status();
}

/// Consumes (and acks) whatever arrives on `queue` within `window`.
pub async fn consume_available(uri: &str, queue: &str, window: Duration) -> Vec<hearth_amqp::Delivery> {
    let stop = tokio_util::sync::CancellationToken::new();
    let link = hearth_amqp::Link::start(hearth_amqp::LinkConfig::new(uri, "hearth e2e consumer"), stop.clone());
    let mut consumer = link.consume(queue, 500).await.unwrap();
    let mut got = Vec::new();
    while let Ok(Some(d)) = tokio::time::timeout(window, consumer.next()).await {
        d.ack().await.unwrap();
        got.push(d);
    }
    consumer.close().await;
    link.close().await;
    stop.cancel();
    got
}

/// `hearth run --config config` with its log (at `level`, no colour codes) written to `log`, for tests that write
/// their own configuration (TLS listeners, several channels) and read the log afterwards.
pub fn spawn_logged(config: &Path, log: &Path, level: &str, mllp: String, http: String, db: PathBuf) -> Engine {
    let child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(config)
        .env("HEARTH_LOG", level)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    Engine { child: Some(child), mllp, http, db, config: config.to_owned(), env: Vec::new() }
}

/// The first of `names` found as a file on `PATH`; required under CI=true (`install` says how to get it), else
/// `test` says it is skipped.
pub fn program(test: &str, names: &[&str], install: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = names.iter().find_map(|name| std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()));
    hearth_testkit::require(test, found.ok_or_else(|| format!("{} is not installed ({install})", names[0])))
}

/// Debian's `chromium`: required under CI=true, else the test says it is skipped.
pub fn chromium() -> Option<PathBuf> {
    program("dashboard", &["chromium", "chromium-browser", "google-chrome"], "apt-get install chromium")
}

/// The flags every browser test starts Chromium with (as `chromium` itself or through ChromeDriver).
pub const CHROMIUM_FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
];

/// Chromium headless with the flags every dashboard test uses, on its own profile directory.
pub fn headless(chromium: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(chromium);
    cmd.args(CHROMIUM_FLAGS).arg("--virtual-time-budget=8000").arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

/// `GET path` on the admin API with a bearer token, as JSON (any status: the caller reads the body).
pub fn api_as(token: &str, addr: &str, path: &str) -> serde_json::Value {
    let auth = format!("Bearer {token}");
    hearth_testkit::http::request("GET", addr, path, &[("authorization", &auth)], Vec::new())
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .json()
}

/// Polls `check` every 100 ms until it holds; fails the test after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
