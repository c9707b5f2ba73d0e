//! One definition of "a segment line", shared by parsing, batch splitting and header peeking.
//!
//! A line ends at CR, LF or CRLF. HL7 says CR; LF and CRLF come from files and editors and are
//! accepted everywhere. A consequence, on purpose: a raw LF inside a field starts a new line,
//! which then fails the segment-name check instead of being silently glued to a field.

/// A line's byte range, terminator excluded, and where the next line starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Line {
    pub start: usize,
    pub end: usize,
    /// Offset just past the terminator (`end` + 0, 1 or 2).
    pub next: usize,
}

/// Iterates the lines of `bytes`; together with their terminators they cover every byte.
#[derive(Debug, Clone)]
pub(crate) struct Lines<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }
}

impl Iterator for Lines<'_> {
    type Item = Line;

    fn next(&mut self) -> Option<Line> {
        let rest = self.bytes.get(self.pos..).filter(|r| !r.is_empty())?;
        let start = self.pos;
        match rest.iter().position(|&b| b == b'\r' || b == b'\n') {
            None => {
                self.pos = self.bytes.len();
                Some(Line { start, end: self.bytes.len(), next: self.pos })
            }
            Some(len) => {
                let end = start + len;
                let crlf = rest.get(len..len + 2) == Some(b"\r\n");
                self.pos = end + if crlf { 2 } else { 1 };
                Some(Line { start, end, next: self.pos })
            }
        }
    }
}

/// True for a line that carries nothing (empty or whitespace only): separator noise.
pub(crate) fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// Strips a UTF-8 byte order mark.
pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Offset of the first byte that is not ASCII whitespace.
pub(crate) fn leading_whitespace(bytes: &[u8]) -> usize {
    bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(input: &[u8]) -> Vec<&[u8]> {
        Lines::new(input).map(|l| input.get(l.start..l.end).unwrap_or_default()).collect()
    }

    #[test]
    fn all_terminators() {
        assert_eq!(texts(b"A\rB\nC\r\nD"), vec![&b"A"[..], b"B", b"C", b"D"]);
        assert_eq!(texts(b"A\r\rB\r\n\r\n"), vec![&b"A"[..], b"", b"B", b""]);
        assert_eq!(texts(b""), Vec::<&[u8]>::new());
        assert_eq!(texts(b"\n"), vec![&b""[..]]);
    }
}
