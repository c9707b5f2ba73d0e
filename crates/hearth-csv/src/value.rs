//! Typed cell values: dates with declared formats, exact decimals (money is summed without floating point).

use std::fmt::Write as _;

use serde_json::{Number, Value};

/// A date layout from a profile: `YYYY`, `MM`/`DD` (two digits), `M`/`D` (one or two digits), other characters
/// literal. Example: `M/D/YYYY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormat(Vec<Tok>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Year,
    Month2,
    Day2,
    Month,
    Day,
    Lit(char),
}

impl DateFormat {
    pub(crate) fn parse(spec: &str) -> Result<DateFormat, String> {
        let mut toks = Vec::new();
        let mut rest = spec;
        while let Some(c) = rest.chars().next() {
            let (tok, len) = if rest.starts_with("YYYY") {
                (Tok::Year, 4)
            } else if rest.starts_with("MM") {
                (Tok::Month2, 2)
            } else if rest.starts_with("DD") {
                (Tok::Day2, 2)
            } else if c == 'M' {
                (Tok::Month, 1)
            } else if c == 'D' {
                (Tok::Day, 1)
            } else if c.is_ascii_alphabetic() {
                return Err(format!("unknown date token {c:?} in {spec:?} (use YYYY, MM, DD, M, D)"));
            } else {
                (Tok::Lit(c), c.len_utf8())
            };
            toks.push(tok);
            rest = &rest[len..];
        }
        for needed in [[Tok::Year, Tok::Year], [Tok::Month2, Tok::Month], [Tok::Day2, Tok::Day]] {
            if !toks.iter().any(|t| needed.contains(t)) {
                return Err(format!("{spec:?} lacks a year, month or day"));
            }
        }
        Ok(DateFormat(toks))
    }

    /// The ISO date (`YYYY-MM-DD`) if `s` matches and is a real calendar date.
    pub(crate) fn apply(&self, s: &str) -> Option<String> {
        let b = s.as_bytes();
        let mut i = 0;
        let (mut y, mut m, mut d) = (0u32, 0u32, 0u32);
        for t in &self.0 {
            match t {
                Tok::Year => y = digits(b, &mut i, 4, 4)?,
                Tok::Month2 => m = digits(b, &mut i, 2, 2)?,
                Tok::Day2 => d = digits(b, &mut i, 2, 2)?,
                Tok::Month => m = digits(b, &mut i, 1, 2)?,
                Tok::Day => d = digits(b, &mut i, 1, 2)?,
                Tok::Lit(c) => {
                    let mut buf = [0u8; 4];
                    let lit = c.encode_utf8(&mut buf).as_bytes();
                    if !b[i..].starts_with(lit) {
                        return None;
                    }
                    i += lit.len();
                }
            }
        }
        if i != b.len() || y == 0 {
            return None;
        }
        let month = time::Month::try_from(u8::try_from(m).ok()?).ok()?;
        time::Date::from_calendar_date(i32::try_from(y).ok()?, month, u8::try_from(d).ok()?).ok()?;
        let mut out = String::with_capacity(10);
        let _ = write!(out, "{y:04}-{m:02}-{d:02}");
        Some(out)
    }
}

fn digits(b: &[u8], i: &mut usize, min: usize, max: usize) -> Option<u32> {
    let start = *i;
    while *i < b.len() && *i - start < max && b[*i].is_ascii_digit() {
        *i += 1;
    }
    if *i - start < min {
        return None;
    }
    b[start..*i].iter().try_fold(0u32, |acc, c| acc.checked_mul(10)?.checked_add(u32::from(c - b'0')))
}

/// An exact decimal: `units / 10^scale`. Enough for money and quantities in billing files (18 significant
/// digits); more is refused rather than rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    units: i128,
    scale: u32,
}

const MAX_SCALE: u32 = 12;
const MAX_DIGITS: usize = 18;

impl Decimal {
    pub const ZERO: Decimal = Decimal { units: 0, scale: 0 };

    /// Parses `-12.50`, `+3`, `.5`, `1,234.00` is refused (thousands separators are ambiguous); an optional `$`
    /// before the digits is accepted because hand-made exports carry it.
    pub fn parse(s: &str) -> Option<Decimal> {
        let (neg, rest) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let rest = rest.strip_prefix('$').unwrap_or(rest);
        let (int, frac) = rest.split_once('.').unwrap_or((rest, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|c| c.is_ascii_digit()) {
            return None;
        }
        let significant = int.trim_start_matches('0').len() + frac.len();
        if significant > MAX_DIGITS || frac.len() > MAX_SCALE as usize {
            return None;
        }
        let mut units: i128 = 0;
        for c in int.bytes().chain(frac.bytes()) {
            units = units * 10 + i128::from(c - b'0');
        }
        let scale = u32::try_from(frac.len()).ok()?;
        Some(Decimal { units: if neg { -units } else { units }, scale })
    }

    pub fn is_negative(self) -> bool {
        self.units < 0
    }

    pub fn is_zero(self) -> bool {
        self.units == 0
    }

    fn rescale(self, scale: u32) -> Option<Decimal> {
        let factor = 10i128.checked_pow(scale.checked_sub(self.scale)?)?;
        Some(Decimal { units: self.units.checked_mul(factor)?, scale })
    }

    /// Exact sum; `None` on overflow (not reachable with the digit limit and row limits).
    pub fn checked_add(self, other: Decimal) -> Option<Decimal> {
        let scale = self.scale.max(other.scale);
        let (a, b) = (self.rescale(scale)?, other.rescale(scale)?);
        Some(Decimal { units: a.units.checked_add(b.units)?, scale })
    }

    /// Divides by 100 exactly (a percentage as a factor).
    pub fn percent_to_factor(self) -> Decimal {
        Decimal { units: self.units, scale: self.scale + 2 }
    }

    /// The JSON number, keeping the written digits when serde_json preserves them (`arbitrary_precision`).
    pub fn to_json(self) -> Value {
        serde_json::from_str::<Number>(&self.to_string()).map(Value::Number).unwrap_or(Value::Null)
    }

    /// A whole number, if the value is one.
    pub fn to_i64(self) -> Option<i64> {
        let whole = self.rescale(self.scale).filter(|d| d.units % 10i128.pow(d.scale) == 0)?;
        i64::try_from(whole.units / 10i128.pow(whole.scale)).ok()
    }
}

impl std::fmt::Display for Decimal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let abs = self.units.unsigned_abs();
        let pow = 10u128.pow(self.scale);
        let sign = if self.units < 0 { "-" } else { "" };
        if self.scale == 0 {
            write!(f, "{sign}{abs}")
        } else {
            write!(f, "{sign}{}.{:0width$}", abs / pow, abs % pow, width = self.scale as usize)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let f = DateFormat::parse("M/D/YYYY").unwrap();
        assert_eq!(f.apply("4/1/2026").as_deref(), Some("2026-04-01"));
        assert_eq!(f.apply("12/31/2025").as_deref(), Some("2025-12-31"));
        assert_eq!(f.apply("2/30/2025"), None);
        assert_eq!(f.apply("4/1/2026x"), None);
        let iso = DateFormat::parse("YYYY-MM-DD").unwrap();
        assert_eq!(iso.apply("2024-02-29").as_deref(), Some("2024-02-29"));
        assert_eq!(iso.apply("2023-02-29"), None);
        assert_eq!(iso.apply("2024-2-29"), None);
        assert!(DateFormat::parse("YYYY-MM").is_err());
    }

    #[test]
    fn decimals() {
        let d = |s| Decimal::parse(s).unwrap();
        assert_eq!(d("12.50").to_string(), "12.50");
        assert_eq!(d("-0.5").to_string(), "-0.5");
        assert_eq!(d(".5").to_string(), "0.5");
        assert_eq!(d("$7").to_string(), "7");
        assert_eq!(d("0.1").checked_add(d("0.2")).unwrap().to_string(), "0.3");
        assert_eq!(d("50").percent_to_factor().to_string(), "0.50");
        assert_eq!(d("3.00").to_i64(), Some(3));
        assert_eq!(d("3.5").to_i64(), None);
        for bad in ["", "-", ".", "1,000.00", "1e5", "abc", "1.2.3", "12345678901234567890"] {
            assert_eq!(Decimal::parse(bad), None, "{bad}");
        }
    }
}
