//! The reading half shared by the splitter and the converter: encoding detection, a byte-bounded record reader,
//! the preamble and the header check.

use std::collections::VecDeque;
use std::io::{self, Chain, Cursor, Read};

use csv::ByteRecord;

use crate::profile::{ExtraColumns, Profile, normalize_header};
use crate::{CsvError, HeaderReport, Renamed};

/// Bytes looked at to decide between UTF-8 and Windows-1252.
const SNIFF_BYTES: usize = 64 * 1024;
/// Largest record (all its fields and separators) accepted: bounds memory against an unterminated quote.
pub(crate) const MAX_RECORD_BYTES: u64 = 1024 * 1024;
/// Most fields in one record.
const MAX_FIELDS: usize = 4096;

/// The character encoding of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    /// UTF-8 that started with a byte order mark (the mark is not part of the data).
    Utf8Bom,
    Windows1252,
}

impl Encoding {
    /// Decodes one field or line; `None` if the bytes are not valid in this encoding (only UTF-8 can fail).
    pub(crate) fn decode<'a>(self, bytes: &'a [u8]) -> Option<std::borrow::Cow<'a, str>> {
        match self {
            Encoding::Utf8 | Encoding::Utf8Bom => std::str::from_utf8(bytes).ok().map(std::borrow::Cow::Borrowed),
            Encoding::Windows1252 => Some(encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0),
        }
    }
}

/// The sniffed prefix followed by the rest of the stream.
type Sniffed<R> = Chain<Cursor<Vec<u8>>, R>;

/// Reads the first bytes, strips a UTF-8 BOM and decides the encoding: a BOM or a valid UTF-8 prefix (a character
/// cut at the end of the prefix is fine) means UTF-8, anything else Windows-1252 (which decodes every byte).
fn sniff<R: Read>(mut inner: R) -> io::Result<(Encoding, Sniffed<R>)> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    (&mut inner).take(SNIFF_BYTES as u64).read_to_end(&mut head)?;
    let encoding = if head.starts_with(b"\xEF\xBB\xBF") {
        head.drain(..3);
        Encoding::Utf8Bom
    } else {
        match std::str::from_utf8(&head) {
            Ok(_) => Encoding::Utf8,
            Err(e) if e.error_len().is_none() => Encoding::Utf8,
            Err(_) => Encoding::Windows1252,
        }
    };
    Ok((encoding, Cursor::new(head).chain(inner)))
}

/// Counts bytes read, optionally keeps them (the splitter slices chunks out of them), and refuses to read far past
/// the start of the current record so that one endless record cannot take all memory.
#[derive(Debug)]
pub(crate) struct Guard<R> {
    inner: R,
    read: u64,
    limit: u64,
    keep: bool,
    /// Kept bytes; `kept[0]` is at stream offset `kept_from`.
    pub(crate) kept: Vec<u8>,
    pub(crate) kept_from: u64,
    /// Lines are counted here, not by the csv reader: its positions put a record after a CRLF on the line before
    /// (the LF is read as the start of the next record) and count no line for a lone CR. These are the stream
    /// offsets where lines start, read but not yet asked about ([`Guard::line_at`]); bounded by the read-ahead.
    line_starts: VecDeque<u64>,
    /// Lines whose start is before the last offset asked about.
    lines_passed: u64,
    /// The last byte read was a CR (a following LF belongs to the same line break).
    after_cr: bool,
}

impl<R> Guard<R> {
    fn new(inner: R, keep: bool) -> Guard<R> {
        Guard {
            inner,
            read: 0,
            limit: MAX_RECORD_BYTES,
            keep,
            kept: Vec::new(),
            kept_from: 0,
            line_starts: VecDeque::new(),
            lines_passed: 0,
            after_cr: false,
        }
    }

    /// Records the line breaks (LF, CRLF, or a lone CR) of bytes read at stream offset `at`.
    fn count_lines(&mut self, bytes: &[u8], at: u64) {
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' | b'\r' => {
                    // A line starts right after the terminator's first byte; the LF of a CRLF is part of it.
                    self.line_starts.push_back(at + i as u64 + 1);
                    self.after_cr = b == b'\r';
                }
                _ => self.after_cr = false,
            }
        }
    }

    /// The 1-based physical line of stream offset `offset`. Offsets must be asked in increasing order.
    pub(crate) fn line_at(&mut self, offset: u64) -> u64 {
        while self.line_starts.front().is_some_and(|&s| s <= offset) {
            self.line_starts.pop_front();
            self.lines_passed += 1;
        }
        self.lines_passed + 1
    }
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read >= self.limit {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "record too large"));
        }
        let n = self.inner.read(buf)?;
        let at = self.read;
        self.read += n as u64;
        if let Some(bytes) = buf.get(..n) {
            self.count_lines(bytes, at);
            if self.keep {
                self.kept.extend_from_slice(bytes);
            }
        }
        Ok(n)
    }
}

impl<R> Guard<R> {
    /// Drops kept bytes before stream offset `offset`.
    pub(crate) fn forget_before(&mut self, offset: u64) {
        let n = usize::try_from(offset.saturating_sub(self.kept_from)).unwrap_or(usize::MAX).min(self.kept.len());
        self.kept.drain(..n);
        self.kept_from += n as u64;
    }

    /// Kept bytes in `[from, to)`.
    pub(crate) fn slice(&self, from: u64, to: u64) -> &[u8] {
        let start = usize::try_from(from.saturating_sub(self.kept_from)).unwrap_or(usize::MAX).min(self.kept.len());
        let end = usize::try_from(to.saturating_sub(self.kept_from)).unwrap_or(usize::MAX).min(self.kept.len());
        &self.kept[start..end.max(start)]
    }
}

/// One record as read: its fields (raw bytes), the physical line it starts on and its byte span.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) fields: ByteRecord,
    pub(crate) line: u64,
    pub(crate) start: u64,
    pub(crate) end: u64,
}

/// A CSV stream positioned after its header.
pub(crate) struct Input<R: Read> {
    rdr: csv::Reader<Guard<Sniffed<R>>>,
    pub(crate) encoding: Encoding,
    /// Preamble records (decoded), then nothing: the header is in `header`.
    pub(crate) preamble: Vec<Vec<String>>,
    pub(crate) header: HeaderReport,
    /// For each profile column, its index in the header.
    pub(crate) column_at: Vec<Option<usize>>,
    /// Number of fields the header has.
    pub(crate) width: usize,
    /// Stream offset where the first data record starts (bytes before it are preamble and header).
    pub(crate) header_end: u64,
    /// Physical lines taken by the preamble and the header.
    pub(crate) header_lines: u64,
    /// Bytes and fields of the last record read.
    last_size: (usize, usize),
}

impl<R: Read> Input<R> {
    /// Opens the stream, reads preamble and header and checks the header against the profile.
    pub(crate) fn open(profile: &Profile, inner: R, keep: bool) -> Result<Input<R>, CsvError> {
        let (encoding, stream) = sniff(inner)?;
        let guard = Guard::new(stream, keep);
        let rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(guard);
        let mut input = Input {
            rdr,
            encoding,
            preamble: Vec::new(),
            header: HeaderReport::default(),
            column_at: Vec::new(),
            width: 0,
            header_end: 0,
            header_lines: 0,
            last_size: (256, 32),
        };
        for _ in 0..profile.preamble_rows {
            let rec = input.next_record()?.ok_or(CsvError::NoHeader)?;
            input.preamble.push(input.decode_all(&rec)?);
        }
        let rec = input.next_record()?.ok_or(CsvError::NoHeader)?;
        let names = input.decode_all(&rec)?;
        input.width = names.len();
        input.header_end = rec.end;
        input.header_lines = input.rdr.get_mut().line_at(rec.end).saturating_sub(1);
        let (report, column_at) = check_header(profile, names, rec.line);
        input.header = report;
        input.column_at = column_at;
        if input.header.is_drift() {
            return Err(CsvError::HeaderDrift(Box::new(input.header.clone())));
        }
        Ok(input)
    }

    fn decode_all(&self, rec: &Record) -> Result<Vec<String>, CsvError> {
        rec.fields
            .iter()
            .map(|f| self.encoding.decode(f).map(|s| s.trim().to_owned()))
            .collect::<Option<Vec<_>>>()
            .ok_or(CsvError::Encoding { line: rec.line })
    }

    /// The next record, or `None` at the end.
    pub(crate) fn next_record(&mut self) -> Result<Option<Record>, CsvError> {
        // Sized like the previous record: growing a fresh record field by field cost several reallocations a row.
        let mut fields = ByteRecord::with_capacity(self.last_size.0, self.last_size.1);
        let start_pos = self.rdr.position().clone();
        let read = self.rdr.read_byte_record(&mut fields);
        let more = match read {
            Ok(more) => more,
            Err(e) => {
                let line = self.rdr.get_mut().line_at(start_pos.byte());
                return Err(read_error(e, line));
            }
        };
        if !more {
            return Ok(None);
        }
        let end = self.rdr.position().byte();
        let guard = self.rdr.get_mut();
        guard.limit = end.saturating_add(MAX_RECORD_BYTES);
        // Blank lines before a record are skipped by the reader and belong to it: the record's own position tells
        // where its first field starts.
        let pos = fields.position().cloned().unwrap_or(start_pos);
        let line = self.rdr.get_mut().line_at(pos.byte());
        self.last_size = (fields.as_slice().len(), fields.len());
        if fields.len() > MAX_FIELDS {
            return Err(CsvError::TooManyFields { line, max: MAX_FIELDS });
        }
        Ok(Some(Record { fields, line, start: pos.byte(), end }))
    }

    pub(crate) fn guard(&self) -> &Guard<Sniffed<R>> {
        self.rdr.get_ref()
    }

    pub(crate) fn guard_mut(&mut self) -> &mut Guard<Sniffed<R>> {
        self.rdr.get_mut()
    }
}

fn read_error(e: csv::Error, line: u64) -> CsvError {
    match e.into_kind() {
        csv::ErrorKind::Io(io) if io.kind() == io::ErrorKind::InvalidData => {
            CsvError::RecordTooLarge { line, max: MAX_RECORD_BYTES }
        }
        csv::ErrorKind::Io(io) => CsvError::Io(io),
        other => CsvError::Csv { line, reason: format!("{other:?}") },
    }
}

/// Compares the header with the profile: missing, extra, renamed and duplicate columns.
fn check_header(profile: &Profile, names: Vec<String>, line: u64) -> (HeaderReport, Vec<Option<usize>>) {
    let norm: Vec<String> = names.iter().map(|n| normalize_header(n)).collect();
    let mut used = vec![false; norm.len()];
    let mut duplicates = Vec::new();
    for (i, n) in norm.iter().enumerate() {
        if !n.is_empty() && norm[..i].contains(n) {
            duplicates.push(names[i].clone());
        }
    }
    let mut column_at = Vec::with_capacity(profile.columns.len());
    for c in &profile.columns {
        let at = norm.iter().position(|n| *n == c.name);
        if let Some(i) = at {
            used[i] = true;
        }
        column_at.push(at);
    }
    let extra_idx: Vec<usize> = (0..norm.len()).filter(|&i| !used[i] && !norm[i].is_empty()).collect();
    let mut paired = vec![false; norm.len()];
    let mut missing = Vec::new();
    let mut renamed = Vec::new();
    for (k, c) in profile.columns.iter().enumerate() {
        if column_at[k].is_some() || c.optional {
            continue;
        }
        // Where the column would sit: right after the nearest declared column found before it.
        let expected_at = column_at[..k].iter().rev().flatten().next().map_or(0, |i| i + 1);
        let found = extra_idx
            .iter()
            .copied()
            .find(|&i| !paired[i] && similar(&c.name, &norm[i]))
            .or_else(|| extra_idx.iter().copied().find(|&i| !paired[i] && i == expected_at));
        match found {
            Some(i) => {
                paired[i] = true;
                renamed.push(Renamed { expected: c.name.clone(), found: names[i].clone(), column_index: i + 1 });
            }
            None => missing.push(c.name.clone()),
        }
    }
    let extra = extra_idx.iter().filter(|&&i| !paired[i]).map(|&i| names[i].clone()).collect();
    let report = HeaderReport {
        line,
        columns: names,
        missing,
        extra,
        renamed,
        duplicates,
        extra_ignored: profile.extra_columns == ExtraColumns::Ignore,
    };
    (report, column_at)
}

/// Names that differ only in case, punctuation or a few letters (`service_date` vs `Service Date`, `svc_date`).
fn similar(a: &str, b: &str) -> bool {
    let squash =
        |s: &str| s.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect::<String>();
    let (sa, sb) = (squash(a), squash(b));
    if sa == sb || (sa.len() >= 4 && sb.len() >= 4 && (sa.contains(&sb) || sb.contains(&sa))) {
        return true;
    }
    let budget = sa.len().max(sb.len()) / 4;
    budget > 0 && levenshtein(&sa, &sb) <= budget
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity() {
        assert!(similar("service_date", "servicedate"));
        assert!(similar("patient_mrn", "Patient MRN"));
        assert!(similar("unit_price", "unit_prices"));
        assert!(!similar("mrn", "payer"));
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }
}
