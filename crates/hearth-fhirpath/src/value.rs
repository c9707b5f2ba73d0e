//! Items of a FHIRPath collection, partial-precision date/times, and the equality/ordering rules.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;

/// One item of a FHIRPath collection.
///
/// Values read from the input resource are [`Item::Json`] while an expression runs; [`crate::Expression::evaluate`]
/// turns JSON primitives into the system variants before returning, so results hold `Json` only for objects
/// (resources and complex elements).
#[derive(Debug, Clone, PartialEq)]
pub enum Item<'a> {
    /// `true` / `false`.
    Boolean(bool),
    /// A whole number (FHIRPath Integer; also any JSON number written without a fraction).
    Integer(i64),
    /// A number with a fraction (FHIRPath Decimal), held as `f64`.
    Decimal(f64),
    /// A string (also FHIR code, id, uri, date strings read from JSON).
    String(Cow<'a, str>),
    /// A date literal (`@2024-01-01`).
    Date(Temporal),
    /// A dateTime literal (`@2024-01-01T10:00:00Z`).
    DateTime(Temporal),
    /// A time literal (`@T10:00`).
    Time(Temporal),
    /// A node of the input JSON; `type_name` is the FHIR type known from a choice suffix (`valueQuantity` →
    /// `Quantity`) or, for resources, `resourceType`.
    Json {
        /// The JSON node.
        value: &'a Value,
        /// The FHIR type, when known.
        type_name: Option<&'a str>,
    },
}

impl<'a> Item<'a> {
    /// JSON primitives as system values; objects (and `null`, kept as-is) stay `Json`.
    pub fn normalized(&self) -> Item<'a> {
        match self {
            Item::Json { value, .. } => match value {
                Value::Bool(b) => Item::Boolean(*b),
                Value::String(s) => Item::String(Cow::Borrowed(s.as_str())),
                Value::Number(n) => number(n),
                _ => self.clone(),
            },
            other => other.clone(),
        }
    }

    /// The item as JSON (dates and times as their FHIR string form).
    pub fn to_json(&self) -> Value {
        match self {
            Item::Boolean(b) => Value::Bool(*b),
            Item::Integer(i) => Value::from(*i),
            Item::Decimal(d) => serde_json::Number::from_f64(*d).map_or(Value::Null, Value::Number),
            Item::String(s) => Value::String(s.to_string()),
            Item::Date(t) | Item::DateTime(t) | Item::Time(t) => Value::String(t.text.clone()),
            Item::Json { value, .. } => (*value).clone(),
        }
    }

    /// The string value, if this is a string (or a JSON string).
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Item::String(s) => Some(s),
            Item::Json { value: Value::String(s), .. } => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self.normalized() {
            Item::Boolean(b) => Some(b),
            _ => None,
        }
    }

    pub(crate) fn as_int(&self) -> Option<i64> {
        match self.normalized() {
            Item::Integer(i) => Some(i),
            _ => None,
        }
    }
}

/// A JSON number as Integer or Decimal, through the public `Number` API only, so it works with and without
/// serde_json's `arbitrary_precision`.
pub(crate) fn number<'a>(n: &serde_json::Number) -> Item<'a> {
    if let Some(i) = n.as_i64() {
        return Item::Integer(i);
    }
    let text = n.to_string();
    if !text.contains(['.', 'e', 'E']) {
        // An integer beyond i64 (e.g. u64 max): keep it numeric as a decimal.
        return text.parse::<f64>().map_or(Item::String(Cow::Owned(text)), Item::Decimal);
    }
    match n.as_f64().or_else(|| text.parse::<f64>().ok()) {
        Some(f) => Item::Decimal(f),
        None => Item::String(Cow::Owned(text)),
    }
}

/// A date, dateTime or time with the precision it was written with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Temporal {
    /// year, month, day, hour, minute, second, millisecond.
    parts: [i64; 7],
    /// First component present (0 for dates/dateTimes, 3 for times).
    start: usize,
    /// One past the last component present.
    end: usize,
    /// Offset from UTC in minutes, when written.
    tz: Option<i64>,
    /// The text as written (without `@`), for output.
    pub text: String,
}

fn digits(s: &str, n: usize) -> Option<(i64, &str)> {
    let head = s.get(..n)?;
    if !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((head.parse().ok()?, s.get(n..)?))
}

impl Temporal {
    /// `YYYY[-MM[-DD[Thh[:mm[:ss[.fff]]]]]][Z|±hh:mm]`.
    pub fn parse_date_time(s: &str) -> Option<Temporal> {
        let mut parts = [0i64; 7];
        let (y, mut rest) = digits(s, 4)?;
        parts[0] = y;
        let mut end = 1;
        for (i, sep) in [(1, '-'), (2, '-')] {
            match rest.strip_prefix(sep) {
                Some(r) => {
                    let (v, r) = digits(r, 2)?;
                    parts[i] = v;
                    rest = r;
                    end = i + 1;
                }
                None => break,
            }
        }
        if end == 3
            && let Some(r) = rest.strip_prefix('T')
        {
            if r.is_empty() {
                rest = r;
            } else {
                let (t_end, r) = parse_clock(r, &mut parts)?;
                end = t_end;
                rest = r;
            }
        }
        let tz = parse_tz(rest)?;
        if tz.is_some() && end < 4 && !rest.is_empty() {
            return None;
        }
        let t = Temporal { parts, start: 0, end, tz, text: s.to_string() };
        t.valid().then_some(t)
    }

    /// `hh[:mm[:ss[.fff]]]`.
    pub fn parse_time(s: &str) -> Option<Temporal> {
        let mut parts = [0i64; 7];
        let (end, rest) = parse_clock(s, &mut parts)?;
        if !rest.is_empty() {
            return None;
        }
        let t = Temporal { parts, start: 3, end, tz: None, text: s.to_string() };
        t.valid().then_some(t)
    }

    fn valid(&self) -> bool {
        let p = &self.parts;
        let ok_date = self.start > 0
            || ((self.end < 2 || (1..=12).contains(&p[1])) && (self.end < 3 || (1..=31).contains(&p[2])));
        ok_date && p[3] < 24 && p[4] < 60 && p[5] < 60
    }

    /// Precision for comparison: seconds and milliseconds count as one precision (FHIRPath spec).
    fn precision(&self) -> usize {
        self.end.min(6)
    }

    /// Components normalised to UTC when an offset is present and the value has a time of day.
    fn utc_parts(&self) -> [i64; 7] {
        let Some(tz) = self.tz else { return self.parts };
        if self.start != 0 || self.end < 4 {
            return self.parts;
        }
        let p = self.parts;
        let minutes = days_from_civil(p[0], p[1], p[2]) * 1440 + p[3] * 60 + p[4] - tz;
        let (days, mins) = (minutes.div_euclid(1440), minutes.rem_euclid(1440));
        let (y, m, d) = civil_from_days(days);
        [y, m, d, mins / 60, mins % 60, p[5], p[6]]
    }

    /// FHIRPath comparison: `None` when the precisions differ and the common part is equal (the spec's empty).
    pub(crate) fn compare(&self, other: &Temporal) -> Option<Ordering> {
        if self.start != other.start {
            return None;
        }
        // One side with an offset and one without, both with a time of day: indeterminate.
        if self.start == 0 && self.end >= 4 && other.end >= 4 && self.tz.is_some() != other.tz.is_some() {
            return None;
        }
        let (a, b) = (self.utc_parts(), other.utc_parts());
        let common = self.precision().min(other.precision());
        for i in self.start..common {
            let (mut x, mut y) = (a.get(i).copied().unwrap_or(0), b.get(i).copied().unwrap_or(0));
            if i == 5 {
                // seconds with their milliseconds
                x = x * 1000 + a[6];
                y = y * 1000 + b[6];
            }
            match x.cmp(&y) {
                Ordering::Equal => {}
                ord => return Some(ord),
            }
        }
        (self.precision() == other.precision()).then_some(Ordering::Equal)
    }
}

fn parse_clock<'s>(s: &'s str, parts: &mut [i64; 7]) -> Option<(usize, &'s str)> {
    let (h, mut rest) = digits(s, 2)?;
    parts[3] = h;
    let mut end = 4;
    for i in [4, 5] {
        match rest.strip_prefix(':') {
            Some(r) => {
                let (v, r) = digits(r, 2)?;
                parts[i] = v;
                rest = r;
                end = i + 1;
            }
            None => break,
        }
    }
    if end == 6
        && let Some(r) = rest.strip_prefix('.')
    {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let frac = r.get(..n)?;
        // milliseconds from the first three fraction digits
        let ms: String = frac.chars().chain("000".chars()).take(3).collect();
        parts[6] = ms.parse().ok()?;
        rest = r.get(n..)?;
        end = 7;
    }
    Some((end, rest))
}

/// `""` → no offset, `Z` → 0, `±hh:mm` → minutes; anything else is invalid.
fn parse_tz(s: &str) -> Option<Option<i64>> {
    if s.is_empty() {
        return Some(None);
    }
    if s == "Z" {
        return Some(Some(0));
    }
    let (sign, r) = match s.as_bytes().first()? {
        b'+' => (1, s.get(1..)?),
        b'-' => (-1, s.get(1..)?),
        _ => return None,
    };
    let (h, r) = digits(r, 2)?;
    let (m, r) = digits(r.strip_prefix(':')?, 2)?;
    r.is_empty().then_some(Some(sign * (h * 60 + m)))
}

// Howard Hinnant's civil-calendar algorithms (public domain), for moving a time across a day boundary.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

/// The temporal value of an item: a date/time literal, or a string that parses as one of the same kind as `like`.
fn temporal_of<'t>(item: &'t Item<'_>, like: &Temporal) -> Option<Cow<'t, Temporal>> {
    match item {
        Item::Date(t) | Item::DateTime(t) | Item::Time(t) => Some(Cow::Borrowed(t)),
        _ => {
            let s = item.as_str()?;
            let parsed = if like.start == 3 { Temporal::parse_time(s) } else { Temporal::parse_date_time(s) };
            parsed.map(Cow::Owned)
        }
    }
}

/// Outcome of comparing two singletons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Ord(Ordering),
    /// Comparable kinds, but the result is empty (date/times of different precision).
    Empty,
    /// Different kinds (e.g. string vs number).
    Incomparable,
}

/// Compare two items for `=` and ordering. Strings compare by code point; Integer and Decimal numerically;
/// a string read from JSON compares as a date/time when the other side is a date/time literal.
pub(crate) fn compare(a: &Item<'_>, b: &Item<'_>) -> Cmp {
    let (a, b) = (a.normalized(), b.normalized());
    let by_ord = |o: Option<Ordering>| o.map_or(Cmp::Empty, Cmp::Ord);
    match (&a, &b) {
        (Item::Integer(x), Item::Integer(y)) => Cmp::Ord(x.cmp(y)),
        (Item::Integer(_) | Item::Decimal(_), Item::Integer(_) | Item::Decimal(_)) => {
            let f = |i: &Item<'_>| match i {
                Item::Integer(v) => *v as f64,
                Item::Decimal(v) => *v,
                _ => 0.0,
            };
            f(&a).partial_cmp(&f(&b)).map_or(Cmp::Incomparable, Cmp::Ord)
        }
        (Item::String(x), Item::String(y)) => Cmp::Ord(x.cmp(y)),
        (Item::Boolean(x), Item::Boolean(y)) => Cmp::Ord(x.cmp(y)),
        (Item::Date(t) | Item::DateTime(t) | Item::Time(t), other)
        | (other, Item::Date(t) | Item::DateTime(t) | Item::Time(t)) => {
            let swapped = !matches!(a, Item::Date(_) | Item::DateTime(_) | Item::Time(_));
            match temporal_of(other, t) {
                Some(o) if swapped => by_ord(o.compare(t)),
                Some(o) => by_ord(t.compare(&o)),
                None => Cmp::Incomparable,
            }
        }
        (Item::Json { value: x, .. }, Item::Json { value: y, .. }) => {
            if json_equal(x, y) {
                Cmp::Ord(Ordering::Equal)
            } else {
                Cmp::Incomparable
            }
        }
        _ => Cmp::Incomparable,
    }
}

/// Deep equality of JSON nodes, numbers compared by value, ignoring `id` and primitive extensions is not
/// attempted: objects must match key for key.
fn json_equal(x: &Value, y: &Value) -> bool {
    match (x, y) {
        (Value::Number(a), Value::Number(b)) => compare(&number(a), &number(b)) == Cmp::Ord(Ordering::Equal),
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(p, q)| json_equal(p, q)),
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => x == y,
    }
}

/// `=` on two singletons: `Some(bool)` or `None` for empty.
pub(crate) fn equal(a: &Item<'_>, b: &Item<'_>) -> Option<bool> {
    match compare(a, b) {
        Cmp::Ord(o) => Some(o == Ordering::Equal),
        Cmp::Empty => None,
        Cmp::Incomparable => Some(false),
    }
}
