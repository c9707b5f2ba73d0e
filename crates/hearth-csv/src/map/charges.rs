//! Charge lines to ChargeItem (one row, one Bundle).

use serde_json::{Map, Value};

use super::{Mapped, Mapper, Row, conditional_ref, identifier_ref, obj, put, row_error, system_code, system_value};
use crate::ConvertContext;
use crate::map::{Cell, NPI};
use crate::profile::Field;

/// Where unit prices and procedure modifiers go: R4 ChargeItem has no element for either.
pub(crate) const EXT_UNIT_PRICE: &str = "urn:hearth:fhir:extension:unit-price";
pub(crate) const EXT_MODIFIER: &str = "urn:hearth:fhir:extension:procedure-modifier";
pub(crate) const EXT_REVENUE_CODE: &str = "urn:hearth:fhir:extension:revenue-code";

pub(super) fn map(m: &Mapper, rows: &[(u64, Row)], ctx: &ConvertContext, key: &str) -> Mapped {
    let mut rejected = Vec::new();
    let mut resources = Vec::new();
    for (line, row) in rows {
        match charge_item(m, row, ctx, key) {
            Ok(r) => resources.push(r),
            Err((field, reason)) => rejected.push(row_error(m, *line, field, reason)),
        }
    }
    let bundle = (!resources.is_empty()).then(|| m.bundle(resources));
    Mapped { bundle, rejected }
}

type Problem = (Option<Field>, &'static str);

fn charge_item(m: &Mapper, row: &Row, ctx: &ConvertContext, key: &str) -> Result<Value, Problem> {
    let procedure = m.get(row, Field::ProcedureCode);
    let revenue = m.get(row, Field::RevenueCode);
    let mut code = match (procedure, revenue) {
        (Cell::Code { system, code }, _) | (Cell::Empty, Cell::Code { system, code }) => super::coding(system, code),
        _ => return Err((Some(Field::ProcedureCode), "no charge code: procedure and revenue code are both empty")),
    };
    if let Some(d) = m.text(row, Field::Description) {
        // The export's own description of the charge: the code's text (a coding's display belongs to its system).
        code["text"] = d.into();
    }
    let mrn = m.text(row, Field::PatientMrn).ok_or((Some(Field::PatientMrn), "no MRN: the charge has no patient"))?;
    let mut o = Map::with_capacity(16);
    o.insert("resourceType".into(), "ChargeItem".into());
    o.insert("id".into(), m.id("ChargeItem", ctx, key).into());
    put(&mut o, "extension", extensions(m, row));
    if let Some(id) = m.text(row, Field::ChargeId) {
        o.insert("identifier".into(), Value::Array(vec![system_value(m.system("charge"), id)]));
    }
    o.insert("status".into(), "billable".into());
    o.insert("code".into(), code);
    o.insert("subject".into(), conditional_ref("Patient", m.system("patient"), mrn));
    if let Some(v) = m.text(row, Field::VisitNumber) {
        o.insert("context".into(), conditional_ref("Encounter", m.system("encounter"), v));
    }
    if let Some(d) = m.text(row, Field::ServiceDate) {
        o.insert("occurrenceDateTime".into(), d.into());
    }
    if let Some(npi) = m.text(row, Field::PerformerNpi) {
        o.insert("performer".into(), Value::Array(vec![obj([("actor", identifier_ref("Practitioner", NPI, npi))])]));
    }
    if let Some(q) = m.get(row, Field::Units).num() {
        o.insert("quantity".into(), obj([("value", q.to_json())]));
    }
    if let Some(a) = m.get(row, Field::Amount).num() {
        o.insert("priceOverride".into(), m.money(a));
    }
    if let Some(a) = m.text(row, Field::AccountNumber) {
        o.insert("account".into(), Value::Array(vec![conditional_ref("Account", m.system("account"), a)]));
    }
    if let Some(p) = m.text(row, Field::Payer) {
        let mut coverage = identifier_ref("Coverage", m.system("payer"), p);
        coverage["display"] = format!("coverage by payer {p}").into();
        o.insert("supportingInformation".into(), Value::Array(vec![coverage]));
    }
    Ok(Value::Object(o))
}

/// Unit price, modifiers and (when the procedure code is the charge code) the revenue code.
fn extensions(m: &Mapper, row: &Row) -> Value {
    let mut ext = Vec::new();
    if let Some(p) = m.get(row, Field::UnitPrice).num() {
        ext.push(obj([("url", EXT_UNIT_PRICE.into()), ("valueMoney", m.money(p))]));
    }
    for (_, c) in m.all(row, Field::Modifier) {
        if let Cell::Code { system, code } = c {
            ext.push(obj([("url", EXT_MODIFIER.into()), ("valueCoding", system_code(system, code))]));
        }
    }
    if let (false, Cell::Code { system, code }) =
        (m.get(row, Field::ProcedureCode).is_empty(), m.get(row, Field::RevenueCode))
    {
        ext.push(obj([("url", EXT_REVENUE_CODE.into()), ("valueCoding", system_code(system, code))]));
    }
    Value::Array(ext)
}
