//! Sloppiness that real senders produce and Hearth accepts, recorded instead of refused.

use std::fmt;

use crate::charset::Charset;

/// Something accepted but worth telling an operator about. Carries no payload data.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// Empty or whitespace-only lines between segments were skipped.
    BlankLines {
        /// How many.
        count: usize,
    },
    /// MSH-12 (version id) is empty.
    MissingVersion,
    /// MSH-10 (control id) is empty (accepted only with `ParseOptions::require_control_id` off).
    MissingControlId,
    /// An ACK without a trigger event in MSH-9.2 (common before v2.4).
    AckWithoutTrigger,
    /// MSH-18 used a common non-standard spelling (`UTF-8`, `ISO-8859-1`).
    CharsetAlias {
        /// The character set it was read as.
        charset: Charset,
    },
    /// MSH-18 (or the configured default) said one character set, the bytes were another.
    CharsetMismatch {
        /// The declared (or default) set.
        declared: Charset,
        /// The set used to decode.
        used: Charset,
    },
    /// A batch trailer's count (BTS-1, FTS-1) disagrees with what the batch holds.
    BatchCountMismatch {
        /// `BTS` or `FTS`.
        segment: &'static str,
        /// The count the trailer states.
        declared: usize,
        /// The count found.
        found: usize,
    },
    /// A batch trailer's count is not a number.
    BatchCountInvalid {
        /// `BTS` or `FTS`.
        segment: &'static str,
    },
    /// A batch header (BHS, FHS) has no matching trailer (BTS, FTS).
    BatchTrailerMissing {
        /// The missing trailer.
        segment: &'static str,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BlankLines { count } => write!(f, "{count} blank line(s) between segments ignored"),
            Self::MissingVersion => f.write_str("MSH-12 (version id) is empty"),
            Self::MissingControlId => f.write_str("MSH-10 (message control id) is empty"),
            Self::AckWithoutTrigger => f.write_str("ACK without a trigger event in MSH-9.2"),
            Self::CharsetAlias { charset } => {
                write!(f, "MSH-18 uses a non-standard name for {charset}")
            }
            Self::CharsetMismatch { declared, used } => {
                write!(f, "text is not {declared} as declared; decoded as {used}")
            }
            Self::BatchCountMismatch { segment, declared, found } => {
                write!(f, "{segment}-1 says {declared}, found {found}")
            }
            Self::BatchCountInvalid { segment } => write!(f, "{segment}-1 is not a number"),
            Self::BatchTrailerMissing { segment } => write!(f, "{segment} trailer missing"),
        }
    }
}
