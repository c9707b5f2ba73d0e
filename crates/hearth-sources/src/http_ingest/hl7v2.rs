//! One HL7 v2 message over HTTP: the same guard and dedup as the MLLP listener (parse, dedup key over MSH-3,
//! MSH-4, MSH-10 and the bytes; unparseable input journaled as rejected), answered with the ACK text.

use std::sync::Arc;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hearth_hl7v2::{AckPolicy, Charset, ParseOptions};
use hearth_store::Journal;
use time::OffsetDateTime;

use crate::hl7v2_intake::{Acks, journal_and_answer};
use crate::receipt::Receipt;

/// An `hl7v2` ingest channel.
#[derive(Debug, Clone)]
pub struct Hl7v2Ingest {
    pub name: String,
    pub max_body_bytes: usize,
    pub parse: ParseOptions,
    acks: Arc<Acks>,
}

impl Hl7v2Ingest {
    pub fn new(
        name: &str,
        max_body_bytes: usize,
        default_charset: Charset,
        ack_sending_application: &str,
        ack_sending_facility: &str,
    ) -> Self {
        Hl7v2Ingest {
            name: name.to_owned(),
            max_body_bytes,
            parse: ParseOptions { default_charset, ..ParseOptions::default() },
            acks: Arc::new(Acks::new(ack_sending_application, ack_sending_facility)),
        }
    }

    /// Parses, journals, answers: the ACK as the HTTP answer, 200 for AA/CA, 400 for AR/CR, 503 for AE/CE.
    /// Parsing runs inline: the body is bounded by `max_body_bytes`.
    pub(super) async fn receive(&self, journal: &Journal, body: Vec<u8>, mut receipt: Receipt) -> Response {
        let received_at = OffsetDateTime::now_utc();
        let parsed = hearth_hl7v2::parse(&body, &self.parse);
        // `Always`: an HTTP client always gets an answer, whatever MSH-15 says.
        let acks = (&*self.acks, AckPolicy::Always);
        let answer = journal_and_answer(journal, &self.name, received_at, &body, parsed, acks, &mut receipt).await;
        let Some((code, text)) = answer else {
            receipt.answered(&self.name, "none");
            return StatusCode::NO_CONTENT.into_response();
        };
        let status = match code {
            "AA" | "CA" => StatusCode::OK,
            "AR" | "CR" => StatusCode::BAD_REQUEST,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        receipt.answered(&self.name, code);
        (status, [(header::CONTENT_TYPE, "application/hl7-v2")], text).into_response()
    }
}
