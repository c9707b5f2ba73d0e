//! The IG's datatype maps (`mappings/datatypes/*.csv` of the v2-to-FHIR IG): one function per (v2 type, FHIR
//! type). Each takes one repetition, where it sits (for warnings), and the context (vocabulary, options, the
//! bundle for datatypes that become resources: XCN → Practitioner, XON → Organization, PL → Location).
//!
//! Identifier systems (CX-4, EI-2..4, XCN-9, HD): an OID (`HD-2` with `HD-3 = ISO`, or any dotted number) →
//! `urn:oid:…`; a URI (`HD-3 = URI`/`DNS`-style `scheme:…`) as is; a namespace id alone → the system configured in
//! [`MapOptions::namespace_systems`](super::MapOptions::namespace_systems), else
//! `{namespace_system_base}{namespace}` (default `urn:hearth:v2:NAMESPACE`).

use std::borrow::Cow;

use hearth_fhir::ids::deterministic_id;
use hearth_hl7v2::Repetition;
use serde_json::{Value, json};

use super::bundle::{Obj, Ref, pct, push, put};
use super::context::Ctx;
use super::tracker::{At, comp, sub};
use crate::report::WarningKind;

mod person;
mod resources;

pub use person::{address, contact_point, human_name};
pub use resources::{add_organization, location, organization, organization_hd, practitioner};

/// HL7 table code systems: `http://terminology.hl7.org/CodeSystem/v2-NNNN`.
pub fn v2_table(table: &str) -> String {
    format!("http://terminology.hl7.org/CodeSystem/v2-{table}")
}

fn is_oid(s: &str) -> bool {
    s.contains('.') && s.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_uri(s: &str) -> bool {
    s.split_once(':').is_some_and(|(scheme, rest)| {
        !rest.is_empty()
            && !scheme.is_empty()
            && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
            && !s.contains(char::is_whitespace)
    })
}

/// A system URI for a namespace id (see the module docs).
pub fn namespace_system(ctx: &Ctx<'_>, ns: &str) -> String {
    if let Some(s) = ctx.opts.namespace_systems.get(ns) {
        return s.clone();
    }
    if is_oid(ns) {
        return format!("urn:oid:{ns}");
    }
    if is_uri(ns) {
        return ns.to_owned();
    }
    format!("{}{}", ctx.opts.namespace_system_base, pct(ns))
}

/// An HD (namespace id, universal id, universal id type) → a system URI.
pub fn hd_system(ctx: &Ctx<'_>, ns: Option<&str>, uid: Option<&str>, uid_type: Option<&str>) -> Option<String> {
    if let Some(uid) = uid {
        if is_oid(uid) || uid_type.is_some_and(|t| t.eq_ignore_ascii_case("ISO")) && is_oid(uid) {
            return Some(format!("urn:oid:{uid}"));
        }
        if is_uri(uid) {
            return Some(uid.to_owned());
        }
        if uid_type.is_some_and(|t| t.eq_ignore_ascii_case("UUID")) {
            return Some(format!("urn:uuid:{}", uid.to_ascii_lowercase()));
        }
    }
    if let Some(ns) = ns {
        return Some(namespace_system(ctx, ns));
    }
    uid.map(|u| namespace_system(ctx, u))
}

/// The HD in component `n` of a repetition (subcomponents 1..3) → a system.
fn hd_in_component(ctx: &Ctx<'_>, rep: &Repetition<'_>, n: usize) -> Option<String> {
    let ns = sub(rep, n, 1);
    let uid = sub(rep, n, 2);
    let ty = sub(rep, n, 3);
    hd_system(ctx, ns.as_deref(), uid.as_deref(), ty.as_deref())
}

/// The system of a CX (its assigning authority, CX-4).
pub fn cx_system(ctx: &Ctx<'_>, rep: &Repetition<'_>) -> Option<String> {
    hd_in_component(ctx, rep, 4)
}

/// A coding system named in CWE-3 (table 0396 or an OID/URI) → a system URI.
pub fn coding_system(ctx: &Ctx<'_>, name: &str) -> String {
    let upper = name.to_ascii_uppercase();
    if let Some(t) = upper.strip_prefix("HL7").filter(|t| t.len() == 4 && t.bytes().all(|b| b.is_ascii_digit())) {
        return v2_table(t);
    }
    let known = match upper.as_str() {
        "LN" | "LOINC" => "http://loinc.org",
        "SCT" | "SNM" | "SNOMED" | "SNOMEDCT" | "SNM3" => "http://snomed.info/sct",
        "I10" | "I10C" | "ICD10CM" => "http://hl7.org/fhir/sid/icd-10-cm",
        "I10P" => "http://www.cms.gov/Medicare/Coding/ICD10",
        "ICD10" => "http://hl7.org/fhir/sid/icd-10",
        "I9" | "I9C" | "I9CDX" | "ICD9" => "http://hl7.org/fhir/sid/icd-9-cm",
        "C4" | "C5" | "CPT" | "CPT4" => "http://www.ama-assn.org/go/cpt",
        "CVX" => "http://hl7.org/fhir/sid/cvx",
        "MVX" => "http://terminology.hl7.org/CodeSystem/MVX",
        "NDC" => "http://hl7.org/fhir/sid/ndc",
        "RXNORM" | "RXN" => "http://www.nlm.nih.gov/research/umls/rxnorm",
        "UCUM" | "ANS+" => "http://unitsofmeasure.org",
        "NUCCPID" | "NUCC" => "http://nucc.org/provider-taxonomy",
        "HCPCS" | "HCPT" => "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
        "ISO3166_1" | "ISO3166" => "urn:iso:std:iso:3166",
        "ISO639" | "ISO+" => "urn:ietf:bcp:47",
        "CDCREC" => "urn:oid:2.16.840.1.113883.6.238",
        "NCIT" => "http://ncimeta.nci.nih.gov",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    namespace_system(ctx, name)
}

/// CWE/CE/CNE (one triplet: code, text, system at `c`, `c+1`, `c+2`) → Coding.
fn coding_at(ctx: &Ctx<'_>, rep: &Repetition<'_>, c: usize, table: Option<&str>) -> Option<Value> {
    let code = comp(rep, c);
    let display = comp(rep, c + 1);
    let system = comp(rep, c + 2);
    let code = code?;
    let mut o = Obj::new();
    let system = match system {
        Some(s) => Some(coding_system(ctx, &s)),
        None => table.map(v2_table),
    };
    put(&mut o, "system", system.map(Value::from));
    o.insert("code".into(), Value::from(code.as_ref()));
    put(&mut o, "display", display.map(|d| Value::from(d.as_ref())));
    Some(Value::Object(o))
}

/// A coded field read with its description field (DG1-3 with DG1-4, PR1-3 with PR1-4): the description fills
/// `text` when the code carries none, or stands alone as `{ "text": … }` when there is no code.
pub fn concept_with_description(
    ctx: &Ctx<'_>,
    rep: Option<&Repetition<'_>>,
    description: Option<String>,
    table: Option<&str>,
) -> Option<Value> {
    let mut code = rep.and_then(|r| codeable_concept(ctx, r, table));
    if let Some(desc) = description {
        match &mut code {
            Some(Value::Object(c)) => {
                c.entry("text").or_insert(Value::from(desc));
            }
            _ => code = Some(serde_json::json!({ "text": desc })),
        }
    }
    code
}

/// CWE/CE/CNE → CodeableConcept: the primary and alternate codings, text from CWE-9 (original text) or CWE-2
/// when there is no code. `table` is the HL7 table the field uses when CWE-3 is empty (e.g. `"0002"`).
pub fn codeable_concept(ctx: &Ctx<'_>, rep: &Repetition<'_>, table: Option<&str>) -> Option<Value> {
    let mut o = Obj::new();
    let mut codings = Vec::new();
    if let Some(c) = coding_at(ctx, rep, 1, table) {
        codings.push(c);
    }
    if let Some(c) = coding_at(ctx, rep, 4, None) {
        codings.push(c);
    }
    if !codings.is_empty() {
        o.insert("coding".into(), Value::Array(codings));
    }
    let text = comp(rep, 9).or_else(|| if o.is_empty() { comp(rep, 2) } else { None });
    put(&mut o, "text", text.map(|t| Value::from(t.as_ref())));
    (!o.is_empty()).then_some(Value::Object(o))
}

/// A code mapped through an IG concept map: the mapped Coding when the vocabulary knows it, else the source
/// code with the HL7 table system (never an invented target code) and an `UnknownCode` warning.
pub fn mapped_coding(ctx: &mut Ctx<'_>, map: &str, code: &str, table: &str, at: At<'_>) -> Value {
    if let Some((c, display, system)) = ctx.concept(map, code) {
        let mut o = Obj::new();
        put(&mut o, "system", system.map(Value::from));
        o.insert("code".into(), Value::from(c));
        put(&mut o, "display", display.map(Value::from));
        return Value::Object(o);
    }
    ctx.warn(at, WarningKind::UnknownCode, format!("code not in the {map} map: kept with table {table}"));
    json!({ "system": v2_table(table), "code": code })
}

/// A CWE mapped through a concept map into a CodeableConcept (a field whose IG segment map names a vocabulary):
/// the mapped coding first, then the source coding. A CWE with text only (`^Chest pain`) keeps its text. A code
/// the map does not list is carried with its source system, with an `UnknownCode` warning when the IG's map lists
/// v2 codes at all (not for user-defined tables the IG leaves empty).
pub fn mapped_concept(
    ctx: &mut Ctx<'_>,
    rep: &Repetition<'_>,
    map: &str,
    table: Option<&str>,
    at: At<'_>,
) -> Option<Value> {
    let source = codeable_concept(ctx, rep, table);
    let Some(code) = comp(rep, 1) else { return source };
    let mut cc = match source {
        Some(Value::Object(o)) => o,
        _ => Obj::new(),
    };
    if let Some((c, display, system)) = ctx.concept(map, &code) {
        let mut m = Obj::new();
        put(&mut m, "system", system.map(Value::from));
        m.insert("code".into(), Value::from(c));
        put(&mut m, "display", display.map(Value::from));
        let mut codings = vec![Value::Object(m)];
        if let Some(Value::Array(src)) = cc.remove("coding") {
            for s in src {
                if !codings.contains(&s) {
                    codings.push(s);
                }
            }
        }
        cc.insert("coding".into(), Value::Array(codings));
    } else if ctx.opts.vocabulary.lists_codes(map) && !ctx.opts.vocabulary.knows_code(map, &code) {
        ctx.warn(at, WarningKind::UnknownCode, format!("code not in the {map} map: kept with its source system"));
    }
    Some(Value::Object(cc))
}

/// [`mapped_concept`] for a field that repeats: one CodeableConcept per repetition.
pub fn mapped_concepts(
    ctx: &mut Ctx<'_>,
    seg: &super::tracker::Seg<'_>,
    n: usize,
    map: &str,
    table: Option<&str>,
) -> Vec<Value> {
    let reps: Vec<Repetition<'_>> = seg.reps(n).collect();
    reps.iter().filter_map(|r| mapped_concept(ctx, r, map, table, seg.at(n))).collect()
}

/// CX → Identifier (IG `CX[Identifier]`): value CX-1, system from CX-4 (HD), type CX-5 (v2-0203 via the
/// `IdentifierType` map), period CX-7/CX-8, assigner from CX-10 is not emitted (an Organization would need
/// its own identity).
pub fn identifier_cx(ctx: &mut Ctx<'_>, rep: &Repetition<'_>, at: At<'_>) -> Option<Value> {
    let value = comp(rep, 1)?;
    let mut o = Obj::new();
    put(&mut o, "system", hd_in_component(ctx, rep, 4).map(Value::from));
    o.insert("value".into(), Value::from(value.as_ref()));
    if let Some(t) = comp(rep, 5) {
        o.insert("type".into(), identifier_type(ctx, &t, at));
    }
    put(&mut o, "period", period(ctx, comp(rep, 7), comp(rep, 8), at));
    Some(Value::Object(o))
}

/// An identifier type code (table 0203) → CodeableConcept.
pub fn identifier_type(ctx: &mut Ctx<'_>, code: &str, _at: At<'_>) -> Value {
    let coding = match ctx.concept("IdentifierType", code) {
        Some((c, display, system)) => {
            let mut o = Obj::new();
            put(&mut o, "system", Some(Value::from(system.unwrap_or_else(|| v2_table("0203")))));
            o.insert("code".into(), Value::from(c));
            put(&mut o, "display", display.map(Value::from));
            Value::Object(o)
        }
        None => json!({ "system": v2_table("0203"), "code": code }),
    };
    json!({ "coding": [coding] })
}

/// EI → Identifier (IG `EI[Identifier-System]`): value EI-1, system from EI-2..4.
pub fn identifier_ei(ctx: &Ctx<'_>, rep: &Repetition<'_>) -> Option<Value> {
    let value = comp(rep, 1)?;
    let (ns, uid, ty) = (comp(rep, 2), comp(rep, 3), comp(rep, 4));
    let mut o = Obj::new();
    put(&mut o, "system", hd_system(ctx, ns.as_deref(), uid.as_deref(), ty.as_deref()).map(Value::from));
    o.insert("value".into(), Value::from(value.as_ref()));
    Some(Value::Object(o))
}

/// A period from two DTM values (invalid ones skipped with a warning).
pub fn period(ctx: &mut Ctx<'_>, start: Option<Cow<'_, str>>, end: Option<Cow<'_, str>>, at: At<'_>) -> Option<Value> {
    let start = start.and_then(|s| ctx.dtm_datetime(&s, at));
    let end = end.and_then(|e| ctx.dtm_datetime(&e, at));
    checked_period(ctx, start, end, at)
}

/// A Period from FHIR dateTimes. One that ends before it starts is invalid FHIR (per-1): the start is kept and
/// the end reported (`InvalidValue` at `at`), never both written.
pub fn checked_period(ctx: &mut Ctx<'_>, start: Option<Value>, end: Option<Value>, at: At<'_>) -> Option<Value> {
    let backwards = match (start.as_ref().and_then(Value::as_str), end.as_ref().and_then(Value::as_str)) {
        (Some(s), Some(e)) => ends_before(s, e),
        _ => false,
    };
    let end = if backwards {
        ctx.warn(at, WarningKind::InvalidValue, "period ends before it starts: end not set");
        None
    } else {
        end
    };
    let mut o = Obj::new();
    put(&mut o, "start", start);
    put(&mut o, "end", end);
    (!o.is_empty()).then_some(Value::Object(o))
}

/// Whether FHIR dateTime `end` is before `start`: as instants when both have a time, else by the dates at the
/// precision both have (`2024-03` does not end before `2024-03-05`).
pub fn ends_before(start: &str, end: &str) -> bool {
    if let (Ok(s), Ok(e)) = (start.parse::<jiff::Timestamp>(), end.parse::<jiff::Timestamp>()) {
        return e < s;
    }
    let date = |t: &str| t.split('T').next().unwrap_or(t).to_owned();
    let (s, e) = (date(start), date(end));
    let n = s.len().min(e.len());
    e.get(..n) < s.get(..n)
}

/// A code through an IG concept map into a FHIR element with a required binding: the IG's target when it is
/// one of `allowed`; `None` when the IG lists the code without an equivalent; else `fallback(code)` (Hearth's
/// closed table for codes the IG does not list).
pub fn closed_code(
    ctx: &Ctx<'_>,
    map: &str,
    code: &str,
    allowed: &[&'static str],
    fallback: fn(&str) -> Option<&'static str>,
) -> Option<&'static str> {
    if let Some(c) = ctx.opts.vocabulary.lookup(map, code) {
        return allowed.iter().find(|a| **a == c.code).copied();
    }
    if ctx.opts.vocabulary.knows_code(map, code) {
        return None;
    }
    fallback(code)
}
/// NM → decimal: a JSON number when the text is a valid FHIR decimal, else `None`.
pub fn decimal(text: &str) -> Option<Value> {
    let t = text.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    let body = t.strip_prefix('-').unwrap_or(t);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let ok = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(body.contains('.') && frac.is_empty());
    if !ok {
        return None;
    }
    let canonical = if int.len() > 1 && int.starts_with('0') {
        let trimmed = int.trim_start_matches('0');
        let trimmed = if trimmed.is_empty() { "0" } else { trimmed };
        let sign = if t.starts_with('-') { "-" } else { "" };
        if frac.is_empty() { format!("{sign}{trimmed}") } else { format!("{sign}{trimmed}.{frac}") }
    } else {
        t.to_owned()
    };
    serde_json::from_str::<serde_json::Number>(&canonical).ok().map(Value::Number)
}

/// CQ (quantity, units CWE) → Quantity; units as UCUM when CQ-2.3 says so.
pub fn quantity(ctx: &Ctx<'_>, rep: &Repetition<'_>) -> Option<Value> {
    let v = decimal(&comp(rep, 1)?)?;
    let mut o = Obj::new();
    o.insert("value".into(), v);
    if let Some(code) = sub(rep, 2, 1) {
        o.insert("unit".into(), Value::from(sub(rep, 2, 2).unwrap_or_else(|| code.clone()).as_ref()));
        let system = sub(rep, 2, 3).map(|s| coding_system(ctx, &s));
        if let Some(s) = system {
            o.insert("system".into(), Value::from(s));
            o.insert("code".into(), Value::from(code.as_ref()));
        }
    }
    Some(Value::Object(o))
}

/// Y/N (table 0136) → boolean.
pub fn yes_no(v: &str) -> Option<bool> {
    match v {
        "Y" | "y" => Some(true),
        "N" | "n" => Some(false),
        _ => None,
    }
}

/// Adds a reference to `scope` resource into `o[key]` when there is one.
pub fn link(o: &mut Obj, key: &str, r: Option<&Ref>) {
    put(o, key, r.map(Ref::reference));
}

/// Pushes a Reference into an array element.
pub fn link_many(o: &mut Obj, key: &str, r: Option<&Ref>) {
    push(o, key, r.map(Ref::reference));
}

#[cfg(test)]
mod tests;
