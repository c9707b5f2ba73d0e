//! Pass 1: cut a file into independently convertible chunks, in constant memory.

use std::io::Read;

use crate::read::{Encoding, Input, Record};
use crate::{CsvError, HeaderReport, Profile};

/// One row group, ready to journal: the file's preamble and header lines plus the group's lines, in UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub raw: Vec<u8>,
    /// Physical line of the group's first record in the file.
    pub first_line: u64,
    /// Physical line of the group's last line (a quoted newline makes a record span lines).
    pub last_line: u64,
    /// Records in the group.
    pub rows: u64,
    /// Unique within the file and stable across runs: `<first_line>` for ungrouped profiles,
    /// `<first_line>:<group values>` otherwise (group values cut to 64 characters).
    pub key: String,
}

/// Reads a CSV file and yields its row groups as [`Chunk`]s. The header is checked in [`Splitter::new`], before
/// any row. An [`CsvError::UndecodableGroup`] item covers one group (a non-UTF-8 line in a UTF-8 file): iteration
/// may go on after it; any other error (I/O, an oversized record) ends the iteration.
#[derive(Debug)]
pub struct Splitter<R: Read> {
    input: Input<R>,
    header_raw: Vec<u8>,
    group_cols: Vec<Option<usize>>,
    max_rows: u64,
    pending: Option<(Record, String)>,
    done: bool,
}

impl<R: Read> std::fmt::Debug for Input<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input").field("encoding", &self.encoding).finish_non_exhaustive()
    }
}

impl<R: Read> Splitter<R> {
    /// Detects the encoding, reads the preamble and the header, and checks the header against the profile.
    pub fn new(profile: &Profile, reader: R) -> Result<Splitter<R>, CsvError> {
        let mut input = Input::open(profile, reader, true)?;
        let header_bytes = input.guard().slice(0, input.header_end).to_vec();
        let mut header_raw = to_utf8(input.encoding, &header_bytes).ok_or(CsvError::Encoding { line: 1 })?;
        if !header_raw.ends_with(b"\n") {
            header_raw.push(b'\n');
        }
        let end = input.header_end;
        input.guard_mut().forget_before(end);
        let group_cols = group_columns(profile, &input.column_at);
        Ok(Splitter {
            input,
            header_raw,
            group_cols,
            max_rows: u64::from(profile.max_group_rows),
            pending: None,
            done: false,
        })
    }

    /// How the header compared with the profile (extra columns that were ignored are listed here).
    pub fn header(&self) -> &HeaderReport {
        &self.input.header
    }

    /// The detected encoding.
    pub fn encoding(&self) -> Encoding {
        self.input.encoding
    }

    fn read(&mut self) -> Result<Option<(Record, String)>, CsvError> {
        let Some(rec) = self.input.next_record()? else { return Ok(None) };
        let value = group_value(&self.group_cols, &rec, self.input.encoding);
        Ok(Some((rec, value)))
    }

    fn next_group(&mut self) -> Result<Option<Chunk>, CsvError> {
        let first = match self.pending.take() {
            Some(p) => p,
            None => match self.read()? {
                Some(p) => p,
                None => return Ok(None),
            },
        };
        let (start, first_line) = (first.0.start, first.0.line);
        let mut rows = 1;
        let mut end = first.0.end;
        while let Some(next) = self.read()? {
            if self.group_cols.is_empty() || next.1 != first.1 || rows >= self.max_rows {
                end = next.0.start;
                self.pending = Some(next);
                break;
            }
            rows += 1;
            end = next.0.end;
        }
        if self.pending.is_none() {
            end = u64::MAX;
        }
        let bytes = self.input.guard().slice(start, end);
        let last_line = first_line + count_lines(bytes);
        let body = to_utf8(self.input.encoding, bytes);
        self.input.guard_mut().forget_before(end);
        let body = body.ok_or(CsvError::UndecodableGroup { first_line, last_line, rows })?;
        let mut raw = Vec::with_capacity(self.header_raw.len() + body.len());
        raw.extend_from_slice(&self.header_raw);
        raw.extend_from_slice(&body);
        Ok(Some(Chunk { raw, first_line, last_line, rows, key: group_key(first_line, &self.group_cols, &first.1) }))
    }
}

impl<R: Read> Iterator for Splitter<R> {
    type Item = Result<Chunk, CsvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_group() {
            Ok(Some(chunk)) => Some(Ok(chunk)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e @ CsvError::UndecodableGroup { .. }) => Some(Err(e)),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Header indexes of the profile's `group_by` columns.
pub(crate) fn group_columns(profile: &Profile, column_at: &[Option<usize>]) -> Vec<Option<usize>> {
    profile
        .group_by
        .iter()
        .map(|g| profile.columns.iter().position(|c| c.name == *g).and_then(|k| column_at[k]))
        .collect()
}

/// The group values of a record, joined by `|` (trimmed; undecodable bytes become U+FFFD here only).
pub(crate) fn group_value(cols: &[Option<usize>], rec: &Record, encoding: Encoding) -> String {
    let mut out = String::new();
    for (i, c) in cols.iter().enumerate() {
        if i > 0 {
            out.push('|');
        }
        let bytes = c.and_then(|c| rec.fields.get(c)).unwrap_or(b"");
        match encoding.decode(bytes) {
            Some(s) => out.push_str(s.trim()),
            None => out.push_str(String::from_utf8_lossy(bytes).trim()),
        }
    }
    out
}

/// The group key shared by [`Chunk::key`] and [`crate::Output::group`].
pub(crate) fn group_key(first_line: u64, cols: &[Option<usize>], value: &str) -> String {
    if cols.is_empty() {
        return first_line.to_string();
    }
    let cut: String = value.chars().take(64).collect();
    format!("{first_line}:{cut}")
}

/// Lines a group spans after its first: newlines inside it, not counting the ones that end it.
fn count_lines(bytes: &[u8]) -> u64 {
    let body = bytes.iter().rposition(|&b| b != b'\n' && b != b'\r').map_or(&bytes[..0], |i| &bytes[..=i]);
    body.iter().filter(|&&b| b == b'\n').count() as u64
}

fn to_utf8(encoding: Encoding, bytes: &[u8]) -> Option<Vec<u8>> {
    match encoding {
        Encoding::Utf8 | Encoding::Utf8Bom => std::str::from_utf8(bytes).ok().map(|_| bytes.to_vec()),
        Encoding::Windows1252 => {
            Some(encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0.into_owned().into_bytes())
        }
    }
}
