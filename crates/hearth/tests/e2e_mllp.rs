#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure with its message
//! End-to-end: the real binary, real sockets, the real SQLite journal.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use hearth_core::MessageStatus;
use hearth_sources::mllp::Sender;
use hearth_store::MessageFilter;

const T: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_sent_twice_is_journaled_once() {
    let Some(corpus) = corpus("corpus_sent_twice_is_journaled_once") else { return };
    let files = corpus_samples(&corpus);
    assert_eq!(files.len(), 139, "the corpus has 139 samples");
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::start(dir.path(), "", "");

    let mut sent = 0;
    for round in 0..2 {
        let out = Command::new(BIN).arg("send").arg(format!("mllp://{}", engine.mllp)).args(&files).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "round {round}: hearth send failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert!(lines.len() >= files.len(), "one line per message at least: {}", lines.len());
        for l in &lines {
            let code = l.split('\t').nth(1);
            assert!(code == Some("AA") || code == Some("CA"), "every message accepted: {l}");
        }
        sent = lines.len();
    }
    assert!(engine.terminate().success());

    let journal = engine.journal().await;
    assert_eq!(journal.count_all().await.unwrap(), sent as u64, "each message journaled exactly once");
    let counts = journal.count_by_status(None).await.unwrap();
    // Accepted messages are `received`, or already converted and routed by the processing stage (`processed`/`error`).
    let accepted: u64 = [MessageStatus::Received, MessageStatus::Processed, MessageStatus::Error]
        .iter()
        .map(|s| counts.get(s).copied().unwrap_or(0))
        .sum();
    assert_eq!(accepted, sent as u64);
    assert_eq!(counts.get(&MessageStatus::Rejected).copied().unwrap_or(0), 0);
    // The second round was recorded as resends, not as new messages.
    let page = journal.list(&MessageFilter::default(), None, 1000).await.unwrap();
    assert_eq!(page.len(), sent);
    assert!(page.iter().all(|m| m.duplicates >= 1), "every message was seen twice");
}

/// Inputs that must be refused with a negative ACK carrying an ERR segment.
fn refused_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let mut endless = b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|X1|P|2.5.1\rPID".to_vec();
    endless.extend(std::iter::repeat_n(b'|', 60_000));
    vec![
        ("garbage", vec![0x00, 0xff, 0x13, 0x37, 0x80, 0x81]),
        ("json", br#"{"resourceType":"Patient","id":"x"}"#.to_vec()),
        ("plain text", b"hello, is this the lab?".to_vec()),
        ("empty frame", Vec::new()),
        ("no field separator", b"MSH".to_vec()),
        ("no MSH-9", b"MSH|^~\\&|A|B|C|D|20260101|||X2|P|2.5.1\r".to_vec()),
        ("no MSH-10", b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01||P|2.5.1\r".to_vec()),
        ("lowercase segment", b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|X3|P|2.5.1\rpid|1||123\r".to_vec()),
        ("invalid segment name", b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|X4|P|2.5.1\rP!D|1||123\r".to_vec()),
        ("truncated", b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|X5|P|2.5.1\rPI".to_vec()),
        ("endless separators", endless),
        ("PID before MSH", b"PID|1||123\rMSH|^~\\&|A|B|C|D|20260101||ADT^A01|X6|P|2.5.1\r".to_vec()),
    ]
}

/// Real feeds are sloppy: these must be accepted.
fn sloppy_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let mut big = adt("BIG1");
    big.extend_from_slice(b"OBX|1|ED|PDF^Report||^application^pdf^Base64^");
    big.extend(std::iter::repeat_n(b'Q', 2 * 1024 * 1024));
    big.extend_from_slice(b"||||||F\r");
    vec![
        ("invalid date in PID-7", String::from_utf8(adt("SL1")).unwrap().replace("19800214", "20241399").into_bytes()),
        ("z-segment", [adt("SL2"), b"ZPI|custom|stuff\r".to_vec()].concat()),
        ("trailing blank lines", [adt("SL3"), b"\r\r\n\n".to_vec()].concat()),
        ("LF separators", String::from_utf8(adt("SL4")).unwrap().replace('\r', "\n").into_bytes()),
        ("CRLF separators", String::from_utf8(adt("SL5")).unwrap().replace('\r', "\r\n").into_bytes()),
        ("UTF-8 BOM", [b"\xEF\xBB\xBF".to_vec(), adt("SL6")].concat()),
        ("unknown code", String::from_utf8(adt("SL7")).unwrap().replace("|F|", "|BANANA|").into_bytes()),
        ("2 MB OBX-5", big),
        (
            "v2.8 truncation char",
            b"MSH|^~\\&#|A|B|C|D|20260101||ADT^A01^ADT_A01|SL9|P|2.8\rPID|1||9^^^N^MR||ROE^RICHARD\r".to_vec(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_get_nak_sloppy_get_aa_and_the_connection_survives() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::start(dir.path(), "", "max_frame_bytes = 3000000");
    let mut conn = Sender::connect(&engine.mllp, T).await.unwrap();
    // A second connection must be unaffected by the first's bad input.
    let mut other = Sender::connect(&engine.mllp, T).await.unwrap();

    let refused = refused_inputs();
    for (what, bytes) in &refused {
        let ack = conn.send(bytes).await.unwrap_or_else(|e| panic!("{what}: no ACK: {e}"));
        // AR for an unusable header, AE for a body that breaks the rules (HL7's own split).
        assert!(ack.code == "AR" || ack.code == "AE", "{what}: {}", ack.raw);
        assert!(ack.error_code.is_some(), "{what}: ERR segment with a 0357 code: {}", ack.raw);
        assert!(!ack.text.is_empty(), "{what}: a readable reason");
        // The same connection still works.
        let ok = conn.send(&adt(&format!("AFTER-{}", what.replace(' ', "-")))).await.unwrap();
        assert_eq!(ok.code, "AA", "after {what}: {}", ok.raw);
    }
    // Control ids are echoed when the header could be read.
    let ack = conn.send(b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|ECHO1|P|2.5.1\rpid|1\r").await.unwrap();
    assert_eq!((ack.code.as_str(), ack.control_id.as_str()), ("AE", "ECHO1"), "{}", ack.raw);

    // Frame over the limit: refused, and the connection stays usable.
    let huge = vec![b'A'; 3_500_000];
    let ack = conn.send(&huge).await.unwrap();
    assert_eq!(ack.code, "AR", "{}", ack.raw);
    assert!(ack.text.contains("max_frame_bytes"), "{}", ack.text);
    assert_eq!(conn.send(&adt("AFTER-HUGE")).await.unwrap().code, "AA");

    // Junk between frames is skipped.
    conn.write_raw(b"\r\n\x00junk").await.unwrap();
    assert_eq!(conn.send(&adt("AFTER-JUNK")).await.unwrap().code, "AA");

    for (what, bytes) in sloppy_inputs() {
        let ack = conn.send(&bytes).await.unwrap_or_else(|e| panic!("{what}: no ACK: {e}"));
        assert_eq!(ack.code, "AA", "{what}: {}", ack.raw);
    }
    assert_eq!(other.send(&adt("OTHER-CONN")).await.unwrap().code, "AA");
    assert_eq!(http_get(&engine.http, "/healthz").map(|r| r.0), Some(200), "process alive");
    assert!(engine.terminate().success());

    let journal = engine.journal().await;
    let rejected = journal
        .list(&MessageFilter { status: Some(MessageStatus::Rejected), ..Default::default() }, None, 1000)
        .await
        .unwrap();
    // Every refusal is kept, with its reason, for the operator (ECHO1 and the oversized frame included).
    assert_eq!(rejected.len(), refused.len() + 2);
    for m in &rejected {
        let full = journal.get(m.id).await.unwrap().unwrap();
        assert!(full.summary.reason.as_deref().is_some_and(|r| !r.is_empty()));
    }
    let garbage = journal.get(rejected[0].id).await.unwrap().unwrap();
    assert_eq!(garbage.raw.as_deref(), Some(&refused[0].1[..]), "raw bytes kept exactly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enhanced_mode_honours_msh15() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(dir.path(), "", "ack_policy = \"msh15\"");
    let mut conn = Sender::connect(&engine.mllp, T).await.unwrap();
    let with_ack_types = |id: &str, accept: &str, app: &str| {
        String::from_utf8(adt(id))
            .unwrap()
            .replacen("|P|2.5.1\r", &format!("|P|2.5.1|||{accept}|{app}\r"), 1)
            .into_bytes()
    };
    let ack = conn.send(&with_ack_types("ENH1", "AL", "NE")).await.unwrap();
    assert_eq!((ack.code.as_str(), ack.control_id.as_str()), ("CA", "ENH1"), "{}", ack.raw);
    // NE/NE: no acknowledgement at all. The next answer on this connection belongs to the next message.
    conn.send_without_reply(&with_ack_types("ENH2", "NE", "NE")).await.unwrap();
    let ack = conn.send(&with_ack_types("ENH3", "AL", "AL")).await.unwrap();
    assert_eq!((ack.code.as_str(), ack.control_id.as_str()), ("CA", "ENH3"), "{}", ack.raw);
    // ER: only errors are answered. A good one gets nothing; a bad one gets CR.
    conn.send_without_reply(&with_ack_types("ENH4", "ER", "NE")).await.unwrap();
    let bad = b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|ENH5|P|2.5.1|||ER|AL\rpid|x\r";
    let ack = conn.send(bad).await.unwrap();
    assert_eq!((ack.code.as_str(), ack.control_id.as_str()), ("CE", "ENH5"), "{}", ack.raw);
    assert!(ack.error_code.is_some());
    // NE for the accept ACK but AL for the application ACK: Hearth's processing at receipt is the journal write.
    let ack = conn.send(&with_ack_types("ENH6", "NE", "AL")).await.unwrap();
    assert_eq!((ack.code.as_str(), ack.control_id.as_str()), ("AA", "ENH6"), "{}", ack.raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_policy_answers_every_message() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(dir.path(), "", "");
    let mut conn = Sender::connect(&engine.mllp, T).await.unwrap();
    let msg = String::from_utf8(adt("NENE1")).unwrap().replacen("|P|2.5.1\r", "|P|2.5.1|||NE|NE\r", 1);
    let ack = conn.send(msg.as_bytes()).await.unwrap();
    assert_eq!((ack.code.as_str(), ack.control_id.as_str()), ("CA", "NENE1"), "{}", ack.raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_that_cannot_write_answers_negatively() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(dir.path(), "max_size_bytes = 196608", "");
    let mut conn = Sender::connect(&engine.mllp, T).await.unwrap();
    let filler = "X".repeat(8000);
    let mut failed = None;
    for i in 0..200 {
        let msg = [adt(&format!("FULL{i}")), format!("NTE|1||{filler}\r").into_bytes()].concat();
        let ack = conn.send(&msg).await.unwrap();
        if ack.code != "AA" {
            failed = Some(ack);
            break;
        }
    }
    let ack = failed.expect("a 192 KiB journal must fill up");
    assert_eq!(ack.code, "AE", "{}", ack.raw);
    assert_eq!(ack.error_code.as_deref(), Some("207"), "{}", ack.raw);
    assert_eq!(http_get(&engine.http, "/healthz").map(|r| r.0), Some(200), "process alive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::start(dir.path(), "", "");
    let mut conn = Sender::connect(&engine.mllp, T).await.unwrap();
    for i in 0..20 {
        assert_eq!(conn.send(&adt(&format!("TERM{i}"))).await.unwrap().code, "AA");
    }
    let status = engine.terminate();
    assert!(status.success(), "{status}");
    assert_eq!(engine.journal().await.count_all().await.unwrap(), 20);
}

/// The acknowledgement guarantee under a crash: 8 senders, SIGKILL mid-run, restart; every message that had been
/// acknowledged must be in the journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_sigkill_loses_no_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::start(dir.path(), "", "");
    let acked = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut senders = tokio::task::JoinSet::new();
    for s in 0..8 {
        let (addr, acked, stop) = (engine.mllp.clone(), acked.clone(), stop.clone());
        senders.spawn(async move {
            let Ok(mut conn) = Sender::connect(&addr, T).await else { return };
            for i in 0..100_000 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                let id = format!("K{s}-{i}");
                match conn.send(&adt(&id)).await {
                    Ok(ack) if ack.code == "AA" => {
                        acked.lock().unwrap().insert(id);
                    }
                    _ => return, // the engine died: this message was not acknowledged
                }
            }
        });
    }
    // Let the load run, then kill without warning.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 2000 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    engine.kill9();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    while senders.join_next().await.is_some() {}
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 100, "load ran before the kill: {}", acked.len());

    engine.restart();
    assert!(engine.terminate().success());
    let journal = engine.journal().await;
    let mut journaled = BTreeSet::new();
    let mut after = None;
    loop {
        let page = journal.list(&MessageFilter::default(), after, 1000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        journaled.extend(page.into_iter().filter_map(|m| m.meta.control_id));
    }
    let lost: Vec<_> = acked.difference(&journaled).collect();
    assert!(lost.is_empty(), "{} acknowledged messages lost, e.g. {:?}", lost.len(), lost.first());
    eprintln!(
        "acknowledged {} before SIGKILL; journaled {} (unacknowledged extras are allowed)",
        acked.len(),
        journaled.len()
    );
}

#[test]
fn serial_runs_with_no_configuration() {
    // The README's run command: no file, the built-in default (ports 2575 and 8080, ./data/hearth.db).
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::start_with(
        dir.path().join("none.toml"),
        dir.path().join("data/hearth.db"),
        "127.0.0.1:2575".into(),
        "127.0.0.1:8080".into(),
        Some(dir.path()),
    );
    assert!(dir.path().join("data/hearth.db").exists(), "journal created at ./data/hearth.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ack = rt.block_on(async {
        let mut c = Sender::connect("127.0.0.1:2575", T).await.unwrap();
        c.send(&adt("DEFAULT1")).await.unwrap()
    });
    assert_eq!(ack.code, "AA");
    let (code, body) = http_get("127.0.0.1:8080", "/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("hearth_messages_received_total"), "{body}");
    assert!(!body.contains("DEFAULT1"), "no control ids in metrics");
    assert!(engine.terminate().success());
}

#[test]
fn check_validates_and_prints_the_topology() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[journal]\ntype = \"sqlite\"\npath = \"/tmp/x.db\"\n[channels.adt]\ntype = \"mllp\"\nlisten = \"127.0.0.1:2599\"\n").unwrap();
    let out = Command::new(BIN).args(["check", "--config"]).arg(&good).output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("channel  adt") && stdout.contains("127.0.0.1:2599"), "{stdout}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[channels.adt]\ntype = \"mllp\"\nlisten = \"nowhere\"\nmax_frame_bytes = 1\n").unwrap();
    let out = Command::new(BIN).args(["check", "--config"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("channels.adt.listen") && stderr.contains("channels.adt.max_frame_bytes"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_prints_each_ack_and_fails_when_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(dir.path(), "", "");
    let batch = fixtures().join("batch-adt.hl7");
    let bad = dir.path().join("bad.hl7");
    std::fs::write(&bad, "MSH|^~\\&|A|B|C|D|20260101||ADT^A01||P|2.5.1\r").unwrap();

    let out = Command::new(BIN).arg("send").arg(format!("mllp://{}", engine.mllp)).arg(&batch).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.contains("\tAA\t")).count(), 3, "three messages in the batch: {stdout}");

    let out =
        Command::new(BIN).arg("send").arg(format!("mllp://{}", engine.mllp)).arg(&batch).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\tAR\t"));

    let out = Command::new(BIN).args(["send", "http://nope", "x.hl7"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));

    // Load mode prints a summary.
    let out = Command::new(BIN)
        .arg("send")
        .arg(format!("mllp://{}", engine.mllp))
        .args(["--concurrency", "4", "--repeat", "5"])
        .arg(&batch)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("sent 15: 15 accepted"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_connections() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::start(dir.path(), "", "");
    let mut conns = tokio::task::JoinSet::new();
    for c in 0..200 {
        let addr = engine.mllp.clone();
        conns.spawn(async move {
            let mut conn = Sender::connect(&addr, T).await.unwrap();
            for i in 0..5 {
                let ack = conn.send(&adt(&format!("C{c}-{i}"))).await.unwrap();
                assert_eq!(ack.code, "AA", "{}", ack.raw);
                assert_eq!(ack.control_id, format!("C{c}-{i}"));
            }
        });
    }
    while let Some(r) = conns.join_next().await {
        r.unwrap();
    }
    assert!(engine.terminate().success());
    assert_eq!(engine.journal().await.count_all().await.unwrap(), 1000);
}
