//! Strict parsing: bytes in, a complete [`Message`] or an [`Hl7Error`] out; never half a message.

use std::borrow::Cow;

use crate::charset::{Charset, Recognised};
use crate::error::{ErrorKind, Hl7Error, Location, Snippet};
use crate::header::Header;
use crate::lines::{Lines, is_blank, leading_whitespace, strip_bom};
use crate::message::{Message, SegmentIndex};
use crate::separators::Separators;
use crate::warning::Warning;

/// Limits and defaults for [`parse`]. Outside input controls every count, so every count is
/// bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOptions {
    /// Character set used when MSH-18 is empty. Default: UTF-8.
    pub default_charset: Charset,
    /// Most fields allowed in one segment. Default: 10 000.
    pub max_fields_per_segment: usize,
    /// Most segments allowed in one message. Default: 100 000.
    pub max_segments: usize,
    /// Refuse a message whose MSH-10 (control id) is empty. Default: true, because an ACK echoes MSH-10 in
    /// MSA-2 and duplicate detection keys on it; a converter of files (where neither applies) sets it to false,
    /// and such a message then parses with an empty control id and a [`Warning::MissingControlId`].
    pub require_control_id: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            default_charset: Charset::Utf8,
            max_fields_per_segment: 10_000,
            max_segments: 100_000,
            require_control_id: true,
        }
    }
}

/// True for `[A-Z][A-Z0-9]{2}`.
pub(crate) fn is_segment_name(name: &[u8]) -> bool {
    matches!(name, [a, b, c] if a.is_ascii_uppercase()
        && [b, c].iter().all(|x| x.is_ascii_uppercase() || x.is_ascii_digit()))
}

/// Segments that delimit messages or batches and so can never sit inside a message.
const ENVELOPE_SEGMENTS: [&str; 5] = ["MSH", "FHS", "BHS", "BTS", "FTS"];

/// Parses one message.
///
/// Strips a UTF-8 BOM and leading whitespace, decodes by MSH-18 (or
/// [`ParseOptions::default_charset`]), accepts CR, LF and CRLF between segments and blank
/// lines anywhere, and refuses anything that would lose content: every non-blank line must be a
/// well-named segment. MSH-9.1, MSH-9.2 and MSH-10 are required (MSH-10 unless
/// [`ParseOptions::require_control_id`] is off); nothing outside MSH is type-checked.
pub fn parse(input: &[u8], opts: &ParseOptions) -> Result<Message, Hl7Error> {
    let bytes = strip_bom(input);
    let bytes = bytes.get(leading_whitespace(bytes)..).unwrap_or_default();
    if bytes.is_empty() {
        return Err(Hl7Error::new(ErrorKind::Empty));
    }
    if !bytes.starts_with(b"MSH") {
        if b"MSH".starts_with(bytes) {
            return Err(Hl7Error::new(ErrorKind::Truncated { reason: "input ends inside MSH" }));
        }
        return Err(Hl7Error::at(
            ErrorKind::NotHl7 { found: Snippet::from_bytes(bytes) },
            Location { sequence: 1, ..Location::default() },
        ));
    }
    let separators = Separators::from_msh(bytes)?;
    let mut warnings = Vec::new();
    let declared = declared_charset(bytes, &separators, opts, &mut warnings)?;
    let (text, charset) = decode(bytes, declared, &separators, &mut warnings)?;
    let mut message = index(&text, separators, opts)?;
    message.charset = charset;
    warnings.append(&mut message.warnings);
    message.warnings = warnings;
    message.header = Header::from_message(&message, opts.require_control_id)?;
    if message.header.control_id.is_empty() {
        message.warnings.push(Warning::MissingControlId);
    }
    if message.header.version.is_empty() {
        message.warnings.push(Warning::MissingVersion);
    }
    if message.header.trigger_event.is_empty() {
        message.warnings.push(Warning::AckWithoutTrigger);
    }
    Ok(message)
}

/// MSH-18 (first repetition) read from the raw bytes: every supported set is an ASCII superset,
/// so MSH can be split before decoding.
fn declared_charset(
    bytes: &[u8],
    seps: &Separators,
    opts: &ParseOptions,
    warnings: &mut Vec<Warning>,
) -> Result<Charset, Hl7Error> {
    let first = Lines::new(bytes).next().map_or(bytes, |l| bytes.get(l.start..l.end).unwrap_or_default());
    // Split on MSH-1: piece 0 is "MSH", piece k is MSH-(k+1), so MSH-18 is piece 17.
    let raw = first.split(|&b| b == seps.field_byte()).nth(17).unwrap_or_default();
    let rep = u8::try_from(seps.repetition()).unwrap_or(b'~');
    let raw = raw.split(|&b| b == rep).next().unwrap_or_default();
    let value = std::str::from_utf8(raw).map(str::trim).map_err(|_| unsupported(raw))?;
    if value.is_empty() {
        return Ok(opts.default_charset);
    }
    match Charset::recognise(value) {
        Some(Recognised::Standard(c)) => Ok(c),
        Some(Recognised::Alias(c)) => {
            warnings.push(Warning::CharsetAlias { charset: c });
            Ok(c)
        }
        None => Err(unsupported(raw)),
    }
}

fn unsupported(raw: &[u8]) -> Hl7Error {
    Hl7Error::at(
        ErrorKind::UnsupportedCharset { name: Snippet::from_bytes(raw) },
        Location::segment("MSH", 1).with_field(18),
    )
}

/// Decodes to UTF-8. A declared ASCII that is not ASCII is a common lie: it is read as UTF-8
/// when valid, else as 8859/1, with a warning. A declared UTF-8 that is invalid is refused.
fn decode<'a>(
    bytes: &'a [u8],
    declared: Charset,
    seps: &Separators,
    warnings: &mut Vec<Warning>,
) -> Result<(Cow<'a, str>, Charset), Hl7Error> {
    match declared.decode(bytes) {
        Ok(text) => Ok((text, declared)),
        Err(_) if declared == Charset::Ascii => {
            let used = if std::str::from_utf8(bytes).is_ok() { Charset::Utf8 } else { Charset::Latin1 };
            warnings.push(Warning::CharsetMismatch { declared, used });
            let text = used.decode(bytes).map_err(|e| decode_error(bytes, e, used, seps))?;
            Ok((text, used))
        }
        Err(e) => Err(decode_error(bytes, e, declared, seps)),
    }
}

fn decode_error(bytes: &[u8], e: crate::charset::DecodeError, charset: Charset, seps: &Separators) -> Hl7Error {
    let kind = if e.incomplete {
        ErrorKind::Truncated { reason: "input ends inside a multi-byte character" }
    } else {
        ErrorKind::InvalidText { charset }
    };
    Hl7Error::at(kind, locate(bytes, e.valid_up_to, seps))
}

/// The segment and field holding byte `offset` of (raw or decoded) message bytes.
pub(crate) fn locate(bytes: &[u8], offset: usize, seps: &Separators) -> Location {
    let mut sequence = 0;
    for line in Lines::new(bytes) {
        let Some(text) = bytes.get(line.start..line.end).filter(|t| !is_blank(t)) else {
            continue;
        };
        sequence += 1;
        if offset > line.end {
            continue;
        }
        let name = String::from_utf8_lossy(text.get(..3).unwrap_or_default());
        let before = text.get(..offset.saturating_sub(line.start)).unwrap_or_default();
        let seps_before = before.iter().filter(|&&b| b == seps.field_byte()).count();
        let field = if name == "MSH" { seps_before + 1 } else { seps_before };
        let loc = Location::segment(&name, sequence);
        return if field == 0 { loc } else { loc.with_field(field) };
    }
    Location { sequence, ..Location::default() }
}

/// Splits the decoded text into segments, checking every non-blank line, and copies it into
/// the normalised form (`\r` after each segment). Blank lines are the only bytes left out.
fn index(text: &str, separators: Separators, opts: &ParseOptions) -> Result<Message, Hl7Error> {
    let src = text.as_bytes();
    let fs = separators.field_byte();
    let mut out = String::with_capacity(src.len() + 1);
    let mut segments: Vec<SegmentIndex> = Vec::new();
    let mut field_seps: Vec<usize> = Vec::new();
    let (mut blank_pending, mut blank_inside) = (0, 0);
    // Lines and their terminators must tile the input: proof that no byte is skipped.
    let mut consumed = 0;
    for line in Lines::new(src) {
        if line.start != consumed {
            return Err(Hl7Error::new(ErrorKind::Truncated { reason: "input not fully consumed" }));
        }
        consumed = line.next;
        let bytes = src.get(line.start..line.end).unwrap_or_default();
        if is_blank(bytes) {
            blank_pending += 1;
            continue;
        }
        blank_inside += std::mem::take(&mut blank_pending);
        let sequence = segments.len() + 1;
        if sequence > opts.max_segments {
            return Err(Hl7Error::at(
                ErrorKind::TooManySegments { limit: opts.max_segments },
                Location { sequence, ..Location::default() },
            ));
        }
        check_segment_name(bytes, fs, sequence, src.get(line.end..).unwrap_or_default())?;
        let base = out.len();
        let first_sep = field_seps.len();
        let limit = opts.max_fields_per_segment;
        // In MSH the first separator is MSH-1 itself, so MSH has one more field than separators.
        let limit_seps = limit - usize::from(sequence == 1).min(limit);
        for (i, _) in bytes.iter().enumerate().skip(3).filter(|&(_, &b)| b == fs) {
            field_seps.push(base + i);
            if field_seps.len() - first_sep > limit_seps {
                return Err(Hl7Error::at(
                    ErrorKind::TooManyFields { limit },
                    Location::segment(&String::from_utf8_lossy(bytes.get(..3).unwrap_or_default()), sequence)
                        .with_field(limit + 1),
                ));
            }
        }
        out.push_str(text.get(line.start..line.end).unwrap_or_default());
        out.push('\r');
        segments.push(SegmentIndex { range: base..base + bytes.len(), seps: first_sep..field_seps.len() });
    }
    if consumed != src.len() {
        return Err(Hl7Error::new(ErrorKind::Truncated { reason: "input not fully consumed" }));
    }
    let mut warnings = Vec::new();
    if blank_inside > 0 {
        warnings.push(Warning::BlankLines { count: blank_inside });
    }
    Ok(Message {
        text: out,
        separators,
        charset: Charset::Utf8,
        segments,
        field_seps,
        header: Header::default(),
        warnings,
    })
}

fn check_segment_name(line: &[u8], fs: u8, sequence: usize, after: &[u8]) -> Result<(), Hl7Error> {
    let name = line.get(..3).unwrap_or(line);
    let well_formed = is_segment_name(name) && line.get(3).is_none_or(|&b| b == fs);
    let at = Location { sequence, ..Location::default() };
    if !well_formed {
        let prefix_of_name = line.len() < 3 && line.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        let kind = if prefix_of_name && is_blank(after) {
            ErrorKind::Truncated { reason: "the last segment name is incomplete" }
        } else {
            ErrorKind::InvalidSegmentName { name: Snippet::from_bytes(line.get(..8).unwrap_or(line)) }
        };
        return Err(Hl7Error::at(kind, at));
    }
    let name = std::str::from_utf8(name).unwrap_or_default();
    if sequence > 1 && ENVELOPE_SEGMENTS.contains(&name) {
        let hint = if name == "MSH" {
            "; several messages must go through split_batch"
        } else {
            "; batches must go through split_batch"
        };
        return Err(Hl7Error::at(
            ErrorKind::UnexpectedSegment { name: name.to_owned(), hint },
            Location::segment(name, sequence),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
