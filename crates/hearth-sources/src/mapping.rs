//! The conversion options of channels that carry HL7 v2 (`[channels.<name>.mapping]` and `default_charset`),
//! shared by the MLLP, AMQP and HTTP ingest sources. The processing stage turns them into mapper options.

use std::path::PathBuf;

use hearth_core::config::Problems;
use hearth_hl7v2::Charset;
use serde::Deserialize;

/// The character sets MSH-18 may name, as accepted for `default_charset`.
pub const CHARSETS: [&str; 4] = ["ASCII", "8859/1", "8859/15", "UNICODE UTF-8"];

/// `[channels.<name>.mapping]`, exactly as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMapping {
    pub bundle_type: Option<String>,
    pub facility_timezone: Option<String>,
    pub vocabulary: Option<PathBuf>,
}

/// `channels.<name>.mapping`: per-channel conversion options.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MappingPlan {
    /// `bundle_type`: `"transaction"` (default), `"message"` or `"collection"`.
    pub bundle_type: BundleKind,
    /// `facility_timezone`: IANA name (`"America/Chicago"`) for HL7 times sent without an offset; checked against
    /// the tz database compiled into Hearth (no IO). `None`: such times are cut to their date.
    pub facility_timezone: Option<String>,
    /// `vocabulary`: a CSV file or a directory of CSV files overriding the built-in vocabulary maps (read when
    /// the engine starts, not here: validation does no IO).
    pub vocabulary: Option<PathBuf>,
}

/// The mapping options of a channel that has none (webhooks and CSV map under their profiles).
pub static NO_MAPPING: MappingPlan =
    MappingPlan { bundle_type: BundleKind::Transaction, facility_timezone: None, vocabulary: None };

/// The FHIR Bundle type a channel produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BundleKind {
    #[default]
    Transaction,
    Message,
    Collection,
}

/// Validates `[<key>]` (a channel's `mapping` table).
pub fn validate(m: RawMapping, key: &str, problems: &mut Problems) -> MappingPlan {
    let bundle_type = match m.bundle_type.as_deref().unwrap_or("transaction") {
        "transaction" => BundleKind::Transaction,
        "message" => BundleKind::Message,
        "collection" => BundleKind::Collection,
        other => {
            problems.add(
                format!("{key}.bundle_type"),
                format!("{other:?} is not one of \"transaction\", \"message\", \"collection\""),
            );
            BundleKind::Transaction
        }
    };
    if let Some(tz) = &m.facility_timezone
        && jiff::tz::TimeZone::get(tz).is_err()
    {
        problems.add(
            format!("{key}.facility_timezone"),
            format!("{tz:?} is not an IANA time zone name (e.g. \"America/Chicago\")"),
        );
    }
    if m.vocabulary.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
        problems.add(format!("{key}.vocabulary"), "must not be empty");
    }
    MappingPlan { bundle_type, facility_timezone: m.facility_timezone, vocabulary: m.vocabulary }
}

/// `<key>.default_charset`: only the table 0211 spellings here (the parser also accepts aliases in MSH-18).
pub fn validate_charset(name: Option<String>, key: &str, problems: &mut Problems) -> Charset {
    let name = name.unwrap_or_else(|| "ASCII".into());
    match Charset::from_hl7_name(&name) {
        Some(c) if CHARSETS.contains(&name.as_str()) => c,
        _ => {
            problems.add(format!("{key}.default_charset"), format!("unknown charset {name:?}; one of {CHARSETS:?}"));
            Charset::Ascii
        }
    }
}

/// The topology line of an HL7 v2 channel's mapping (`hearth check`).
pub fn describe(m: &MappingPlan) -> String {
    format!(
        "map hl7v2 -> FHIR R4 {:?} bundle (time zone {}, vocabulary {})",
        m.bundle_type,
        m.facility_timezone.as_deref().unwrap_or("none"),
        m.vocabulary.as_ref().map_or_else(|| "built-in".to_owned(), |p| format!("built-in + {}", p.display()))
    )
}
