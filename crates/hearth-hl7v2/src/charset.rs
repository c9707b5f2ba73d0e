//! MSH-18 character sets: decoding input to UTF-8 and encoding replies back.

use std::borrow::Cow;
use std::fmt;

use encoding_rs::{EncoderResult, Encoding, ISO_8859_15, WINDOWS_1252};

/// The character sets Hearth decodes (HL7 table 0211 values in brackets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Charset {
    /// `ASCII`. Also the HL7 default when MSH-18 is empty.
    Ascii,
    /// `8859/1`, decoded as windows-1252 (a superset used by real senders).
    Latin1,
    /// `8859/15`.
    Latin9,
    /// `UNICODE UTF-8`. Hearth's default for an empty MSH-18: ASCII is a subset, and refusing
    /// invalid UTF-8 is safer than guessing.
    #[default]
    Utf8,
}

/// How an MSH-18 value was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recognised {
    /// A table 0211 value.
    Standard(Charset),
    /// A common but non-standard spelling (`UTF-8`, `ISO-8859-1`...).
    Alias(Charset),
}

impl Charset {
    /// The table 0211 name written in MSH-18.
    pub fn hl7_name(self) -> &'static str {
        match self {
            Self::Ascii => "ASCII",
            Self::Latin1 => "8859/1",
            Self::Latin9 => "8859/15",
            Self::Utf8 => "UNICODE UTF-8",
        }
    }

    /// The charset an MSH-18 value (or a channel's `default_charset`) names: table 0211 values and the common
    /// aliases (`UTF-8`, `ISO-8859-1`...), case-insensitive.
    pub fn from_hl7_name(value: &str) -> Option<Charset> {
        match Self::recognise(value.trim())? {
            Recognised::Standard(c) | Recognised::Alias(c) => Some(c),
        }
    }

    /// Recognises an MSH-18 value (already trimmed, case-insensitive).
    pub(crate) fn recognise(value: &str) -> Option<Recognised> {
        let v = value.to_ascii_uppercase();
        let standard = match v.as_str() {
            "ASCII" => Some(Self::Ascii),
            "8859/1" => Some(Self::Latin1),
            "8859/15" => Some(Self::Latin9),
            "UNICODE UTF-8" => Some(Self::Utf8),
            _ => None,
        };
        if let Some(c) = standard {
            return Some(Recognised::Standard(c));
        }
        let alias = match v.as_str() {
            "US-ASCII" => Self::Ascii,
            "ISO-8859-1" | "ISO8859-1" | "LATIN1" | "LATIN-1" | "WINDOWS-1252" | "CP1252" => Self::Latin1,
            "ISO-8859-15" | "ISO8859-15" | "LATIN9" | "LATIN-9" => Self::Latin9,
            "UTF-8" | "UTF8" | "UNICODE UTF8" => Self::Utf8,
            _ => return None,
        };
        Some(Recognised::Alias(alias))
    }

    fn encoding(self) -> Option<&'static Encoding> {
        match self {
            Self::Latin1 => Some(WINDOWS_1252),
            Self::Latin9 => Some(ISO_8859_15),
            Self::Ascii | Self::Utf8 => None,
        }
    }

    /// Decodes bytes to UTF-8. UTF-8 and ASCII fail on invalid bytes; the single-byte sets map
    /// every byte.
    pub(crate) fn decode(self, bytes: &[u8]) -> Result<Cow<'_, str>, DecodeError> {
        match self.encoding() {
            Some(enc) => Ok(enc.decode_without_bom_handling(bytes).0),
            None => match std::str::from_utf8(bytes) {
                Ok(s) if self == Self::Utf8 || s.is_ascii() => Ok(Cow::Borrowed(s)),
                Ok(s) => Err(DecodeError {
                    valid_up_to: s.bytes().position(|b| !b.is_ascii()).unwrap_or(0),
                    incomplete: false,
                }),
                Err(e) => Err(DecodeError { valid_up_to: e.valid_up_to(), incomplete: e.error_len().is_none() }),
            },
        }
    }

    /// Encodes text for the wire in this character set (e.g. an ACK for a sender that declared
    /// `8859/1`). Characters the set cannot hold become `?`: never an HTML entity, whose `&`
    /// would be read as a subcomponent separator.
    pub fn encode(self, text: &str) -> Cow<'_, [u8]> {
        match self {
            Self::Utf8 => Cow::Borrowed(text.as_bytes()),
            _ if text.is_ascii() => Cow::Borrowed(text.as_bytes()),
            Self::Ascii => {
                Cow::Owned(text.chars().map(|c| u8::try_from(c).ok().filter(u8::is_ascii).unwrap_or(b'?')).collect())
            }
            Self::Latin1 => Cow::Owned(encode_with(WINDOWS_1252, text)),
            Self::Latin9 => Cow::Owned(encode_with(ISO_8859_15, text)),
        }
    }
}

fn encode_with(encoding: &'static Encoding, text: &str) -> Vec<u8> {
    let mut encoder = encoding.new_encoder();
    let mut out = Vec::with_capacity(text.len());
    let mut buf = [0u8; 1024];
    let mut rest = text;
    loop {
        let (result, read, written) = encoder.encode_from_utf8_without_replacement(rest, &mut buf, true);
        out.extend_from_slice(buf.get(..written).unwrap_or_default());
        rest = rest.get(read..).unwrap_or_default();
        match result {
            EncoderResult::InputEmpty => return out,
            EncoderResult::OutputFull => {}
            EncoderResult::Unmappable(_) => out.push(b'?'),
        }
    }
}

/// Where decoding failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecodeError {
    pub valid_up_to: usize,
    /// The input ends inside a multi-byte character.
    pub incomplete: bool,
}

impl fmt::Display for Charset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.hl7_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_latin_sets() -> Result<(), DecodeError> {
        assert_eq!(Charset::Latin1.decode(b"Jos\xe9")?, "José");
        assert_eq!(Charset::Latin9.decode(b"\xa4")?, "€");
        assert_eq!(Charset::Latin1.decode(b"\x80")?, "€");
        Ok(())
    }

    #[test]
    fn utf8_errors_say_where_and_whether_truncated() {
        assert_eq!(Charset::Utf8.decode(b"ab\xc3"), Err(DecodeError { valid_up_to: 2, incomplete: true }));
        assert_eq!(Charset::Utf8.decode(b"ab\xffcd"), Err(DecodeError { valid_up_to: 2, incomplete: false }));
        assert!(Charset::Ascii.decode("é".as_bytes()).is_err());
    }

    #[test]
    fn encodes_without_entities() {
        assert_eq!(&*Charset::Latin1.encode("José"), b"Jos\xe9");
        assert_eq!(&*Charset::Latin9.encode("€✓"), b"\xa4?");
        assert_eq!(&*Charset::Ascii.encode("é"), b"?");
        assert_eq!(&*Charset::Utf8.encode("é"), "é".as_bytes());
    }

    #[test]
    fn recognises_msh18_values() {
        assert_eq!(Charset::recognise("8859/1"), Some(Recognised::Standard(Charset::Latin1)));
        assert_eq!(Charset::recognise("unicode utf-8"), Some(Recognised::Standard(Charset::Utf8)));
        assert_eq!(Charset::recognise("UTF-8"), Some(Recognised::Alias(Charset::Utf8)));
        assert_eq!(Charset::recognise("ISO IR87"), None);
    }
}
