//! The fast reading of a Bundle into fhirbolt's typed model.
//!
//! fhirbolt reads a `Resource` (the enum) by first building its generic element tree (every string and key copied
//! into an index map), then reading the typed resource from that tree; and its `Bundle` can only be read through
//! the enum (see `to_bundle` in the crate root), so every entry paid for that tree. Here the Bundle is read without
//! its entries' resources (a `Bundle` with no nested resource reads correctly straight from JSON), and each entry's
//! resource is read straight into its concrete type when the type is one Hearth produces and fhirbolt's straight
//! reading can take it:
//! - no nested resource (`contained`: reading one would switch fhirbolt's context to the element format, as with
//!   Bundles);
//! - no JSON number: fhirbolt 0.4 reads a `decimal` straight from JSON only as a string (the field is a `String`
//!   read with `deserialize_string`), so `"value": 54` is refused ("invalid type: integer `54`, expected a
//!   string") where the element tree takes it. Integers would read, but a number gives no hint of its FHIR type.
//!
//! Any other resource, and one the straight reading refuses (it may be stricter than the element tree), is read
//! through the enum, as before; only what the enum refuses makes the whole fast reading refuse. The typed Bundle is then written by fhirbolt as before, so the bytes are the same:
//! `tests/fast.rs` (every peer Bundle and FHIR example of the corpus) and hearth-map's `tests/fhir_bytes.rs` (every
//! mapped corpus sample) check it.
//!
//! Resources are read from JSON text written into one reused buffer rather than from a clone of the `Value`: the
//! caller keeps its value (the reference reading can still decide), and writing text costs less than cloning the
//! tree.

use fhirbolt::model::r4::Resource;
use fhirbolt::model::r4::resources as r4;
use serde_json::{Map, Value};

use super::strict;

/// The typed Bundle, or `None` when the fast reading refuses it (the reference reading then decides).
pub(crate) fn to_bundle(bundle: &Value) -> Option<Resource> {
    let obj = bundle.as_object()?;
    if obj.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return None;
    }
    let mut typed: r4::Bundle = fhirbolt::json::from_json_value(shell(obj), strict()).ok()?;
    let entries = match obj.get("entry") {
        Some(Value::Array(entries)) => entries.as_slice(),
        Some(_) => return None,
        None => &[],
    };
    // `entry.response.outcome` is a nested resource: the shell would not read it straight (see the module docs).
    if entries.len() != typed.entry.len() || entries.iter().any(|e| e.get("response").is_some()) {
        return None;
    }
    let mut buf = Vec::with_capacity(4096);
    for (entry, slot) in entries.iter().zip(typed.entry.iter_mut()) {
        if let Some(resource) = entry.get("resource") {
            slot.resource = Some(resource_from(resource, &mut buf)?);
        }
    }
    Some(Resource::Bundle(Box::new(typed)))
}

/// The Bundle without its entries' resources (small: ids, type, full URLs, requests).
fn shell(bundle: &Map<String, Value>) -> Value {
    let mut out = Map::with_capacity(bundle.len());
    for (k, v) in bundle {
        let v = match (k.as_str(), v) {
            ("entry", Value::Array(entries)) => Value::Array(entries.iter().map(entry_shell).collect()),
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

fn entry_shell(entry: &Value) -> Value {
    match entry {
        Value::Object(o) => {
            Value::Object(o.iter().filter(|(k, _)| *k != "resource").map(|(k, v)| (k.clone(), v.clone())).collect())
        }
        other => other.clone(),
    }
}

/// One entry's resource, read from its JSON text (written into `buf`).
fn resource_from(resource: &Value, buf: &mut Vec<u8>) -> Option<Resource> {
    let rtype = resource.get("resourceType")?.as_str()?;
    buf.clear();
    serde_json::to_writer(&mut *buf, resource).ok()?;
    if resource.get("contained").is_some() || holds_number(resource) {
        return through_enum(buf);
    }
    direct(rtype, buf).or_else(|| through_enum(buf))
}

/// The reading the reference uses for every entry: fhirbolt's element tree, then the typed resource.
fn through_enum(text: &[u8]) -> Option<Resource> {
    fhirbolt::json::from_slice::<Resource>(text, strict()).ok()
}

/// Whether a JSON number occurs anywhere in `value` (see the module docs for why that matters).
fn holds_number(value: &Value) -> bool {
    match value {
        Value::Number(_) => true,
        Value::Array(items) => items.iter().any(holds_number),
        Value::Object(fields) => fields.values().any(holds_number),
        Value::Null | Value::Bool(_) | Value::String(_) => false,
    }
}

/// Reads `text` as the concrete resource type `T`.
fn read<T: fhirbolt::serde::DeserializeResourceOwned>(text: &[u8]) -> Option<Box<T>> {
    fhirbolt::json::from_slice::<T>(text, strict()).ok().map(Box::new)
}

/// The resource types Hearth's mappings produce, read straight into their type; `None` for any other type and when
/// the straight reading refuses (the caller then reads through the enum).
macro_rules! direct_types {
    ($rtype:expr, $text:expr; $($t:ident),* $(,)?) => {
        match $rtype {
            $(stringify!($t) => read::<r4::$t>($text).map(Resource::$t),)*
            _ => None,
        }
    };
}

fn direct(rtype: &str, text: &[u8]) -> Option<Resource> {
    direct_types!(rtype, text;
        Account, AllergyIntolerance, Appointment, AuditEvent, ChargeItem, Claim, Communication, Condition, Coverage,
        DiagnosticReport, DocumentReference, Encounter, ExplanationOfBenefit, Immunization, Location, Medication,
        MedicationAdministration, MedicationRequest, MessageHeader, Observation, Organization, Patient, Practitioner,
        PractitionerRole, Procedure, Provenance, RelatedPerson, ServiceRequest, Specimen, Task,
    )
}
