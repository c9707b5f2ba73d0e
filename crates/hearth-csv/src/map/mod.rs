//! From typed rows to FHIR: one mapper per resource kind, plus what they share (ids, references, codings,
//! the transaction Bundle).

mod charges;
mod claims;
mod price;

pub(crate) use price::FileMeta;

use hearth_core::search_value as query_escape;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::profile::{Field, Profile, ResourceKind};
use crate::value::Decimal;
use crate::{ConvertContext, RowError};

/// CPT (AMA), as US Core and CARIN BB use it.
pub(crate) const CPT: &str = "http://www.ama-assn.org/go/cpt";
/// HCPCS Level II (CMS), as CARIN BB uses it.
pub(crate) const HCPCS: &str = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets";
pub(crate) const NPI: &str = "http://hl7.org/fhir/sid/us-npi";

/// Hearth's UUID v5 namespace (the value `hearth_fhir::ids::NAMESPACE` holds; repeated here so this pure crate
/// does not pull the FHIR model in).
const NAMESPACE: Uuid = Uuid::from_u128(0x6f0c_5b0e_58b1_5f43_9a3e_1d1c_4b0e_7a21);

/// A typed cell.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Empty,
    Text(String),
    Num(Decimal),
    /// `system` is empty for `by-type` codes until the mapper resolves it.
    Code {
        system: String,
        code: String,
    },
    /// A cell holding several codes (a column with `split`): each a `Code`.
    Many(Vec<Cell>),
}

impl Cell {
    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            Cell::Text(s) => Some(s),
            Cell::Code { code, .. } => Some(code),
            _ => None,
        }
    }

    pub(crate) fn num(&self) -> Option<Decimal> {
        match self {
            Cell::Num(d) => Some(*d),
            _ => None,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Cell::Empty)
    }
}

/// The cells of one row, in the profile's column order.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) cells: Vec<Cell>,
}

/// What a mapper made of a group: maybe a Bundle, and the rows it refused (one error each).
pub(crate) struct Mapped {
    pub(crate) bundle: Option<Value>,
    pub(crate) rejected: Vec<RowError>,
}

/// Column lookup by field, computed once per profile.
#[derive(Debug, Clone)]
pub(crate) struct Mapper {
    kind: ResourceKind,
    pub(crate) tag: Value,
    pub(crate) profile_name: String,
    pub(crate) currency: String,
    pub(crate) systems: std::collections::BTreeMap<String, String>,
    pub(crate) code_systems: std::collections::BTreeMap<String, String>,
    /// For each field (by discriminant), the profile column indexes feeding it with their repeat numbers.
    by_field: Vec<Vec<(usize, u32)>>,
    /// Header names per profile column (for errors raised while mapping).
    pub(crate) names: Vec<String>,
}

const FIELDS: usize = 64;

impl Mapper {
    pub(crate) fn new(profile: &Profile) -> Mapper {
        let mut by_field = vec![Vec::new(); FIELDS];
        for (k, c) in profile.columns.iter().enumerate() {
            if let Some(slot) = by_field.get_mut(c.field as usize) {
                slot.push((k, c.number));
            }
        }
        Mapper {
            kind: profile.resource,
            tag: json!([{"system": hearth_core::MAPPING_SYSTEM, "code": profile.mapping_tag()}]),
            profile_name: profile.name().to_owned(),
            currency: profile.currency.clone(),
            systems: profile.identifiers.clone(),
            code_systems: profile.code_systems.clone(),
            by_field,
            names: profile.columns.iter().map(|c| c.name.clone()).collect(),
        }
    }

    pub(crate) fn map(&self, rows: &[(u64, Row)], ctx: &ConvertContext, key: &str, meta: &FileMeta) -> Mapped {
        match self.kind {
            ResourceKind::ChargeItem => charges::map(self, rows, ctx, key),
            ResourceKind::Claim => claims::map(self, rows, ctx, key),
            ResourceKind::ChargeItemDefinition => price::map(self, rows, ctx, key, meta),
        }
    }

    /// The first column's cell for `field`.
    pub(crate) fn get<'r>(&self, row: &'r Row, field: Field) -> &'r Cell {
        self.by_field
            .get(field as usize)
            .and_then(|v| v.first())
            .and_then(|&(k, _)| row.cells.get(k))
            .unwrap_or(&Cell::Empty)
    }

    /// Every non-empty cell of a repeated field, with its repeat number.
    pub(crate) fn all<'r>(&'r self, row: &'r Row, field: Field) -> impl Iterator<Item = (u32, &'r Cell)> + 'r {
        self.by_field
            .get(field as usize)
            .into_iter()
            .flatten()
            .filter_map(|&(k, n)| row.cells.get(k).filter(|c| !c.is_empty()).map(|c| (n, c)))
            .flat_map(|(n, c)| match c {
                Cell::Many(cells) => cells.iter().map(|x| (n, x)).collect::<Vec<_>>(),
                one => vec![(n, one)],
            })
    }

    pub(crate) fn text<'r>(&self, row: &'r Row, field: Field) -> Option<&'r str> {
        self.get(row, field).text()
    }

    /// The header name of the column feeding `field` (for errors found while mapping).
    pub(crate) fn column_of(&self, field: Field) -> Option<String> {
        let k = self.by_field.get(field as usize)?.first()?.0;
        self.names.get(k).cloned()
    }

    pub(crate) fn system(&self, key: &str) -> &str {
        self.systems.get(key).map(String::as_str).unwrap_or("")
    }

    /// Deterministic id: UUID v5 over profile, resource type, source and group key.
    pub(crate) fn id(&self, resource_type: &str, ctx: &ConvertContext, key: &str) -> String {
        let name = [self.profile_name.as_str(), resource_type, ctx.source, key].join("\u{1f}");
        Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string()
    }

    pub(crate) fn money(&self, d: Decimal) -> Value {
        obj([("value", d.to_json()), ("currency", Value::from(self.currency.as_str()))])
    }

    /// A transaction Bundle that PUTs each resource at its deterministic id (a re-run changes nothing).
    pub(crate) fn bundle(&self, resources: Vec<Value>) -> Value {
        let entry: Vec<Value> = resources
            .into_iter()
            .map(|mut r| {
                let rt = r["resourceType"].as_str().unwrap_or_default().to_owned();
                let id = r["id"].as_str().unwrap_or_default().to_owned();
                if let Some(obj) = r.as_object_mut() {
                    obj.insert("meta".to_owned(), obj_tag(&self.tag));
                }
                let request = obj([("method", Value::from("PUT")), ("url", format!("{rt}/{id}").into())]);
                obj([("fullUrl", format!("urn:uuid:{id}").into()), ("resource", r), ("request", request)])
            })
            .collect();
        obj([
            ("resourceType", Value::from("Bundle")),
            ("type", Value::from("transaction")),
            ("meta", obj_tag(&self.tag)),
            ("entry", Value::Array(entry)),
        ])
    }
}

/// A reference the server resolves by business identifier inside the transaction, with the identifier itself
/// beside it (`Reference.identifier`): a consumer that reads the resource alone (an AMQP queue) cannot resolve a
/// search URL, but can read the system and value.
pub(crate) fn conditional_ref(resource_type: &str, system: &str, value: &str) -> Value {
    let url = format!("{resource_type}?identifier={}|{}", query_escape(system), query_escape(value));
    obj([("reference", url.into()), ("identifier", system_value(system, value))])
}

/// A logical reference (no server lookup): type plus identifier.
pub(crate) fn identifier_ref(resource_type: &str, system: &str, value: &str) -> Value {
    obj([("type", resource_type.into()), ("identifier", system_value(system, value))])
}

pub(crate) fn coding(system: &str, code: &str) -> Value {
    obj([("coding", Value::Array(vec![system_code(system, code)]))])
}

/// `{"system", "code"}` (a Coding).
pub(crate) fn system_code(system: &str, code: &str) -> Value {
    obj([("system", system.into()), ("code", code.into())])
}

/// `{"system", "value"}` (an Identifier).
pub(crate) fn system_value(system: &str, value: &str) -> Value {
    obj([("system", system.into()), ("value", value.into())])
}

/// A JSON object built at its final size: the `json!` macro grows its map and serialises every value again,
/// which dominated the cost of a charge row.
pub(crate) fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    let mut m = Map::with_capacity(N);
    for (k, v) in pairs {
        m.insert(k.to_owned(), v);
    }
    Value::Object(m)
}

fn obj_tag(tag: &Value) -> Value {
    obj([("tag", tag.clone())])
}

/// CPT: five digits, or four digits and F/T/U (category II/III); HCPCS Level II: a letter (not U) and four
/// digits. Anything else is neither.
/// Modifiers (two characters) follow the same split: two digits are CPT, letters HCPCS.
pub(crate) fn cpt_or_hcpcs(code: &str) -> Option<&'static str> {
    let b = code.as_bytes();
    if b.len() == 2 && b.iter().all(u8::is_ascii_alphanumeric) {
        return Some(if b.iter().all(u8::is_ascii_digit) { CPT } else { HCPCS });
    }
    if b.len() != 5 {
        return None;
    }
    let digits4 = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if digits4(&b[..4]) && (b[4].is_ascii_digit() || matches!(b[4], b'F' | b'T' | b'U')) {
        Some(CPT)
    } else if b[0].is_ascii_uppercase() && digits4(&b[1..]) {
        Some(HCPCS)
    } else {
        None
    }
}

/// An error for one row, about one field.
pub(crate) fn row_error(m: &Mapper, line: u64, field: Option<Field>, reason: impl Into<String>) -> RowError {
    let column = field.and_then(|f| m.column_of(f));
    RowError { line, column, column_index: None, reason: reason.into() }
}

/// Puts `value` under `key` unless it is null or an empty array.
pub(crate) fn put(obj: &mut Map<String, Value>, key: &str, value: Value) {
    let empty = value.is_null() || value.as_array().is_some_and(Vec::is_empty);
    if !empty {
        obj.insert(key.to_owned(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpt_hcpcs() {
        assert_eq!(cpt_or_hcpcs("99213"), Some(CPT));
        assert_eq!(cpt_or_hcpcs("0001F"), Some(CPT));
        assert_eq!(cpt_or_hcpcs("J1100"), Some(HCPCS));
        assert_eq!(cpt_or_hcpcs("9921"), None);
        assert_eq!(cpt_or_hcpcs("25"), Some(CPT));
        assert_eq!(cpt_or_hcpcs("LT"), Some(HCPCS));
        assert_eq!(cpt_or_hcpcs("abcde"), None);
    }

    #[test]
    fn escaping() {
        assert_eq!(query_escape("urn:oid:1.2|a b&c"), "urn:oid:1.2%7Ca%20b%26c");
    }
}
