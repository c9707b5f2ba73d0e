//! The bundle assembler: resources keyed by (type, deterministic id), merged when the same identity is added
//! twice (one Practitioner for one person named in PV1-7, ORC-12 and OBR-16), referenced inside the Bundle by
//! `urn:uuid:{id}` full URLs, and written with the requests a transaction needs.

pub use hearth_core::search_value as pct;
use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::BundleType;

/// A JSON object under construction.
pub type Obj = Map<String, Value>;

/// A resource in the Bundle: its type and deterministic id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ref {
    pub rtype: &'static str,
    pub id: String,
}

impl Ref {
    /// `urn:uuid:{id}`: the entry's fullUrl, resolved inside the Bundle (ids are UUIDs).
    pub fn url(&self) -> String {
        format!("urn:uuid:{}", self.id)
    }

    /// A FHIR Reference to this resource.
    pub fn reference(&self) -> Value {
        json!({ "reference": self.url() })
    }
}

/// One entry under construction.
#[derive(Debug, Clone)]
struct Entry {
    rf: Ref,
    resource: Obj,
    /// The conditional-update search (`identifier=system|value`), percent-encoded.
    condition: Option<String>,
    /// The business identifier of that search, for `Reference.identifier`.
    identifier: Option<(String, String)>,
}

/// Collects resources; see the module documentation.
#[derive(Debug, Default)]
pub struct Assembler {
    entries: Vec<Entry>,
    index: HashMap<Ref, usize>,
}

impl Assembler {
    /// Adds a resource (without `resourceType`/`id`: the assembler sets them). When a resource with the same type
    /// and id exists, keys it lacks are filled from `resource` (first writer wins on each key) and arrays are
    /// extended with elements not yet present. `identifier` is the business identifier (system, value) used for a
    /// conditional update.
    pub fn add(&mut self, rtype: &'static str, id: String, resource: Obj, identifier: Option<(&str, &str)>) -> Ref {
        let rf = Ref { rtype, id };
        let condition = identifier.map(|(s, v)| format!("identifier={}|{}", pct(s), pct(v)));
        let identifier = identifier.map(|(s, v)| (s.to_owned(), v.to_owned()));
        if let Some(&i) = self.index.get(&rf) {
            if let Some(e) = self.entries.get_mut(i) {
                merge(&mut e.resource, resource);
                if e.condition.is_none() {
                    e.condition = condition;
                    e.identifier = identifier;
                }
            }
            return rf;
        }
        self.index.insert(rf.clone(), self.entries.len());
        self.entries.push(Entry { rf: rf.clone(), resource, condition, identifier });
        rf
    }

    /// True when a resource of this type and id was added.
    pub fn contains(&self, rf: &Ref) -> bool {
        self.index.contains_key(rf)
    }

    /// The resource being built, to add elements after the fact (e.g. Encounter.diagnosis from DG1).
    pub fn get_mut(&mut self, rf: &Ref) -> Option<&mut Obj> {
        let i = *self.index.get(rf)?;
        self.entries.get_mut(i).map(|e| &mut e.resource)
    }

    /// Every resource added so far.
    pub fn refs(&self) -> impl Iterator<Item = &Ref> {
        self.entries.iter().map(|e| &e.rf)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Moves the entry of `rf` to the front (MessageHeader in a `message` Bundle).
    pub fn move_first(&mut self, rf: &Ref) {
        if let Some(&i) = self.index.get(rf) {
            let e = self.entries.remove(i);
            self.entries.insert(0, e);
            self.reindex();
        }
    }

    fn reindex(&mut self) {
        self.index = self.entries.iter().enumerate().map(|(i, e)| (e.rf.clone(), i)).collect();
    }

    /// The Bundle's `entry` array. `tag` goes into every resource's `meta.tag`. A reference to a resource that
    /// has a business identifier carries it too (`Reference.identifier`): a consumer that receives one resource
    /// alone (an AMQP queue) cannot resolve `urn:uuid:` but can read the system and value.
    pub fn into_entries(mut self, bundle_type: BundleType, tag: &Value) -> Vec<Value> {
        let identified: HashMap<String, Value> = self
            .entries
            .iter()
            .filter_map(|e| {
                let (s, v) = e.identifier.as_ref()?;
                Some((e.rf.url(), json!({ "system": s, "value": v })))
            })
            .collect();
        if !identified.is_empty() {
            for e in &mut self.entries {
                for v in e.resource.values_mut() {
                    add_identifiers(v, &identified);
                }
            }
        }
        self.entries
            .into_iter()
            .map(|mut e| {
                let mut res = Obj::new();
                res.insert("resourceType".into(), Value::from(e.rf.rtype));
                res.insert("id".into(), Value::from(e.rf.id.clone()));
                // A map may have set meta elements of its own (security labels): the mapping tag joins them.
                let mut meta = match e.resource.remove("meta") {
                    Some(Value::Object(m)) => m,
                    _ => Obj::new(),
                };
                meta.insert("tag".into(), json!([tag]));
                res.insert("meta".into(), Value::Object(meta));
                res.extend(e.resource);
                let mut entry = Obj::new();
                entry.insert("fullUrl".into(), Value::from(e.rf.url()));
                entry.insert("resource".into(), Value::Object(res));
                if bundle_type == BundleType::Transaction {
                    let url = match &e.condition {
                        Some(c) => format!("{}?{c}", e.rf.rtype),
                        None => format!("{}/{}", e.rf.rtype, e.rf.id),
                    };
                    entry.insert("request".into(), json!({ "method": "PUT", "url": url }));
                }
                Value::Object(entry)
            })
            .collect()
    }
}

/// Adds `identifier` to every Reference in `v` that points at an identified entry and has none.
fn add_identifiers(v: &mut Value, identified: &HashMap<String, Value>) {
    match v {
        Value::Object(o) => {
            let target = o.get("reference").and_then(Value::as_str).and_then(|r| identified.get(r));
            if let Some(ident) = target
                && !o.contains_key("identifier")
            {
                o.insert("identifier".into(), ident.clone());
            }
            for x in o.values_mut() {
                add_identifiers(x, identified);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| add_identifiers(x, identified)),
        _ => {}
    }
}

/// Fills `into` with what it lacks from `from`: missing keys are added, arrays gain elements not yet present.
fn merge(into: &mut Obj, from: Obj) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (None, v) => {
                into.insert(k, v);
            }
            (Some(Value::Array(a)), Value::Array(b)) => {
                for x in b {
                    if !a.contains(&x) {
                        a.push(x);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Sets `key` when `value` is `Some`.
pub fn put(o: &mut Obj, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        o.insert(key.to_owned(), v);
    }
}

/// Appends `value` (when `Some` and not already there) to the array at `key`.
pub fn push(o: &mut Obj, key: &str, value: Option<Value>) {
    let Some(v) = value else { return };
    match o.get_mut(key) {
        Some(Value::Array(a)) => {
            if !a.contains(&v) {
                a.push(v);
            }
        }
        _ => {
            o.insert(key.to_owned(), Value::Array(vec![v]));
        }
    }
}

/// Appends every value to the array at `key`.
pub fn push_all(o: &mut Obj, key: &str, values: impl IntoIterator<Item = Value>) {
    for v in values {
        push(o, key, Some(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_merges_and_requests() {
        let mut a = Assembler::default();
        let mut p1 = Obj::new();
        p1.insert("name".into(), json!([{"family": "A"}]));
        let mut p2 = Obj::new();
        p2.insert("name".into(), json!([{"family": "A"}]));
        p2.insert("gender".into(), json!("male"));
        let r1 = a.add("Practitioner", "x".into(), p1, Some(("urn:oid:1.2", "7 7")));
        let r2 = a.add("Practitioner", "x".into(), p2, None);
        assert_eq!(r1, r2);
        assert_eq!(a.len(), 1);
        let entries = a.into_entries(BundleType::Transaction, &json!({"code": "t"}));
        assert_eq!(entries[0]["resource"]["name"].as_array().map(Vec::len), Some(1));
        assert_eq!(entries[0]["resource"]["gender"], "male");
        assert_eq!(entries[0]["request"]["url"], "Practitioner?identifier=urn:oid:1.2|7%207");
    }
}
