//! MSH-1 and MSH-2: the field separator and the encoding characters.

use crate::error::{ErrorKind, Hl7Error, Location};

/// The delimiters a message declares in MSH-1/MSH-2, including the v2.7 truncation character.
///
/// Every delimiter is a distinct printable, non-alphanumeric ASCII character; the constructor
/// enforces it, so splitting on bytes is always safe on UTF-8 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Separators {
    field: u8,
    component: u8,
    repetition: u8,
    escape: u8,
    subcomponent: u8,
    truncation: Option<u8>,
}

impl Default for Separators {
    /// `|^~\&`, no truncation character.
    fn default() -> Self {
        Self { field: b'|', component: b'^', repetition: b'~', escape: b'\\', subcomponent: b'&', truncation: None }
    }
}

fn encoding_error(reason: &'static str) -> Hl7Error {
    Hl7Error::at(ErrorKind::EncodingCharacters { reason }, Location::segment("MSH", 1).with_field(2))
}

fn usable(b: u8) -> bool {
    b.is_ascii_graphic() && !b.is_ascii_alphanumeric()
}

impl Separators {
    /// Builds separators, refusing delimiters that are not distinct printable, non-alphanumeric
    /// ASCII characters.
    pub fn new(
        field: char,
        component: char,
        repetition: char,
        escape: char,
        subcomponent: char,
        truncation: Option<char>,
    ) -> Result<Self, Hl7Error> {
        let byte = |c: char| u8::try_from(c).ok().filter(|&b| usable(b));
        let (Some(field), Some(component), Some(repetition), Some(escape), Some(subcomponent)) =
            (byte(field), byte(component), byte(repetition), byte(escape), byte(subcomponent))
        else {
            return Err(encoding_error("delimiters must be printable non-alphanumeric ASCII"));
        };
        let truncation = match truncation {
            None => None,
            Some(c) => {
                Some(byte(c).ok_or_else(|| encoding_error("delimiters must be printable non-alphanumeric ASCII"))?)
            }
        };
        let seps = Self { field, component, repetition, escape, subcomponent, truncation };
        let all = seps.delimiter_bytes();
        for (i, a) in all.iter().enumerate() {
            if all.iter().skip(i + 1).any(|b| b == a) {
                return Err(encoding_error("delimiters must be distinct"));
            }
        }
        Ok(seps)
    }

    /// Reads MSH-1 and MSH-2 from the start of a message (`MSH|^~\&|...`). MSH-2 ends at the
    /// next field separator or at the end of the line; it holds 4 characters, or 5 when the
    /// v2.7 truncation character is declared (`^~\&#`).
    pub(crate) fn from_msh(msh: &[u8]) -> Result<Self, Hl7Error> {
        let Some(&field) = msh.get(3) else {
            return Err(Hl7Error::at(
                ErrorKind::Truncated { reason: "MSH ends before the field separator" },
                Location::segment("MSH", 1).with_field(1),
            ));
        };
        if !usable(field) {
            return Err(Hl7Error::at(
                ErrorKind::EncodingCharacters { reason: "MSH-1 must be a printable non-alphanumeric ASCII character" },
                Location::segment("MSH", 1).with_field(1),
            ));
        }
        let rest = msh.get(4..).unwrap_or_default();
        let len = rest.iter().position(|&b| b == field || b == b'\r' || b == b'\n').unwrap_or(rest.len());
        let enc = rest.get(..len).unwrap_or_default();
        let [component, repetition, escape, subcomponent, truncation @ ..] = enc else {
            return Err(encoding_error("MSH-2 must hold 4 encoding characters (^~\\&)"));
        };
        let truncation = match truncation {
            [] => None,
            [t] => Some(*t),
            _ => return Err(encoding_error("MSH-2 holds more than 5 encoding characters")),
        };
        Self::new(
            char::from(field),
            char::from(*component),
            char::from(*repetition),
            char::from(*escape),
            char::from(*subcomponent),
            truncation.map(char::from),
        )
    }

    fn delimiter_bytes(&self) -> Vec<u8> {
        let mut v = vec![self.field, self.component, self.repetition, self.escape, self.subcomponent];
        v.extend(self.truncation);
        v
    }

    /// MSH-1, the field separator (normally `|`).
    pub fn field(&self) -> char {
        char::from(self.field)
    }
    /// The component separator (normally `^`).
    pub fn component(&self) -> char {
        char::from(self.component)
    }
    /// The repetition separator (normally `~`).
    pub fn repetition(&self) -> char {
        char::from(self.repetition)
    }
    /// The escape character (normally `\`).
    pub fn escape(&self) -> char {
        char::from(self.escape)
    }
    /// The subcomponent separator (normally `&`).
    pub fn subcomponent(&self) -> char {
        char::from(self.subcomponent)
    }
    /// The v2.7 truncation character (normally `#`), when MSH-2 declares one.
    pub fn truncation(&self) -> Option<char> {
        self.truncation.map(char::from)
    }

    pub(crate) fn field_byte(&self) -> u8 {
        self.field
    }
    pub(crate) fn escape_byte(&self) -> u8 {
        self.escape
    }

    /// MSH-2 as it should be written: `^~\&` or `^~\&#`.
    pub fn encoding_characters(&self) -> String {
        let mut s = String::with_capacity(5);
        for b in [self.component, self.repetition, self.escape, self.subcomponent] {
            s.push(char::from(b));
        }
        s.extend(self.truncation());
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_standard_and_truncation_headers() -> Result<(), Hl7Error> {
        let s = Separators::from_msh(b"MSH|^~\\&|A")?;
        assert_eq!(s, Separators::default());
        let t = Separators::from_msh(b"MSH|^~\\&#|A")?;
        assert_eq!(t.truncation(), Some('#'));
        assert_eq!(t.encoding_characters(), "^~\\&#");
        // MSH-2 ending at the line end is still readable; later checks find the missing fields.
        assert_eq!(Separators::from_msh(b"MSH|^~\\&\r")?, Separators::default());
        Ok(())
    }

    #[test]
    fn refuses_bad_encoding_characters() {
        for bad in [
            &b"MSH"[..],
            b"MSHA^~\\&|",
            b"MSH|^~\\|",
            b"MSH|^~\\&#!|",
            b"MSH|^^\\&|",
            b"MSH|^~|&|",
            b"MSH|^~\\\xc3|",
            b"MSH\r",
        ] {
            assert!(Separators::from_msh(bad).is_err(), "{bad:?}");
        }
    }
}
