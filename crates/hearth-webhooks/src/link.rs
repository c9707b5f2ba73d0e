//! Which Patient an event is about: by the identifier the event carries (an MRN from IVR identification, a CRM
//! lookup, Amazon Connect contact attributes) first, by the customer's phone number only when it carries none.
//!
//! The patient index lives in the journal (the engine queries it, asynchronously); this module holds the rule:
//! [`Event::lookup`] says what to look up, [`link_from`] turns what the index found into a [`PatientLink`],
//! cross-checking the name and birth date the event may also carry. Nothing here logs or reports a value.

use crate::event::Event;
use crate::map::PatientLink;

/// The patient identity an event carries, read from the fields the profile names (`patient_identifier`,
/// `patient_identifier_system`, `patient_family`, `patient_given`, `patient_birth_date`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientIdentity {
    /// The identifier's system: the event's assigning authority as a URI (an OID becomes `urn:oid:…`, a
    /// namespace `urn:hearth:v2:<namespace>` as the HL7 v2 mapping writes it), else the profile's
    /// `patient_identifier_system`; `None` when neither says.
    pub system: Option<String>,
    pub value: String,
    pub family: Option<String>,
    pub given: Option<String>,
    /// `YYYY-MM-DD` (or the precision sent).
    pub birth_date: Option<String>,
}

/// What to look up in the patient index for an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// The event names the patient: look the identifier up (never the phone).
    Identifier(&'a PatientIdentity),
    /// No identifier: the customer's number in E.164.
    Phone(&'a str),
    /// Neither: the event stays unlinked.
    Nothing,
}

/// How a link was made, reported as `linked_by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRule {
    Identifier,
    Phone,
}

impl LinkRule {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkRule::Identifier => "identifier",
            LinkRule::Phone => "phone",
        }
    }
}

/// A Patient the index returned. Name and birth date are optional: an index that does not keep them makes no
/// cross-check.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Candidate {
    pub patient_id: String,
    pub identifier_system: Option<String>,
    pub identifier_value: Option<String>,
    pub family: Option<String>,
    pub birth_date: Option<String>,
}

impl Event {
    /// What to look up: the identifier when the event carries one, else the customer's number.
    pub fn lookup(&self) -> Lookup<'_> {
        match (&self.patient, self.customer_number()) {
            (Some(p), _) => Lookup::Identifier(p),
            (None, Some(phone)) => Lookup::Phone(phone),
            (None, None) => Lookup::Nothing,
        }
    }
}

/// The link from what the index found for `lookup`. Exactly one Patient links; by identifier, a name or birth
/// date the event sends that contradicts the Patient's refuses the link ([`PatientLink::Mismatch`]): a wrong
/// MRN typed into an IVR must not put a call on someone else's record. The identifier the Bundle references is
/// the event's own (by identifier) or the Patient's first (by phone).
pub fn link_from(lookup: Lookup<'_>, found: &[Candidate]) -> PatientLink {
    let (rule, identity) = match lookup {
        Lookup::Identifier(p) => (LinkRule::Identifier, Some(p)),
        Lookup::Phone(_) => (LinkRule::Phone, None),
        Lookup::Nothing => return PatientLink::Unknown,
    };
    let one = match found {
        [] => return PatientLink::Unknown,
        [one] => one,
        several => return PatientLink::Ambiguous { candidates: several.len() },
    };
    if let Some(p) = identity {
        if contradicts(p.family.as_deref(), one.family.as_deref(), |a, b| a.eq_ignore_ascii_case(b))
            || contradicts(p.birth_date.as_deref(), one.birth_date.as_deref(), |a, b| a == b)
        {
            return PatientLink::Mismatch;
        }
        return PatientLink::LinkedByIdentifier {
            id: one.patient_id.clone(),
            identifier_system: p.system.clone(),
            identifier_value: p.value.clone(),
        };
    }
    match &one.identifier_value {
        Some(value) if rule == LinkRule::Phone => PatientLink::Linked {
            id: one.patient_id.clone(),
            identifier_system: one.identifier_system.clone(),
            identifier_value: value.clone(),
        },
        // A reference needs the identifier; without it the Patient cannot be named safely.
        _ => PatientLink::Unknown,
    }
}

/// Both sides say something, and not the same thing.
fn contradicts(sent: Option<&str>, known: Option<&str>, same: impl Fn(&str, &str) -> bool) -> bool {
    matches!((sent.map(str::trim), known.map(str::trim)), (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() && !same(a, b))
}

/// An assigning authority as an identifier system (see [`PatientIdentity::system`]).
pub fn authority_system(authority: &str) -> String {
    let a = authority.trim();
    let oid = a.contains('.') && a.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if oid {
        return format!("urn:oid:{a}");
    }
    if a.contains(':') && !a.contains(char::is_whitespace) {
        return a.to_owned();
    }
    format!("urn:hearth:v2:{}", hearth_core::search_value(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: &str, family: Option<&str>, birth: Option<&str>) -> Candidate {
        Candidate {
            patient_id: id.into(),
            identifier_system: Some("urn:oid:1.2".into()),
            identifier_value: Some(format!("MRN-{id}")),
            family: family.map(Into::into),
            birth_date: birth.map(Into::into),
        }
    }

    #[test]
    fn identifier_first_with_a_cross_check() {
        let p = PatientIdentity {
            system: Some("urn:oid:1.2".into()),
            value: "MRN-7".into(),
            family: Some("Doe".into()),
            given: None,
            birth_date: Some("1980-02-14".into()),
        };
        let by_id = Lookup::Identifier(&p);
        let linked = link_from(by_id, &[candidate("p7", Some("DOE"), Some("1980-02-14"))]);
        assert_eq!(
            linked,
            PatientLink::LinkedByIdentifier {
                id: "p7".into(),
                identifier_system: Some("urn:oid:1.2".into()),
                identifier_value: "MRN-7".into()
            }
        );
        // An index without demographics links on the identifier alone.
        assert!(matches!(link_from(by_id, &[candidate("p7", None, None)]), PatientLink::LinkedByIdentifier { .. }));
        assert_eq!(link_from(by_id, &[candidate("p7", Some("Roe"), None)]), PatientLink::Mismatch);
        assert_eq!(link_from(by_id, &[candidate("p7", None, Some("1980-02-15"))]), PatientLink::Mismatch);
        assert_eq!(link_from(by_id, &[]), PatientLink::Unknown);
        assert_eq!(
            link_from(by_id, &[candidate("a", None, None), candidate("b", None, None)]),
            PatientLink::Ambiguous { candidates: 2 }
        );
        let by_phone = link_from(Lookup::Phone("+15555550101"), &[candidate("p1", None, None)]);
        assert!(matches!(by_phone, PatientLink::Linked { ref id, .. } if id == "p1"));
        assert_eq!(link_from(Lookup::Nothing, &[candidate("p1", None, None)]), PatientLink::Unknown);
    }

    #[test]
    fn authorities_become_systems() {
        assert_eq!(authority_system("2.16.840.1.113883.19.5"), "urn:oid:2.16.840.1.113883.19.5");
        assert_eq!(authority_system("https://hospital.example/mrn"), "https://hospital.example/mrn");
        assert_eq!(authority_system("NORTH HOSP"), "urn:hearth:v2:NORTH%20HOSP");
    }
}
