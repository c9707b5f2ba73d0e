//! A parsed message: its normalised text plus byte-range indexes, and cheap views into it.

use std::borrow::Cow;
use std::ops::Range;

use crate::charset::Charset;
use crate::error::Hl7Error;
use crate::escape::unescape;
use crate::header::Header;
use crate::path::Path;
use crate::separators::Separators;
use crate::warning::Warning;

/// Where one segment sits in [`Message::text`].
#[derive(Debug, Clone)]
pub(crate) struct SegmentIndex {
    /// Byte range of the segment, terminator excluded.
    pub range: Range<usize>,
    /// Range into `Message::field_seps`: the offsets of this segment's field separators.
    pub seps: Range<usize>,
}

/// A message that passed [`crate::parse`]: every input byte was accounted for, MSH is valid.
///
/// It owns its text, decoded to UTF-8 and normalised (segments terminated by `\r`, blank lines
/// dropped), and indexes segments and fields by byte offsets; views borrow from it.
#[derive(Debug, Clone)]
pub struct Message {
    pub(crate) text: String,
    pub(crate) separators: Separators,
    pub(crate) charset: Charset,
    pub(crate) segments: Vec<SegmentIndex>,
    pub(crate) field_seps: Vec<usize>,
    pub(crate) header: Header,
    pub(crate) warnings: Vec<Warning>,
}

impl Message {
    /// The typed, unescaped MSH.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The normalised text: UTF-8, every segment terminated by `\r`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The delimiters declared in MSH-1/MSH-2.
    pub fn separators(&self) -> &Separators {
        &self.separators
    }

    /// The character set the input was decoded from.
    pub fn charset(&self) -> Charset {
        self.charset
    }

    /// What was accepted but sloppy.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Number of segments (MSH included).
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// All segments in order.
    pub fn segments(&self) -> impl ExactSizeIterator<Item = Segment<'_>> + '_ {
        self.segments.iter().enumerate().map(|(index, ix)| Segment { msg: self, ix, index })
    }

    /// The first segment with this name.
    pub fn segment(&self, name: &str) -> Option<Segment<'_>> {
        self.segments_named(name).next()
    }

    /// Every segment with this name, in order.
    pub fn segments_named(&self, name: &str) -> impl Iterator<Item = Segment<'_>> + '_ {
        // Segment ids are 3 bytes; copying the key frees the iterator from `name`'s lifetime.
        let key: Option<[u8; 3]> = name.as_bytes().try_into().ok();
        self.segments().filter(move |s| key.is_some_and(|k| s.name().as_bytes() == k))
    }

    /// The raw (still escaped) value at a path; `None` when the message does not reach it.
    pub fn get(&self, path: &Path) -> Option<&str> {
        let segment = self.segments_named(path.segment()).nth(path.occurrence() - 1)?;
        let field = segment.field(path.field())?;
        match (path.repetition(), path.component()) {
            (None, None) => Some(field.raw()),
            (rep, None) => Some(field.repetition(rep.unwrap_or(1))?.raw()),
            (rep, Some(c)) => {
                let component = field.repetition(rep.unwrap_or(1))?.component(c)?;
                match path.subcomponent() {
                    None => Some(component.raw()),
                    Some(s) => Some(component.subcomponent(s)?.raw()),
                }
            }
        }
    }

    /// [`Message::get`] with a path written as text, e.g. `PID-3[1].1` or `OBX(2)-5`.
    pub fn query(&self, path: &str) -> Result<Option<&str>, Hl7Error> {
        Ok(self.get(&path.parse::<Path>()?))
    }

    /// Decodes escape sequences of a raw value from this message.
    pub fn unescape<'a>(&self, raw: &'a str) -> Cow<'a, str> {
        unescape(raw, &self.separators)
    }
}

/// One segment of a [`Message`].
#[derive(Debug, Clone, Copy)]
pub struct Segment<'m> {
    msg: &'m Message,
    ix: &'m SegmentIndex,
    index: usize,
}

impl<'m> Segment<'m> {
    /// The segment id (`PID`).
    pub fn name(&self) -> &'m str {
        self.msg.text.get(self.ix.range.start..self.ix.range.start + 3).unwrap_or_default()
    }

    /// 1-based position in the message.
    pub fn sequence(&self) -> usize {
        self.index + 1
    }

    /// The whole segment text, without its terminator.
    pub fn raw(&self) -> &'m str {
        self.msg.text.get(self.ix.range.clone()).unwrap_or_default()
    }

    fn is_msh(&self) -> bool {
        // Parsing guarantees MSH is first and only first.
        self.index == 0
    }

    fn sep_offsets(&self) -> &'m [usize] {
        self.msg.field_seps.get(self.ix.seps.clone()).unwrap_or_default()
    }

    /// Number of fields present (trailing empty fields included, as sent).
    pub fn field_count(&self) -> usize {
        self.sep_offsets().len() + usize::from(self.is_msh())
    }

    /// Field `n` (1-based HL7 numbering: for MSH, field 1 is the field separator and field 2
    /// the encoding characters; both are returned whole, never split).
    pub fn field(&self, n: usize) -> Option<Field<'m>> {
        let seps = &self.msg.separators;
        let text = &self.msg.text;
        let piece = if self.is_msh() {
            match n {
                0 => return None,
                1 => {
                    let at = self.ix.range.start + 3;
                    return Some(Field { raw: text.get(at..at + 1)?, seps, atomic: true });
                }
                _ => n - 1,
            }
        } else {
            n
        };
        let offsets = self.sep_offsets();
        let start = offsets.get(piece.checked_sub(1)?)? + 1;
        let end = offsets.get(piece).copied().unwrap_or(self.ix.range.end);
        let atomic = self.is_msh() && n == 2;
        Some(Field { raw: text.get(start..end)?, seps, atomic })
    }

    /// All fields, from field 1.
    pub fn fields(&self) -> impl Iterator<Item = Field<'m>> + 'm {
        let this = *self;
        (1..=this.field_count()).filter_map(move |n| this.field(n))
    }
}

macro_rules! value_common {
    ($ty:ident) => {
        impl<'m> $ty<'m> {
            /// The raw text, escape sequences included.
            pub fn raw(&self) -> &'m str {
                self.raw
            }

            /// The text with escape sequences decoded.
            pub fn unescaped(&self) -> Cow<'m, str> {
                unescape(self.raw, self.seps)
            }

            /// True when nothing was sent.
            pub fn is_empty(&self) -> bool {
                self.raw.is_empty()
            }
        }
    };
}

fn nth_part(raw: &str, sep: char, n: usize) -> Option<&str> {
    raw.split(sep).nth(n.checked_sub(1)?)
}

/// A field: one or more repetitions.
#[derive(Debug, Clone, Copy)]
pub struct Field<'m> {
    raw: &'m str,
    seps: &'m Separators,
    /// MSH-1 and MSH-2 hold delimiters: never split.
    atomic: bool,
}
value_common!(Field);

impl<'m> Field<'m> {
    /// Repetition `n` (1-based).
    pub fn repetition(&self, n: usize) -> Option<Repetition<'m>> {
        let raw = if self.atomic {
            Some(self.raw).filter(|_| n == 1)
        } else {
            nth_part(self.raw, self.seps.repetition(), n)
        }?;
        Some(Repetition { raw, seps: self.seps, atomic: self.atomic })
    }

    /// All repetitions (one, possibly empty, when the field has no repetition separator).
    pub fn repetitions(&self) -> impl Iterator<Item = Repetition<'m>> + 'm {
        let (seps, atomic, raw) = (self.seps, self.atomic, self.raw);
        let sep = if atomic { None } else { Some(seps.repetition()) };
        split_opt(raw, sep).map(move |raw| Repetition { raw, seps, atomic })
    }

    /// Component `n` of the first repetition.
    pub fn component(&self, n: usize) -> Option<Component<'m>> {
        self.repetition(1)?.component(n)
    }
}

fn split_opt(raw: &str, sep: Option<char>) -> impl Iterator<Item = &str> {
    let mut whole = sep.is_none().then_some(raw).into_iter();
    let mut parts = sep.map(|s| raw.split(s));
    std::iter::from_fn(move || match parts.as_mut() {
        Some(p) => p.next(),
        None => whole.next(),
    })
}

/// One repetition of a field: components.
#[derive(Debug, Clone, Copy)]
pub struct Repetition<'m> {
    raw: &'m str,
    seps: &'m Separators,
    atomic: bool,
}
value_common!(Repetition);

impl<'m> Repetition<'m> {
    /// Component `n` (1-based).
    pub fn component(&self, n: usize) -> Option<Component<'m>> {
        let raw =
            if self.atomic { Some(self.raw).filter(|_| n == 1) } else { nth_part(self.raw, self.seps.component(), n) }?;
        Some(Component { raw, seps: self.seps, atomic: self.atomic })
    }

    /// All components.
    pub fn components(&self) -> impl Iterator<Item = Component<'m>> + 'm {
        let (seps, atomic) = (self.seps, self.atomic);
        let sep = if atomic { None } else { Some(seps.component()) };
        split_opt(self.raw, sep).map(move |raw| Component { raw, seps, atomic })
    }
}

/// One component: subcomponents.
#[derive(Debug, Clone, Copy)]
pub struct Component<'m> {
    raw: &'m str,
    seps: &'m Separators,
    atomic: bool,
}
value_common!(Component);

impl<'m> Component<'m> {
    /// Subcomponent `n` (1-based).
    pub fn subcomponent(&self, n: usize) -> Option<Subcomponent<'m>> {
        let raw = if self.atomic {
            Some(self.raw).filter(|_| n == 1)
        } else {
            nth_part(self.raw, self.seps.subcomponent(), n)
        }?;
        Some(Subcomponent { raw, seps: self.seps })
    }
}

/// One subcomponent: the smallest unit.
#[derive(Debug, Clone, Copy)]
pub struct Subcomponent<'m> {
    raw: &'m str,
    seps: &'m Separators,
}
value_common!(Subcomponent);
