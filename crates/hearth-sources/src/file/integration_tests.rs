#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The inbox and the chunked journaling against a real SQLite journal in a temp dir.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{CsvProfileRef, FilePlan};
use hearth_core::PayloadKind;
use hearth_csv::{Converter, Profile};
use hearth_store::{Journal, JournalConfig, MessageFilter, SqliteConfig};
use tokio_util::sync::CancellationToken;

use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/csv/charges").join(name)
}

fn charges() -> CsvChannel {
    let _ = CsvProfileRef::Builtin("charges".into());
    CsvChannel { name: "billing".into(), converter: Arc::new(Converter::new(&Profile::builtin("charges").unwrap())) }
}

async fn journal(dir: &Path) -> Journal {
    Journal::open(&JournalConfig::Sqlite(SqliteConfig::new(dir.join("journal.db")))).await.unwrap()
}

fn plan(dir: &Path) -> FilePlan {
    let inbox = dir.join("inbox");
    FilePlan {
        profile: CsvProfileRef::Builtin("charges".into()),
        poll: Duration::from_millis(20),
        settle: Duration::ZERO,
        done_dir: inbox.join("done"),
        error_dir: inbox.join("error"),
        max_file_bytes: 1 << 20,
        inbox,
    }
}

async fn wait_for(path: &Path) {
    for _ in 0..500 {
        if path.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{} never appeared", path.display());
}

fn read_report(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test]
async fn inbox_journals_every_chunk_and_files_the_report_with_exact_errors() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal(dir.path()).await;
    let plan = plan(dir.path());
    let inbox = FileInbox::new(charges(), plan.clone(), journal.clone()).unwrap();
    std::fs::copy(fixture("bad_rows.csv"), plan.inbox.join("feb.csv")).unwrap();
    std::fs::copy(fixture("drift_renamed.csv"), plan.inbox.join("mar.csv")).unwrap();
    let stop = CancellationToken::new();
    let task = {
        let stop = stop.clone();
        tokio::spawn(async move { inbox.run(stop).await })
    };
    wait_for(&plan.done_dir.join("feb.csv")).await;
    wait_for(&plan.error_dir.join("mar.csv")).await;
    stop.cancel();
    task.await.unwrap().unwrap();

    let report = read_report(&plan.done_dir.join("feb.csv.report.json"));
    assert_eq!((report["rows_read"].as_u64(), report["rows_converted"].as_u64()), (Some(10), Some(2)));
    assert_eq!(report["rows_rejected"], 8);
    assert_eq!((report["status"].as_str(), report["chunks"].as_u64()), (Some("done"), Some(10)));
    let first = &report["errors"][0];
    assert_eq!(
        (first["line"].as_u64(), first["column"].as_str(), first["column_index"].as_u64()),
        (Some(3), Some("service_date"), Some(5))
    );
    assert!(!plan.inbox.join("feb.csv").exists());

    let drift = read_report(&plan.error_dir.join("mar.csv.report.json"));
    assert_eq!(drift["status"], "refused");
    assert_eq!(drift["header"]["renamed"][0]["found"], "Service Date", "{drift}");
    assert_eq!(drift["rows_read"], 0, "no row is read after header drift");

    let stored =
        journal.list(&MessageFilter { channel: Some("billing".into()), ..Default::default() }, None, 100).await;
    let stored = stored.unwrap();
    assert_eq!(stored.len(), 10, "one journal message per row group, none for the refused file");
    let m = &stored[0];
    assert_eq!(m.kind, PayloadKind::Csv);
    assert_eq!((m.meta.message_code.as_deref(), m.meta.trigger_event.as_deref()), (Some("CSV"), Some("charges")));
    let sha = report["sha256"].as_str().unwrap();
    assert!(stored.iter().any(|m| m.dedup_key.as_deref() == Some(&dedup_key("billing", sha, "2")[..])));
    assert!(
        stored.iter().any(|m| m.meta.control_id.as_deref() == Some("feb.csv:7")),
        "the quoted newline starts at line 7"
    );
    journal.close().await;
}

#[tokio::test]
async fn reading_a_file_again_journals_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal(dir.path()).await;
    let path = fixture("good.csv");
    let stop = CancellationToken::new();
    let open = move || std::fs::File::open(&path);
    let first = ingest(&charges(), &journal, "good.csv", open.clone(), &stop).await.unwrap();
    let again = ingest(&charges(), &journal, "renamed.csv", open, &stop).await.unwrap();
    assert!(first.chunks > 0);
    assert_eq!((first.chunks_duplicate, again.chunks_duplicate), (0, first.chunks));
    assert_eq!(first.rows_read, first.rows_converted + first.rows_rejected);
    assert_eq!((again.rows_read, again.sha256.clone()), (first.rows_read, first.sha256.clone()));
    let all = journal.list(&MessageFilter::default(), None, 100).await.unwrap();
    assert_eq!(all.len() as u64, first.chunks);
    journal.close().await;
}

#[tokio::test]
async fn a_closed_journal_is_an_error_not_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal(dir.path()).await;
    journal.close().await;
    let path = fixture("good.csv");
    let err = ingest(&charges(), &journal, "good.csv", move || std::fs::File::open(&path), &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(err, IngestError::Journal(_)), "{err}");
}

#[tokio::test]
async fn a_file_over_the_limit_goes_to_error_unread() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal(dir.path()).await;
    let plan = FilePlan { max_file_bytes: 100, ..plan(dir.path()) };
    let inbox = FileInbox::new(charges(), plan.clone(), journal.clone()).unwrap();
    std::fs::copy(fixture("good.csv"), plan.inbox.join("big.csv")).unwrap();
    let stop = CancellationToken::new();
    let task = {
        let stop = stop.clone();
        tokio::spawn(async move { inbox.run(stop).await })
    };
    wait_for(&plan.error_dir.join("big.csv.report.json")).await;
    wait_for(&plan.error_dir.join("big.csv")).await;
    stop.cancel();
    task.await.unwrap().unwrap();
    let report = read_report(&plan.error_dir.join("big.csv.report.json"));
    assert!(report["reason"].as_str().unwrap().contains("max_file_bytes = 100"), "{report}");
    assert!(journal.list(&MessageFilter::default(), None, 10).await.unwrap().is_empty());
    journal.close().await;
}

#[tokio::test]
async fn an_unsettled_file_waits() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal(dir.path()).await;
    let plan = FilePlan { settle: Duration::from_secs(3600), ..plan(dir.path()) };
    let inbox = FileInbox::new(charges(), plan.clone(), journal.clone()).unwrap();
    std::fs::copy(fixture("good.csv"), plan.inbox.join("new.csv")).unwrap();
    let stop = CancellationToken::new();
    let task = {
        let stop = stop.clone();
        tokio::spawn(async move { inbox.run(stop).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    task.await.unwrap().unwrap();
    assert!(plan.inbox.join("new.csv").exists(), "still being written, as far as the inbox knows");
    assert!(journal.list(&MessageFilter::default(), None, 10).await.unwrap().is_empty());
    journal.close().await;
}
