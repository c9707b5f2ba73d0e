//! The crate's one error type, its HL7 table 0357 codes and where in a message an error sits.

use std::fmt;

use crate::charset::Charset;

/// HL7 table 0357 "message error condition codes", used in `ERR-3` of a negative ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 100: segment sequence error (also used here for structural damage: no MSH, bad segment name).
    SegmentSequence,
    /// 101: required field missing.
    RequiredFieldMissing,
    /// 102: data type error (also used here for undecodable text and exceeded limits).
    DataType,
    /// 103: table value not found (e.g. an unknown MSH-18 character set).
    TableValueNotFound,
    /// 200: unsupported message type.
    UnsupportedMessageType,
    /// 201: unsupported event code.
    UnsupportedEventCode,
    /// 202: unsupported processing id.
    UnsupportedProcessingId,
    /// 203: unsupported version id.
    UnsupportedVersionId,
    /// 204: unknown key identifier.
    UnknownKeyIdentifier,
    /// 205: duplicate key identifier.
    DuplicateKeyIdentifier,
    /// 206: application record locked.
    ApplicationRecordLocked,
    /// 207: application internal error.
    ApplicationInternalError,
}

impl ErrorCode {
    /// The numeric table 0357 code.
    pub fn code(self) -> u16 {
        match self {
            Self::SegmentSequence => 100,
            Self::RequiredFieldMissing => 101,
            Self::DataType => 102,
            Self::TableValueNotFound => 103,
            Self::UnsupportedMessageType => 200,
            Self::UnsupportedEventCode => 201,
            Self::UnsupportedProcessingId => 202,
            Self::UnsupportedVersionId => 203,
            Self::UnknownKeyIdentifier => 204,
            Self::DuplicateKeyIdentifier => 205,
            Self::ApplicationRecordLocked => 206,
            Self::ApplicationInternalError => 207,
        }
    }

    /// The table 0357 description.
    pub fn text(self) -> &'static str {
        match self {
            Self::SegmentSequence => "Segment sequence error",
            Self::RequiredFieldMissing => "Required field missing",
            Self::DataType => "Data type error",
            Self::TableValueNotFound => "Table value not found",
            Self::UnsupportedMessageType => "Unsupported message type",
            Self::UnsupportedEventCode => "Unsupported event code",
            Self::UnsupportedProcessingId => "Unsupported processing id",
            Self::UnsupportedVersionId => "Unsupported version id",
            Self::UnknownKeyIdentifier => "Unknown key identifier",
            Self::DuplicateKeyIdentifier => "Duplicate key identifier",
            Self::ApplicationRecordLocked => "Application record locked",
            Self::ApplicationInternalError => "Application internal error",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.text())
    }
}

/// Where in a message something is, by 1-based HL7 positions (the shape of `ERR-2`).
///
/// `segment` is empty when the segment's name is unknown or invalid; `sequence` is 0 when even
/// the segment's position is unknown (e.g. an empty input).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// Segment id (`PID`), or empty.
    pub segment: String,
    /// 1-based position of the segment in the message; 0 if unknown.
    pub sequence: usize,
    /// 1-based field position (`MSH-9` is 9).
    pub field: Option<usize>,
    /// 1-based field repetition.
    pub repetition: Option<usize>,
    /// 1-based component.
    pub component: Option<usize>,
    /// 1-based subcomponent.
    pub subcomponent: Option<usize>,
}

impl Location {
    /// A segment-level location. Names that are not valid segment ids are not stored, so a
    /// location never carries input garbage.
    pub fn segment(name: &str, sequence: usize) -> Self {
        let valid = crate::parse::is_segment_name(name.as_bytes());
        Self { segment: if valid { name.to_owned() } else { String::new() }, sequence, ..Self::default() }
    }

    /// The same location narrowed to a field.
    #[must_use]
    pub fn with_field(mut self, field: usize) -> Self {
        self.field = Some(field);
        self
    }

    /// The same location narrowed to a component (and repetition 1 when none was set).
    #[must_use]
    pub fn with_component(mut self, component: usize) -> Self {
        self.repetition.get_or_insert(1);
        self.component = Some(component);
        self
    }

    /// `ERR-2` rendering: `segment^sequence^field^repetition^component^subcomponent`, trailing
    /// empty components removed.
    pub fn to_err_location(&self) -> String {
        let num = |v: Option<usize>| v.map(|n| n.to_string()).unwrap_or_default();
        let seq = if self.sequence == 0 { String::new() } else { self.sequence.to_string() };
        let segment = crate::escape::escape(&self.segment, &crate::Separators::default());
        let parts = [
            segment.into_owned(),
            seq,
            num(self.field),
            num(self.repetition),
            num(self.component),
            num(self.subcomponent),
        ];
        let used = parts.iter().rposition(|p| !p.is_empty()).map_or(0, |i| i + 1);
        parts.get(..used).unwrap_or_default().join("^")
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.sequence, self.segment.is_empty()) {
            (0, true) => f.write_str("message")?,
            (0, false) => write!(f, "segment {}", self.segment)?,
            (n, true) => write!(f, "segment {n}")?,
            (n, false) => write!(f, "segment {n} ({})", self.segment)?,
        }
        if let Some(field) = self.field {
            write!(f, ", field {field}")?;
        }
        if let Some(rep) = self.repetition.filter(|&r| r > 1) {
            write!(f, ", repetition {rep}")?;
        }
        if let Some(component) = self.component {
            write!(f, ", component {component}")?;
        }
        if let Some(sub) = self.subcomponent {
            write!(f, ", subcomponent {sub}")?;
        }
        Ok(())
    }
}

/// A short, printable excerpt of input quoted in an error: at most [`Snippet::MAX_CHARS`]
/// characters, control characters escaped (`\r`, `\u{0}`). Errors never carry large payload data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet(String);

impl Snippet {
    /// Longest excerpt kept, in characters.
    pub const MAX_CHARS: usize = 40;

    /// Excerpt of raw bytes (lossily decoded).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        // Decoding more than needed would be wasted work on a huge input.
        let head = bytes.get(..Self::MAX_CHARS * 4).unwrap_or(bytes);
        Self::new(&String::from_utf8_lossy(head))
    }

    /// Excerpt of text.
    pub fn new(text: &str) -> Self {
        let mut out = String::new();
        let mut chars = text.chars();
        for c in chars.by_ref().take(Self::MAX_CHARS) {
            if c.is_control() {
                out.extend(c.escape_debug());
            } else {
                out.push(c);
            }
        }
        if chars.next().is_some() {
            out.push('…');
        }
        Self(out)
    }

    /// The excerpt (already escaped).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Snippet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0)
    }
}

/// What went wrong; [`Hl7Error`] adds where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Nothing but whitespace (or a BOM).
    #[error("empty input")]
    Empty,
    /// The input does not start with `MSH` (after a BOM and leading whitespace).
    #[error("not an HL7 v2 message: expected MSH at the start, found {found}")]
    NotHl7 {
        /// The first bytes of the input.
        found: Snippet,
    },
    /// MSH-1/MSH-2 are missing or unusable.
    #[error("invalid field separator or encoding characters: {reason}")]
    EncodingCharacters {
        /// Which rule was broken.
        reason: &'static str,
    },
    /// MSH-18 names a character set this crate does not decode.
    #[error("unsupported character set {name}")]
    UnsupportedCharset {
        /// MSH-18 as sent.
        name: Snippet,
    },
    /// The bytes are not valid in the declared character set.
    #[error("text is not valid {charset}")]
    InvalidText {
        /// The character set the bytes were decoded with.
        charset: Charset,
    },
    /// The input stops before the message is complete.
    #[error("message is truncated: {reason}")]
    Truncated {
        /// What was cut.
        reason: &'static str,
    },
    /// A segment name that is not `[A-Z][A-Z0-9]{2}` followed by the field separator.
    #[error("invalid segment name {name} (expected [A-Z][A-Z0-9][A-Z0-9] then the field separator)")]
    InvalidSegmentName {
        /// The start of the offending line.
        name: Snippet,
    },
    /// A segment that cannot appear inside one message (a second MSH, batch envelopes).
    #[error("unexpected {name} segment inside a message{hint}")]
    UnexpectedSegment {
        /// The segment id.
        name: String,
        /// Extra advice, possibly empty.
        hint: &'static str,
    },
    /// A segment has more fields than [`crate::ParseOptions::max_fields_per_segment`].
    #[error("more than {limit} fields in one segment")]
    TooManyFields {
        /// The configured limit.
        limit: usize,
    },
    /// The message has more segments than [`crate::ParseOptions::max_segments`].
    #[error("more than {limit} segments")]
    TooManySegments {
        /// The configured limit.
        limit: usize,
    },
    /// A field the crate requires (MSH-9.1, MSH-9.2, MSH-10) is empty.
    #[error("required field {what} is missing")]
    MissingField {
        /// Which field, in words.
        what: &'static str,
    },
    /// A batch envelope (FHS/BHS/BTS/FTS) that cannot be read.
    #[error("invalid batch: {reason}")]
    Batch {
        /// Which rule was broken.
        reason: &'static str,
    },
    /// A field path such as `PID-3[1].1` that cannot be parsed.
    #[error("invalid path {path}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: Snippet,
        /// Which rule was broken.
        reason: &'static str,
    },
}

impl ErrorKind {
    /// The table 0357 code for this kind of error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Empty
            | Self::NotHl7 { .. }
            | Self::Truncated { .. }
            | Self::InvalidSegmentName { .. }
            | Self::UnexpectedSegment { .. }
            | Self::Batch { .. } => ErrorCode::SegmentSequence,
            Self::EncodingCharacters { .. }
            | Self::InvalidText { .. }
            | Self::TooManyFields { .. }
            | Self::TooManySegments { .. } => ErrorCode::DataType,
            Self::UnsupportedCharset { .. } => ErrorCode::TableValueNotFound,
            Self::MissingField { .. } => ErrorCode::RequiredFieldMissing,
            Self::InvalidPath { .. } => ErrorCode::ApplicationInternalError,
        }
    }
}

/// Why input was refused, and where. Display is one line: `segment 3 (PID), field 5: reason`.
///
/// Boxed inside so `Result<_, Hl7Error>` stays one pointer wide on the hot path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}", LocationPrefix(.0.location.as_ref()), .0.kind)]
pub struct Hl7Error(Box<Inner>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    kind: ErrorKind,
    location: Option<Location>,
}

struct LocationPrefix<'a>(Option<&'a Location>);

impl fmt::Display for LocationPrefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(loc) => write!(f, "{loc}: "),
            None => Ok(()),
        }
    }
}

impl Hl7Error {
    /// An error without a location.
    pub fn new(kind: ErrorKind) -> Self {
        Self(Box::new(Inner { kind, location: None }))
    }

    /// An error at a location.
    pub fn at(kind: ErrorKind, location: Location) -> Self {
        Self(Box::new(Inner { kind, location: Some(location) }))
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// The table 0357 code to put in `ERR-3`.
    pub fn code(&self) -> ErrorCode {
        self.0.kind.code()
    }

    /// Where, when known.
    pub fn location(&self) -> Option<&Location> {
        self.0.location.as_ref()
    }

    /// The reason without the location prefix (for `ERR-8`/`MSA-3`).
    pub fn reason(&self) -> String {
        self.0.kind.to_string()
    }

    /// True when the message header itself could not be read (nothing before it was usable):
    /// such a message is *rejected* (`AR`/`CR`) rather than *in error* (`AE`/`CE`).
    pub fn is_header_error(&self) -> bool {
        match &self.0.kind {
            ErrorKind::Empty
            | ErrorKind::NotHl7 { .. }
            | ErrorKind::EncodingCharacters { .. }
            | ErrorKind::UnsupportedCharset { .. }
            | ErrorKind::Batch { .. } => true,
            ErrorKind::MissingField { .. } => true,
            _ => self.0.location.as_ref().is_some_and(|l| l.sequence == 1),
        }
    }
}
