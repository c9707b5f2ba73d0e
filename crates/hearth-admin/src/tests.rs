#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use hearth_core::{Envelope, MessageMeta, MessageStatus, PayloadKind};
use hearth_store::{ConversionOutcome, Journal, JournalConfig, NewDelivery, SqliteConfig};
use metrics_exporter_prometheus::PrometheusBuilder;
use serde_json::Value;
use tower::ServiceExt;

use super::*;

const VIEWER: &str = "viewer-secret";
const OPERATOR: &str = "operator-secret";
const ADMIN: &str = "admin-secret";

async fn journal(dir: &tempfile::TempDir) -> Journal {
    let cfg = JournalConfig::Sqlite(SqliteConfig::new(dir.path().join("j.db")));
    Journal::open(&cfg).await.unwrap()
}

fn state(journal: &Journal) -> AdminState {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("hearth_test_total", "channel" => "adt").increment(3);
    });
    AdminState::new(journal.clone(), handle)
}

async fn app(dir: &tempfile::TempDir) -> (Router, Journal) {
    let j = journal(dir).await;
    (router(state(&j)), j)
}

/// An app with one token per role, channel `adt` and destination `fhir` (connected).
async fn api_app(dir: &tempfile::TempDir) -> (Router, Journal) {
    let j = journal(dir).await;
    let tokens = vec![
        ApiToken::new("wall", Role::Viewer, VIEWER).unwrap(),
        ApiToken::new("oncall", Role::Operator, OPERATOR).unwrap(),
        ApiToken::new("boss", Role::Admin, ADMIN).unwrap(),
    ];
    let st = state(&j).with_tokens(tokens).with_channel("adt").with_destination("fhir", Arc::new(|| None));
    (router(st), j)
}

async fn get(app: &Router, path: &str) -> (StatusCode, String) {
    call(app, Request::get(path).body(Body::empty()).unwrap()).await
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn api(app: &Router, method: &str, path: &str, token: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let (st, body) = call(app, req).await;
    (st, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

fn envelope(control_id: &str) -> Envelope {
    Envelope {
        channel: "adt".into(),
        kind: PayloadKind::Hl7v2,
        received_at: time::OffsetDateTime::now_utc(),
        raw: format!("MSH|^~\\&|LAB|NORTH|||20260101||ADT^A01|{control_id}|P|2.5.1\rPID|1||12345").into_bytes(),
        status: MessageStatus::Received,
        reason: None,
        dedup_key: Some(control_id.into()),
        meta: MessageMeta {
            message_code: Some("ADT".into()),
            trigger_event: Some("A01".into()),
            control_id: Some(control_id.into()),
            ..MessageMeta::default()
        },
        trace_id: hearth_core::trace::TraceId::random(),
    }
}

/// A converted message with one pending delivery to `fhir` and a Patient identifier.
async fn converted(journal: &Journal, control_id: &str, patient: &str) -> i64 {
    let id = journal.append(envelope(control_id)).await.unwrap().id;
    let delivery = NewDelivery {
        destination: "fhir".into(),
        route: "default".into(),
        routing_key: "adt.A01.Patient".into(),
        resource_type: "Patient".into(),
        content_id: format!("cid-{control_id}"),
        lane: None,
        body: "{}".into(),
    };
    let outcome = ConversionOutcome {
        status: MessageStatus::Processed,
        bundle: Some(r#"{"resourceType":"Bundle","type":"transaction"}"#.into()),
        report: Some("{}".into()),
        reason: None,
        deliveries: vec![delivery],
        patient_identifiers: vec![patient.into()],
    };
    journal.set_outcome_indexed(id, outcome).await.unwrap();
    id
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
async fn not_ready_while_the_journal_refuses_writes_and_ready_once_pruning_made_room() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = SqliteConfig::new(dir.path().join("j.db"));
    cfg.max_db_bytes = Some(192 * 1024);
    let journal = Journal::open(&JournalConfig::Sqlite(cfg)).await.unwrap();
    let app = router(state(&journal));
    let mut kept = Vec::new();
    for i in 0..1000 {
        let mut env = envelope(&format!("FULL{i}"));
        env.raw.extend(std::iter::repeat_n(b'X', 4000));
        match journal.append(env).await {
            Ok(a) => kept.push(a.id),
            Err(e) => {
                assert!(matches!(e, hearth_store::StoreError::Full(_)), "{e}");
                break;
            }
        }
    }
    assert!(kept.len() < 1000, "a 192 KiB journal must fill up");
    let (st, body) = get(&app, "/readyz").await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("\"code\":\"journal_refusing\"") && body.contains("journal is full"), "{body}");

    for id in &kept {
        journal.set_status(*id, MessageStatus::Processed, None).await.unwrap();
    }
    let later = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    journal.prune_content("adt", later, 0, 10_000).await.unwrap();
    assert_eq!(get(&app, "/readyz").await, (StatusCode::OK, "ready\n".into()));
    journal.close().await;
}

#[tokio::test]
async fn unknown_path_is_a_json_404() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _j) = app(&dir).await;
    let (st, body) = get(&app, "/nope").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(body.contains("\"code\":\"not_found\""), "{body}");
}

#[tokio::test]
async fn without_tokens_the_api_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _j) = app(&dir).await;
    for path in ["/api/v1/channels", "/api/v1/messages/1", "/api/v1/openapi.json"] {
        let (st, body) = api(&app, "GET", path, "anything").await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["error"]["code"], "api_disabled");
    }
}

#[tokio::test]
async fn no_token_is_401_wrong_role_is_403_before_anything_is_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _j) = api_app(&dir).await;
    // A malformed query and a non-numeric id: still 401/403, the request never got as far as parsing them.
    let (st, body) = get(&app, "/api/v1/messages?status=nonsense&bogus=1").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(body.contains("\"code\":\"unauthorized\""), "{body}");
    let (st, _) = api(&app, "GET", "/api/v1/channels", "not-a-token").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, body) = api(&app, "GET", "/api/v1/messages?status=nonsense", VIEWER).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden");
    let (st, _) = api(&app, "POST", "/api/v1/messages/x/reprocess", VIEWER).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = api(&app, "GET", "/api/v1/audit", OPERATOR).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Roles include the ones below them.
    assert_eq!(api(&app, "GET", "/api/v1/channels", ADMIN).await.0, StatusCode::OK);
    let (st, me) = api(&app, "GET", "/api/v1/whoami", OPERATOR).await;
    assert_eq!((st, me["name"].as_str(), me["role"].as_str()), (StatusCode::OK, Some("oncall"), Some("operator")));
}

#[tokio::test]
async fn malformed_queries_are_400_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _j) = api_app(&dir).await;
    for (query, needle) in [
        ("status=nonsense", "status must be one of"),
        ("bogus=1", "unknown query parameter \"bogus\""),
        ("from=yesterday", "from must be an RFC 3339 time"),
        ("limit=0", "limit must be between 1 and 1000"),
        ("cursor=-3", "cursor must be a positive integer"),
        ("patient=12345", "system|value"),
        ("order=sideways", "order must be asc or desc"),
        ("channel=a&channel=b", "given twice"),
    ] {
        let (st, body) = api(&app, "GET", &format!("/api/v1/messages?{query}"), OPERATOR).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body["error"]["code"], "bad_request");
        assert!(body["error"]["message"].as_str().unwrap().contains(needle), "{query}: {body}");
    }
    let (st, _) = api(&app, "GET", "/api/v1/messages/abc", OPERATOR).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn channels_and_destinations_show_the_journals_figures() {
    let dir = tempfile::tempdir().unwrap();
    let (app, j) = api_app(&dir).await;
    converted(&j, "c1", "urn:mrn|A").await;
    converted(&j, "c2", "urn:mrn|B").await;
    let e = j.append(envelope("c3")).await.unwrap().id;
    j.set_conversion(e, MessageStatus::Error, None, None, Some("bad")).await.unwrap();

    let (st, body) = api(&app, "GET", "/api/v1/channels", VIEWER).await;
    assert_eq!(st, StatusCode::OK);
    let adt = &body["channels"][0];
    assert_eq!(adt["name"], "adt");
    assert_eq!(adt["counts"]["processed"], 2);
    assert_eq!(adt["counts"]["error"], 1);
    assert_eq!(adt["total"], 3);
    assert_eq!(adt["paused"], false);
    assert!(adt["last_received_at"].is_string());
    assert!((adt["error_rate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);

    let (st, body) = api(&app, "GET", "/api/v1/destinations", VIEWER).await;
    assert_eq!(st, StatusCode::OK);
    let fhir = &body["destinations"][0];
    assert_eq!((fhir["name"].as_str(), fhir["connected"].as_bool()), (Some("fhir"), Some(true)));
    assert_eq!((fhir["pending"].as_u64(), fhir["dead"].as_u64()), (Some(2), Some(0)));
    assert!(fhir["oldest_pending_age_s"].as_f64().unwrap() >= 0.0);
}

#[tokio::test]
async fn search_by_patient_view_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let (app, j) = api_app(&dir).await;
    let a = converted(&j, "c1", "urn:mrn|A").await;
    converted(&j, "c2", "urn:mrn|B").await;

    let (st, body) = api(&app, "GET", "/api/v1/messages?patient=urn:mrn%7CA", OPERATOR).await;
    assert_eq!(st, StatusCode::OK);
    let ids: Vec<i64> = body["messages"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![a]);
    assert_eq!(body["next_cursor"], Value::Null);
    // Paging: one per page, newest first.
    let (_, page1) = api(&app, "GET", "/api/v1/messages?limit=1", OPERATOR).await;
    let cursor = page1["next_cursor"].as_i64().unwrap();
    let (_, page2) = api(&app, "GET", &format!("/api/v1/messages?limit=1&cursor={cursor}"), OPERATOR).await;
    assert_eq!(page2["messages"][0]["id"].as_i64(), Some(a));

    let (st, m) = api(&app, "GET", &format!("/api/v1/messages/{a}"), OPERATOR).await;
    assert_eq!(st, StatusCode::OK);
    assert!(m["raw"].as_str().unwrap().starts_with("MSH|"));
    assert_eq!(m["bundle"]["resourceType"], "Bundle");
    assert_eq!(m["patient_identifiers"][0], "urn:mrn|A");
    assert_eq!(m["deliveries"][0]["status"], "pending");
    assert_eq!(api(&app, "GET", "/api/v1/messages/999", OPERATOR).await.0, StatusCode::NOT_FOUND);

    let (st, trail) = api(&app, "GET", &format!("/api/v1/audit?message_id={a}"), ADMIN).await;
    assert_eq!(st, StatusCode::OK);
    let ev = &trail["events"][0];
    assert_eq!(ev["resourceType"], "AuditEvent");
    assert_eq!(ev["action"], "R");
    assert_eq!(ev["agent"][0]["who"]["display"], "oncall");
    assert!(!trail.to_string().contains(OPERATOR), "the audit trail never holds a token");
    // Listing is not a content view: one event only.
    assert_eq!(trail["events"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn actions_are_done_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let (app, j) = api_app(&dir).await;
    let a = converted(&j, "c1", "urn:mrn|A").await;

    let (st, body) = api(&app, "POST", &format!("/api/v1/messages/{a}/reprocess"), OPERATOR).await;
    assert_eq!((st, body["reprocessing"].as_i64()), (StatusCode::OK, Some(a)));
    assert_eq!(j.get(a).await.unwrap().unwrap().summary.status, MessageStatus::Received);
    assert_eq!(api(&app, "POST", "/api/v1/messages/999/reprocess", OPERATOR).await.0, StatusCode::NOT_FOUND);

    // The reprocessing cancelled the delivery: it can be resent.
    let d = j.list_deliveries(&Default::default(), None, 10).await.unwrap()[0].id;
    let (st, body) = api(&app, "POST", &format!("/api/v1/deliveries/{d}/resend"), OPERATOR).await;
    assert_eq!((st, body["resent"].as_u64()), (StatusCode::OK, Some(1)));
    assert_eq!(api(&app, "POST", "/api/v1/deliveries/999/resend", OPERATOR).await.0, StatusCode::NOT_FOUND);
    let (st, body) = api(&app, "POST", "/api/v1/destinations/fhir/resend-dead", OPERATOR).await;
    assert_eq!((st, body["resent"].as_u64()), (StatusCode::OK, Some(0)));
    assert_eq!(api(&app, "POST", "/api/v1/destinations/nope/resend-dead", OPERATOR).await.0, StatusCode::NOT_FOUND);

    let (st, _) = api(&app, "POST", "/api/v1/channels/adt/pause", OPERATOR).await;
    assert_eq!(st, StatusCode::OK);
    assert!(j.paused_channels().contains_key("adt"));
    let (_, ch) = api(&app, "GET", "/api/v1/channels", VIEWER).await;
    assert_eq!(ch["channels"][0]["paused"], true);
    api(&app, "POST", "/api/v1/channels/adt/resume", OPERATOR).await;
    assert!(j.paused_channels().is_empty());
    assert_eq!(api(&app, "POST", "/api/v1/channels/nope/pause", OPERATOR).await.0, StatusCode::NOT_FOUND);

    let (_, trail) = api(&app, "GET", "/api/v1/audit", ADMIN).await;
    let actions: Vec<&str> =
        trail["events"].as_array().unwrap().iter().map(|e| e["subtype"][0]["code"].as_str().unwrap()).collect();
    // The attempt on a missing message is on record too, as a failure.
    assert_eq!(actions, vec!["resume", "pause", "resend_dead", "resend", "reprocess", "reprocess"]);
    assert_eq!(trail["events"][4]["outcome"], "4");
    assert_eq!(trail["events"][5]["outcome"], "0");
}

#[tokio::test]
async fn alerts_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let j = journal(&dir).await;
    let board = AlertBoard::default();
    let tokens = vec![ApiToken::new("wall", Role::Viewer, VIEWER).unwrap()];
    let app = router(state(&j).with_tokens(tokens).with_alerts(board.clone()));
    let now = time::OffsetDateTime::now_utc();
    board.report(AlertKind::Disconnected, "fhir", Some("connection refused".into()), now);
    let (st, body) = api(&app, "GET", "/api/v1/alerts", VIEWER).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(body["active"][0]["kind"], "disconnected");
    assert_eq!(body["active"][0]["subject"], "fhir");
    board.report(AlertKind::Disconnected, "fhir", None, now);
    let (_, body) = api(&app, "GET", "/api/v1/alerts", VIEWER).await;
    assert_eq!(body["active"].as_array().unwrap().len(), 0);
    assert_eq!(body["recent"][0]["state"], "cleared");
}

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _j) = api_app(&dir).await;
    let (st, doc) = api(&app, "GET", "/api/v1/openapi.json", VIEWER).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().unwrap();
    for p in
        ["/channels", "/destinations", "/messages", "/messages/{id}", "/messages/{id}/reprocess", "/audit", "/alerts"]
    {
        assert!(paths.contains_key(p), "{p}");
    }
    // Every documented path answers something other than "no such path".
    for p in paths.keys().filter(|p| !p.contains('{')) {
        let method = if paths[p].get("get").is_some() { "GET" } else { "POST" };
        let (st, body) = api(&app, method, &format!("/api/v1{p}"), ADMIN).await;
        assert_ne!(body["error"]["code"], "not_found", "{p}: {st}");
    }
}

/// Both directions: every operation the router serves is in the OpenAPI document, and every documented
/// operation is served (with the path parameters filled in, it reaches its handler, not the fallback).
#[tokio::test]
async fn openapi_document_and_router_list_the_same_operations() {
    let doc: serde_json::Value = serde_json::from_str(include_str!("../assets/openapi.json")).unwrap();
    let documented: std::collections::BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), format!("/api/v1{path}")))
        })
        .collect();
    let served: std::collections::BTreeSet<(String, String)> =
        crate::api::operations().iter().map(|op| (op.method.to_string(), op.path.to_owned())).collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(undocumented.is_empty(), "served but not in openapi.json: {undocumented:?}");
    assert!(unserved.is_empty(), "in openapi.json but not served: {unserved:?}");

    let dir = tempfile::tempdir().unwrap();
    let (app, _j) = api_app(&dir).await;
    for (method, path) in &documented {
        let concrete = path.replace("{id}", "1").replace("{name}", "adt");
        let (st, body) = api(&app, method, &concrete, ADMIN).await;
        // The router's fallback says "no such path"; a handler's own 404 names what it did not find.
        assert_ne!(body["error"]["message"], "no such path", "{method} {concrete}: {st} {body}");
        assert_ne!(st, StatusCode::METHOD_NOT_ALLOWED, "{method} {concrete}");
    }
}

#[tokio::test]
async fn dashboard_is_served_with_its_assets_and_a_strict_policy() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _j) = app(&dir).await;
    let res = app.clone().oneshot(Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"), "{csp}");
    let (_, html) = get(&app, "/").await;
    assert!(html.contains("<script src=\"/assets/dashboard.js\""));
    assert!(!html.contains("http://") && !html.contains("https://"), "no external assets");
    let (st, js) = get(&app, "/assets/dashboard.js").await;
    assert_eq!(st, StatusCode::OK);
    assert!(js.contains("/api/v1") && !js.contains("innerHTML"));
    assert_eq!(get(&app, "/assets/dashboard.css").await.0, StatusCode::OK);
}

#[tokio::test]
async fn nodes_lists_every_node_and_readyz_names_this_one() {
    let dir = tempfile::tempdir().unwrap();
    let j = journal(&dir).await;
    let reg = |id: &str| hearth_store::NodeRegistration {
        id: id.into(),
        host: "host-a".into(),
        lease: std::time::Duration::from_secs(30),
    };
    let node = j.register_node(reg("host-a-1-100")).await.unwrap();
    let _inbox = node.try_lead("inbox.billing").await.unwrap().expect("one node leads");
    node.heartbeat().await.unwrap();
    let st = state(&j).with_tokens(vec![ApiToken::new("wall", Role::Viewer, VIEWER).unwrap()]).with_node(node.id());
    let app = router(st);

    let (status, body) = api(&app, "GET", "/api/v1/nodes", VIEWER).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["node"], "host-a-1-100");
    let nodes = body["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{body}");
    let n = &nodes[0];
    assert_eq!((n["id"].as_str(), n["host"].as_str()), (Some("host-a-1-100"), Some("host-a")));
    assert_eq!((n["alive"].as_bool(), n["self"].as_bool()), (Some(true), Some(true)));
    assert_eq!(n["leads"], serde_json::json!(["inbox.billing"]));
    for key in ["started_at", "last_heartbeat_at", "expires_at"] {
        assert!(n[key].as_str().is_some_and(|t| t.ends_with('Z')), "{key}: {n}");
    }
    assert_eq!(api(&app, "GET", "/api/v1/nodes", "wrong").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&app, "/readyz").await, (StatusCode::OK, "ready\nnode host-a-1-100\n".into()));
    j.close().await;
}

#[tokio::test]
async fn stats_answer_per_minute_series_from_the_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let (app, j) = api_app(&dir).await;
    let now = hearth_core::minutes::current_minute();
    let mut m = hearth_store::Minutes::default();
    let c = m.channel("adt", now - 120).unwrap();
    c.received = 7;
    c.error = 2;
    c.ack_latency.insert(hearth_core::minutes::latency_bucket(std::time::Duration::from_millis(3)), 7);
    m.channel("adt", now - 7200).unwrap().received = 100; // outside the hour
    m.channel("other", now).unwrap().received = 5; // not a configured channel
    let d = m.destination("fhir", now).unwrap();
    d.sent = 4;
    d.depth = Some(3);
    d.oldest_pending_ms = Some(2_500);
    j.record_minutes(m).await.unwrap();

    let (st, body) = api(&app, "GET", "/api/v1/stats", VIEWER).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["window"], "1h");
    let time = body["time"].as_array().unwrap();
    assert_eq!(time.len(), 60);
    assert_eq!(time[59], now);
    let adt = &body["channels"][0];
    assert_eq!(adt["name"], "adt");
    assert_eq!(body["channels"].as_array().unwrap().len(), 1, "configured channels only");
    let sum = |v: &Value| v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap_or(0)).sum::<u64>();
    assert_eq!((sum(&adt["received"]), sum(&adt["error"]), sum(&adt["processed"])), (7, 2, 0));
    assert_eq!(adt["received"][57], 7);
    let p50 = adt["ack_p50_ms"][57].as_f64().unwrap();
    assert!((3.0..3.6).contains(&p50), "{p50}");
    assert!(adt["ack_p50_ms"][58].is_null());
    let fhir = &body["destinations"][0];
    assert_eq!((fhir["sent"][59].as_u64(), fhir["depth"][59].as_f64()), (Some(4), Some(3.0)));
    assert_eq!(fhir["oldest_pending_s"][59].as_f64(), Some(2.5));

    let (_, day) = api(&app, "GET", "/api/v1/stats?window=24h&channel=adt", VIEWER).await;
    assert_eq!(day["time"].as_array().unwrap().len(), 1_440);
    assert_eq!(sum(&day["channels"][0]["received"]), 107);
    assert!(day["destinations"].as_array().unwrap().is_empty());
    for (path, want) in [
        ("/api/v1/stats?window=7d", StatusCode::BAD_REQUEST),
        ("/api/v1/stats?channel=adt&destination=fhir", StatusCode::BAD_REQUEST),
        ("/api/v1/stats?channel=nope", StatusCode::NOT_FOUND),
        ("/api/v1/stats?limit=1", StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(api(&app, "GET", path, VIEWER).await.0, want, "{path}");
    }
    j.close().await;
}

#[tokio::test]
async fn the_vendored_chart_library_is_served_with_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let (app, j) = app(&dir).await;
    let (st, js) = get(&app, "/assets/uplot.js").await;
    assert_eq!(st, StatusCode::OK);
    assert!(js.starts_with("/*! https://github.com/leeoniya/uPlot (v1.6.32) */"), "{}", &js[..80]);
    let (st, css) = get(&app, "/assets/uplot.css").await;
    assert!(st == StatusCode::OK && css.contains(".uplot"));
    let (_, page) = get(&app, "/").await;
    for asset in ["/assets/uplot.js", "/assets/uplot.css", "/assets/charts.js"] {
        assert!(page.contains(asset), "{asset} not linked");
    }
    assert_eq!(get(&app, "/assets/charts.js").await.0, StatusCode::OK);
    j.close().await;
}

#[tokio::test]
async fn a_message_names_its_trace_and_links_to_it_when_a_trace_url_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let j = journal(&dir).await;
    let env = envelope("t1");
    let trace = env.trace_id.to_hex();
    let id = j.append(env).await.unwrap().id;
    let operator = || vec![ApiToken::new("oncall", Role::Operator, OPERATOR).unwrap()];
    let plain = router(state(&j).with_tokens(operator()));
    let (st, m) = api(&plain, "GET", &format!("/api/v1/messages/{id}"), OPERATOR).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(m["trace_id"], trace.as_str());
    assert_eq!(m["message"]["trace_id"], trace.as_str());
    assert_eq!(m["trace_url"], Value::Null, "no link without [tracing] trace_url");
    let linked =
        router(state(&j).with_tokens(operator()).with_trace_url(Some("https://jaeger.example/trace/{trace_id}")));
    let (_, m) = api(&linked, "GET", &format!("/api/v1/messages/{id}"), OPERATOR).await;
    assert_eq!(m["trace_url"], format!("https://jaeger.example/trace/{trace}").as_str());
}
