//! `/api/v1`: channels, destinations, messages, actions, alerts, audit. Every route sits behind the
//! [`crate::auth`] middleware with the role it needs; query strings are parsed here (unknown or malformed
//! parameters are a 400 naming the parameter), never by a generic extractor.

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Extension, Router, middleware};
use hearth_core::MessageStatus;
use hearth_store::{
    DeliveryFilter, DeliveryRecord, MAX_PAGE, MessageSummary, ResendTarget, SearchPage, SearchQuery, StoreError,
};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::audit::{self, Action, Target};
use crate::auth::{Guard, authorize};
use crate::{AdminError as ApiError, AdminState, Caller, Role, rfc3339};

const OPENAPI: &str = include_str!("../assets/openapi.json");
const DEFAULT_LIMIT: u32 = 50;

pub(crate) type ApiResult = Result<Response, ApiError>;

/// One operation of the API: the role it needs, its method and path, its handler. The router and the test
/// that holds the OpenAPI document to the router both read this table.
pub(crate) struct Operation {
    pub role: Role,
    /// The method `handler` answers, as data: the OpenAPI test compares it with the document.
    #[cfg_attr(not(test), allow(dead_code))]
    pub method: Method,
    pub path: &'static str,
    handler: MethodRouter<AdminState>,
}

/// Every `/api/v1` operation.
pub(crate) fn operations() -> Vec<Operation> {
    let op = |role, method, path, handler| Operation { role, method, path, handler };
    vec![
        op(Role::Viewer, Method::GET, "/api/v1/openapi.json", get(openapi)),
        op(Role::Viewer, Method::GET, "/api/v1/whoami", get(whoami)),
        op(Role::Viewer, Method::GET, "/api/v1/channels", get(channels)),
        op(Role::Viewer, Method::GET, "/api/v1/destinations", get(destinations)),
        op(Role::Viewer, Method::GET, "/api/v1/alerts", get(alerts)),
        op(Role::Viewer, Method::GET, "/api/v1/nodes", get(crate::nodes::nodes)),
        op(Role::Viewer, Method::GET, "/api/v1/stats", get(crate::stats::stats)),
        op(Role::Operator, Method::GET, "/api/v1/messages", get(messages)),
        op(Role::Operator, Method::GET, "/api/v1/messages/{id}", get(message)),
        op(Role::Operator, Method::POST, "/api/v1/messages/{id}/reprocess", post(reprocess)),
        op(Role::Operator, Method::POST, "/api/v1/deliveries/{id}/resend", post(resend)),
        op(Role::Operator, Method::POST, "/api/v1/destinations/{name}/resend-dead", post(resend_dead)),
        op(Role::Operator, Method::POST, "/api/v1/channels/{name}/pause", post(pause)),
        op(Role::Operator, Method::POST, "/api/v1/channels/{name}/resume", post(resume)),
        op(Role::Admin, Method::GET, "/api/v1/audit", get(audit_trail)),
        op(Role::Viewer, Method::GET, "/api/v1/config", get(config)),
        op(Role::Admin, Method::POST, "/api/v1/reload", post(reload)),
    ]
}

pub(crate) fn routes(state: &AdminState) -> Router<AdminState> {
    let mut router = Router::new();
    for role in [Role::Viewer, Role::Operator, Role::Admin] {
        let guard = middleware::from_fn_with_state(Guard { tokens: state.tokens.clone(), need: role }, authorize);
        let mut group = Router::new();
        for op in operations().into_iter().filter(|op| op.role == role) {
            group = group.route(op.path, op.handler);
        }
        router = router.merge(group.route_layer(guard));
    }
    router
}

pub(crate) fn json_ok(v: &Value) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

pub(crate) fn bad_request(message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
}

/// A journal failure as the API shows it: retryable ones are 503, the rest 500; details go to the log only.
pub(crate) fn store_error(e: &StoreError) -> ApiError {
    match e {
        StoreError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such message"),
        StoreError::Refused(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
        e if e.class() == hearth_core::ErrorClass::Transient => {
            tracing::warn!(error = %e, "admin API: journal unavailable");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "journal_unavailable", "the journal is unavailable")
        }
        e => {
            tracing::error!(error = %e, "admin API: journal error");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the journal failed")
        }
    }
}

/// Parses `a=1&b=2`, refusing unknown and repeated parameters.
pub(crate) fn parse_query(raw: Option<&str>, allowed: &[&str]) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if !allowed.contains(&k.as_ref()) {
            return Err(bad_request(&format!("unknown query parameter {k:?} (allowed: {})", allowed.join(", "))));
        }
        if out.insert(k.clone().into_owned(), v.into_owned()).is_some() {
            return Err(bad_request(&format!("query parameter {k:?} is given twice")));
        }
    }
    Ok(out)
}

fn parse_id(s: &str, what: &str) -> Result<i64, ApiError> {
    s.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| bad_request(&format!("{what} must be a positive integer")))
}

fn parse_time(s: &str, what: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|_| bad_request(&format!("{what} must be an RFC 3339 time (2026-01-31T12:00:00Z)")))
}

fn parse_limit(q: &BTreeMap<String, String>) -> Result<u32, ApiError> {
    match q.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| bad_request(&format!("limit must be between 1 and {MAX_PAGE}"))),
    }
}

async fn openapi() -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn config(State(st): State<AdminState>) -> ApiResult {
    let info = st.config.as_ref().map_or_else(|| json!({ "reloadable": false }), |info| info());
    Ok(json_ok(&info))
}

/// Re-reads the configuration file, validates it completely and applies what can change live; a refused
/// configuration leaves the running one in place (409 with the reasons). The engine records the audit event.
async fn reload(State(st): State<AdminState>, Extension(caller): Extension<Caller>) -> ApiResult {
    let Some(hook) = st.reload.clone() else {
        return Err(ApiError::new(StatusCode::CONFLICT, "not_reloadable", "this engine has no configuration file"));
    };
    match hook(caller.name.clone()).await {
        Ok(info) => Ok(json_ok(&info)),
        Err(reason) => Err(ApiError::new(StatusCode::CONFLICT, "reload_refused", &reason)),
    }
}

async fn whoami(Extension(caller): Extension<Caller>) -> Response {
    json_ok(&json!({ "name": caller.name, "role": caller.role.as_str() }))
}

async fn channels(State(st): State<AdminState>) -> ApiResult {
    let paused = st.journal.paused_channels();
    let active = st.alerts.active();
    let mut out = Vec::new();
    for name in &st.channels {
        let s = st.journal.channel_stats(name).await.map_err(|e| store_error(&e))?;
        let counts: serde_json::Map<String, Value> =
            s.counts.iter().map(|(k, v)| (k.as_str().to_owned(), json!(v))).collect();
        out.push(json!({
            "name": name,
            "paused": paused.contains_key(name),
            "counts": counts,
            "total": s.counts.values().sum::<u64>(),
            "last_received_at": s.last_received_at.map(rfc3339),
            "error_rate": s.error_rate,
            "latency_p50_ms": s.latency_p50_ms,
            "latency_p99_ms": s.latency_p99_ms,
            "alerts": active.iter().filter(|a| a.kind.scope() == "channel" && &a.subject == name).count(),
        }));
    }
    Ok(json_ok(&json!({ "channels": out, "ingest_paused": st.journal.ingest_paused() })))
}

async fn destinations(State(st): State<AdminState>) -> ApiResult {
    let now = OffsetDateTime::now_utc();
    let active = st.alerts.active();
    let mut out = Vec::new();
    for (name, probe) in &st.destinations {
        let s = st.journal.destination_stats(name).await.map_err(|e| store_error(&e))?;
        let down = probe();
        out.push(json!({
            "name": name,
            "connected": down.is_none(),
            "state": down.unwrap_or_else(|| "connected".into()),
            "pending": s.pending,
            "dead": s.dead,
            "oldest_pending_at": s.oldest_pending.map(rfc3339),
            "oldest_pending_age_s": s.oldest_pending.map(|t| (now - t).as_seconds_f64().max(0.0)),
            "alerts": active.iter().filter(|a| a.kind.scope() == "destination" && &a.subject == name).count(),
        }));
    }
    Ok(json_ok(&json!({ "destinations": out })))
}

async fn alerts(State(st): State<AdminState>) -> Response {
    let active: Vec<Value> = st.alerts.active().iter().map(crate::Alert::to_json).collect();
    let recent: Vec<Value> = st.alerts.recent().iter().map(crate::Alert::to_json).collect();
    json_ok(&json!({ "active": active, "recent": recent }))
}

const SEARCH_PARAMS: [&str; 10] =
    ["channel", "status", "from", "to", "event", "control_id", "patient", "cursor", "order", "limit"];

fn search_query(q: &BTreeMap<String, String>) -> Result<(SearchQuery, SearchPage), ApiError> {
    let status = q
        .get("status")
        .map(|s| {
            MessageStatus::parse(s).ok_or_else(|| {
                let all: Vec<&str> = MessageStatus::ALL.iter().map(|s| s.as_str()).collect();
                bad_request(&format!("status must be one of {}", all.join(", ")))
            })
        })
        .transpose()?;
    if let Some(p) = q.get("patient")
        && !p.contains('|')
    {
        return Err(bad_request("patient must be an identifier as system|value (|value without a system)"));
    }
    let newest_first = match q.get("order").map(String::as_str) {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(_) => return Err(bad_request("order must be asc or desc")),
    };
    let query = SearchQuery {
        channel: q.get("channel").cloned(),
        status,
        received_from: q.get("from").map(|s| parse_time(s, "from")).transpose()?,
        received_to: q.get("to").map(|s| parse_time(s, "to")).transpose()?,
        event: q.get("event").cloned(),
        control_id: q.get("control_id").cloned(),
        patient_identifier: q.get("patient").cloned(),
    };
    let cursor = q.get("cursor").map(|s| parse_id(s, "cursor")).transpose()?;
    Ok((query, SearchPage { cursor, newest_first, limit: parse_limit(q)? }))
}

async fn messages(State(st): State<AdminState>, RawQuery(raw): RawQuery) -> ApiResult {
    let q = parse_query(raw.as_deref(), &SEARCH_PARAMS)?;
    let (query, page) = search_query(&q)?;
    let found = st.journal.search(&query, page).await.map_err(|e| store_error(&e))?;
    let next_cursor = (found.len() == page.limit as usize).then(|| found.last().map(|m| m.id)).flatten();
    let list: Vec<Value> = found.iter().map(summary_json).collect();
    Ok(json_ok(&json!({ "messages": list, "next_cursor": next_cursor })))
}

fn summary_json(m: &MessageSummary) -> Value {
    json!({
        "id": m.id,
        "channel": m.channel,
        "kind": m.kind.as_str(),
        "status": m.status.as_str(),
        "reason": m.reason,
        "received_at": rfc3339(m.received_at),
        "updated_at": rfc3339(m.updated_at),
        "event": m.meta.trigger_event.as_ref().or(m.meta.message_code.as_ref()),
        "message_code": m.meta.message_code,
        "trigger_event": m.meta.trigger_event,
        "control_id": m.meta.control_id,
        "sending_application": m.meta.sending_application,
        "sending_facility": m.meta.sending_facility,
        "duplicates": m.duplicates,
        "content_pruned": m.raw_len.is_none(),
        "trace_id": m.trace_id,
    })
}

async fn message(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult {
    let id = parse_id(&id, "message id")?;
    let Some(m) = st.journal.get(id).await.map_err(|e| store_error(&e))? else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such message"));
    };
    let deliveries = deliveries_json(&st, id).await?;
    let identifiers = st.journal.patient_identifiers(id).await.map_err(|e| store_error(&e))?;
    // Content is shown only once its viewing is on record.
    audit::record(&st.journal, &caller, Action::View, &Target::Message(id), true).await.map_err(|e| store_error(&e))?;
    let parse = |s: &Option<String>| s.as_deref().map(|t| serde_json::from_str::<Value>(t).unwrap_or(json!(t)));
    Ok(json_ok(&json!({
        "message": summary_json(&m.summary),
        "raw": m.raw.as_ref().map(|r| String::from_utf8_lossy(r).into_owned()),
        "bundle": parse(&m.bundle),
        "report": parse(&m.report),
        "patient_identifiers": identifiers,
        "deliveries": deliveries,
        "trace_id": m.summary.trace_id,
        "trace_url": m.summary.trace_id.as_deref().and_then(|t| st.trace_link(t)),
    })))
}

async fn deliveries_json(st: &AdminState, message_id: i64) -> Result<Vec<Value>, ApiError> {
    let filter = DeliveryFilter { message_id: Some(message_id), ..DeliveryFilter::default() };
    let list = st.journal.list_deliveries(&filter, None, MAX_PAGE).await.map_err(|e| store_error(&e))?;
    let mut out = Vec::with_capacity(list.len());
    for d in &list {
        let failures = st.journal.delivery_failures(d.id).await.map_err(|e| store_error(&e))?;
        let failures: Vec<Value> = failures
            .iter()
            .map(|(attempt, at, error)| json!({ "attempt": attempt, "at": rfc3339(*at), "error": error }))
            .collect();
        out.push(delivery_json(d, failures));
    }
    Ok(out)
}

fn delivery_json(d: &DeliveryRecord, failures: Vec<Value>) -> Value {
    json!({
        "id": d.id,
        "destination": d.destination,
        "route": d.route,
        "routing_key": d.routing_key,
        "resource_type": d.resource_type,
        "content_id": d.content_id,
        "status": d.status.as_str(),
        "attempts": d.attempts,
        "next_attempt_at": rfc3339(d.next_attempt_at),
        "last_error": d.last_error,
        "created_at": rfc3339(d.created_at),
        "sent_at": d.sent_at.map(rfc3339),
        "failures": failures,
    })
}

/// Runs an action, records it (with its outcome) and answers.
async fn act<T>(
    st: &AdminState,
    caller: &Caller,
    action: Action,
    target: Target,
    result: Result<T, StoreError>,
    answer: impl FnOnce(T) -> Value,
) -> ApiResult {
    let ok = result.is_ok();
    audit::record(&st.journal, caller, action, &target, ok).await.map_err(|e| store_error(&e))?;
    tracing::info!(actor = %caller.name, action = ?action, ok, "admin action");
    result.map(|v| json_ok(&answer(v))).map_err(|e| store_error(&e))
}

async fn reprocess(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult {
    let id = parse_id(&id, "message id")?;
    let result = st.journal.reprocess(id).await;
    act(&st, &caller, Action::Reprocess, Target::Message(id), result, |()| json!({ "reprocessing": id })).await
}

async fn resend(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult {
    let id = parse_id(&id, "delivery id")?;
    let result = match st.journal.resend(ResendTarget::Delivery(id)).await {
        Err(StoreError::NotFound(_)) => {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such delivery"));
        }
        other => other,
    };
    act(&st, &caller, Action::Resend, Target::Delivery(id), result, |n| json!({ "resent": n })).await
}

async fn resend_dead(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult {
    if !st.destinations.iter().any(|(n, _)| *n == name) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such destination"));
    }
    let result = st.journal.resend(ResendTarget::DeadFor(name.clone())).await;
    act(&st, &caller, Action::ResendDead, Target::Destination(name), result, |n| json!({ "resent": n })).await
}

async fn pause(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult {
    set_paused(st, caller, name, true).await
}

async fn resume(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult {
    set_paused(st, caller, name, false).await
}

async fn set_paused(st: AdminState, caller: Caller, name: String, paused: bool) -> ApiResult {
    if !st.channels.contains(&name) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such channel"));
    }
    let stored = if paused {
        st.journal.pause_channel(&name, &format!("paused by {}", caller.name)).await
    } else {
        st.journal.resume_channel(&name).await
    };
    let action = if paused { Action::Pause } else { Action::Resume };
    act(&st, &caller, action, Target::Channel(name.clone()), stored, |()| json!({ "channel": name, "paused": paused }))
        .await
}

async fn audit_trail(State(st): State<AdminState>, RawQuery(raw): RawQuery) -> ApiResult {
    let q = parse_query(raw.as_deref(), &["message_id", "cursor", "limit"])?;
    let message_id = q.get("message_id").map(|s| parse_id(s, "message_id")).transpose()?;
    let cursor = q.get("cursor").map(|s| parse_id(s, "cursor")).transpose()?;
    let limit = parse_limit(&q)?;
    let rows = st.journal.audit_events(message_id, cursor, limit).await.map_err(|e| store_error(&e))?;
    let next_cursor = (rows.len() == limit as usize).then(|| rows.last().map(|r| r.id)).flatten();
    let events: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut event: Value = serde_json::from_str(&r.event).unwrap_or(Value::Null);
            if let Some(obj) = event.as_object_mut() {
                obj.insert("id".into(), json!(r.id.to_string()));
            }
            event
        })
        .collect();
    Ok(json_ok(&json!({ "events": events, "next_cursor": next_cursor })))
}
