//! CMS hospital price transparency (v2/v3 tall CSV) to ChargeItemDefinition: one per item (a contiguous run of
//! rows with the same description, codes, setting and modifiers), one property group per payer/plan row.

use serde_json::{Map, Value, json};

use super::{Cell, Mapped, Mapper, Row, put};
use crate::ConvertContext;
use crate::profile::Field;
use crate::value::Decimal;

/// Hearth's local code system for the kinds of CMS standard charge (gross, discounted_cash, negotiated_dollar...).
pub(crate) const STANDARD_CHARGE: &str = "urn:hearth:cms-hpt:standard-charge";
/// Code types without a FHIR system (LOCAL, CDM, APC...) get `urn:hearth:cms-hpt:code-type:<type>`.
const CODE_TYPE_PREFIX: &str = "urn:hearth:cms-hpt:code-type:";

/// Hospital metadata from the lines above the header.
#[derive(Debug, Clone, Default)]
pub(crate) struct FileMeta {
    pub(crate) hospital_name: Option<String>,
    pub(crate) last_updated: Option<String>,
    pub(crate) version: Option<String>,
}

impl FileMeta {
    /// Row 1 of the preamble names the fields, row 2 holds the values (CMS v2 and v3). Dates are taken when they
    /// are ISO or M/D/YYYY (the two ways the CMS examples write them).
    pub(crate) fn from_preamble(preamble: &[Vec<String>]) -> FileMeta {
        let (Some(names), Some(values)) = (preamble.first(), preamble.get(1)) else { return FileMeta::default() };
        let get = |name: &str| {
            let i = names.iter().position(|n| n.trim().eq_ignore_ascii_case(name))?;
            values.get(i).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
        };
        let date = get("last_updated_on").and_then(|d| {
            ["YYYY-MM-DD", "M/D/YYYY"]
                .iter()
                .filter_map(|f| crate::value::DateFormat::parse(f).ok())
                .find_map(|f| f.apply(&d))
        });
        FileMeta { hospital_name: get("hospital_name"), last_updated: date, version: get("version") }
    }
}

pub(super) fn map(m: &Mapper, rows: &[(u64, Row)], ctx: &ConvertContext, key: &str, meta: &FileMeta) -> Mapped {
    let Some((_, head)) = rows.first() else { return Mapped { bundle: None, rejected: Vec::new() } };
    let id = m.id("ChargeItemDefinition", ctx, key);
    let mut o = Map::with_capacity(14);
    o.insert("resourceType".into(), "ChargeItemDefinition".into());
    o.insert("id".into(), id.clone().into());
    o.insert("url".into(), format!("urn:uuid:{id}").into());
    if let Some(v) = &meta.version {
        o.insert("version".into(), v.clone().into());
    }
    let description = m.text(head, Field::Description);
    if let Some(d) = description {
        o.insert("title".into(), d.into());
    }
    o.insert("status".into(), "active".into());
    if let Some(d) = &meta.last_updated {
        o.insert("date".into(), d.clone().into());
    }
    if let Some(h) = &meta.hospital_name {
        o.insert("publisher".into(), h.clone().into());
    }
    if let Some(d) = description {
        o.insert("description".into(), d.into());
    }
    o.insert("code".into(), codes(m, head, description));
    if let Some(s) = applicability_of_item(m, head) {
        o.insert("applicability".into(), json!([{"description": s}]));
    }
    let mut groups = vec![];
    if let Some(g) = standard_group(m, rows) {
        groups.push(g);
    }
    groups.extend(rows.iter().filter_map(|(_, r)| payer_group(m, r)));
    put(&mut o, "propertyGroup", Value::Array(groups));
    Mapped { bundle: Some(m.bundle(vec![Value::Object(o)])), rejected: Vec::new() }
}

fn codes(m: &Mapper, row: &Row, text: Option<&str>) -> Value {
    let types: Vec<(u32, &Cell)> = m.all(row, Field::CodeType).collect();
    let mut coding = Vec::new();
    for (n, c) in m.all(row, Field::Code) {
        let Some(code) = c.text() else { continue };
        let ty = types.iter().find(|(tn, _)| *tn == n).and_then(|(_, t)| t.text()).unwrap_or("LOCAL");
        coding.push(json!({"system": system_for(m, ty), "code": code}));
    }
    let mut cc = json!({"coding": coding});
    if let Some(t) = text {
        cc["text"] = t.into();
    }
    cc
}

fn system_for(m: &Mapper, code_type: &str) -> String {
    let upper = code_type.trim().to_ascii_uppercase();
    match m.code_systems.get(&upper) {
        Some(s) => s.clone(),
        None => {
            let local: String =
                upper.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
            format!("{CODE_TYPE_PREFIX}{local}")
        }
    }
}

/// Setting and modifiers, which qualify every price of the item.
fn applicability_of_item(m: &Mapper, row: &Row) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(s) = m.text(row, Field::Setting) {
        parts.push(format!("setting: {s}"));
    }
    let mods: Vec<&str> = m.all(row, Field::Modifier).filter_map(|(_, c)| c.text()).collect();
    if !mods.is_empty() {
        parts.push(format!("modifiers: {}", mods.join(", ")));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn component(kind: &str, code: &str) -> Map<String, Value> {
    let mut c = Map::new();
    c.insert("type".into(), kind.into());
    c.insert("code".into(), super::coding(STANDARD_CHARGE, code));
    c
}

fn money_component(m: &Mapper, kind: &str, code: &str, amount: Decimal) -> Value {
    let mut c = component(kind, code);
    c.insert("amount".into(), m.money(amount));
    Value::Object(c)
}

/// Gross, discounted cash, min and max: the same on every row of the item, taken from the first row holding each.
fn standard_group(m: &Mapper, rows: &[(u64, Row)]) -> Option<Value> {
    let first = |field| rows.iter().find_map(|(_, r)| m.get(r, field).num());
    let mut prices = Vec::new();
    for (field, kind, code) in [
        (Field::GrossCharge, "base", "gross"),
        (Field::DiscountedCash, "informational", "discounted_cash"),
        (Field::MinCharge, "informational", "min"),
        (Field::MaxCharge, "informational", "max"),
    ] {
        if let Some(a) = first(field) {
            prices.push(money_component(m, kind, code, a));
        }
    }
    (!prices.is_empty()).then(|| json!({"priceComponent": prices}))
}

/// One payer/plan's negotiated charge; the conditions (payer, plan, methodology, algorithm, notes) go in the
/// applicability description because R4 has no structured place for them.
fn payer_group(m: &Mapper, row: &Row) -> Option<Value> {
    let payer = m.text(row, Field::PayerName)?;
    let mut conditions = vec![format!("payer: {payer}")];
    for (field, label) in
        [(Field::PlanName, "plan"), (Field::Methodology, "methodology"), (Field::NegotiatedAlgorithm, "algorithm")]
    {
        if let Some(v) = m.text(row, field) {
            conditions.push(format!("{label}: {v}"));
        }
    }
    let notes: Vec<&str> = m.all(row, Field::Note).filter_map(|(_, c)| c.text()).collect();
    if !notes.is_empty() {
        conditions.push(format!("notes: {}", notes.join(" ")));
    }
    let mut prices = Vec::new();
    if let Some(a) = m.get(row, Field::NegotiatedDollar).num() {
        prices.push(money_component(m, "base", "negotiated_dollar", a));
    }
    if let Some(p) = m.get(row, Field::NegotiatedPercentage).num() {
        let mut c = component("base", "negotiated_percentage");
        c.insert("factor".into(), p.percent_to_factor().to_json());
        prices.push(Value::Object(c));
    }
    let mut g = json!({"applicability": [{"description": conditions.join("; ")}]});
    if !prices.is_empty() {
        g["priceComponent"] = Value::Array(prices);
    }
    Some(g)
}
