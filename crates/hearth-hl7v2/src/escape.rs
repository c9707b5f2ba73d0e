//! HL7 escape sequences (`\F\`, `\X0D\`, `\.br\`...): decoding to plain text and back.
//!
//! [`unescape`] never fails and never panics: an escape it does not understand, a local `\Z..\`
//! escape, a character-set switch (`\C..\`, `\M..\`) or an unterminated escape is kept verbatim.
//! [`escape`] produces only sequences [`unescape`] reverses, so `unescape(escape(s)) == s`.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::separators::Separators;

/// Upper bound on what one formatting escape (`\.sp 99999\`) may expand to, so a tiny input
/// cannot make a huge string.
const MAX_FORMAT_REPEAT: usize = 64;

/// Decodes the escape sequences of one value (a component or subcomponent, or a whole field).
///
/// | escape | becomes |
/// |---|---|
/// | `\F\ \S\ \T\ \R\ \E\` | the field, component, subcomponent, repetition, escape character |
/// | `\P\` | the truncation character (v2.7), when MSH-2 declares one |
/// | `\Xhh..\` | the bytes, read as UTF-8 when valid, else as Latin-1 |
/// | `\.br\`, `\.ce\` | a newline |
/// | `\.sp n\` | n newlines (1 when n is absent) |
/// | `\.in n\`, `\.ti n\`, `\.sk n\` | n spaces (negative: nothing) |
/// | `\H\ \N\ \.fi\ \.nf\` | nothing (highlighting and fill mode have no plain-text form) |
/// | anything else, `\Zxx\` included | kept verbatim |
pub fn unescape<'a>(value: &'a str, seps: &Separators) -> Cow<'a, str> {
    let esc = seps.escape_byte();
    let bytes = value.as_bytes();
    let Some(mut at) = bytes.iter().position(|&b| b == esc) else {
        return Cow::Borrowed(value);
    };
    let mut out = String::with_capacity(value.len());
    let mut copied = 0;
    loop {
        out.push_str(value.get(copied..at).unwrap_or_default());
        let body_start = at + 1;
        let after = bytes.get(body_start..).unwrap_or_default();
        let Some(len) = after.iter().position(|&b| b == esc) else {
            // Unterminated: keep the rest as it is.
            out.push_str(value.get(at..).unwrap_or_default());
            return Cow::Owned(out);
        };
        let end = body_start + len + 1;
        let body = value.get(body_start..body_start + len).unwrap_or_default();
        if !render_escape(body, seps, &mut out) {
            out.push_str(value.get(at..end).unwrap_or_default());
        }
        copied = end;
        match bytes.get(end..).and_then(|rest| rest.iter().position(|&b| b == esc)) {
            Some(next) => at = end + next,
            None => {
                out.push_str(value.get(copied..).unwrap_or_default());
                return Cow::Owned(out);
            }
        }
    }
}

/// Appends the rendering of one escape body; false when it must be kept verbatim.
fn render_escape(body: &str, seps: &Separators, out: &mut String) -> bool {
    match body {
        "F" => out.push(seps.field()),
        "S" => out.push(seps.component()),
        "T" => out.push(seps.subcomponent()),
        "R" => out.push(seps.repetition()),
        "E" => out.push(seps.escape()),
        "P" => match seps.truncation() {
            Some(t) => out.push(t),
            None => return false,
        },
        "H" | "N" => {}
        _ => {
            if let Some(hex) = body.strip_prefix('X') {
                return render_hex(hex, out);
            }
            if let Some(cmd) = body.strip_prefix('.') {
                return render_format(cmd, out);
            }
            return false;
        }
    }
    true
}

fn render_hex(hex: &str, out: &mut String) -> bool {
    if hex.is_empty() || !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let decoded: Vec<u8> = hex
        .as_bytes()
        .chunks_exact(2)
        .filter_map(|pair| std::str::from_utf8(pair).ok())
        .filter_map(|pair| u8::from_str_radix(pair, 16).ok())
        .collect();
    match std::str::from_utf8(&decoded) {
        Ok(text) => out.push_str(text),
        // Latin-1: every byte is the code point of the same value.
        Err(_) => out.extend(decoded.iter().map(|&b| char::from(b))),
    }
    true
}

fn render_format(cmd: &str, out: &mut String) -> bool {
    let name = cmd.get(..2).unwrap_or(cmd);
    let arg = cmd.get(2..).unwrap_or_default().trim();
    let count = |default: i64| -> Option<usize> {
        let n = if arg.is_empty() { Some(default) } else { arg.parse::<i64>().ok() }?;
        Some(usize::try_from(n.max(0)).unwrap_or(0).min(MAX_FORMAT_REPEAT))
    };
    let (ch, n) = match name {
        "br" | "ce" if arg.is_empty() => ('\n', 1),
        "fi" | "nf" if arg.is_empty() => return true,
        "sp" => match count(1) {
            Some(n) => ('\n', n),
            None => return false,
        },
        "in" | "ti" | "sk" => match count(1) {
            Some(n) => (' ', n),
            None => return false,
        },
        _ => return false,
    };
    out.extend(std::iter::repeat_n(ch, n));
    true
}

fn needs_escape(b: u8, seps: &Separators) -> bool {
    let c = char::from(b);
    (b < 0x20 && b != b'\t')
        || c == seps.field()
        || c == seps.component()
        || c == seps.subcomponent()
        || c == seps.repetition()
        || c == seps.escape()
        || Some(c) == seps.truncation()
}

/// Escapes a plain-text value so it can be placed in one component/subcomponent: delimiters
/// become `\F\ \S\ \T\ \R\ \E\` (and `\P\` when a truncation character is declared), control
/// characters (CR, LF, MLLP framing bytes...) become `\Xhh\`. Tabs and non-ASCII are kept.
pub fn escape<'a>(value: &'a str, seps: &Separators) -> Cow<'a, str> {
    if !value.bytes().any(|b| needs_escape(b, seps)) {
        return Cow::Borrowed(value);
    }
    let esc = seps.escape();
    let mut out = String::with_capacity(value.len() + 16);
    for c in value.chars() {
        let code = match c {
            _ if c == seps.field() => Some('F'),
            _ if c == seps.component() => Some('S'),
            _ if c == seps.subcomponent() => Some('T'),
            _ if c == seps.repetition() => Some('R'),
            _ if c == seps.escape() => Some('E'),
            _ if Some(c) == seps.truncation() => Some('P'),
            _ => None,
        };
        match code {
            Some(code) => {
                out.push(esc);
                out.push(code);
                out.push(esc);
            }
            None if u32::from(c) < 0x20 && c != '\t' => {
                // Writing to a String cannot fail.
                let _ = write!(out, "{esc}X{:02X}{esc}", u32::from(c));
            }
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn un(s: &str) -> String {
        unescape(s, &Separators::default()).into_owned()
    }

    #[test]
    fn delimiters() {
        assert_eq!(un(r"a\F\b\S\c\T\d\R\e\E\f"), "a|b^c&d~e\\f");
        assert!(matches!(unescape("plain", &Separators::default()), Cow::Borrowed(_)));
    }

    #[test]
    fn truncation_escape_needs_a_declared_character() -> Result<(), crate::Hl7Error> {
        assert_eq!(un(r"a\P\b"), r"a\P\b");
        let v27 = Separators::new('|', '^', '~', '\\', '&', Some('#'))?;
        assert_eq!(unescape(r"a\P\b", &v27), "a#b");
        assert_eq!(escape("a#b", &v27), r"a\P\b");
        Ok(())
    }

    #[test]
    fn hex() {
        assert_eq!(un(r"\X0D0A\"), "\r\n");
        assert_eq!(un(r"caf\XC3A9\"), "café");
        assert_eq!(un(r"caf\XE9\"), "café");
        assert_eq!(un(r"\X0\"), r"\X0\");
        assert_eq!(un(r"\XZZ\"), r"\XZZ\");
        assert_eq!(un(r"\X\"), r"\X\");
    }

    #[test]
    fn formatting() {
        assert_eq!(un(r"line1\.br\line2"), "line1\nline2");
        assert_eq!(un(r"\H\bold\N\"), "bold");
        assert_eq!(un(r"a\.sp\b\.sp 2\c\.sp+1\d"), "a\nb\n\nc\nd");
        assert_eq!(un(r"\.in 2\x\.ti -3\y\.sk\z"), "  xy z");
        assert_eq!(un(r"\.ce\t\.fi\\.nf\"), "\nt");
        assert_eq!(un(r"\.sp 999999999999\").len(), MAX_FORMAT_REPEAT);
        assert_eq!(un(r"\.sp x\"), r"\.sp x\");
        assert_eq!(un(r"\.zz\"), r"\.zz\");
    }

    #[test]
    fn local_unknown_and_unterminated_are_verbatim() {
        assert_eq!(un(r"a\Zfoo\b"), r"a\Zfoo\b");
        assert_eq!(un(r"\C2842\x"), r"\C2842\x");
        assert_eq!(un(r"\Q\"), r"\Q\");
        assert_eq!(un(r"abc\F"), r"abc\F");
        assert_eq!(un(r"\"), r"\");
        assert_eq!(un(r"\\"), r"\\");
        assert_eq!(un(r"é\F\ü\X"), "é|ü\\X");
    }

    #[test]
    fn escape_examples() {
        let s = Separators::default();
        assert_eq!(escape("a|b^c&d~e\\f", &s), r"a\F\b\S\c\T\d\R\e\E\f");
        assert_eq!(escape("a\r\nb\x0b", &s), r"a\X0D\\X0A\b\X0B\");
        assert_eq!(escape("tab\tok é", &s), "tab\tok é");
    }
}
