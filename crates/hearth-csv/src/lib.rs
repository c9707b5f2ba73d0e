//! CSV billing exports to FHIR R4: declarative column maps (profiles), streaming, header drift and row errors.
//!
//! A [`Profile`] (TOML in `mappings/csv/`) says which columns a billing export has, their types, and which FHIR
//! element each feeds. Two streaming operations use it:
//!
//! - [`Splitter`] (pass 1, the inbox) cuts a file of any size into [`Chunk`]s, one per row group (a Claim with
//!   its lines, a charge row, the price rows of one item), each holding the header plus the group's lines in
//!   UTF-8, so each chunk can be journaled, converted and reprocessed on its own. The header is checked before
//!   any row.
//! - [`Converter`] (pass 2) turns CSV text (a chunk, or a whole file) into FHIR R4 transaction Bundles, one per
//!   group, and a [`FileReport`] where `rows_read == rows_converted + rows_rejected`.
//!
//! Groups are contiguous runs of rows with the same `group_by` values: a claim whose lines are split across the
//! file gives one Claim per run (see docs/csv.md).
//!
//! ```
//! use hearth_csv::{ConvertContext, Converter, Profile, Splitter};
//!
//! let csv = "charge_id,mrn,visit_number,account_number,service_date,cpt_hcpcs,modifier_1,modifier_2,\
//! revenue_code,units,unit_price,amount,performing_npi,payer\n\
//! C1,MRN001,V100,A500,2025-03-04,99213,25,,0510,1,125.00,125.00,1234567893,PAYER01\n";
//! let profile = Profile::builtin("charges")?;
//!
//! let chunks: Vec<_> = Splitter::new(&profile, csv.as_bytes())?.collect::<Result<_, _>>()?;
//! assert_eq!((chunks.len(), chunks[0].first_line, chunks[0].key.as_str()), (1, 2, "2"));
//!
//! let ctx = ConvertContext { source: "charges.csv", line_offset: 0, now: time::macros::datetime!(2025-03-05 0:00 UTC) };
//! let mut bundles = Vec::new();
//! let report = Converter::new(&profile).convert(csv.as_bytes(), &ctx, |out| bundles.push(out.bundle))?;
//! assert_eq!((report.rows_read, report.rows_converted, report.rows_rejected), (1, 1, 0));
//! assert_eq!(bundles[0]["entry"][0]["resource"]["resourceType"], "ChargeItem");
//! # Ok::<(), hearth_csv::CsvError>(())
//! ```
#![forbid(unsafe_code)]

mod convert;
mod map;
mod profile;
mod read;
mod splitter;
mod value;

pub use convert::Converter;
pub use profile::{
    AllOrNothing, ColumnType, ExtraColumns, Field, Profile, ProfileError, ResourceKind, builtin_profiles,
    normalize_header,
};
pub use read::Encoding;
pub use splitter::{Chunk, Splitter};
pub use value::Decimal;

/// What stops a whole file (or chunk). Row problems are [`RowError`]s in the [`FileReport`] instead.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error("reading the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("the file has no header line")]
    NoHeader,
    #[error("{0}")]
    HeaderDrift(Box<HeaderReport>),
    #[error("line {line}: not valid UTF-8 (the file started as UTF-8)")]
    Encoding { line: u64 },
    /// From the splitter: a group holding a non-UTF-8 line in a file that started as UTF-8. Its rows count as
    /// rejected; iteration may go on.
    #[error("lines {first_line}-{last_line}: not valid UTF-8 (the file started as UTF-8); {rows} rows not converted")]
    UndecodableGroup { first_line: u64, last_line: u64, rows: u64 },
    #[error("line {line}: a record longer than {max} bytes (an unterminated quote?)")]
    RecordTooLarge { line: u64, max: u64 },
    #[error("line {line}: more than {max} fields")]
    TooManyFields { line: u64, max: usize },
    #[error("line {line}: {reason}")]
    Csv { line: u64, reason: String },
}

/// A header column found under another name than the profile's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Renamed {
    /// The profile's (normalised) name.
    pub expected: String,
    /// The name in the file.
    pub found: String,
    /// 1-based position in the file's header.
    pub column_index: usize,
}

/// How the file's header compares with the profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HeaderReport {
    /// Physical line of the header.
    pub line: u64,
    /// The header as found (trimmed).
    pub columns: Vec<String>,
    /// Declared, not optional, not in the file.
    pub missing: Vec<String>,
    /// In the file, not declared (ignored when `extra_ignored`).
    pub extra: Vec<String>,
    /// Declared columns that look renamed (similar name, or the same place).
    pub renamed: Vec<Renamed>,
    /// Names that occur more than once.
    pub duplicates: Vec<String>,
    pub extra_ignored: bool,
}

impl HeaderReport {
    /// Whether the header differs from the profile in a way that stops the file.
    pub fn is_drift(&self) -> bool {
        !self.missing.is_empty()
            || !self.renamed.is_empty()
            || !self.duplicates.is_empty()
            || (!self.extra.is_empty() && !self.extra_ignored)
    }
}

impl std::fmt::Display for HeaderReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: header differs from the profile:", self.line)?;
        for r in &self.renamed {
            write!(f, " renamed {:?} -> {:?} (column {});", r.expected, r.found, r.column_index)?;
        }
        if !self.missing.is_empty() {
            write!(f, " missing {:?};", self.missing)?;
        }
        if !self.extra.is_empty() && !self.extra_ignored {
            write!(f, " extra {:?};", self.extra)?;
        }
        if !self.duplicates.is_empty() {
            write!(f, " duplicated {:?};", self.duplicates)?;
        }
        Ok(())
    }
}

/// Inputs of a conversion that do not come from the CSV text.
#[derive(Debug, Clone, Copy)]
pub struct ConvertContext<'a> {
    /// A stable name of the file (its name or hash): it goes into resource ids, so a re-run of the same file
    /// gives the same ids. Also used in reports.
    pub source: &'a str,
    /// 0 for a whole file; for a chunk, `chunk.first_line - 1` (the chunk's data lines are then numbered as in
    /// the file, whatever its header took).
    pub line_offset: u64,
    /// Used where the file has no date (Claim.created without claim dates).
    pub now: time::OffsetDateTime,
}

/// One converted group.
#[derive(Debug, Clone)]
pub struct Output {
    /// FHIR R4 Bundle, type transaction.
    pub bundle: serde_json::Value,
    pub first_line: u64,
    pub last_line: u64,
    /// The group key (same as [`Chunk::key`]).
    pub group: String,
}

/// Most row errors a report keeps.
pub const MAX_REPORTED_ERRORS: usize = 10_000;

/// One rejected row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    /// Physical line where the record starts.
    pub line: u64,
    /// Header name of the column at fault.
    pub column: Option<String>,
    /// 1-based position of that column.
    pub column_index: Option<usize>,
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}", self.line)?;
        if let (Some(c), Some(i)) = (&self.column, self.column_index) {
            write!(f, ", column {i} ({c})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// The outcome of one `convert` call. Invariant: `rows_read == rows_converted + rows_rejected`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FileReport {
    pub rows_read: u64,
    pub rows_converted: u64,
    pub rows_rejected: u64,
    /// At most one entry per problem found; a row rejected because another row of its group was bad (all or
    /// nothing) gets an entry saying so.
    pub errors: Vec<RowError>,
    /// Errors beyond the first [`MAX_REPORTED_ERRORS`] are counted here, not kept (memory stays bounded).
    pub errors_omitted: u64,
    pub header: HeaderReport,
    pub encoding: Option<String>,
}
