//! Logs operators' tools read, through the real binary with stderr on a pipe (not a terminal):
//! `HEARTH_LOG_FORMAT=json` gives one JSON object a line, text output carries no ANSI colour codes, and a journal
//! that refuses writes is logged once per interval with a count (not once per message) while `/readyz` answers
//! 503 with the reason (docs/operations.md, "Logs" and "Readiness").
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{BIN, adt, free_port, http_get, mllp_send};

/// A `hearth run` whose stderr lines are collected as they come.
struct Logged {
    child: Child,
    mllp: String,
    http: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Logged {
    fn start(dir: &Path, extra_journal: &str, env: &[(&str, &str)]) -> Logged {
        let (mllp, http) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
        let config = dir.join("hearth.toml");
        std::fs::write(
            &config,
            format!(
                "shutdown_timeout_ms = 5000\n[journal]\ntype = \"sqlite\"\npath = \"{}\"\n{extra_journal}\n\
                 [http]\nlisten = \"{http}\"\n[channels.adt]\ntype = \"mllp\"\nlisten = \"{mllp}\"\n",
                dir.join("hearth.db").display()
            ),
        )
        .unwrap();
        let mut child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(&config)
            .env_remove("HEARTH_LOG_FORMAT")
            .env("HEARTH_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hearth");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let engine = Logged { child, mllp, http, lines };
        let deadline = Instant::now() + Duration::from_secs(60);
        while http_get(&engine.http, "/readyz").is_none_or(|(code, _)| code != 200) {
            assert!(Instant::now() < deadline, "hearth did not become ready: {:?}", engine.lines());
            std::thread::sleep(Duration::from_millis(50));
        }
        engine
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// SIGTERM, wait for the exit, and give the reader thread a moment to take the last lines.
    fn stop(mut self) -> Vec<String> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        assert!(self.child.wait().unwrap().success());
        std::thread::sleep(Duration::from_millis(200));
        self.lines()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"))
}

#[test]
fn json_logs_are_one_object_a_line_with_the_usual_fields() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Logged::start(dir.path(), "", &[("HEARTH_LOG_FORMAT", "json")]);
    let acks = mllp_send(&engine.mllp, &[adt("JSON1"), adt("JSON2")]);
    assert!(acks.iter().all(|a| a.contains("MSA|AA")), "{acks:?}");
    let lines = engine.stop();
    assert!(lines.len() >= 2, "start-up and shutdown are logged at info: {lines:?}");
    for line in &lines {
        assert!(!line.contains("\x1b["), "no colour codes: {line}");
        let v = parse(line);
        for key in ["timestamp", "level", "target", "fields"] {
            assert!(v.get(key).is_some(), "{key} missing: {line}");
        }
        assert!(v["fields"]["message"].is_string(), "a message: {line}");
        assert!(["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&v["level"].as_str().unwrap()), "{line}");
    }
    assert!(lines.iter().any(|l| l.contains("SIGTERM received")), "{lines:?}");
    // The test messages' patient data is nowhere in the log.
    assert!(!lines.iter().any(|l| l.contains("DOE") || l.contains("MRNJSON") || l.contains("5550100")), "{lines:?}");
}

#[test]
fn text_logs_to_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Logged::start(dir.path(), "", &[]);
    let lines = engine.stop();
    assert!(lines.iter().any(|l| l.contains("INFO")), "info lines were written: {lines:?}");
    assert!(lines.iter().all(|l| !l.contains("\x1b[")), "{lines:?}");
    // Text lines are not JSON.
    assert!(lines.iter().all(|l| serde_json::from_str::<serde_json::Value>(l).is_err()));
}

/// A 192 KiB journal fills up; every further message is refused (AE), but the log says so once per 10 s with
/// the number of failures left out, and `/readyz` answers 503 with the reason meanwhile.
#[test]
fn a_full_journal_is_logged_once_per_interval_and_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Logged::start(dir.path(), "max_size_bytes = 196608", &[("HEARTH_LOG_FORMAT", "json")]);
    let filler = "X".repeat(8000);
    let big = |id: String| [adt(&id), format!("NTE|1||{filler}\r").into_bytes()].concat();
    let started = Instant::now();
    let mut first_refusal = None;
    let mut refused = 0;
    for i in 0..200 {
        let ack = mllp_send(&engine.mllp, &[big(format!("FULL{i}"))]).remove(0);
        if ack.contains("MSA|AE") {
            first_refusal.get_or_insert_with(Instant::now);
            refused += 1;
            if refused == 40 {
                break;
            }
        }
    }
    assert_eq!(refused, 40, "a 192 KiB journal must fill up");

    let (status, body) = http_get(&engine.http, "/readyz").unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("journal_refusing") && body.contains("full"), "{body}");
    assert_eq!(http_get(&engine.http, "/healthz").map(|r| r.0), Some(200), "process alive");

    // After the interval, one more refused message brings the next line, with the count left out.
    std::thread::sleep(Duration::from_millis(10_500).saturating_sub(first_refusal.unwrap().elapsed()));
    let ack = mllp_send(&engine.mllp, &[big("FULL-LATE".into())]).remove(0);
    assert!(ack.contains("MSA|AE"), "{ack}");
    assert_eq!(http_get(&engine.http, "/readyz").map(|r| r.0), Some(503));
    let elapsed = started.elapsed();

    let lines = engine.stop();
    let full: Vec<serde_json::Value> =
        lines.iter().map(|l| parse(l)).filter(|v| v["fields"]["condition"] == "journal_full").collect();
    // One line at the first failure, at most one more per started 10 s.
    let bound = 1 + elapsed.as_secs() / 10;
    assert!((2..=bound as usize).contains(&full.len()), "{} lines in {elapsed:?}: {full:?}", full.len());
    assert_eq!(full[0]["level"], "ERROR");
    assert_eq!(full[0]["fields"]["suppressed"], 0);
    let suppressed: u64 = full.iter().map(|v| v["fields"]["suppressed"].as_u64().unwrap()).sum();
    // Each refused message failed at least one commit: all but the logged ones were counted, not dropped.
    assert!(suppressed + full.len() as u64 > 40, "suppressed {suppressed}, lines {}", full.len());
}
