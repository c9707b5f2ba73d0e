//! `POST /ingest/{channel}`: a CSV billing file (journaled in chunks like an inbox file) or one HL7 v2 message
//! (journaled like an MLLP frame), answered only after the journal has it.
//!
//! - CSV: `200` with the report JSON once every chunk is journaled; `400` with the report when the file as a
//!   whole is refused (header drift, no header, an oversized record); `413` over `max_body_bytes`; `503` when the
//!   journal fails (send the file again: chunks already stored are ignored). `?file=NAME` names the upload in
//!   the report and the journal (default `upload.csv`).
//! - HL7 v2: the ACK text (`application/hl7-v2`): `200` for `AA`/`CA`, `400` for `AR`/`CR` (the message cannot be
//!   parsed; it is journaled as rejected), `503` for `AE`/`CE` (the journal failed).

mod config;
mod hl7v2;
#[cfg(test)]
mod integration_tests;

use std::collections::HashMap;
use std::sync::Arc;

use crate::http_body::{BodyError, error, read_body};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hearth_store::Journal;
use tokio_util::sync::CancellationToken;

use crate::file::{CsvChannel, IngestError, IngestReport, ingest};
use crate::receipt::Receipt;
pub use config::{
    DEFAULT_MAX_CSV_BODY_BYTES, DEFAULT_MAX_HL7_BODY_BYTES, HttpIngestPlan, HttpPayload, RawHttpIngest, validate,
};
pub use hl7v2::Hl7v2Ingest;

/// One `POST /ingest/<name>` channel.
#[derive(Debug, Clone)]
pub enum IngestChannel {
    Csv { channel: CsvChannel, max_body_bytes: usize },
    Hl7v2(Hl7v2Ingest),
}

impl IngestChannel {
    fn name(&self) -> &str {
        match self {
            IngestChannel::Csv { channel, .. } => &channel.name,
            IngestChannel::Hl7v2(h) => &h.name,
        }
    }

    fn max_body_bytes(&self) -> usize {
        match self {
            IngestChannel::Csv { max_body_bytes, .. } => *max_body_bytes,
            IngestChannel::Hl7v2(h) => h.max_body_bytes,
        }
    }
}

struct Shared {
    channels: HashMap<String, IngestChannel>,
    journal: Journal,
    /// Cancelled at shutdown: an upload in progress stops between chunks and answers 503.
    shutdown: CancellationToken,
}

/// `POST /ingest/{channel}` for these channels. Merge it into the HTTP listener's router; it has no fallback.
pub fn router(channels: Vec<IngestChannel>, journal: Journal, shutdown: CancellationToken) -> Router {
    let channels = channels.into_iter().map(|c| (c.name().to_owned(), c)).collect();
    Router::new().route("/ingest/{channel}", post(receive)).with_state(Arc::new(Shared { channels, journal, shutdown }))
}

async fn receive(
    State(st): State<Arc<Shared>>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(ch) = st.channels.get(&name) else {
        return error(StatusCode::NOT_FOUND, "not_found", "no ingest channel of that name");
    };
    // The trace's root span starts before the body is read.
    let receipt = Receipt::new();
    let body = match read_body(&headers, body, ch.max_body_bytes()).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            let message = format!("body larger than max_body_bytes = {}", ch.max_body_bytes());
            return error(StatusCode::PAYLOAD_TOO_LARGE, "too_large", &message);
        }
        Err(BodyError::Broken) => return error(StatusCode::BAD_REQUEST, "bad_body", "the body could not be read"),
    };
    match ch {
        IngestChannel::Csv { channel, .. } => {
            let file = query.get("file").map_or("upload.csv", String::as_str);
            csv(&st, channel, file, body).await
        }
        IngestChannel::Hl7v2(h) => h.receive(&st.journal, body, receipt).await,
    }
}

async fn csv(st: &Shared, ch: &CsvChannel, file: &str, body: Vec<u8>) -> Response {
    let body = bytes::Bytes::from(body);
    let open = move || Ok::<_, std::io::Error>(std::io::Cursor::new(body.clone()));
    match ingest(ch, &st.journal, file, open, &st.shutdown).await {
        Ok(report) => json(StatusCode::OK, &report),
        Err(IngestError::Refused(report)) => json(StatusCode::BAD_REQUEST, &report),
        Err(IngestError::Journal(_)) => {
            error(StatusCode::SERVICE_UNAVAILABLE, "journal_unavailable", "not stored; send the file again later")
        }
        Err(IngestError::Stopped) => {
            error(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", "not fully stored; send the file again later")
        }
    }
}

fn json(status: StatusCode, report: &IngestReport) -> Response {
    match serde_json::to_string(report) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the report could not be written"),
    }
}
