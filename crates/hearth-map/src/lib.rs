//! Mapping to FHIR R4. Pure over its inputs: a parsed message, the vocabulary, options, a clock. No IO.
//!
//! - [`hl7v2`]: HL7 v2 messages to a FHIR Bundle, following the HL7 v2-to-FHIR Implementation Guide's message,
//!   segment and datatype maps; vocabulary (codes) comes from data in `mappings/vocabulary/`.
//! - [`report`]: what every conversion says about itself (fields no mapping consumed, warnings).
#![forbid(unsafe_code)]

pub mod hl7v2;
pub mod report;
pub mod vocab;

pub use report::{Report, Warning, WarningKind};

/// The name and version every Bundle names (Provenance and `meta.tag`) so a downstream system can tell which
/// mapping produced it.
pub const MAPPING_NAME: &str = "hearth-hl7v2-fhir-r4";
pub const MAPPING_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The result of one conversion.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// A FHIR R4 Bundle.
    pub bundle: serde_json::Value,
    pub report: Report,
}

/// Why a message could not be converted at all (as opposed to warnings in the report).
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// A message structure Hearth does not map (yet): never an empty Bundle.
    #[error("unsupported message structure {structure} ({event})")]
    UnsupportedStructure { structure: String, event: String },
    /// The message lacks what the structure requires (e.g. an ADT without PID), located.
    #[error("{location}: {reason}")]
    Invalid { location: String, reason: String },
}
