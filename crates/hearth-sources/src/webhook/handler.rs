//! The request path: size limit (413) → authentication over the exact bytes (401, nothing journaled) → parse
//! (400) → journal → 2xx. Nothing is acknowledged that the journal does not have (503 if it fails).
//!
//! - An event is journaled `received` with the dedup key `webhook:<channel>:<vendor event key>`: a vendor's
//!   retry gets 200 again and is stored (and delivered) once.
//! - An authentic event that is not a call, SMS or chat (agent presence, typing indicators) is journaled
//!   `filtered` with the reason and answered 200, or the vendor would retry it forever. Its dedup key is the
//!   body's SHA-256, so retries are not stored twice either.
//! - An authentic body that cannot be parsed is journaled `rejected` with the reason (it came from the vendor:
//!   a profile gap worth seeing) and answered 400 with the same reason, which names fields, never values.
//! - A request that fails authentication is journaled nothing and logged without its payload.
//!
//! The body limit is per channel, so it is applied here rather than as one tower layer for the listener.

use std::collections::HashMap;
use std::sync::Arc;

use crate::http_body::{BodyError, error, read_body};
use axum::Router;
use axum::body::Body;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hearth_core::events::{JournalFailed, MessageReceived, ReceiveOutcome};
use hearth_core::trace::now_unix_nanos;
use hearth_core::{Envelope, MessageMeta, MessageStatus, PayloadKind};
use hearth_store::Journal;
use hearth_webhooks::{Parsed, Request};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::WebhookChannel;
use crate::receipt::Receipt;

/// Longest vendor status kept as the journal's trigger event (it becomes part of routing keys).
const MAX_EVENT_LEN: usize = 40;

struct Shared {
    channels: HashMap<String, WebhookChannel>,
    journal: Journal,
}

/// `POST /webhooks/{channel}` for these channels, journaling into `journal`. Merge it into the HTTP listener's
/// router; it has no fallback of its own.
pub fn router(channels: Vec<WebhookChannel>, journal: Journal) -> Router {
    let channels = channels.into_iter().map(|c| (c.name.clone(), c)).collect();
    Router::new().route("/webhooks/{channel}", post(receive)).with_state(Arc::new(Shared { channels, journal }))
}

/// The journal's dedup key of a webhook event: the channel and the vendor's event identity.
pub fn dedup_key(channel: &str, event_key: &str) -> String {
    format!("webhook:{channel}:{event_key}")
}

async fn receive(
    State(st): State<Arc<Shared>>,
    Path(name): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(ch) = st.channels.get(&name) else {
        return error(StatusCode::NOT_FOUND, "not_found", "no webhook channel of that name");
    };
    let now = OffsetDateTime::now_utc();
    let started = now_unix_nanos();
    let body = match read_body(&headers, body, ch.max_body_bytes).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            let message = format!("body larger than {} bytes", ch.max_body_bytes);
            return error(StatusCode::PAYLOAD_TOO_LARGE, "too_large", &message);
        }
        Err(BodyError::Broken) => return error(StatusCode::BAD_REQUEST, "bad_body", "the body could not be read"),
    };
    let pairs: Vec<(String, String)> =
        headers.iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_owned(), v.to_owned()))).collect();
    let url = ch.public_url(uri.path(), uri.query());
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let req = Request { public_url: &url, headers: &pairs, content_type, body: &body, now };
    if let Err(e) = hearth_webhooks::verify(&ch.auth, &req) {
        // The reason names the failed check only; never a header value or the body.
        tracing::warn!(channel = %ch.name, reason = %e, "webhook refused: authentication failed");
        return error(StatusCode::UNAUTHORIZED, "unauthorized", &e.to_string());
    }
    let env = match hearth_webhooks::parse(&ch.profile, &req) {
        Ok(Parsed::Event(event)) => Envelope {
            status: MessageStatus::Received,
            reason: None,
            dedup_key: Some(dedup_key(&ch.name, &event.event_key)),
            meta: event_meta(&event),
            ..envelope(ch, now, &body)
        },
        Ok(Parsed::Ignored(ignored)) => Envelope {
            status: MessageStatus::Filtered,
            reason: Some(format!("not a call, SMS or chat: {}", ignored.reason)),
            dedup_key: Some(dedup_key(&ch.name, &format!("sha256:{}", hex::encode(Sha256::digest(&body))))),
            ..envelope(ch, now, &body)
        },
        Err(e) => {
            let reason = e.to_string();
            let env =
                Envelope { status: MessageStatus::Rejected, reason: Some(reason.clone()), ..envelope(ch, now, &body) };
            let mut receipt = Receipt::with_trace(env.trace_id, started);
            journal(&st.journal, ch, env, &mut receipt).await;
            receipt.answered(&ch.name, "400");
            return error(StatusCode::BAD_REQUEST, "malformed", &reason);
        }
    };
    let mut receipt = Receipt::with_trace(env.trace_id, started);
    match journal(&st.journal, ch, env, &mut receipt).await {
        Some(app) => {
            receipt.answered(&ch.name, "200");
            let body = serde_json::json!({ "journal_id": app.id, "duplicate": app.duplicate });
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
        }
        None => {
            receipt.answered(&ch.name, "503");
            error(StatusCode::SERVICE_UNAVAILABLE, "journal_unavailable", "not stored; send it again later")
        }
    }
}

/// The envelope every outcome starts from (received, no key).
fn envelope(ch: &WebhookChannel, now: OffsetDateTime, body: &[u8]) -> Envelope {
    Envelope {
        channel: ch.name.clone(),
        kind: PayloadKind::Webhook,
        received_at: now,
        raw: body.to_vec(),
        status: MessageStatus::Received,
        reason: None,
        dedup_key: None,
        meta: MessageMeta::default(),
        trace_id: hearth_core::trace::TraceId::random(),
    }
}

/// Appends and emits the receive event; `None` if the journal failed (the caller answers 503).
async fn journal(
    journal: &Journal,
    ch: &WebhookChannel,
    env: Envelope,
    receipt: &mut Receipt,
) -> Option<hearth_store::Appended> {
    let (bytes, status, meta) = (env.raw.len(), env.status, env.meta.clone());
    match journal.append(env).await {
        Ok(app) => {
            let outcome = match (app.duplicate, status) {
                (true, _) => ReceiveOutcome::Duplicate,
                (false, MessageStatus::Rejected) => ReceiveOutcome::Rejected,
                (false, _) => ReceiveOutcome::Accepted,
            };
            MessageReceived { channel: &ch.name, outcome, bytes, journal_id: Some(app.id) }.emit();
            receipt.journaled(app.id, outcome, &meta);
            Some(app)
        }
        Err(e) => {
            JournalFailed { channel: &ch.name, error: &e.to_string() }.emit();
            receipt.journal_failed();
            None
        }
    }
}

/// What the journal records about an event besides its bytes: the medium as message code, the vendor status as
/// the event (what routes match and routing keys carry).
pub fn event_meta(event: &hearth_webhooks::Event) -> MessageMeta {
    MessageMeta {
        message_code: Some(medium(event.medium).to_owned()),
        trigger_event: Some(event_name(&event.status)),
        ..MessageMeta::default()
    }
}

fn medium(m: hearth_webhooks::Medium) -> &'static str {
    match m {
        hearth_webhooks::Medium::Voice => "voice",
        hearth_webhooks::Medium::Sms => "sms",
        hearth_webhooks::Medium::Chat => "chat",
    }
}

/// The vendor status as a routing-key-safe event name (`no-answer`, `CONNECTED_TO_AGENT`).
fn event_name(status: &str) -> String {
    let name: String = status
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .take(MAX_EVENT_LEN)
        .collect();
    if name.is_empty() { "event".to_owned() } else { name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_are_routing_key_safe() {
        assert_eq!(event_name("no-answer"), "no-answer");
        assert_eq!(event_name("CONNECTED_TO_AGENT"), "CONNECTED_TO_AGENT");
        assert_eq!(event_name("a.b #*"), "a_b___");
        assert_eq!(event_name(""), "event");
        assert_eq!(event_name(&"x".repeat(100)).len(), MAX_EVENT_LEN);
    }
}
