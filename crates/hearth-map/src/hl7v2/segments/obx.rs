//! OBX → Observation (IG `OBX[Observation]`, `OBX[Observation-Component]` when OBX-5 repeats).
//!
//! value[x] follows OBX-2: NM → valueQuantity (UCUM system when OBX-6 names UCUM), ST/TX/FT → valueString,
//! CWE/CE/CNE/CF/IS → valueCodeableConcept, SN → valueQuantity (with comparator) / valueRange / valueRatio /
//! valueString, DT/DTM/TS → valueDateTime, TM → valueTime, DR → valuePeriod, NR → valueRange, VR → valueString,
//! ED/RP → the R5 `valueAttachment` extension. A value that breaks its type is skipped with a warning and OBX-5
//! stays listed as unmapped.

use hearth_fhir::ids::deterministic_id;
use hearth_hl7v2::Repetition;
use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, push, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{
    codeable_concept, coding_system, decimal, identifier_ei, mapped_concept, organization, practitioner, v2_table,
};
use crate::hl7v2::tracker::{Seg, comp, sub};
use crate::report::WarningKind;

/// The alternate-codes extension: the v2 code kept next to a FHIR code that had to be approximated.
pub const ALTERNATE_CODES: &str = "http://hl7.org/fhir/StructureDefinition/alternate-codes";
/// The R5 `Observation.value[x]` Attachment choice (IG `OBX[Observation]`, ED and RP).
const VALUE_ATTACHMENT: &str = "https://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.valueAttachment";
const UCUM: &str = "http://unitsofmeasure.org";

/// Maps an OBX to an Observation about the patient in scope (subject, encounter, specimen, basedOn the order)
/// and sets `scope.observation`. The structure links it further (DiagnosticReport.result,
/// ServiceRequest.supportingInfo). `None` (with a warning) when OBX-3 is empty: an Observation needs a code.
pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    let Some(code) = seg.rep(3).and_then(|r| codeable_concept(ctx, &r, None)) else {
        ctx.warn(seg.at(3), WarningKind::InvalidValue, "OBX without an observation identifier: not mapped");
        ctx.scope.observation = None;
        return None;
    };
    seg.mark(1);
    let mut o = Obj::new();
    status(ctx, &seg, &mut o);
    o.insert("code".into(), code.clone());
    if let Some(p) = &ctx.scope.patient {
        o.insert("subject".into(), p.reference());
    }
    if let Some(e) = &ctx.scope.encounter {
        o.insert("encounter".into(), e.reference());
    }
    if let Some(order) = &ctx.scope.order {
        push(&mut o, "basedOn", Some(order.reference()));
    }
    if let Some(imm) = ctx.scope.get_other("immunization") {
        push(&mut o, "partOf", Some(imm.reference()));
    }
    if let Some(s) = &ctx.scope.specimen {
        o.insert("specimen".into(), s.reference());
    }
    put(&mut o, "effectiveDateTime", ctx.datetime(&seg, 14));
    value(ctx, &seg, &code, &mut o);
    reference_range(ctx, &seg, &mut o);
    for rep in seg.reps(8) {
        push(&mut o, "interpretation", mapped_concept(ctx, &rep, "InterpretationCodes", Some("0078"), seg.at(8)));
    }
    if let Some(rep) = seg.rep(10) {
        let cc = mapped_concept(ctx, &rep, "NatureOfAbnormalTesting", Some("0080"), seg.at(10));
        if let Some(cc) = cc {
            push(
                &mut o,
                "extension",
                Some(
                    json!({ "url": "http://hl7.org/fhir/StructureDefinition/observation-nature-of-abnormal-test", "valueCodeableConcept": cc }),
                ),
            );
        }
    }
    performers(ctx, &seg, &mut o);
    put(&mut o, "method", seg.rep(17).and_then(|r| codeable_concept(ctx, &r, None)));
    if let Some(i) = seg.rep(18).and_then(|r| identifier_ei(ctx, &r)) {
        o.insert("device".into(), json!({ "identifier": i }));
    }
    if let Some(dt) = ctx.datetime(&seg, 19) {
        push(
            &mut o,
            "extension",
            Some(
                json!({ "url": "http://hl7.org/fhir/StructureDefinition/observation-analysis-date-time", "valueDateTime": dt }),
            ),
        );
    }
    put(&mut o, "bodySite", seg.rep(20).and_then(|r| codeable_concept(ctx, &r, None)));
    let own_id = seg.rep(21).and_then(|r| identifier_ei(ctx, &r));
    if let Some(Value::Object(mut i)) = own_id.clone() {
        i.insert("type".into(), json!({ "coding": [{ "system": v2_table("0203"), "code": "FILL" }] }));
        push(&mut o, "identifier", Some(Value::Object(i)));
    }
    let id = observation_id(ctx, &seg, &code, own_id.as_ref());
    let rf = ctx.add("Observation", id, o, None);
    ctx.scope.observation = Some(rf.clone());
    Some(rf)
}

/// A stable id: the filler's instance identifier (OBX-21) when sent, else the parent (report, order,
/// immunization), the code, the sub-id (OBX-4) and the OBX's rank among its parent's OBX of that code and
/// sub-id, so that a corrected result for the same order updates the same Observation. Never the set id
/// (OBX-1): senders repeat it, and two results with the same set id and code are still two results.
fn observation_id(ctx: &mut Ctx<'_>, seg: &Seg<'_>, code: &Value, own: Option<&Value>) -> String {
    if let Some(i) = own {
        let system = i.get("system").and_then(Value::as_str).unwrap_or_default();
        let value = i.get("value").and_then(Value::as_str).unwrap_or_default();
        return deterministic_id("Observation", &["OBX-21", system, value]);
    }
    let parent = ctx
        .scope
        .report
        .as_ref()
        .or(ctx.scope.order.as_ref())
        .or(ctx.scope.get_other("immunization"))
        .map(|r| r.id.clone());
    let sub_id = seg.raw().field(4).map(|f| f.raw().trim().to_owned()).unwrap_or_default();
    let code_key = code.to_string();
    match parent {
        Some(p) => {
            let rank = ctx.nth(&["OBX", &p, &code_key, &sub_id]).to_string();
            deterministic_id("Observation", &[&p, &code_key, &sub_id, &rank])
        }
        None => {
            let occ = seg.occurrence().to_string();
            ctx.natural_id("Observation", &["OBX", &occ])
        }
    }
}

/// OBX-11 → status (IG `ObservationResultStatusCodesInterpretation`). A code the IG maps to nothing becomes
/// `unknown`, keeping the v2 code in the alternate-codes extension; `N` adds dataAbsentReason `not-asked`.
fn status(ctx: &mut Ctx<'_>, seg: &Seg<'_>, o: &mut Obj) {
    let Some(code) = seg.value(11) else {
        o.insert("status".into(), Value::from("unknown"));
        return;
    };
    let code = code.to_ascii_uppercase();
    let mapped = ctx.concept("ObservationResultStatusCodesInterpretation", &code).map(|c| c.0);
    let fhir = mapped.filter(|c| OBSERVATION_STATUS.contains(&c.as_str()));
    if fhir.is_none() && !ctx.opts.vocabulary.knows_code("ObservationResultStatusCodesInterpretation", &code) {
        ctx.warn(seg.at(11), WarningKind::UnknownCode, "result status not in table 0085: status unknown");
    }
    if fhir.is_none() || code == "X" {
        o.insert("_status".into(), alternate_code("0085", &code));
    }
    o.insert("status".into(), Value::from(fhir.unwrap_or_else(|| "unknown".to_owned())));
    if code == "N" {
        o.insert(
            "dataAbsentReason".into(),
            json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "not-asked" }] }),
        );
    }
}

const OBSERVATION_STATUS: &[&str] =
    &["registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"];

/// `_status` (or any primitive's element) carrying the v2 code in the alternate-codes extension.
pub fn alternate_code(table: &str, code: &str) -> Value {
    json!({ "extension": [{ "url": ALTERNATE_CODES, "valueCodeableConcept": { "coding": [{ "system": v2_table(table), "code": code }] } }] })
}

/// OBX-5 (and OBX-6) → value[x], or components when OBX-5 repeats (IG `OBX[Observation-Component]`).
fn value(ctx: &mut Ctx<'_>, seg: &Seg<'_>, code: &Value, o: &mut Obj) {
    let Some(field) = seg.peek(5) else {
        seg.mark(2);
        return;
    };
    let vt = seg.value(2).map(|v| v.to_ascii_uppercase()).unwrap_or_default();
    let reps: Vec<Repetition<'_>> = field.repetitions().filter(|r| crate::hl7v2::tracker::has_value(r.raw())).collect();
    let text_type = matches!(vt.as_str(), "ST" | "TX" | "FT");
    if text_type {
        let lines: Vec<String> = reps.iter().map(|r| r.unescaped().trim().to_owned()).collect();
        let text = lines.join("\n");
        if !text.trim().is_empty() {
            seg.mark(5);
            o.insert("valueString".into(), Value::from(text.trim().to_owned()));
        }
        return;
    }
    if reps.len() > 1 && vt != "NA" {
        let mut components = Vec::new();
        for rep in &reps {
            if let Some((k, v)) = one_value(ctx, seg, &vt, rep) {
                let mut c = Obj::new();
                c.insert("code".into(), code.clone());
                if k == "extension" {
                    push(&mut c, k, Some(v));
                } else {
                    c.insert(k.into(), v);
                }
                components.push(Value::Object(c));
            }
        }
        if !components.is_empty() {
            seg.mark(5);
            o.insert("component".into(), Value::Array(components));
        }
        return;
    }
    let Some(rep) = reps.first() else { return };
    match one_value(ctx, seg, &vt, rep) {
        Some(("extension", v)) => {
            seg.mark(5);
            push(o, "extension", Some(v));
        }
        Some((k, v)) => {
            seg.mark(5);
            o.insert(k.into(), v);
        }
        None => {}
    }
}

/// One OBX-5 repetition → (element name, value). `None` with a warning when the value cannot be mapped.
fn one_value(ctx: &mut Ctx<'_>, seg: &Seg<'_>, vt: &str, rep: &Repetition<'_>) -> Option<(&'static str, Value)> {
    let at = seg.at(5);
    let out = match vt {
        "NM" => {
            let q = comp(rep, 1).and_then(|v| decimal(&v)).map(|v| quantity(ctx, seg, v, None));
            q.map(|q| ("valueQuantity", q))
        }
        "CWE" | "CE" | "CNE" | "CF" => codeable_concept(ctx, rep, None).map(|c| ("valueCodeableConcept", c)),
        "IS" | "ID" => comp(rep, 1).map(|c| ("valueCodeableConcept", json!({ "coding": [{ "code": c.as_ref() }] }))),
        "SN" => structured_numeric(ctx, seg, rep),
        "DT" | "DTM" | "TS" => comp(rep, 1).and_then(|v| ctx.dtm_datetime(&v, at)).map(|v| ("valueDateTime", v)),
        "TM" => comp(rep, 1).and_then(|v| time_of_day(&v)).map(|v| ("valueTime", Value::from(v))),
        "DR" => {
            let (s, e) = (sub(rep, 1, 1), sub(rep, 2, 1));
            crate::hl7v2::datatypes::period(ctx, s, e, at).map(|p| ("valuePeriod", p))
        }
        "NR" => {
            let low = comp(rep, 1).and_then(|v| decimal(&v)).map(|v| json!({ "value": v }));
            let high = comp(rep, 2).and_then(|v| decimal(&v)).map(|v| json!({ "value": v }));
            range(low, high).map(|r| ("valueRange", r))
        }
        "VR" => {
            let parts: Vec<String> = [1, 2].iter().filter_map(|&n| comp(rep, n)).map(|c| c.into_owned()).collect();
            (!parts.is_empty()).then(|| ("valueString", Value::from(parts.join("-"))))
        }
        "ED" => encapsulated(rep).map(|a| ("extension", json!({ "url": VALUE_ATTACHMENT, "valueAttachment": a }))),
        "RP" => comp(rep, 1)
            .filter(|u| !u.chars().any(char::is_whitespace))
            .map(|u| ("extension", json!({ "url": VALUE_ATTACHMENT, "valueAttachment": { "url": u.as_ref() } }))),
        _ => {
            ctx.warn(at, WarningKind::InvalidValue, format!("value type {vt:?} is not mapped"));
            return None;
        }
    };
    if out.is_none() {
        ctx.warn(at, WarningKind::InvalidValue, format!("value does not fit its type {vt}: skipped"));
    }
    out
}

/// A Quantity with OBX-6 units: `system`/`code` only for UCUM units (OBX-6.3 or OBX-6.6 naming UCUM).
fn quantity(ctx: &Ctx<'_>, seg: &Seg<'_>, value: Value, comparator: Option<&str>) -> Value {
    let mut q = Obj::new();
    q.insert("value".into(), value);
    put(&mut q, "comparator", comparator.map(Value::from));
    if let Some(units) = seg.rep(6) {
        let ucum = [(1, 3), (4, 6)].into_iter().find_map(|(c, s)| {
            let system = comp(&units, s)?;
            (coding_system(ctx, &system) == UCUM).then(|| comp(&units, c)).flatten()
        });
        let unit = comp(&units, 2).or_else(|| comp(&units, 1));
        put(&mut q, "unit", unit.map(|u| Value::from(u.as_ref())));
        if let Some(code) = ucum {
            q.insert("system".into(), Value::from(UCUM));
            q.insert("code".into(), Value::from(code.as_ref()));
        }
    }
    Value::Object(q)
}

/// SN: `<>` or anything unparsable → valueString; `n1-n2` → valueRange; `n1:n2` or `n1/n2` → valueRatio;
/// `[comparator] n1` → valueQuantity.
fn structured_numeric(ctx: &mut Ctx<'_>, seg: &Seg<'_>, rep: &Repetition<'_>) -> Option<(&'static str, Value)> {
    let cmp = comp(rep, 1).map(|c| c.into_owned()).unwrap_or_default();
    let n1 = comp(rep, 2).and_then(|v| decimal(&v));
    let sep = comp(rep, 3).map(|c| c.into_owned()).unwrap_or_default();
    let n2 = comp(rep, 4).and_then(|v| decimal(&v));
    let as_text = || {
        let parts: Vec<String> = [1, 2, 3, 4].iter().filter_map(|&n| comp(rep, n)).map(|c| c.into_owned()).collect();
        let units = seg.rep(6).and_then(|u| comp(&u, 1)).map(|u| u.into_owned());
        let text = parts.into_iter().chain(units).collect::<Vec<_>>().join(" ");
        (!text.is_empty()).then(|| ("valueString", Value::from(text)))
    };
    let comparator = match cmp.as_str() {
        "" | "=" => None,
        "<" | ">" | "<=" | ">=" => Some(cmp.as_str()),
        _ => return as_text(),
    };
    match (n1, sep.as_str(), n2) {
        (Some(a), "-", Some(b)) if comparator.is_none() => {
            let low = quantity(ctx, seg, a, None);
            let high = quantity(ctx, seg, b, None);
            Some(("valueRange", json!({ "low": low, "high": high })))
        }
        (Some(a), ":" | "/", Some(b)) if comparator.is_none() => {
            let num = quantity(ctx, seg, a, None);
            Some(("valueRatio", json!({ "numerator": num, "denominator": { "value": b } })))
        }
        (Some(a), "", None) => Some(("valueQuantity", quantity(ctx, seg, a, comparator))),
        _ => as_text(),
    }
}

fn range(low: Option<Value>, high: Option<Value>) -> Option<Value> {
    let mut r = Obj::new();
    put(&mut r, "low", low);
    put(&mut r, "high", high);
    (!r.is_empty()).then_some(Value::Object(r))
}

/// TM `HH[MM[SS[.S]]][+ZZZZ]` → FHIR time `HH:MM:SS` (the offset is dropped: FHIR time has none).
pub fn time_of_day(v: &str) -> Option<String> {
    let v = v.split(['+', '-']).next()?.trim();
    let (main, frac) = v.split_once('.').unwrap_or((v, ""));
    if !main.bytes().all(|b| b.is_ascii_digit()) || !matches!(main.len(), 2 | 4 | 6) {
        return None;
    }
    let num = |i: usize| main.get(i..i + 2).and_then(|s| s.parse::<u8>().ok());
    let h = num(0)?;
    let m = if main.len() >= 4 { num(2)? } else { 0 };
    let s = if main.len() == 6 { num(4)? } else { 0 };
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    let frac =
        if !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit()) { format!(".{frac}") } else { String::new() };
    Some(format!("{h:02}:{m:02}:{s:02}{frac}"))
}

/// ED → Attachment: contentType from ED-2/ED-3 (`application` + `pdf`), data ED-5 when ED-4 says Base64 and the
/// data is valid base64.
pub fn encapsulated(rep: &Repetition<'_>) -> Option<Value> {
    let mut a = Obj::new();
    let content_type = match (comp(rep, 2), comp(rep, 3)) {
        (_, Some(s)) if s.contains('/') => Some(s.to_ascii_lowercase()),
        (Some(t), None) if t.contains('/') => Some(t.to_ascii_lowercase()),
        (Some(t), Some(s)) => media_type(&t).map(|t| format!("{t}/{}", s.to_ascii_lowercase())),
        _ => None,
    };
    let valid = |c: &String| c.split_once('/').is_some_and(|(_, s)| !s.is_empty()) && !c.contains(char::is_whitespace);
    put(&mut a, "contentType", content_type.filter(valid).map(Value::from));
    let encoding = comp(rep, 4).map(|e| e.to_ascii_uppercase());
    let data = rep.component(5).map(|c| c.raw().trim().to_owned()).filter(|d| !d.is_empty());
    match (encoding.as_deref(), data) {
        (Some("BASE64"), Some(d)) if is_base64(&d) => {
            a.insert("data".into(), Value::from(d));
        }
        (_, Some(_)) => return None,
        _ => {}
    }
    (!a.is_empty()).then_some(Value::Object(a))
}

/// ED-2 type of data (table 0191, or a MIME top-level type as sent) → MIME top-level type.
fn media_type(t: &str) -> Option<&'static str> {
    match t.to_ascii_uppercase().as_str() {
        "AP" | "APPLICATION" => Some("application"),
        "IM" | "IMAGE" => Some("image"),
        "AU" | "AUDIO" => Some("audio"),
        "TEXT" | "TX" => Some("text"),
        "VIDEO" => Some("video"),
        "MULTIPART" => Some("multipart"),
        _ => None,
    }
}

/// Valid base64 text (whitespace ignored, padding only at the end).
pub fn is_base64(s: &str) -> bool {
    let clean: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if clean.is_empty() || !clean.len().is_multiple_of(4) {
        return false;
    }
    let body = clean.iter().position(|&b| b == b'=').unwrap_or(clean.len());
    clean.get(..body).is_some_and(|b| b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/')))
        && clean.get(body..).is_some_and(|p| p.len() <= 2 && p.iter().all(|&c| c == b'='))
}

/// OBX-7 → referenceRange: the text always; `low-high`, `<x`, `>x` also as quantities in OBX-6 units.
fn reference_range(ctx: &mut Ctx<'_>, seg: &Seg<'_>, o: &mut Obj) {
    let Some(text) = seg.text(7) else { return };
    let units = seg.peek(6).and_then(|f| f.repetition(1));
    let qty = |v: &str| -> Option<Value> {
        let mut q = Obj::new();
        q.insert("value".into(), decimal(v)?);
        if let Some(u) = &units
            && let Some(code) = comp(u, 1)
        {
            q.insert("unit".into(), Value::from(comp(u, 2).unwrap_or(code.clone()).as_ref()));
            if comp(u, 3).is_some_and(|s| coding_system(ctx, &s) == UCUM) {
                q.insert("system".into(), Value::from(UCUM));
                q.insert("code".into(), Value::from(code.as_ref()));
            }
        }
        Some(Value::Object(q))
    };
    let mut r = Obj::new();
    let t = text.trim();
    if let Some(v) = t.strip_prefix("<=").or_else(|| t.strip_prefix('<')) {
        put(&mut r, "high", qty(v.trim()));
    } else if let Some(v) = t.strip_prefix(">=").or_else(|| t.strip_prefix('>')) {
        put(&mut r, "low", qty(v.trim()));
    } else if let Some((a, b)) = split_range(t)
        && let (Some(l), Some(h)) = (qty(a), qty(b))
    {
        r.insert("low".into(), l);
        r.insert("high".into(), h);
    }
    r.insert("text".into(), Value::from(text.clone()));
    push(o, "referenceRange", Some(Value::Object(r)));
}

/// `a-b` with a possibly negative `a`.
fn split_range(t: &str) -> Option<(&str, &str)> {
    let start = usize::from(t.starts_with('-'));
    let i = t.get(start..)?.find('-')? + start;
    Some((t.get(..i)?.trim(), t.get(i + 1..)?.trim()))
}

/// OBX-16 responsible observer (Practitioner), OBX-23 performing organization.
fn performers(ctx: &mut Ctx<'_>, seg: &Seg<'_>, o: &mut Obj) {
    for rep in seg.reps(16) {
        if let Some(p) = practitioner(ctx, &rep, seg.at(16)) {
            push(o, "performer", Some(p.reference()));
        }
    }
    for rep in seg.reps(23) {
        if let Some(org) = organization(ctx, &rep, seg.at(23)) {
            push(o, "performer", Some(org.reference()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_base64() {
        assert_eq!(time_of_day("1130").as_deref(), Some("11:30:00"));
        assert_eq!(time_of_day("113005.25+0100").as_deref(), Some("11:30:05.25"));
        assert_eq!(time_of_day("2530"), None);
        assert_eq!(time_of_day("11:30"), None);
        assert!(is_base64("SGVsbG8="));
        assert!(!is_base64("SGVsbG8"));
        assert!(!is_base64("SGV=bG8="));
        assert_eq!(split_range("-5-10"), Some(("-5", "10")));
        assert_eq!(split_range("3.5 - 7"), Some(("3.5", "7")));
    }
}
