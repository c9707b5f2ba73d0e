//! Writing a resource straight from its `Value` in FHIR element order, without fhirbolt's model.
//!
//! fhirbolt writes every object's elements in the order the specification lists them; Hearth's mappers build their
//! objects in whatever order their code runs. Reading the `Value` into fhirbolt's model only to write it again cost
//! more than the mapping itself (docs/performance.md, issue 17). Here each object's keys are put in specification
//! order from a table of every R4 type's elements (`r4-elements.txt`, generated from HL7's R4 JSON schema by
//! `scripts/gen-fhir-elements.py`), and the values are written by serde_json as fhirbolt writes them: the same bytes.
//!
//! The writer checks what fhirbolt's strict reading checks about shape (every key an element of its type, the JSON
//! type of every primitive, integers in range, objects where the type is complex, one resource type per
//! `resourceType`, one form per choice element) and refuses whatever it is not sure to write as fhirbolt would:
//! `null`, empty lists and objects, lists of `_element` companions, a lone value where the element is a list, a
//! decimal in exponent form, a non-canonical integer. A refusal is not a verdict: the caller then asks fhirbolt
//! (`bundle_to_json`'s fast and reference readings), so what is accepted, and the bytes, never change. The tests
//! hold the writer to fhirbolt's bytes on every mapped corpus sample, fixture, peer Bundle and FHIR example.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

/// The element table, generated (see the module docs).
const ELEMENTS: &str = include_str!("r4-elements.txt");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Boolean,
    Decimal,
    Integer,
    Unsigned,
    Resource,
    Complex(u16),
}

#[derive(Debug, Clone, Copy)]
struct Element {
    kind: Kind,
    many: bool,
    /// Position in specification order (the `_element` companion writes at `2 * rank + 1`).
    rank: u16,
    /// Elements that are forms of one choice element (`value[x]`) share a nonzero number.
    choice: u16,
}

#[derive(Debug)]
struct TypeDef {
    name: &'static str,
    is_resource: bool,
    /// By element name's length, then name, sorted for binary search: most probes then compare two lengths, not
    /// two strings (the string comparison was a tenth of `hearth convert`'s time; docs/performance.md).
    elements: Vec<(&'static str, Element)>,
    /// What fhirbolt's strict reading requires (as a value or an `_element` companion; one form of a choice).
    required: Vec<Element>,
}

impl TypeDef {
    fn element(&self, name: &str) -> Option<Element> {
        let key = (name.len(), name);
        self.elements.binary_search_by(|(n, _)| (n.len(), *n).cmp(&key)).ok().map(|i| self.elements[i].1)
    }
}

#[derive(Debug)]
struct Table {
    types: Vec<TypeDef>,
    by_name: HashMap<&'static str, u16>,
    element_type: u16,
}

impl Table {
    fn resource(&self, name: &str) -> Option<&TypeDef> {
        let t = &self.types[usize::from(*self.by_name.get(name)?)];
        t.is_resource.then_some(t)
    }
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| parse_table(ELEMENTS))
}

/// Reads the generated table. It is part of the build, so a malformed line is a bug the unit tests catch: such a
/// line's unknown parts are skipped (their elements then make the writer refuse), never a panic.
fn parse_table(text: &'static str) -> Table {
    let lines: Vec<Vec<&'static str>> =
        text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).map(|l| l.split(' ').collect()).collect();
    let by_name: HashMap<&'static str, u16> =
        lines.iter().enumerate().filter_map(|(i, l)| Some((*l.first()?, u16::try_from(i).ok()?))).collect();
    let mut types = Vec::with_capacity(lines.len());
    for line in &lines {
        let mut choices: Vec<&str> = Vec::new();
        let mut needs = Vec::new();
        let mut elements = Vec::with_capacity(line.len());
        for (rank, spec) in line.iter().skip(1).enumerate() {
            let Some((name, rest)) = spec.split_once(':') else { continue };
            let (rest, choice) = match rest.split_once('|') {
                Some((r, base)) => {
                    let n = choices.iter().position(|c| *c == base).unwrap_or_else(|| {
                        choices.push(base);
                        choices.len() - 1
                    });
                    (r, u16::try_from(n + 1).unwrap_or(u16::MAX))
                }
                None => (rest, 0),
            };
            let (rest, required) = match rest.strip_suffix('!') {
                Some(r) => (r, true),
                None => (rest, false),
            };
            let (kind, many) = match rest.strip_suffix('*') {
                Some(k) => (k, true),
                None => (rest, false),
            };
            let kind = match kind {
                "s" => Kind::String,
                "b" => Kind::Boolean,
                "d" => Kind::Decimal,
                "i" => Kind::Integer,
                "u" => Kind::Unsigned,
                "R" => Kind::Resource,
                other => match by_name.get(other) {
                    Some(&i) => Kind::Complex(i),
                    None => continue,
                },
            };
            let Ok(rank) = u16::try_from(rank) else { continue };
            let element = Element { kind, many, rank, choice };
            // One entry per required choice: any of its forms will do.
            if required && (choice == 0 || !needs.iter().any(|e: &Element| e.choice == choice)) {
                needs.push(element);
            }
            elements.push((name, element));
        }
        let is_resource = elements.first().is_some_and(|(n, _)| *n == "resourceType");
        elements.sort_by_key(|(n, _)| (n.len(), *n));
        types.push(TypeDef { name: line.first().copied().unwrap_or_default(), is_resource, elements, required: needs });
    }
    let element_type = by_name.get("Element").copied().unwrap_or(u16::MAX);
    Table { types, by_name, element_type }
}

/// `resource` as compact FHIR JSON in specification order, or `None` when the writer is not sure (see the module
/// docs). `expected`: the resource type it must have, if any.
pub(crate) fn to_string(resource: &Value, expected: Option<&str>, pretty: bool) -> Option<String> {
    let table = table();
    let obj = resource.as_object()?;
    let rtype = obj.get("resourceType")?.as_str()?;
    if expected.is_some_and(|e| e != rtype) {
        return None;
    }
    let ty = table.resource(rtype)?;
    let object = Object { table, ty, map: obj };
    // Roughly what the output takes, so the buffer seldom grows.
    let mut out = Vec::with_capacity(16 * 1024);
    let written = if pretty {
        object.serialize(&mut serde_json::Serializer::pretty(&mut out))
    } else {
        object.serialize(&mut serde_json::Serializer::new(&mut out))
    };
    written.ok()?;
    String::from_utf8(out).ok()
}

/// Why the writer refused (never shown: the caller asks fhirbolt instead).
fn refuse<E: serde::ser::Error>(what: &str) -> E {
    E::custom(what)
}

/// An object of a known complex type.
struct Object<'a> {
    table: &'a Table,
    ty: &'a TypeDef,
    map: &'a Map<String, Value>,
}

/// One of an object's entries, placed.
#[derive(Clone, Copy)]
struct Entry<'a> {
    position: u32,
    key: &'a str,
    value: &'a Value,
    element: Element,
    companion: bool,
}

/// Entries of most objects fit here without a heap allocation.
const INLINE_ENTRIES: usize = 24;

impl Serialize for Object<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.map.is_empty() {
            return Err(refuse("empty object"));
        }
        let mut entries: smallvec::SmallVec<[Entry<'_>; INLINE_ENTRIES]> = smallvec::SmallVec::new();
        let mut sorted = true;
        let mut last = 0u32;
        for (key, value) in self.map {
            let (base, companion) = match key.strip_prefix('_') {
                Some(base) => (base, true),
                None => (key.as_str(), false),
            };
            let element = self.ty.element(base).ok_or_else(|| refuse::<S::Error>("unknown element"))?;
            let position = 2 * u32::from(element.rank) + u32::from(companion);
            sorted &= position > last || entries.is_empty();
            last = position;
            entries.push(Entry { position, key, value, element, companion });
        }
        if !sorted {
            entries.sort_unstable_by_key(|e| e.position);
        }
        if self.ty.is_resource && self.map.get("resourceType").and_then(Value::as_str) != Some(self.ty.name) {
            return Err(refuse("resourceType"));
        }
        for pair in entries.windows(2) {
            if pair[0].position == pair[1].position {
                return Err(refuse("duplicate element"));
            }
            if pair[0].element.choice != 0
                && pair[0].element.choice == pair[1].element.choice
                && pair[0].element.rank != pair[1].element.rank
            {
                return Err(refuse("two forms of a choice element"));
            }
        }
        if entries.iter().filter(|e| e.element.choice != 0).count() > 2 {
            // Forms of one choice can sit apart (another choice between them): check every pair.
            for (i, a) in entries.iter().enumerate() {
                if entries[i + 1..].iter().any(|b| {
                    a.element.choice != 0 && a.element.choice == b.element.choice && a.element.rank != b.element.rank
                }) {
                    return Err(refuse("two forms of a choice element"));
                }
            }
        }
        for need in &self.ty.required {
            let present = if need.choice != 0 {
                entries.iter().any(|e| e.element.choice == need.choice)
            } else {
                entries.binary_search_by_key(&(2 * u32::from(need.rank)), |e| e.position & !1).is_ok()
            };
            if !present {
                return Err(refuse("required element missing"));
            }
        }
        let mut map = s.serialize_map(Some(entries.len()))?;
        for e in &entries {
            map.serialize_entry(e.key, &Slot { table: self.table, entry: *e })?;
        }
        map.end()
    }
}

/// One entry's value, written by its element's kind.
struct Slot<'a> {
    table: &'a Table,
    entry: Entry<'a>,
}

impl Serialize for Slot<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Entry { value, element, companion, .. } = self.entry;
        if companion {
            // `_element`: an Element beside a primitive. Lists of them (with their nulls) are left to fhirbolt.
            let (Kind::String | Kind::Boolean | Kind::Decimal | Kind::Integer | Kind::Unsigned) = element.kind else {
                return Err(refuse("companion of a complex element"));
            };
            if element.many {
                return Err(refuse("list of companions"));
            }
            return One { table: self.table, kind: Kind::Complex(self.table.element_type), value }.serialize(s);
        }
        if !element.many {
            return One { table: self.table, kind: element.kind, value }.serialize(s);
        }
        let items = match value {
            Value::Array(items) if !items.is_empty() => items,
            _ => return Err(refuse("not a non-empty list")),
        };
        let mut seq = s.serialize_seq(Some(items.len()))?;
        for value in items {
            seq.serialize_element(&One { table: self.table, kind: element.kind, value })?;
        }
        seq.end()
    }
}

/// One value of an element (a list's item, or the element's single value).
struct One<'a> {
    table: &'a Table,
    kind: Kind,
    value: &'a Value,
}

impl Serialize for One<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let table = self.table;
        match (self.kind, self.value) {
            (Kind::String, Value::String(_)) | (Kind::Boolean, Value::Bool(_)) => self.value.serialize(s),
            (Kind::Decimal, Value::Number(n)) if !n.to_string().contains(['e', 'E']) => self.value.serialize(s),
            (Kind::Integer, Value::Number(n)) => {
                let i = n.as_i64().and_then(|i| i32::try_from(i).ok()).ok_or_else(|| refuse::<S::Error>("integer"))?;
                if n.to_string() != i.to_string() {
                    return Err(refuse("integer not in canonical form"));
                }
                s.serialize_i32(i)
            }
            (Kind::Unsigned, Value::Number(n)) => {
                let u = n.as_u64().and_then(|u| u32::try_from(u).ok()).ok_or_else(|| refuse::<S::Error>("unsigned"))?;
                if n.to_string() != u.to_string() {
                    return Err(refuse("integer not in canonical form"));
                }
                s.serialize_u32(u)
            }
            (Kind::Complex(t), Value::Object(map)) => {
                let ty = table.types.get(usize::from(t)).ok_or_else(|| refuse::<S::Error>("type"))?;
                Object { table, ty, map }.serialize(s)
            }
            (Kind::Resource, Value::Object(map)) => {
                let rtype = map
                    .get("resourceType")
                    .and_then(Value::as_str)
                    .ok_or_else(|| refuse::<S::Error>("no resourceType"))?;
                let ty = table.resource(rtype).ok_or_else(|| refuse::<S::Error>("unknown resourceType"))?;
                Object { table, ty, map }.serialize(s)
            }
            _ => Err(refuse("wrong JSON type")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_line_of_the_table_reads_whole() {
        let t = table();
        let lines = ELEMENTS.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(t.types.len(), lines);
        for (ty, line) in t.types.iter().zip(ELEMENTS.lines().filter(|l| !l.starts_with('#'))) {
            assert_eq!(ty.elements.len(), line.split(' ').count() - 1, "{}", ty.name);
        }
        assert!(t.resource("Patient").is_some());
        assert!(t.resource("HumanName").is_none());
        assert_ne!(t.element_type, u16::MAX);
    }

    #[test]
    fn orders_elements_as_the_specification() {
        let p = json!({"gender": "female", "_birthDate": {"extension": [{"valueString": "x", "url": "u"}]},
                       "birthDate": "1980-02-29", "id": "p1", "resourceType": "Patient",
                       "name": [{"given": ["Jane"], "family": "Doe"}]});
        assert_eq!(
            to_string(&p, None, false).unwrap(),
            r#"{"resourceType":"Patient","id":"p1","name":[{"family":"Doe","given":["Jane"]}],"gender":"female","birthDate":"1980-02-29","_birthDate":{"extension":[{"url":"u","valueString":"x"}]}}"#
        );
    }

    #[test]
    fn refuses_what_it_is_not_sure_of() {
        let refused = [
            json!({"resourceType": "Patient", "favouriteColour": "blue"}),
            json!({"resourceType": "Patient", "gender": 1}),
            json!({"resourceType": "Patient", "gender": null}),
            json!({"resourceType": "Patient", "name": []}),
            json!({"resourceType": "Patient", "name": {"family": "Doe"}}),
            json!({"resourceType": "Patient", "deceasedBoolean": true, "deceasedDateTime": "2020"}),
            json!({"resourceType": "Patient", "multipleBirthInteger": 3_000_000_000u64}),
            json!({"resourceType": "Patient", "meta": {}}),
            json!({"resourceType": "Observation", "code": {"text": "x"}}),
            json!({"resourceType": "Provenance", "target": [{"reference": "Patient/p"}], "recorded": "2024-01-01T00:00:00Z",
                   "agent": [{"type": {"text": "x"}}]}),
            json!({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
                   "subject": {"reference": "Patient/p"}}),
            json!({"resourceType": "NoSuchThing"}),
            json!({"resourceType": "HumanName"}),
            json!({"gender": "female"}),
        ];
        for r in &refused {
            assert_eq!(to_string(r, None, false), None, "{r}");
        }
        assert_eq!(to_string(&json!({"resourceType": "Patient"}), Some("Bundle"), false), None);
        // A required primitive may be there as its `_element` companion only; a required choice by any form.
        let obs = json!({"resourceType": "Observation", "_status": {"extension": [{"url": "u", "valueCode": "x"}]},
                         "code": {"text": "x"}});
        assert!(to_string(&obs, None, false).is_some());
        let mr = json!({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
                        "subject": {"reference": "Patient/p"}, "medicationReference": {"reference": "Medication/m"}});
        assert!(to_string(&mr, None, false).is_some());
    }
}
