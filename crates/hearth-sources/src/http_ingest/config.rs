//! `[channels.<name>] type = "http"`: `POST /ingest/<name>`, a CSV upload or one HL7 v2 message.

use hearth_core::config::{Problems, check_range};
use hearth_hl7v2::Charset;
use serde::Deserialize;

use crate::file::CsvProfileRef;
use crate::mapping::{self, MappingPlan, RawMapping};

/// Default largest HTTP ingest body: 64 MiB for CSV uploads, 10 MiB for an HL7 v2 message.
pub const DEFAULT_MAX_CSV_BODY_BYTES: usize = 64 * 1024 * 1024;
pub const DEFAULT_MAX_HL7_BODY_BYTES: usize = 10 * 1024 * 1024;

/// `[channels.<name>] type = "http"`, exactly as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttpIngest {
    pub payload: String,
    pub profile: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub default_charset: Option<String>,
    pub ack_sending_application: Option<String>,
    pub ack_sending_facility: Option<String>,
    pub mapping: Option<RawMapping>,
}

/// A validated `POST /ingest/<name>` channel.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpIngestPlan {
    pub payload: HttpPayload,
    pub max_body_bytes: usize,
}

/// What an HTTP ingest channel accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpPayload {
    /// A CSV file in the body, chunked and journaled like an inbox file.
    Csv { profile: CsvProfileRef },
    /// One HL7 v2 message in the body, answered with its ACK.
    Hl7v2 {
        default_charset: Charset,
        ack_sending_application: String,
        ack_sending_facility: String,
        mapping: MappingPlan,
    },
}

/// Validates an HTTP ingest channel; problems are named under `key`.
pub fn validate(h: RawHttpIngest, key: &str, problems: &mut Problems) -> HttpIngestPlan {
    let (payload, default_max) = match h.payload.as_str() {
        "csv" => {
            let profile = match &h.profile {
                Some(p) => CsvProfileRef::validate(p, &format!("{key}.profile"), problems),
                None => {
                    problems.add(format!("{key}.profile"), "payload = \"csv\" needs a profile");
                    CsvProfileRef::Builtin(String::new())
                }
            };
            for (name, set) in [
                ("default_charset", h.default_charset.is_some()),
                ("ack_sending_application", h.ack_sending_application.is_some()),
                ("ack_sending_facility", h.ack_sending_facility.is_some()),
                ("mapping", h.mapping.is_some()),
            ] {
                if set {
                    problems.add(format!("{key}.{name}"), "applies to payload = \"hl7v2\" only");
                }
            }
            (HttpPayload::Csv { profile }, DEFAULT_MAX_CSV_BODY_BYTES)
        }
        "hl7v2" => {
            if h.profile.is_some() {
                problems.add(format!("{key}.profile"), "applies to payload = \"csv\" only");
            }
            let payload = HttpPayload::Hl7v2 {
                default_charset: mapping::validate_charset(h.default_charset, key, problems),
                ack_sending_application: h.ack_sending_application.unwrap_or_else(|| "HEARTH".into()),
                ack_sending_facility: h.ack_sending_facility.unwrap_or_default(),
                mapping: mapping::validate(h.mapping.unwrap_or_default(), &format!("{key}.mapping"), problems),
            };
            (payload, DEFAULT_MAX_HL7_BODY_BYTES)
        }
        other => {
            problems.add(format!("{key}.payload"), format!("{other:?} is not one of \"csv\", \"hl7v2\""));
            (HttpPayload::Csv { profile: CsvProfileRef::Builtin(String::new()) }, DEFAULT_MAX_CSV_BODY_BYTES)
        }
    };
    let max_body_bytes = h.max_body_bytes.unwrap_or(default_max);
    check_range(max_body_bytes, 1024..=1024 * 1024 * 1024, &format!("{key}.max_body_bytes"), problems);
    HttpIngestPlan { payload, max_body_bytes }
}

impl HttpIngestPlan {
    /// The topology line (`hearth check`).
    pub fn describe(&self, name: &str) -> String {
        match &self.payload {
            HttpPayload::Csv { profile } => format!(
                "http POST /ingest/{name} (csv, profile {}, max body {} bytes)",
                profile.label(),
                self.max_body_bytes
            ),
            HttpPayload::Hl7v2 { default_charset, .. } => format!(
                "http POST /ingest/{name} (hl7v2, charset {}, max body {} bytes)",
                default_charset.hl7_name(),
                self.max_body_bytes
            ),
        }
    }
}
