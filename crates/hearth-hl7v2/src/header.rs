//! The typed MSH ([`Header`]), its lenient twin for refused input ([`PartialHeader`]), and the
//! event → message structure table.

use crate::error::{ErrorKind, Hl7Error, Location};
use crate::escape::{escape, unescape};
use crate::lines::{Lines, strip_bom};
use crate::message::Message;
use crate::separators::Separators;

/// An HD (hierarchic designator) value, unescaped: MSH-3/4/5/6.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hd {
    /// HD.1 namespace id.
    pub namespace_id: String,
    /// HD.2 universal id (an OID, a DNS name...).
    pub universal_id: String,
    /// HD.3 universal id type (`ISO`, `DNS`...).
    pub universal_id_type: String,
    /// The first repetition as sent, still escaped (the only escaped value in a header).
    pub raw: String,
}

impl Hd {
    /// An HD with only a namespace id (e.g. Hearth's own application name).
    pub fn named(namespace_id: &str) -> Self {
        Self { namespace_id: namespace_id.to_owned(), raw: namespace_id.to_owned(), ..Self::default() }
    }

    pub(crate) fn from_raw(field: &str, seps: &Separators) -> Self {
        let rep = field.split(seps.repetition()).next().unwrap_or_default();
        Self {
            namespace_id: component_text(rep, seps, 1),
            universal_id: component_text(rep, seps, 2),
            universal_id_type: component_text(rep, seps, 3),
            raw: rep.to_owned(),
        }
    }

    /// True when no component has a value.
    pub fn is_empty(&self) -> bool {
        self.namespace_id.is_empty() && self.universal_id.is_empty() && self.universal_id_type.is_empty()
    }

    /// The HD written with these separators, components escaped, trailing empties dropped.
    pub fn to_hl7(&self, seps: &Separators) -> String {
        let parts = [&self.namespace_id, &self.universal_id, &self.universal_id_type];
        let used = parts.iter().rposition(|p| !p.is_empty()).map_or(0, |i| i + 1);
        let escaped: Vec<_> = parts.iter().take(used).map(|p| escape(p, seps)).collect();
        escaped.join(&seps.component().to_string())
    }
}

/// Component `n` of the first repetition of a raw field, unescaped and trimmed.
fn component_text(field: &str, seps: &Separators, n: usize) -> String {
    let rep = field.split(seps.repetition()).next().unwrap_or_default();
    let comp = rep.split(seps.component()).nth(n.saturating_sub(1)).unwrap_or_default();
    unescape(comp, seps).trim().to_owned()
}

/// A whole raw field (first repetition), unescaped and trimmed: for ST/ID fields.
pub(crate) fn field_text(field: &str, seps: &Separators) -> String {
    let rep = field.split(seps.repetition()).next().unwrap_or_default();
    unescape(rep, seps).trim().to_owned()
}

/// The MSH of a parsed message, typed and unescaped (whitespace around values trimmed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// MSH-1/MSH-2.
    pub separators: Separators,
    /// MSH-3.
    pub sending_application: Hd,
    /// MSH-4.
    pub sending_facility: Hd,
    /// MSH-5.
    pub receiving_application: Hd,
    /// MSH-6.
    pub receiving_facility: Hd,
    /// MSH-7.1 as sent (not validated).
    pub datetime: String,
    /// MSH-9.1 (`ADT`), never empty.
    pub message_code: String,
    /// MSH-9.2 (`A04`); never empty except for an `ACK`, which gets a warning.
    pub trigger_event: String,
    /// MSH-9.3, or derived from code and trigger when empty (`ADT^A04` → `ADT_A01`).
    pub structure: String,
    /// True when `structure` was derived rather than sent.
    pub structure_derived: bool,
    /// MSH-10; never empty unless parsed with `require_control_id` off.
    pub control_id: String,
    /// MSH-11.1 (`P`, `T`, `D`).
    pub processing_id: String,
    /// MSH-12.1 (`2.5.1`).
    pub version: String,
    /// MSH-15 (`AL`, `NE`, `ER`, `SU`).
    pub accept_ack_type: String,
    /// MSH-16.
    pub application_ack_type: String,
    /// MSH-18, first repetition (`8859/1`); empty when not sent.
    pub charset: String,
}

fn missing(what: &'static str, field: usize, component: Option<usize>) -> Hl7Error {
    let loc = Location::segment("MSH", 1).with_field(field);
    let loc = match component {
        Some(c) => loc.with_component(c),
        None => loc,
    };
    Hl7Error::at(ErrorKind::MissingField { what }, loc)
}

impl Header {
    pub(crate) fn from_message(msg: &Message, require_control_id: bool) -> Result<Self, Hl7Error> {
        let seps = *msg.separators();
        let msh = msg.segments().next().ok_or_else(|| missing("MSH", 1, None))?;
        let raw = |n: usize| msh.field(n).map(|f| f.raw()).unwrap_or_default();
        let comp = |n: usize, c: usize| component_text(raw(n), &seps, c);
        let message_type = raw(9);
        if message_type.trim().is_empty() {
            return Err(missing("MSH-9 (message type)", 9, None));
        }
        let message_code = comp(9, 1);
        if message_code.is_empty() {
            return Err(missing("MSH-9.1 (message code)", 9, Some(1)));
        }
        let trigger_event = comp(9, 2);
        if trigger_event.is_empty() && message_code != "ACK" {
            return Err(missing("MSH-9.2 (trigger event)", 9, Some(2)));
        }
        let control_id = field_text(raw(10), &seps);
        if control_id.is_empty() && require_control_id {
            return Err(missing("MSH-10 (message control id)", 10, None));
        }
        let sent_structure = comp(9, 3);
        let structure_derived = sent_structure.is_empty();
        let structure =
            if structure_derived { default_structure(&message_code, &trigger_event) } else { sent_structure };
        Ok(Self {
            separators: seps,
            sending_application: Hd::from_raw(raw(3), &seps),
            sending_facility: Hd::from_raw(raw(4), &seps),
            receiving_application: Hd::from_raw(raw(5), &seps),
            receiving_facility: Hd::from_raw(raw(6), &seps),
            datetime: comp(7, 1),
            message_code,
            trigger_event,
            structure,
            structure_derived,
            control_id,
            processing_id: comp(11, 1),
            version: comp(12, 1),
            accept_ack_type: field_text(raw(15), &seps),
            application_ack_type: field_text(raw(16), &seps),
            charset: field_text(raw(18), &seps),
        })
    }
}

/// The message structure (MSH-9.3) for a code and trigger when the sender left it empty: the
/// HL7 v2.5+ table for common ADT, ORU, ORM, OML, SIU, MDM, DFT, BAR, VXU and RDE events,
/// otherwise `{code}_{trigger}` (or `{code}` without a trigger).
pub fn default_structure(code: &str, trigger: &str) -> String {
    let shared = match (code, trigger) {
        ("ADT", "A01" | "A04" | "A08" | "A13") => Some("ADT_A01"),
        ("ADT", "A05" | "A14" | "A28" | "A31") => Some("ADT_A05"),
        ("ADT", "A06" | "A07") => Some("ADT_A06"),
        ("ADT", "A09" | "A10" | "A11") => Some("ADT_A09"),
        ("ADT", "A21" | "A22" | "A23" | "A25" | "A26" | "A27" | "A29" | "A32" | "A33") => Some("ADT_A21"),
        ("ADT", "A30" | "A34" | "A35" | "A36" | "A46" | "A47" | "A48" | "A49") => Some("ADT_A30"),
        ("ADT", "A39" | "A40" | "A41" | "A42") => Some("ADT_A39"),
        ("ADT", "A43" | "A44") => Some("ADT_A43"),
        ("ADT", "A50" | "A51") => Some("ADT_A50"),
        ("ADT", "A52" | "A53") => Some("ADT_A52"),
        ("ADT", "A54" | "A55") => Some("ADT_A54"),
        ("ADT", "A61" | "A62") => Some("ADT_A61"),
        ("ORU", "R30" | "R31" | "R32") => Some("ORU_R30"),
        ("SIU", t) if is_siu_event(t) => Some("SIU_S12"),
        ("MDM", "T01" | "T03" | "T05" | "T07" | "T09" | "T11") => Some("MDM_T01"),
        ("MDM", "T02" | "T04" | "T06" | "T08" | "T10") => Some("MDM_T02"),
        ("ACK", _) => Some("ACK"),
        _ => None,
    };
    match (shared, trigger.is_empty()) {
        (Some(s), _) => s.to_owned(),
        (None, true) => code.to_owned(),
        (None, false) => format!("{code}_{trigger}"),
    }
}

fn is_siu_event(trigger: &str) -> bool {
    trigger
        .strip_prefix('S')
        .and_then(|n| n.parse::<u8>().ok())
        .is_some_and(|n| (12..=26).contains(&n) && trigger.len() == 3)
}

/// What could be read from the MSH of bytes that failed [`crate::parse`], so a negative ACK can
/// still echo MSH-10 and mirror the sender. Absent values are empty; values are unescaped,
/// trimmed and cut to 199 characters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartialHeader {
    /// MSH-1/MSH-2 when readable, else the defaults.
    pub separators: Separators,
    /// MSH-3.
    pub sending_application: Hd,
    /// MSH-4.
    pub sending_facility: Hd,
    /// MSH-5.
    pub receiving_application: Hd,
    /// MSH-6.
    pub receiving_facility: Hd,
    /// MSH-9.1.
    pub message_code: String,
    /// MSH-9.2.
    pub trigger_event: String,
    /// MSH-10.
    pub control_id: String,
    /// MSH-11.1.
    pub processing_id: String,
    /// MSH-12.1.
    pub version: String,
    /// MSH-15.
    pub accept_ack_type: String,
    /// MSH-16.
    pub application_ack_type: String,
}

/// How far into the input `MSH` is looked for, and how much of its line is read.
const PEEK_SEARCH_BYTES: usize = 4096;
const PEEK_LINE_BYTES: usize = 64 * 1024;
/// HL7 v2.5+ length of MSH-10; also bounds every other peeked value.
const PEEK_VALUE_CHARS: usize = 199;

/// Leniently extracts MSH-3..6, 9, 10, 11, 12, 15, 16 from input that may be damaged: the MSH
/// may follow junk (within the first 4 KiB), the text may be in any encoding (read lossily),
/// bad encoding characters fall back to `|^~\&`. `None` when no `MSH` is found.
pub fn peek_header(bytes: &[u8]) -> Option<PartialHeader> {
    let bytes = strip_bom(bytes);
    let window = bytes.get(..PEEK_SEARCH_BYTES).unwrap_or(bytes);
    let start = window.windows(3).position(|w| w == b"MSH")?;
    let rest = bytes.get(start..)?;
    let line = Lines::new(rest).next().and_then(|l| rest.get(l.start..l.end)).unwrap_or(rest);
    let line = line.get(..PEEK_LINE_BYTES).unwrap_or(line);
    let seps = Separators::from_msh(line).unwrap_or_default();
    let text = String::from_utf8_lossy(line);
    // Piece 0 is "MSH", piece k is MSH-(k+1).
    let pieces: Vec<&str> = text.split(seps.field()).take(17).collect();
    let raw = |n: usize| pieces.get(n - 1).copied().unwrap_or_default();
    let cut = |s: String| -> String {
        match s.char_indices().nth(PEEK_VALUE_CHARS) {
            Some((at, _)) => s.get(..at).unwrap_or_default().to_owned(),
            None => s,
        }
    };
    let comp = |n: usize, c: usize| cut(component_text(raw(n), &seps, c));
    let hd = |n: usize| {
        let hd = Hd::from_raw(raw(n), &seps);
        Hd {
            namespace_id: cut(hd.namespace_id),
            universal_id: cut(hd.universal_id),
            universal_id_type: cut(hd.universal_id_type),
            raw: cut(hd.raw),
        }
    };
    Some(PartialHeader {
        separators: seps,
        sending_application: hd(3),
        sending_facility: hd(4),
        receiving_application: hd(5),
        receiving_facility: hd(6),
        message_code: comp(9, 1),
        trigger_event: comp(9, 2),
        control_id: cut(field_text(raw(10), &seps)),
        processing_id: comp(11, 1),
        version: comp(12, 1),
        accept_ack_type: cut(field_text(raw(15), &seps)),
        application_ack_type: cut(field_text(raw(16), &seps)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structure_table() {
        assert_eq!(default_structure("ADT", "A04"), "ADT_A01");
        assert_eq!(default_structure("ADT", "A40"), "ADT_A39");
        assert_eq!(default_structure("ADT", "A03"), "ADT_A03");
        assert_eq!(default_structure("SIU", "S14"), "SIU_S12");
        assert_eq!(default_structure("SIU", "S27"), "SIU_S27");
        assert_eq!(default_structure("MDM", "T06"), "MDM_T02");
        assert_eq!(default_structure("ORU", "R01"), "ORU_R01");
        assert_eq!(default_structure("ORU", "R32"), "ORU_R30");
        assert_eq!(default_structure("ZZZ", ""), "ZZZ");
        assert_eq!(default_structure("ACK", "A01"), "ACK");
    }

    #[test]
    fn peeks_damaged_headers() -> Result<(), String> {
        let h = peek_header(
            b"junk\x00\xffMSH|^~\\&|APP\\T\\X^1.2^ISO|FAC|||20240101||ADT^A01|CTRL\\F\\1|P|2.5|||AL|NE\rPID|\xff",
        )
        .ok_or("no header")?;
        assert_eq!(h.sending_application.namespace_id, "APP&X");
        assert_eq!(h.sending_application.universal_id, "1.2");
        assert_eq!(h.control_id, "CTRL|1");
        assert_eq!((h.message_code.as_str(), h.trigger_event.as_str()), ("ADT", "A01"));
        assert_eq!((h.accept_ack_type.as_str(), h.application_ack_type.as_str()), ("AL", "NE"));
        let long = format!("MSH|^~\\&|||||||ADT^A01|{}", "9".repeat(5000));
        assert_eq!(peek_header(long.as_bytes()).ok_or("no header")?.control_id.len(), 199);
        assert_eq!(peek_header(b"MSH"), Some(PartialHeader::default()));
        assert_eq!(peek_header(b"{\"resourceType\":\"Patient\"}"), None);
        Ok(())
    }
}
