//! Addresses of values inside a message: `PID-3[1].1.2`, `OBX(2)-5`, `MSH.9.2`.

use std::fmt;
use std::str::FromStr;

use crate::error::{ErrorKind, Hl7Error, Snippet};
use crate::parse::is_segment_name;

/// A 1-based HL7 address: segment (and its occurrence), field, and optionally repetition,
/// component and subcomponent.
///
/// Text form: `SEG[(occurrence)]-field[[repetition]][.component[.subcomponent]]`; a `.` may
/// replace the `-`. `PID-3` is the whole field, `PID-3[2]` its second repetition, `PID-3.1`
/// the first component of its first repetition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path {
    segment: String,
    occurrence: usize,
    field: usize,
    repetition: Option<usize>,
    component: Option<usize>,
    subcomponent: Option<usize>,
}

fn invalid(path: &str, reason: &'static str) -> Hl7Error {
    Hl7Error::new(ErrorKind::InvalidPath { path: Snippet::new(path), reason })
}

impl Path {
    /// A path to a whole field of the first occurrence of a segment.
    pub fn new(segment: &str, field: usize) -> Result<Self, Hl7Error> {
        if !is_segment_name(segment.as_bytes()) {
            return Err(invalid(segment, "segment name must be [A-Z][A-Z0-9][A-Z0-9]"));
        }
        if field == 0 {
            return Err(invalid(segment, "positions are 1-based"));
        }
        Ok(Self {
            segment: segment.to_owned(),
            occurrence: 1,
            field,
            repetition: None,
            component: None,
            subcomponent: None,
        })
    }

    /// Narrows to the n-th occurrence of the segment (0 is read as 1).
    #[must_use]
    pub fn with_occurrence(mut self, n: usize) -> Self {
        self.occurrence = n.max(1);
        self
    }
    /// Narrows to a repetition (0 is read as 1).
    #[must_use]
    pub fn with_repetition(mut self, n: usize) -> Self {
        self.repetition = Some(n.max(1));
        self
    }
    /// Narrows to a component (0 is read as 1).
    #[must_use]
    pub fn with_component(mut self, n: usize) -> Self {
        self.component = Some(n.max(1));
        self
    }
    /// Narrows to a subcomponent, of component 1 when none was set (0 is read as 1).
    #[must_use]
    pub fn with_subcomponent(mut self, n: usize) -> Self {
        self.component.get_or_insert(1);
        self.subcomponent = Some(n.max(1));
        self
    }

    /// Segment id.
    pub fn segment(&self) -> &str {
        &self.segment
    }
    /// 1-based occurrence of the segment.
    pub fn occurrence(&self) -> usize {
        self.occurrence
    }
    /// 1-based field.
    pub fn field(&self) -> usize {
        self.field
    }
    /// 1-based repetition, if narrowed.
    pub fn repetition(&self) -> Option<usize> {
        self.repetition
    }
    /// 1-based component, if narrowed.
    pub fn component(&self) -> Option<usize> {
        self.component
    }
    /// 1-based subcomponent, if narrowed.
    pub fn subcomponent(&self) -> Option<usize> {
        self.subcomponent
    }
}

/// Reads a positive number at the start of `s`.
fn number<'a>(s: &'a str, path: &str) -> Result<(usize, &'a str), Hl7Error> {
    let len = s.bytes().take_while(u8::is_ascii_digit).count();
    let (digits, rest) = s.split_at_checked(len).unwrap_or((s, ""));
    match digits.parse::<usize>() {
        Ok(n) if n > 0 => Ok((n, rest)),
        Ok(_) => Err(invalid(path, "positions are 1-based")),
        Err(_) => Err(invalid(path, "expected a number")),
    }
}

fn bracketed<'a>(s: &'a str, open: char, close: char, path: &str) -> Result<(Option<usize>, &'a str), Hl7Error> {
    let Some(inner) = s.strip_prefix(open) else {
        return Ok((None, s));
    };
    let (n, rest) = number(inner, path)?;
    let rest = rest.strip_prefix(close).ok_or_else(|| invalid(path, "unclosed bracket"))?;
    Ok((Some(n), rest))
}

impl FromStr for Path {
    type Err = Hl7Error;

    fn from_str(path: &str) -> Result<Self, Hl7Error> {
        let (name, rest) = path.split_at_checked(3).ok_or_else(|| invalid(path, "too short"))?;
        let (occurrence, rest) = bracketed(rest, '(', ')', path)?;
        let rest = rest.strip_prefix(['-', '.']).ok_or_else(|| invalid(path, "expected '-' after the segment"))?;
        let (field, rest) = number(rest, path)?;
        let mut p = Self::new(name, field).map_err(|_| invalid(path, "invalid segment name"))?;
        p.occurrence = occurrence.unwrap_or(1);
        let (repetition, mut rest) = bracketed(rest, '[', ']', path)?;
        p.repetition = repetition;
        for slot in [&mut p.component, &mut p.subcomponent] {
            if let Some(r) = rest.strip_prefix('.') {
                let (n, r) = number(r, path)?;
                *slot = Some(n);
                rest = r;
            }
        }
        if !rest.is_empty() {
            return Err(invalid(path, "unexpected text after the path"));
        }
        Ok(p)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.segment)?;
        if self.occurrence > 1 {
            write!(f, "({})", self.occurrence)?;
        }
        write!(f, "-{}", self.field)?;
        if let Some(r) = self.repetition {
            write!(f, "[{r}]")?;
        }
        for n in [self.component, self.subcomponent].into_iter().flatten() {
            write!(f, ".{n}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() -> Result<(), Hl7Error> {
        for (text, canonical) in [
            ("PID-3", "PID-3"),
            ("PID.3.1", "PID-3.1"),
            ("PID-3[2].1.2", "PID-3[2].1.2"),
            ("OBX(2)-5", "OBX(2)-5"),
            ("ZX1-10", "ZX1-10"),
        ] {
            assert_eq!(text.parse::<Path>()?.to_string(), canonical);
        }
        assert_eq!(Path::new("PID", 5)?.with_subcomponent(2).to_string(), "PID-5.1.2");
        Ok(())
    }

    #[test]
    fn refuses_bad_paths() {
        for bad in ["", "PI", "pid-3", "PID", "PID-0", "PID-3[", "PID-3[0]", "PID-3.x", "PID-3.1.2.3", "PID(2-3"] {
            assert!(bad.parse::<Path>().is_err(), "{bad}");
        }
    }
}
