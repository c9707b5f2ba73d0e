#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `POST /ingest/{channel}` through the router (`oneshot`, no socket) against a real SQLite journal.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use hearth_csv::{Converter, Profile};
use hearth_hl7v2::Charset;
use hearth_store::{Journal, JournalConfig, MessageFilter, SqliteConfig};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::*;
use crate::file::CsvChannel;

fn channels() -> Vec<IngestChannel> {
    let converter = Arc::new(Converter::new(&Profile::builtin("charges").unwrap()));
    vec![
        IngestChannel::Csv { channel: CsvChannel { name: "upload".into(), converter }, max_body_bytes: 4096 },
        IngestChannel::Hl7v2(Hl7v2Ingest::new("lab", 4096, Charset::Ascii, "HEARTH", "")),
    ]
}

async fn journal(dir: &Path) -> Journal {
    Journal::open(&JournalConfig::Sqlite(SqliteConfig::new(dir.join("journal.db")))).await.unwrap()
}

async fn post(journal: &Journal, path: &str, body: Vec<u8>) -> (StatusCode, String) {
    let app = router(channels(), journal.clone(), CancellationToken::new());
    let req = Request::post(path).body(Body::from(body)).unwrap();
    let res = app.oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/csv/charges").join(name)).unwrap()
}

#[tokio::test]
async fn csv_upload_answers_with_the_report_after_journaling() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal(dir.path()).await;
    let (status, body) = post(&journal, "/ingest/upload?file=feb.csv", fixture("bad_rows.csv")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((report["file"].as_str(), report["rows_read"].as_u64()), (Some("feb.csv"), Some(10)));
    assert_eq!((report["rows_converted"].as_u64(), report["rows_rejected"].as_u64()), (Some(2), Some(8)));
    assert_eq!(report["errors"][1]["column"], "unit_price");
    let stored = journal.list(&MessageFilter::default(), None, 100).await.unwrap();
    assert_eq!(stored.len(), 10);

    let (status, again) = post(&journal, "/ingest/upload", fixture("bad_rows.csv")).await;
    assert_eq!(status, StatusCode::OK);
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["chunks_duplicate"], 10, "the same file again is stored once");
    journal.close().await;
}

#[tokio::test]
async fn csv_upload_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal(dir.path()).await;
    let (status, body) = post(&journal, "/ingest/upload", fixture("drift_missing.csv")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((report["status"].as_str(), report["header"]["missing"][0].as_str()), (Some("refused"), Some("units")));
    let (status, body) = post(&journal, "/ingest/upload", vec![b'x'; 5000]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(post(&journal, "/ingest/nope", Vec::new()).await.0, StatusCode::NOT_FOUND);
    assert!(journal.list(&MessageFilter::default(), None, 10).await.unwrap().is_empty());
    journal.close().await;
    assert_eq!(post(&journal, "/ingest/upload", fixture("good.csv")).await.0, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn hl7v2_over_http_answers_with_the_ack() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal(dir.path()).await;
    let msg = b"MSH|^~\\&|LAB|NORTH|HEARTH|HOSP|20250301120000||ADT^A01^ADT_A01|MSG0001|P|2.5\rPID|1||MRN1^^^HOSP^MR||DOE^JANE\r";
    let (status, ack) = post(&journal, "/ingest/lab", msg.to_vec()).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert!(ack.contains("MSA|AA|MSG0001"), "{ack}");
    let (status, _) = post(&journal, "/ingest/lab", msg.to_vec()).await;
    assert_eq!(status, StatusCode::OK, "a resend is acknowledged");
    let (status, nak) = post(&journal, "/ingest/lab", b"not hl7".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{nak}");
    assert!(nak.contains("MSA|AR"), "{nak}");
    let stored = journal.list(&MessageFilter::default(), None, 10).await.unwrap();
    assert_eq!(stored.len(), 2, "the message once, the refused input once");
    assert_eq!(stored[0].duplicates, 1);
    journal.close().await;
    let (status, ae) = post(&journal, "/ingest/lab", msg.to_vec()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ae}");
    assert!(ae.contains("MSA|AE"), "{ae}");
}
