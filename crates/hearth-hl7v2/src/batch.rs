//! Splitting files and streams that hold several messages: plain concatenations and
//! FHS/BHS…BTS/FTS batches.

use std::ops::Range;

use crate::error::{ErrorKind, Hl7Error, Location, Snippet};
use crate::header::{Hd, field_text};
use crate::lines::{Lines, is_blank, strip_bom};
use crate::separators::Separators;
use crate::warning::Warning;

/// A file or batch header (FHS or BHS), unescaped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchHeader {
    /// `FHS` or `BHS`.
    pub segment: String,
    /// xHS-3.
    pub sending_application: Hd,
    /// xHS-4.
    pub sending_facility: Hd,
    /// xHS-5.
    pub receiving_application: Hd,
    /// xHS-6.
    pub receiving_facility: Hd,
    /// xHS-7 as sent.
    pub datetime: String,
    /// xHS-9 (file/batch name, id or type).
    pub name: String,
    /// xHS-10.
    pub comment: String,
    /// xHS-11 (file/batch control id).
    pub control_id: String,
}

/// The messages found in some bytes, as byte ranges into those same bytes (each range starts
/// at an `MSH` line and runs up to the next message or envelope segment), plus the envelope.
/// Each range is meant for [`crate::parse`], which does the full checking.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch {
    /// FHS, when the input is a file batch.
    pub file_header: Option<BatchHeader>,
    /// Every BHS, in order.
    pub batch_headers: Vec<BatchHeader>,
    /// Byte ranges of the messages.
    pub messages: Vec<Range<usize>>,
    /// Count mismatches, missing trailers.
    pub warnings: Vec<Warning>,
}

impl Batch {
    /// The messages' bytes, given the input the batch was split from.
    pub fn message_bytes<'a>(&'a self, input: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.messages.iter().map(move |r| input.get(r.clone()).unwrap_or_default())
    }
}

#[derive(Debug, Default)]
struct State {
    batch: Batch,
    /// Start of the message being collected.
    current: Option<usize>,
    /// Non-blank lines seen.
    sequence: usize,
    file_open: bool,
    file_closed: bool,
    batch_open: bool,
    batches_in_file: usize,
    messages_in_batch: usize,
}

fn batch_error(reason: &'static str, name: &str, sequence: usize) -> Hl7Error {
    Hl7Error::at(ErrorKind::Batch { reason }, Location::segment(name, sequence))
}

/// Splits input into messages.
///
/// Accepts a single message, messages concatenated one after another (each starting with
/// `MSH`), and FHS/BHS…BTS/FTS batches (FHS and BHS optional, several BHS allowed). BTS-1 and
/// FTS-1 counts are checked when present (a mismatch is a warning, not an error); a missing
/// trailer is a warning. Refused: empty input, content before the first MSH that is not a batch
/// header, anything after FTS, trailers without their header.
pub fn split_batch(input: &[u8]) -> Result<Batch, Hl7Error> {
    let offset = input.len() - strip_bom(input).len();
    let mut st = State::default();
    for line in Lines::new(input) {
        let start = if line.start == 0 { offset } else { line.start };
        let text = input.get(start..line.end).unwrap_or_default();
        if is_blank(text) {
            continue;
        }
        st.sequence += 1;
        let name = text.get(..3).unwrap_or(text);
        let delimited = text.get(3).is_none_or(|b| !b.is_ascii_alphanumeric());
        let name = if delimited { std::str::from_utf8(name).unwrap_or_default() } else { "" };
        if st.file_closed {
            return Err(batch_error("content after FTS", name, st.sequence));
        }
        match name {
            "MSH" => {
                st.close_message(start);
                st.current = Some(start);
                st.messages_in_batch += 1;
            }
            "FHS" => {
                if st.sequence > 1 {
                    return Err(batch_error("FHS must be the first segment", name, st.sequence));
                }
                st.batch.file_header = Some(batch_header(text, name, st.sequence)?);
                st.file_open = true;
            }
            "BHS" => {
                st.close_message(start);
                st.close_batch();
                st.batch.batch_headers.push(batch_header(text, name, st.sequence)?);
                st.batch_open = true;
                st.batches_in_file += 1;
                st.messages_in_batch = 0;
            }
            "BTS" => {
                st.close_message(start);
                if !st.batch_open {
                    return Err(batch_error("BTS without BHS", name, st.sequence));
                }
                st.check_count("BTS", text, st.messages_in_batch);
                st.batch_open = false;
            }
            "FTS" => {
                st.close_message(start);
                st.close_batch();
                if !st.file_open {
                    return Err(batch_error("FTS without FHS", name, st.sequence));
                }
                st.check_count("FTS", text, st.batches_in_file);
                st.file_open = false;
                st.file_closed = true;
            }
            _ if st.current.is_none() && st.sequence == 1 => {
                return Err(Hl7Error::at(
                    ErrorKind::NotHl7 { found: Snippet::from_bytes(text) },
                    Location { sequence: 1, ..Location::default() },
                ));
            }
            _ if st.current.is_none() => {
                return Err(batch_error("segment outside a message", name, st.sequence));
            }
            _ => {}
        }
    }
    if st.sequence == 0 {
        return Err(Hl7Error::new(ErrorKind::Empty));
    }
    st.close_message(input.len());
    st.close_batch();
    if st.file_open {
        st.batch.warnings.push(Warning::BatchTrailerMissing { segment: "FTS" });
    }
    Ok(st.batch)
}

impl State {
    fn close_message(&mut self, end: usize) {
        if let Some(start) = self.current.take() {
            self.batch.messages.push(start..end);
        }
    }

    fn close_batch(&mut self) {
        if std::mem::take(&mut self.batch_open) {
            self.batch.warnings.push(Warning::BatchTrailerMissing { segment: "BTS" });
        }
    }

    /// xTS-1 against what was found; trailers carry the separator of their header, but only
    /// `|`-like punctuation can follow the name, so byte 3 is used.
    fn check_count(&mut self, segment: &'static str, text: &[u8], found: usize) {
        let Some(&fs) = text.get(3) else { return };
        let raw = text.split(|&b| b == fs).nth(1).unwrap_or_default();
        let raw = String::from_utf8_lossy(raw);
        let raw = raw.trim();
        if raw.is_empty() {
            return;
        }
        match raw.parse::<usize>() {
            Ok(declared) if declared == found => {}
            Ok(declared) => {
                self.batch.warnings.push(Warning::BatchCountMismatch { segment, declared, found });
            }
            Err(_) => self.batch.warnings.push(Warning::BatchCountInvalid { segment }),
        }
    }
}

fn batch_header(text: &[u8], name: &str, sequence: usize) -> Result<BatchHeader, Hl7Error> {
    let seps = Separators::from_msh(text)
        .map_err(|_| batch_error("invalid encoding characters in the batch header", name, sequence))?;
    let text = String::from_utf8_lossy(text);
    // Piece 0 is the name, piece k is field k+1 (as in MSH).
    let pieces: Vec<&str> = text.split(seps.field()).take(11).collect();
    let raw = |n: usize| pieces.get(n - 1).copied().unwrap_or_default();
    let value = |n: usize| field_text(raw(n), &seps);
    let hd = |n: usize| Hd::from_raw(raw(n), &seps);
    Ok(BatchHeader {
        segment: name.to_owned(),
        sending_application: hd(3),
        sending_facility: hd(4),
        receiving_application: hd(5),
        receiving_facility: hd(6),
        datetime: value(7),
        name: value(9),
        comment: value(10),
        control_id: value(11),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ParseOptions, parse};

    fn msh(id: u32) -> String {
        format!("MSH|^~\\&|APP|FAC|HUB|HUBFAC|20240101||ADT^A08|CTL{id}|P|2.5.1\rPID|1||MRN{id}||DOE^JANE\r")
    }

    fn parsed_ids(input: &[u8], batch: &Batch) -> Vec<String> {
        batch
            .message_bytes(input)
            .filter_map(|b| parse(b, &ParseOptions::default()).ok())
            .map(|m| m.header().control_id.clone())
            .collect()
    }

    #[test]
    fn single_message() -> Result<(), Hl7Error> {
        let input = msh(1);
        let b = split_batch(input.as_bytes())?;
        assert_eq!(b.messages, vec![0..input.len()]);
        assert!(b.file_header.is_none() && b.batch_headers.is_empty() && b.warnings.is_empty());
        Ok(())
    }

    #[test]
    fn concatenated_messages_with_any_line_ends() -> Result<(), Hl7Error> {
        let input = format!("\u{feff}{}\n\n{}\r\n{}", msh(1), msh(2).replace('\r', "\n"), msh(3).replace('\r', "\r\n"));
        let b = split_batch(input.as_bytes())?;
        assert_eq!(b.messages.len(), 3);
        assert_eq!(parsed_ids(input.as_bytes(), &b), ["CTL1", "CTL2", "CTL3"]);
        // Ranges tile the input after the BOM: nothing is lost between messages.
        assert_eq!(b.messages.first().map(|r| r.start), Some(3));
        assert_eq!(b.messages.last().map(|r| r.end), Some(input.len()));
        for pair in b.messages.windows(2) {
            assert_eq!(pair.first().map(|r| r.end), pair.get(1).map(|r| r.start));
        }
        Ok(())
    }

    #[test]
    fn msh_inside_a_field_is_not_a_message_start() -> Result<(), Hl7Error> {
        let input = format!("{}NK1|1|X|MSH|^~\\&|\r", msh(1));
        assert_eq!(split_batch(input.as_bytes())?.messages.len(), 1);
        Ok(())
    }

    #[test]
    fn file_and_batch_envelopes() -> Result<(), Hl7Error> {
        let input = format!(
            "FHS|^~\\&|SENDER^1.2.3^ISO|SFAC|RECV|RFAC|20240101||results.hl7|nightly|F001\r\
             BHS|^~\\&|SENDER|SFAC|RECV|RFAC|20240101||B\\T\\1||B001\r{}{}BTS|2\r\
             BHS|^~\\&|SENDER\r{}BTS|1|comment\rFTS|2\r",
            msh(1),
            msh(2),
            msh(3)
        );
        let b = split_batch(input.as_bytes())?;
        assert_eq!(parsed_ids(input.as_bytes(), &b), ["CTL1", "CTL2", "CTL3"]);
        assert!(b.warnings.is_empty(), "{:?}", b.warnings);
        let fhs = b.file_header.ok_or_else(|| Hl7Error::new(ErrorKind::Empty))?;
        assert_eq!(fhs.sending_application.universal_id, "1.2.3");
        assert_eq!(
            (fhs.name.as_str(), fhs.comment.as_str(), fhs.control_id.as_str()),
            ("results.hl7", "nightly", "F001")
        );
        assert_eq!(b.batch_headers.len(), 2);
        assert_eq!(b.batch_headers.first().map(|h| h.name.as_str()), Some("B&1"));
        Ok(())
    }

    #[test]
    fn count_mismatches_and_missing_trailers_are_warnings() -> Result<(), Hl7Error> {
        let input = format!("FHS|^~\\&\rBHS|^~\\&\r{}BTS|3\rFTS|x\r", msh(1));
        let b = split_batch(input.as_bytes())?;
        assert_eq!(
            b.warnings,
            [
                Warning::BatchCountMismatch { segment: "BTS", declared: 3, found: 1 },
                Warning::BatchCountInvalid { segment: "FTS" }
            ]
        );
        let input = format!("FHS|^~\\&\rBHS|^~\\&\r{}", msh(1));
        let b = split_batch(input.as_bytes())?;
        assert_eq!(b.messages.len(), 1);
        assert_eq!(
            b.warnings,
            [Warning::BatchTrailerMissing { segment: "BTS" }, Warning::BatchTrailerMissing { segment: "FTS" }]
        );
        let empty = split_batch(b"BHS|^~\\&\rBTS|0\r")?;
        assert!(empty.messages.is_empty() && empty.warnings.is_empty());
        Ok(())
    }

    #[test]
    fn refusals() {
        let m = msh(1);
        type Case = (String, fn(&ErrorKind) -> bool);
        let cases: Vec<Case> = vec![
            (String::new(), |k| matches!(k, ErrorKind::Empty)),
            ("\r\n  \n".into(), |k| matches!(k, ErrorKind::Empty)),
            ("{\"a\":1}".into(), |k| matches!(k, ErrorKind::NotHl7 { .. })),
            ("PID|1\r".into(), |k| matches!(k, ErrorKind::NotHl7 { .. })),
            (format!("BHS|^~\\&\rPID|1\r{m}"), |k| matches!(k, ErrorKind::Batch { .. })),
            (format!("{m}BTS|1\r"), |k| matches!(k, ErrorKind::Batch { .. })),
            (format!("{m}FTS|1\r"), |k| matches!(k, ErrorKind::Batch { .. })),
            (format!("FHS|^~\\&\r{m}FTS|1\r{m}"), |k| matches!(k, ErrorKind::Batch { .. })),
            (format!("{m}FHS|^~\\&\r"), |k| matches!(k, ErrorKind::Batch { .. })),
            ("BHS|\r".into(), |k| matches!(k, ErrorKind::Batch { .. })),
        ];
        for (input, expected) in cases {
            match split_batch(input.as_bytes()) {
                Ok(b) => panic!("{input:?} accepted: {b:?}"),
                Err(e) => assert!(expected(e.kind()), "{input:?}: {e}"),
            }
        }
    }
}
