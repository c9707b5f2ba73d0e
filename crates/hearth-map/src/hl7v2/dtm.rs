//! HL7 DTM/DT/TS → FHIR `date`, `dateTime`, `instant`, keeping the precision that was sent: `2024` stays a
//! year, `202403` a month (never an invented day). A time is never dropped: hour or minute precision is padded to
//! seconds, and a time needs an offset in FHIR: the one sent, else the facility time zone's offset at that local
//! time. Fractions of a second are written to at most milliseconds (strict FHIR readers, Google's FHIR protos
//! among them, refuse nanoseconds), cut rather than rounded so that a time never moves past its second.

use jiff::civil;
use jiff::tz::TimeZone;

/// A parsed DTM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dtm {
    pub year: i16,
    pub month: Option<i8>,
    pub day: Option<i8>,
    /// Hour, minute, second (minute and second 0 when not sent).
    pub time: Option<(i8, i8, i8)>,
    /// Fraction digits as sent (without the dot), possibly empty.
    pub fraction: String,
    /// Offset in minutes east of UTC, when sent.
    pub offset: Option<i32>,
}

/// Why a DTM was refused (a short reason for the report, never the value).
pub type DtmError = &'static str;

fn num(s: &str) -> Result<i32, DtmError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not a number where digits are expected");
    }
    s.parse::<i32>().map_err(|_| "number out of range")
}

/// Parses `YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]`.
pub fn parse(s: &str) -> Result<Dtm, DtmError> {
    let s = s.trim();
    let (body, offset) = match s.find(['+', '-']) {
        Some(i) => {
            let (b, o) = s.split_at(i);
            (b, Some(o))
        }
        None => (s, None),
    };
    let (digits, fraction) = match body.split_once('.') {
        Some((d, f)) => (d, f),
        None => (body, ""),
    };
    if !fraction.bytes().all(|b| b.is_ascii_digit()) || fraction.len() > 9 {
        return Err("bad fraction of second");
    }
    if !matches!(digits.len(), 4 | 6 | 8 | 10 | 12 | 14) {
        return Err("not a date/time length (YYYY[MM[DD[HH[MM[SS]]]]])");
    }
    if !fraction.is_empty() && digits.len() != 14 {
        return Err("fraction without seconds");
    }
    let part = |a: usize, b: usize| -> Result<Option<i32>, DtmError> {
        match digits.get(a..b) {
            Some(p) => num(p).map(Some),
            None => Ok(None),
        }
    };
    let year = part(0, 4)?.ok_or("no year")?;
    let month = part(4, 6)?;
    let day = part(6, 8)?;
    let hour = part(8, 10)?;
    let minute = part(10, 12)?;
    let second = part(12, 14)?;
    if year < 1 {
        return Err("year 0000");
    }
    if let Some(m) = month
        && !(1..=12).contains(&m)
    {
        return Err("month out of range");
    }
    if let (Some(m), Some(d)) = (month, day) {
        let ok = i8::try_from(m)
            .ok()
            .zip(i8::try_from(d).ok())
            .is_some_and(|(m, d)| i16::try_from(year).ok().is_some_and(|y| civil::Date::new(y, m, d).is_ok()));
        if !ok {
            return Err("day out of range for the month");
        }
    }
    let time = match hour {
        Some(h) => {
            let (mi, se) = (minute.unwrap_or(0), second.unwrap_or(0));
            if h > 23 || mi > 59 || se > 59 {
                return Err("time out of range");
            }
            Some((h, mi, se))
        }
        None => None,
    };
    let offset = match offset {
        None => None,
        Some(o) => Some(parse_offset(o)?),
    };
    let small = |v: i32| i8::try_from(v).map_err(|_| "out of range");
    Ok(Dtm {
        year: i16::try_from(year).map_err(|_| "year out of range")?,
        month: month.map(small).transpose()?,
        day: day.map(small).transpose()?,
        time: match time {
            Some((h, m, s)) => Some((small(h)?, small(m)?, small(s)?)),
            None => None,
        },
        fraction: fraction.to_owned(),
        offset,
    })
}

fn parse_offset(o: &str) -> Result<i32, DtmError> {
    let (sign, rest) = o.split_at(1);
    if rest.len() != 4 {
        return Err("offset is not +/-HHMM");
    }
    let h = num(rest.get(0..2).ok_or("offset")?)?;
    let m = num(rest.get(2..4).ok_or("offset")?)?;
    if m > 59 || h > 14 || (h == 14 && m != 0) {
        return Err("offset out of range");
    }
    let total = h * 60 + m;
    Ok(if sign == "-" { -total } else { total })
}

impl Dtm {
    /// FHIR `date`: `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (a time is dropped).
    pub fn date(&self) -> String {
        match (self.month, self.day) {
            (Some(m), Some(d)) => format!("{:04}-{m:02}-{d:02}", self.year),
            (Some(m), None) => format!("{:04}-{m:02}", self.year),
            _ => format!("{:04}", self.year),
        }
    }

    /// FHIR `dateTime`: the date alone when no time was sent, else the full time (padded to seconds, fraction
    /// cut to milliseconds) with its offset: the one sent, else `tz`'s at that local time.
    pub fn datetime(&self, tz: &TimeZone) -> String {
        let (Some((h, mi, s)), Some(mo), Some(d)) = (self.time, self.month, self.day) else {
            return self.date();
        };
        let offset = match self.offset {
            Some(o) => o,
            None => local_offset(tz, self.year, mo, d, (h, mi, s)),
        };
        let frac = match self.fraction.get(..self.fraction.len().min(3)) {
            Some(f) if !f.is_empty() => format!(".{f}"),
            _ => String::new(),
        };
        let sign = if offset < 0 { '-' } else { '+' };
        let off = offset.abs();
        format!("{:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{sign}{:02}:{:02}", self.year, off / 60, off % 60)
    }

    /// FHIR `instant`: only when the value has a time (padded to seconds); `None` for a date alone.
    pub fn instant(&self, tz: &TimeZone) -> Option<String> {
        self.time?;
        let t = self.datetime(tz);
        t.contains('T').then_some(t)
    }
}

/// The offset (minutes east of UTC) of `tz` at a local time. A time that does not exist (skipped by a
/// daylight-saving change) or exists twice takes the offset in force before the change, as a clock not yet
/// changed reads it.
fn local_offset(tz: &TimeZone, year: i16, month: i8, day: i8, (h, mi, s): (i8, i8, i8)) -> i32 {
    use jiff::tz::AmbiguousOffset;
    let Ok(dt) = civil::DateTime::new(year, month, day, h, mi, s, 0) else { return 0 };
    let offset = match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset,
        AmbiguousOffset::Gap { before, .. } | AmbiguousOffset::Fold { before, .. } => before,
    };
    offset.seconds() / 60
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str, tz: &TimeZone) -> Result<String, DtmError> {
        parse(s).map(|d| d.datetime(tz))
    }

    #[test]
    fn precision_is_kept() -> Result<(), DtmError> {
        let utc = TimeZone::UTC;
        assert_eq!(dt("2024", &utc)?, "2024");
        assert_eq!(dt("202403", &utc)?, "2024-03");
        assert_eq!(dt("20240315", &utc)?, "2024-03-15");
        assert_eq!(dt("202403151230+0100", &utc)?, "2024-03-15T12:30:00+01:00");
        assert_eq!(dt("20240315123005.25-0500", &utc)?, "2024-03-15T12:30:05.25-05:00");
        // A time is never dropped: hour precision is padded.
        assert_eq!(dt("2024031512", &utc)?, "2024-03-15T12:00:00+00:00");
        Ok(())
    }

    #[test]
    fn fractions_stop_at_milliseconds() -> Result<(), DtmError> {
        let utc = TimeZone::UTC;
        assert_eq!(dt("20240315123005.123456789+0000", &utc)?, "2024-03-15T12:30:05.123+00:00");
        assert_eq!(dt("20240315123005.9999+0000", &utc)?, "2024-03-15T12:30:05.999+00:00");
        assert_eq!(parse("20240315123005.1234+0000")?.instant(&utc).as_deref(), Some("2024-03-15T12:30:05.123+00:00"));
        Ok(())
    }

    #[test]
    fn facility_zone_applies_to_naive_times() -> Result<(), String> {
        let paris = TimeZone::get("Europe/Paris").map_err(|e| e.to_string())?;
        assert_eq!(dt("20240115083000", &paris)?, "2024-01-15T08:30:00+01:00");
        assert_eq!(dt("20240715083000", &paris)?, "2024-07-15T08:30:00+02:00");
        assert_eq!(dt("202407150830", &paris)?, "2024-07-15T08:30:00+02:00");
        // A sent offset wins over the zone.
        assert_eq!(dt("20240715083000-0400", &paris)?, "2024-07-15T08:30:00-04:00");
        // 02:30 does not exist in Paris on 2024-03-31 (clocks jump from 02:00 to 03:00): the offset before.
        assert_eq!(dt("20240331023000", &paris)?, "2024-03-31T02:30:00+01:00");
        Ok(())
    }

    #[test]
    fn invalid_values_are_refused() {
        for bad in ["20241399", "20240230", "2024131", "abcd", "20240101250000", "20240101+99", "0000", "2024-01-01"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("20240229").is_ok());
        assert!(parse("20230229").is_err());
    }

    #[test]
    fn instant_needs_a_time() -> Result<(), DtmError> {
        let utc = TimeZone::UTC;
        assert_eq!(parse("20240101")?.instant(&utc), None);
        assert_eq!(parse("20240101120000")?.instant(&utc).as_deref(), Some("2024-01-01T12:00:00+00:00"));
        assert_eq!(parse("20240101120000+0100")?.instant(&utc).as_deref(), Some("2024-01-01T12:00:00+01:00"));
        Ok(())
    }
}
