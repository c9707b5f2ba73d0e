//! The conversion report: what a team needs to know about one conversion. It lists every input field that no
//! mapping consumed (so dropped data is visible), and warnings (unknown codes, invalid values skipped,
//! Z-segments). Values are never copied into the report: locations and short reasons only.

use serde::Serialize;

/// One conversion's report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// `name/version` of the mapping that ran.
    pub mapping: String,
    /// Input locations that held a value no mapping consumed, e.g. `PID-10`, `PV1-44`, `ZPI-1`.
    pub unmapped: Vec<String>,
    pub warnings: Vec<Warning>,
}

/// One problem noticed while converting; the message was still converted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Where, e.g. `PID-7` or `OBX(2)-5`.
    pub location: String,
    pub kind: WarningKind,
    /// A short reason for a person; never a patient value.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// A code not in the vocabulary map: carried with its source system, not invented.
    UnknownCode,
    /// A value that breaks its data type (a date like 20241399): skipped.
    InvalidValue,
    /// A Z-segment: kept in the report, not mapped.
    ZSegment,
    /// A segment this structure does not map.
    UnmappedSegment,
    /// Something the parser warned about (charset, blank lines...).
    Parser,
}

impl Report {
    pub fn warn(&mut self, location: impl Into<String>, kind: WarningKind, message: impl Into<String>) {
        self.warnings.push(Warning { location: location.into(), kind, message: message.into() });
    }
}
