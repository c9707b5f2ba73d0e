use axum::body::Body;
use axum::http::{Request, StatusCode};
use hearth_store::{Journal, JournalConfig, SqliteConfig};
use metrics_exporter_prometheus::PrometheusBuilder;
use tower::ServiceExt;

use super::*;

async fn app(dir: &tempfile::TempDir) -> (Router, Journal) {
    let cfg = JournalConfig::Sqlite(SqliteConfig::new(dir.path().join("j.db")));
    let journal = Journal::open(&cfg).await.unwrap();
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("hearth_test_total", "channel" => "adt").increment(3);
    });
    (router(AdminState::new(journal.clone(), handle)), journal)
}

async fn get(app: &Router, path: &str) -> (StatusCode, String) {
    let res = app.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn health_ready_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _j) = app(&dir).await;
    assert_eq!(get(&app, "/healthz").await, (StatusCode::OK, "ok\n".into()));
    assert_eq!(get(&app, "/readyz").await, (StatusCode::OK, "ready\n".into()));
    let (st, body) = get(&app, "/metrics").await;
    assert_eq!(st, StatusCode::OK);
    assert!(body.contains("hearth_test_total{channel=\"adt\"} 3"), "{body}");
}

#[tokio::test]
async fn not_ready_once_the_journal_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (app, journal) = app(&dir).await;
    journal.close().await;
    let (st, body) = get(&app, "/readyz").await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("\"code\":\"journal_unavailable\""), "{body}");
}

#[tokio::test]
async fn unknown_path_is_a_json_404() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _j) = app(&dir).await;
    let (st, body) = get(&app, "/nope").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(body.contains("\"code\":\"not_found\""), "{body}");
}
