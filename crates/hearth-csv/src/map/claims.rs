//! Claim lines (Tuva medical_claim layout) to Claim, and ExplanationOfBenefit when paid amounts are present.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::{Cell, Mapped, Mapper, NPI, Row, coding, conditional_ref, identifier_ref, put, row_error};
use crate::ConvertContext;
use crate::profile::Field;
use crate::value::Decimal;

const CLAIM_TYPE: &str = "http://terminology.hl7.org/CodeSystem/claim-type";
const PRIORITY: &str = "http://terminology.hl7.org/CodeSystem/processpriority";
const ADJUDICATION: &str = "http://terminology.hl7.org/CodeSystem/adjudication";
/// CARIN BB's supporting-information categories (`drg`, `typeofbill`).
const C4BB_SUPPORTING_INFO: &str = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBSupportingInfoType";
const TYPE_OF_BILL: &str = "https://www.nubc.org/CodeSystem/TypeOfBill";
const PLACE_OF_SERVICE: &str = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set";
const ICD10CM: &str = "http://hl7.org/fhir/sid/icd-10-cm";
/// Claim.item.productOrService is required: lines without HCPCS say so with a data-absent code, as CARIN BB does.
const DATA_ABSENT: &str = "http://terminology.hl7.org/CodeSystem/data-absent-reason";

/// One accepted claim line.
struct Line<'a> {
    sequence: i64,
    row: &'a Row,
}

pub(super) fn map(m: &Mapper, rows: &[(u64, Row)], ctx: &ConvertContext, key: &str) -> Mapped {
    let mut rejected = Vec::new();
    let mut lines = Vec::with_capacity(rows.len());
    let mut seen = HashSet::new();
    for (i, (line, row)) in rows.iter().enumerate() {
        let sequence = m.get(row, Field::ClaimLineNumber).num().and_then(Decimal::to_i64).unwrap_or(i as i64 + 1);
        if sequence < 1 {
            rejected.push(row_error(m, *line, Some(Field::ClaimLineNumber), "claim line number must be 1 or more"));
        } else if !seen.insert(sequence) {
            rejected.push(row_error(m, *line, Some(Field::ClaimLineNumber), "claim line number repeated in the claim"));
        } else {
            lines.push(Line { sequence, row });
        }
    }
    let Some(first) = lines.first() else { return Mapped { bundle: None, rejected } };
    let claim_id = m.id("Claim", ctx, key);
    let mut resources = vec![claim(m, first.row, &lines, ctx, &claim_id)];
    if lines.iter().any(|l| !m.get(l.row, Field::PaidAmount).is_empty()) {
        resources.push(eob(m, first.row, &lines, ctx, key, &claim_id));
    }
    Mapped { bundle: Some(m.bundle(resources)), rejected }
}

/// Elements Claim and ExplanationOfBenefit share, from the claim's first line (claim-level columns repeat on
/// every line in the Tuva layout).
fn common(
    m: &Mapper,
    head: &Row,
    lines: &[Line],
    ctx: &ConvertContext,
    resource_type: &str,
    id: &str,
) -> Map<String, Value> {
    let mut o = Map::with_capacity(24);
    o.insert("resourceType".into(), resource_type.into());
    o.insert("id".into(), id.into());
    if let Some(c) = m.text(head, Field::ClaimId) {
        o.insert("identifier".into(), json!([{"system": m.system("claim"), "value": c}]));
    }
    o.insert("status".into(), "active".into());
    let claim_type = m.text(head, Field::ClaimType).unwrap_or("institutional");
    o.insert("type".into(), coding(CLAIM_TYPE, claim_type));
    o.insert("use".into(), "claim".into());
    let patient = m.text(head, Field::PatientId).unwrap_or_default();
    o.insert("patient".into(), conditional_ref("Patient", m.system("patient"), patient));
    let (start, end) = (m.text(head, Field::ClaimStartDate), m.text(head, Field::ClaimEndDate));
    let mut period = Map::new();
    if let Some(s) = start {
        period.insert("start".into(), s.into());
    }
    if let Some(e) = end {
        period.insert("end".into(), e.into());
    }
    if !period.is_empty() {
        o.insert("billablePeriod".into(), Value::Object(period));
    }
    let created = end.or(start).map_or_else(|| ctx.now.date().to_string(), str::to_owned);
    o.insert("created".into(), created.into());
    o.insert("provider".into(), provider(m, head));
    put(&mut o, "supportingInfo", supporting_info(m, head));
    put(&mut o, "diagnosis", diagnoses(m, lines));
    put(&mut o, "procedure", procedures(m, lines));
    o
}

fn claim(m: &Mapper, head: &Row, lines: &[Line], ctx: &ConvertContext, id: &str) -> Value {
    let mut o = common(m, head, lines, ctx, "Claim", id);
    o.insert("priority".into(), coding(PRIORITY, "normal"));
    o.insert("insurance".into(), json!([{"sequence": 1, "focal": true, "coverage": coverage(m, head)}]));
    let items: Vec<Value> = lines.iter().map(|l| Value::Object(item(m, l))).collect();
    o.insert("item".into(), Value::Array(items));
    if let Some(total) = sum(m, lines, Field::ChargeAmount) {
        o.insert("total".into(), m.money(total));
    }
    Value::Object(o)
}

fn eob(m: &Mapper, head: &Row, lines: &[Line], ctx: &ConvertContext, key: &str, claim_id: &str) -> Value {
    let id = m.id("ExplanationOfBenefit", ctx, key);
    let mut o = common(m, head, lines, ctx, "ExplanationOfBenefit", &id);
    o.insert("insurer".into(), json!({"display": "payer not named in the claims file"}));
    o.insert("claim".into(), json!({"reference": format!("Claim/{claim_id}")}));
    o.insert("outcome".into(), "complete".into());
    o.insert("insurance".into(), json!([{"focal": true, "coverage": coverage(m, head)}]));
    let items: Vec<Value> = lines
        .iter()
        .map(|l| {
            let mut it = item(m, l);
            put(&mut it, "adjudication", adjudication(m, l.row));
            Value::Object(it)
        })
        .collect();
    o.insert("item".into(), Value::Array(items));
    let mut total = Vec::new();
    for (field, category) in
        [(Field::ChargeAmount, "submitted"), (Field::AllowedAmount, "eligible"), (Field::PaidAmount, "benefit")]
    {
        if let Some(s) = sum(m, lines, field) {
            total.push(json!({"category": coding(ADJUDICATION, category), "amount": m.money(s)}));
        }
    }
    put(&mut o, "total", Value::Array(total));
    if let Some(paid) = sum(m, lines, Field::PaidAmount) {
        let mut payment = json!({"amount": m.money(paid)});
        if let Some(d) = lines.iter().find_map(|l| m.text(l.row, Field::PaidDate)) {
            payment["date"] = d.into();
        }
        o.insert("payment".into(), payment);
    }
    Value::Object(o)
}

fn provider(m: &Mapper, head: &Row) -> Value {
    if let Some(npi) = m.text(head, Field::BillingNpi).or_else(|| m.text(head, Field::FacilityNpi)) {
        return identifier_ref("Organization", NPI, npi);
    }
    if let Some(npi) = m.text(head, Field::RenderingNpi) {
        return identifier_ref("Practitioner", NPI, npi);
    }
    json!({"display": "provider not named in the claims file"})
}

fn coverage(m: &Mapper, head: &Row) -> Value {
    match m.text(head, Field::MemberId) {
        Some(member) => identifier_ref("Coverage", m.system("member"), member),
        None => json!({"display": "coverage not named in the claims file"}),
    }
}

fn item(m: &Mapper, l: &Line) -> Map<String, Value> {
    let row = l.row;
    let mut it = Map::with_capacity(10);
    it.insert("sequence".into(), l.sequence.into());
    if let Cell::Code { system, code } = m.get(row, Field::RevenueCode) {
        it.insert("revenue".into(), coding(system, code));
    }
    let product = match m.get(row, Field::ProcedureCode) {
        Cell::Code { system, code } => coding(system, code),
        _ => coding(DATA_ABSENT, "not-applicable"),
    };
    it.insert("productOrService".into(), product);
    let modifiers: Vec<Value> = m
        .all(row, Field::Modifier)
        .filter_map(|(_, c)| match c {
            Cell::Code { system, code } => Some(coding(system, code)),
            _ => None,
        })
        .collect();
    put(&mut it, "modifier", Value::Array(modifiers));
    match (m.text(row, Field::LineStartDate), m.text(row, Field::LineEndDate)) {
        (Some(s), Some(e)) if s != e => {
            it.insert("servicedPeriod".into(), json!({"start": s, "end": e}));
        }
        (Some(d), _) | (None, Some(d)) => {
            it.insert("servicedDate".into(), d.into());
        }
        (None, None) => {}
    }
    if let Some(pos) = m.text(row, Field::PlaceOfService) {
        it.insert("locationCodeableConcept".into(), coding(PLACE_OF_SERVICE, pos));
    }
    if let Some(q) = m.get(row, Field::Units).num() {
        it.insert("quantity".into(), json!({"value": q.to_json()}));
    }
    if let Some(c) = m.get(row, Field::ChargeAmount).num() {
        it.insert("net".into(), m.money(c));
    }
    it
}

fn adjudication(m: &Mapper, row: &Row) -> Value {
    let mut out = Vec::new();
    for (field, category) in
        [(Field::ChargeAmount, "submitted"), (Field::AllowedAmount, "eligible"), (Field::PaidAmount, "benefit")]
    {
        if let Some(a) = m.get(row, field).num() {
            out.push(json!({"category": coding(ADJUDICATION, category), "amount": m.money(a)}));
        }
    }
    Value::Array(out)
}

fn sum(m: &Mapper, lines: &[Line], field: Field) -> Option<Decimal> {
    let mut total: Option<Decimal> = None;
    for l in lines {
        if let Some(a) = m.get(l.row, field).num() {
            total = Some(total.unwrap_or(Decimal::ZERO).checked_add(a)?);
        }
    }
    total
}

/// Diagnoses of all lines, each code once, in order of appearance.
fn diagnoses(m: &Mapper, lines: &[Line]) -> Value {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for l in lines {
        for (_, c) in m.all(l.row, Field::Diagnosis) {
            if let Cell::Code { system, code } = c {
                let code = if system == ICD10CM { icd10cm_dotted(code) } else { code.clone() };
                if seen.insert(code.clone()) {
                    let seq = out.len() + 1;
                    out.push(json!({"sequence": seq, "diagnosisCodeableConcept": coding(system, &code)}));
                }
            }
        }
    }
    Value::Array(out)
}

/// ICD procedures of all lines, each (code, date) once, with the same-numbered procedure date.
fn procedures(m: &Mapper, lines: &[Line]) -> Value {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for l in lines {
        let dates: Vec<(u32, &Cell)> = m.all(l.row, Field::IcdProcedureDate).collect();
        for (n, c) in m.all(l.row, Field::IcdProcedure) {
            if let Cell::Code { system, code } = c {
                let date = dates.iter().find(|(dn, _)| *dn == n).and_then(|(_, d)| d.text());
                if seen.insert((code.clone(), date.map(str::to_owned))) {
                    let mut p = json!({"sequence": out.len() + 1, "procedureCodeableConcept": coding(system, code)});
                    if let Some(d) = date {
                        p["date"] = d.into();
                    }
                    out.push(p);
                }
            }
        }
    }
    Value::Array(out)
}

fn supporting_info(m: &Mapper, head: &Row) -> Value {
    let mut out = Vec::new();
    if let Cell::Code { system, code } = m.get(head, Field::Drg) {
        out.push(json!({"sequence": out.len() + 1, "category": coding(C4BB_SUPPORTING_INFO, "drg"), "code": coding(system, code)}));
    }
    if let Some(tob) = m.text(head, Field::BillType) {
        out.push(json!({"sequence": out.len() + 1, "category": coding(C4BB_SUPPORTING_INFO, "typeofbill"), "code": coding(TYPE_OF_BILL, tob)}));
    }
    Value::Array(out)
}

/// ICD-10-CM codes are written with a dot after the category (`Z98.61`); exports often drop it.
fn icd10cm_dotted(code: &str) -> String {
    if code.len() > 3 && !code.contains('.') && code.is_ascii() {
        format!("{}.{}", &code[..3], &code[3..])
    } else {
        code.to_owned()
    }
}
