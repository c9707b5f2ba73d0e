//! One HL7 v2 message over HTTP: the same guard and dedup as the MLLP listener (parse, dedup key over MSH-3,
//! MSH-4, MSH-10 and the bytes; unparseable input journaled as rejected), answered with the ACK text.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hearth_hl7v2::ack::{AckContext, AckSubject, Outcome};
use hearth_hl7v2::{AckPolicy, Charset, Hd, ParseOptions};
use hearth_store::Journal;
use time::OffsetDateTime;

use crate::hl7v2_intake::{from_peek, journal_accepted, journal_rejected};

/// An `hl7v2` ingest channel.
#[derive(Debug, Clone)]
pub struct Hl7v2Ingest {
    pub name: String,
    pub max_body_bytes: usize,
    pub parse: ParseOptions,
    pub ack_sending_application: String,
    pub ack_sending_facility: String,
    ack_seq: Arc<AtomicU64>,
}

impl Hl7v2Ingest {
    pub fn new(
        name: &str,
        max_body_bytes: usize,
        default_charset: Charset,
        ack_sending_application: &str,
        ack_sending_facility: &str,
    ) -> Self {
        // ACK control ids unique across restarts without coordination, as the MLLP listener does.
        let seed = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as u64 * 1000;
        Hl7v2Ingest {
            name: name.to_owned(),
            max_body_bytes,
            parse: ParseOptions { default_charset, ..ParseOptions::default() },
            ack_sending_application: ack_sending_application.to_owned(),
            ack_sending_facility: ack_sending_facility.to_owned(),
            ack_seq: Arc::new(AtomicU64::new(seed)),
        }
    }

    /// Parses, journals, answers. Parsing runs inline: the body is bounded by `max_body_bytes`.
    pub(super) async fn receive(&self, journal: &Journal, body: Vec<u8>) -> Response {
        let received_at = OffsetDateTime::now_utc();
        let msg = match hearth_hl7v2::parse(&body, &self.parse) {
            Ok(msg) => msg,
            Err(err) => {
                let peek = hearth_hl7v2::peek_header(&body);
                let subject = peek.as_ref().map(AckSubject::from).unwrap_or_default();
                let reason = err.to_string();
                let meta = peek.as_ref().map(from_peek).unwrap_or_default();
                journal_rejected(journal, &self.name, body.clone(), &reason, meta).await;
                return self.answer(subject, Charset::Ascii, &Outcome::for_parse_error(&err));
            }
        };
        let h = msg.header();
        let outcome = journal_accepted(journal, &self.name, received_at, body.clone(), h).await;
        self.answer(h.into(), msg.charset(), &outcome)
    }

    /// The ACK as the HTTP answer: 200 for AA/CA, 400 for AR/CR, 503 for AE/CE.
    fn answer(&self, subject: AckSubject<'_>, charset: Charset, outcome: &Outcome) -> Response {
        let now = OffsetDateTime::now_utc();
        let stamp = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}+0000",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        let mut ctx = AckContext::new(stamp, format!("H{}", self.ack_seq.fetch_add(1, Ordering::Relaxed)));
        ctx.application = Hd::named(&self.ack_sending_application);
        if !self.ack_sending_facility.is_empty() {
            ctx.facility = Hd::named(&self.ack_sending_facility);
        }
        // `Always`: an HTTP client always gets an answer, whatever MSH-15 says.
        let Some((code, text)) = hearth_hl7v2::respond(subject, outcome, &ctx, AckPolicy::Always) else {
            return StatusCode::NO_CONTENT.into_response();
        };
        let status = match code.as_str() {
            "AA" | "CA" => StatusCode::OK,
            "AR" | "CR" => StatusCode::BAD_REQUEST,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, [(header::CONTENT_TYPE, "application/hl7-v2")], charset.encode(&text).into_owned()).into_response()
    }
}
