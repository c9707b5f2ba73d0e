//! Consumption tracking: every field a segment map reads through [`Seg`] is marked, so the report can list the
//! fields that held a value and that no map consumed (`PID-10`, `PV1(2)-44`, `ZPI-1`).

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use hearth_hl7v2::{Field, Message, Repetition, Segment};

/// Fields 1..=127 are tracked one bit each; a field beyond is never marked (and so listed when valued).
const TRACKED: usize = 127;

/// Per-message consumption state: one bit set per (segment, field) read.
#[derive(Debug)]
pub struct Tracker<'a> {
    msg: &'a Message,
    used: Vec<Cell<u128>>,
    /// Occurrence of each segment among segments of the same name (1-based).
    occ: Vec<usize>,
}

impl<'a> Tracker<'a> {
    pub fn new(msg: &'a Message) -> Self {
        let mut occ = Vec::with_capacity(msg.segment_count());
        let mut seen: Vec<(&str, usize)> = Vec::new();
        for s in msg.segments() {
            let name = s.name();
            let n = match seen.iter_mut().find(|(k, _)| *k == name) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    seen.push((name, 1));
                    1
                }
            };
            occ.push(n);
        }
        Self { msg, used: (0..msg.segment_count()).map(|_| Cell::new(0)).collect(), occ }
    }

    /// Every segment, in message order, as tracked views.
    pub fn segments(&'a self) -> impl Iterator<Item = Seg<'a>> + 'a {
        self.msg.segments().zip(self.used.iter().zip(self.occ.iter())).map(|(seg, (used, occ))| Seg {
            seg,
            used,
            occ: *occ,
        })
    }

    /// The locations of fields that hold a value and that no map read, in message order.
    pub fn unmapped(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (seg, (used, occ)) in self.msg.segments().zip(self.used.iter().zip(self.occ.iter())) {
            let bits = used.get();
            for n in 1..=seg.field_count() {
                let marked = n <= TRACKED && bits & (1u128 << n) != 0;
                if marked {
                    continue;
                }
                if seg.field(n).is_some_and(|f| has_value(f.raw())) {
                    out.push(At { seg: seg.name(), occ: *occ, field: n }.to_string());
                }
            }
        }
        out
    }
}

/// True when a raw value holds more than delimiters and blanks.
pub fn has_value(raw: &str) -> bool {
    // `""` is HL7's explicit null: not a value to map.
    raw != "\"\"" && raw.chars().any(|c| !matches!(c, '^' | '&' | '~') && !c.is_whitespace())
}

/// A location for the report: `PID-7`, `OBX(2)-5` (occurrence shown from the second one on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At<'a> {
    pub seg: &'a str,
    pub occ: usize,
    pub field: usize,
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.occ > 1 {
            write!(f, "{}({})-{}", self.seg, self.occ, self.field)
        } else {
            write!(f, "{}-{}", self.seg, self.field)
        }
    }
}

/// A segment seen through the tracker: reading a field marks it consumed.
#[derive(Debug, Clone, Copy)]
pub struct Seg<'a> {
    seg: Segment<'a>,
    used: &'a Cell<u128>,
    occ: usize,
}

impl<'a> Seg<'a> {
    /// The segment id (`PID`).
    pub fn name(&self) -> &'a str {
        self.seg.name()
    }

    /// 1-based occurrence among segments of this name.
    pub fn occurrence(&self) -> usize {
        self.occ
    }

    /// 1-based position in the message.
    pub fn sequence(&self) -> usize {
        self.seg.sequence()
    }

    /// The untracked segment.
    pub fn raw(&self) -> Segment<'a> {
        self.seg
    }

    /// The location of field `n`, for warnings.
    pub fn at(&self, n: usize) -> At<'a> {
        At { seg: self.seg.name(), occ: self.occ, field: n }
    }

    /// Marks field `n` consumed without reading it.
    pub fn mark(&self, n: usize) {
        if (1..=TRACKED).contains(&n) {
            self.used.set(self.used.get() | (1u128 << n));
        }
    }

    /// Marks every field consumed (a segment handled as a whole).
    pub fn mark_all(&self) {
        self.used.set(u128::MAX);
    }

    /// Field `n` when it holds a value, without marking it.
    pub fn peek(&self, n: usize) -> Option<Field<'a>> {
        self.seg.field(n).filter(|f| has_value(f.raw()))
    }

    /// Field `n` when it holds a value; marks it consumed.
    pub fn field(&self, n: usize) -> Option<Field<'a>> {
        self.mark(n);
        self.peek(n)
    }

    /// The first repetition of field `n` when it holds a value; marks the field.
    pub fn rep(&self, n: usize) -> Option<Repetition<'a>> {
        self.reps(n).next()
    }

    /// Every repetition of field `n` that holds a value; marks the field.
    pub fn reps(&self, n: usize) -> impl Iterator<Item = Repetition<'a>> + 'a {
        let field = self.field(n);
        (1..).map_while(move |i| field.and_then(|f| f.repetition(i))).filter(|r| has_value(r.raw()))
    }

    /// A primitive value (ID, IS, ST, NM, DTM…): field `n`, first repetition, component 1, subcomponent 1,
    /// unescaped and trimmed; `None` when empty. Marks the field.
    pub fn value(&self, n: usize) -> Option<Cow<'a, str>> {
        let rep = self.rep(n)?;
        comp(&rep, 1)
    }

    /// Free text (ST, TX, FT): the first repetition whole, unescaped and trimmed. Marks the field.
    pub fn text(&self, n: usize) -> Option<String> {
        let rep = self.rep(n)?;
        let t = rep.unescaped();
        let t = t.trim();
        (!t.is_empty()).then(|| t.to_owned())
    }
}

/// Component `n`, subcomponent 1 of a repetition, unescaped and trimmed; `None` when empty.
pub fn comp<'a>(rep: &Repetition<'a>, n: usize) -> Option<Cow<'a, str>> {
    sub(rep, n, 1)
}

/// Component `n`, subcomponent `s`, unescaped and trimmed; `None` when empty.
pub fn sub<'a>(rep: &Repetition<'a>, n: usize, s: usize) -> Option<Cow<'a, str>> {
    let v = rep.component(n)?.subcomponent(s)?.unescaped();
    trim_cow(v)
}

/// Trims a value; `None` when nothing is left.
pub fn trim_cow(v: Cow<'_, str>) -> Option<Cow<'_, str>> {
    let t = v.trim();
    if t.is_empty() {
        return None;
    }
    if t.len() == v.len() {
        return Some(v);
    }
    Some(Cow::Owned(t.to_owned()))
}

/// True when component `n` has any value (in any subcomponent).
pub fn comp_has_value(rep: &Repetition<'_>, n: usize) -> bool {
    rep.component(n).is_some_and(|c| has_value(c.raw()))
}
