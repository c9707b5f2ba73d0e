//! End to end for CSV billing exports with the real binary: a file inbox to RabbitMQ with an exact
//! report, SIGKILL in the middle of a large file and a restart (each row's resources once), the HTTP upload, and
//! `hearth convert --from csv`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{BIN, Engine};
use hearth_core::MessageStatus;
use hearth_store::{Journal, MessageFilter};
use hearth_testkit::unique_name;

const T: Duration = Duration::from_secs(120);
const HEADER: &str = "charge_id,mrn,visit_number,account_number,service_date,cpt_hcpcs,modifier_1,modifier_2,\
                      revenue_code,units,unit_price,amount,performing_npi,payer\n";

fn fixture(name: &str) -> PathBuf {
    common::repo().join("fixtures/csv/charges").join(name)
}

/// Config lines: a file channel `billing` on `inbox`, and the `fhir` destination with a bound queue.
fn billing(uri: &str, exchange: &str, queue: &str, inbox: &Path) -> String {
    format!(
        "[channels.billing]\ntype = \"file\"\ninbox = \"{}\"\nprofile = \"charges\"\npoll_ms = 50\nsettle_ms = 200\n\
         [channels.upload]\ntype = \"http\"\npayload = \"csv\"\nprofile = \"charges\"\nmax_body_bytes = 65536\n\
         [destinations.fhir]\ntype = \"amqp\"\nendpoint = \"{uri}\"\nexchange = \"{exchange}\"\n\
         [[destinations.fhir.queues]]\nname = \"{queue}\"\nbind = [\"billing.#\", \"upload.#\"]\n",
        inbox.display()
    )
}

/// Drops a file the way a well-behaved exporter does: written under a hidden name, then renamed.
fn drop_file(inbox: &Path, name: &str, bytes: &[u8]) {
    let tmp = inbox.join(format!(".{name}.partial"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, inbox.join(name)).unwrap();
}

fn wait_for_file(path: &Path, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !path.exists() {
        assert!(Instant::now() < deadline, "{} did not appear in {timeout:?}", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

async fn messages(journal: &Journal, channel: &str) -> Vec<hearth_store::MessageSummary> {
    let filter = MessageFilter { channel: Some(channel.into()), ..Default::default() };
    let (mut out, mut after) = (Vec::new(), None);
    loop {
        let page = journal.list(&filter, after, 500).await.unwrap();
        let Some(last) = page.last() else { return out };
        after = Some(last.id);
        out.extend(page);
    }
}

/// Synthetic charge rows (no real patient data).
fn charges_file(rows: usize) -> Vec<u8> {
    let mut s = String::from(HEADER);
    for i in 0..rows {
        s.push_str(&format!(
            "CHG-{i},MRN{:06},V{i},A{i},2025-03-{:02},99213,25,,0510,1,125.00,125.00,1234567893,PAYER{:02}\n",
            i % 5000,
            i % 28 + 1,
            i % 7
        ));
    }
    s.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbox_file_with_bad_rows_gives_an_exact_report_and_the_good_rows_on_rabbitmq() {
    let Some(uri) = hearth_testkit::amqp("csv_inbox") else { return };
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    let (exchange, queue) = (unique_name("hearth-csv-x"), unique_name("hearth-csv-q"));
    let mut engine = Engine::start(dir.path(), "", &billing(&uri, &exchange, &queue, &inbox));
    drop_file(&inbox, "feb.csv", &std::fs::read(fixture("bad_rows.csv")).unwrap());
    wait_for_file(&inbox.join("done/feb.csv"), T);

    let r = report(&inbox.join("done/feb.csv.report.json"));
    assert_eq!(
        (r["rows_read"].as_u64(), r["rows_converted"].as_u64(), r["rows_rejected"].as_u64()),
        (Some(10), Some(2), Some(8))
    );
    let errors: Vec<(u64, Option<&str>, Option<u64>)> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["column"].as_str(), e["column_index"].as_u64()))
        .collect();
    assert_eq!(
        errors,
        [
            (3, Some("service_date"), Some(5)),
            (4, Some("unit_price"), Some(11)),
            (4, Some("amount"), Some(12)),
            (5, Some("cpt_hcpcs"), Some(6)),
            (6, Some("units"), Some(10)),
            (7, Some("mrn"), Some(2)),
            (9, Some("mrn"), Some(2)),
            (10, None, None),
            (11, Some("cpt_hcpcs"), Some(6)),
        ]
    );
    assert_eq!(r["errors"][0]["reason"], "\"2025-02-30\" is not a date in the profile's formats");

    let journal = engine.journal().await;
    let sent = common::wait_outbox_drained(&journal, "fhir", 2, T).await;
    assert_eq!(sent.len(), 2, "one ChargeItem per good row");
    let got = common::consume(&uri, &queue, sent.len(), T).await;
    let schema = hearth_fhir::schema::R4Schema::shared().unwrap();
    for d in &got {
        assert_eq!(d.routing_key, "billing.charges.ChargeItem");
        assert_eq!(d.header("x-hearth-channel"), Some("billing"));
        let body: serde_json::Value = serde_json::from_slice(&d.body).unwrap();
        schema.validate(&body).unwrap_or_else(|e| panic!("not valid R4: {e:?}"));
    }
    let ids: BTreeSet<&str> = got.iter().map(|d| d.message_id.as_deref().unwrap()).collect();
    assert_eq!(ids, sent.iter().map(|d| d.content_id.as_str()).collect());

    let stored = messages(&journal, "billing").await;
    assert_eq!(stored.len(), 10, "one journal message per row");
    let counts = journal.count_by_status(Some("billing")).await.unwrap();
    assert_eq!((counts[&MessageStatus::Processed], counts[&MessageStatus::Error]), (2, 8), "{counts:?}");
    let bad = stored.iter().find(|m| m.meta.control_id.as_deref() == Some("feb.csv:3")).unwrap();
    let reason = bad.reason.as_deref().unwrap();
    assert!(reason.contains("line 3, column 5 (service_date)"), "{reason}");
    journal.close().await;
    assert!(engine.terminate().success());
    common::delete_queue(&queue);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_hearth_in_the_middle_of_a_file_delivers_each_row_once_after_restart() {
    let Some(uri) = hearth_testkit::amqp("csv_kill9") else { return };
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    let (exchange, queue) = (unique_name("hearth-csv-x"), unique_name("hearth-csv-q"));
    let mut engine = Engine::start(dir.path(), "", &billing(&uri, &exchange, &queue, &inbox));
    const ROWS: usize = 6000;
    drop_file(&inbox, "big.csv", &charges_file(ROWS));

    // Kill as soon as part of the file is journaled (read-only look at the running engine's journal).
    let deadline = Instant::now() + T;
    let watcher = engine.journal().await;
    let journaled_at_kill = loop {
        let n = watcher.count_all().await.unwrap();
        if n > 0 {
            engine.kill9();
            break n;
        }
        assert!(Instant::now() < deadline, "nothing journaled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    watcher.close().await;
    let mid_file = inbox.join("big.csv").exists();
    engine.restart();
    wait_for_file(&inbox.join("done/big.csv.report.json"), T);
    let r = report(&inbox.join("done/big.csv.report.json"));
    assert_eq!((r["rows_read"].as_u64(), r["rows_converted"].as_u64()), (Some(ROWS as u64), Some(ROWS as u64)));
    if mid_file {
        assert!(journaled_at_kill < ROWS as u64, "killed before the file was done");
        assert!(r["chunks_duplicate"].as_u64().unwrap() > 0, "the restart read again what was journaled: {r}");
    } else {
        eprintln!("note: the file was finished before SIGKILL landed; the restart path ran without a half file");
    }

    let journal = engine.journal().await;
    let sent = common::wait_outbox_drained(&journal, "fhir", ROWS, T * 3).await;
    let stored = messages(&journal, "billing").await;
    assert_eq!(stored.len(), ROWS, "one journal message per chunk, none twice");
    let keys: BTreeSet<&str> = stored.iter().map(|m| m.dedup_key.as_deref().unwrap()).collect();
    assert_eq!(keys.len(), ROWS);
    let content: BTreeSet<&str> = sent.iter().map(|d| d.content_id.as_str()).collect();
    assert_eq!((sent.len(), content.len()), (ROWS, ROWS), "each row's ChargeItem once in the outbox");
    journal.close().await;
    assert!(engine.terminate().success());
    common::delete_queue(&queue);
}

/// POST a CSV upload: (status, body).
fn http_post(addr: &str, path: &str, body: &[u8]) -> (u16, String) {
    let resp = hearth_testkit::http::post(addr, path, &[("content-type", "text/csv")], body);
    (resp.status, resp.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_upload_answers_with_the_report_refuses_drift_and_oversized_bodies() {
    let dir = tempfile::tempdir().unwrap();
    // The destination is not needed here (the answer comes once the journal has the chunks): an exchange of its
    // own, no queue.
    let upload = format!(
        "[channels.upload]\ntype = \"http\"\npayload = \"csv\"\nprofile = \"charges\"\nmax_body_bytes = 65536\n\
         [destinations.fhir]\ntype = \"amqp\"\nexchange = \"{}\"\n",
        unique_name("hearth-csv-upload-x")
    );
    let engine = Engine::start(dir.path(), "", &upload);
    let (status, body) =
        http_post(&engine.http, "/ingest/upload?file=feb.csv", &std::fs::read(fixture("bad_rows.csv")).unwrap());
    assert_eq!(status, 200, "{body}");
    let r: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (r["rows_read"].as_u64(), r["rows_rejected"].as_u64(), r["chunks"].as_u64()),
        (Some(10), Some(8), Some(10))
    );
    assert_eq!(r["errors"][0]["line"], 3);

    let (status, body) =
        http_post(&engine.http, "/ingest/upload", &std::fs::read(fixture("drift_renamed.csv")).unwrap());
    assert_eq!(status, 400, "{body}");
    let r: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(r["header"]["renamed"][1]["found"], "insurance_plan", "{r}");

    let (status, body) = http_post(&engine.http, "/ingest/upload", &charges_file(2000));
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("too_large"), "{body}");
}

#[test]
fn cli_converts_a_charges_file_to_ndjson_and_reports_bad_rows() {
    let good = Command::new(BIN)
        .args(["convert", "--from", "csv", "--profile", "charges"])
        .arg(fixture("good.csv"))
        .output()
        .unwrap();
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8(good.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let rows = std::fs::read_to_string(fixture("good.csv")).unwrap().lines().count() - 1;
    assert_eq!(lines.len(), rows);
    assert!(lines.iter().all(|b| b["resourceType"] == "Bundle" && b["type"] == "transaction"));

    let bad = Command::new(BIN)
        .args(["convert", "--from", "csv", "--profile", "charges"])
        .arg(fixture("bad_rows.csv"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(String::from_utf8(bad.stdout).unwrap().lines().count(), 2, "the good rows are still on stdout");
    let stderr = String::from_utf8(bad.stderr).unwrap();
    assert!(stderr.contains("bad_rows.csv: line 3, column 5 (service_date): \"2025-02-30\" is not a date"), "{stderr}");
    assert!(stderr.contains("10 rows read, 2 converted, 8 rejected"), "{stderr}");

    let drift = Command::new(BIN)
        .args(["convert", "--from", "csv", "--profile", "charges"])
        .arg(fixture("drift_missing.csv"))
        .output()
        .unwrap();
    assert_eq!(drift.status.code(), Some(2));
    assert!(drift.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&drift.stderr).contains("missing [\"units\"]"),
        "{}",
        String::from_utf8_lossy(&drift.stderr)
    );

    let no_profile = Command::new(BIN).args(["convert", "--from", "csv"]).arg(fixture("good.csv")).output().unwrap();
    assert_eq!(no_profile.status.code(), Some(2));
}
