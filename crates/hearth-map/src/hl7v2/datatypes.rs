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

const NAME_USES: &[&str] = &["usual", "official", "temp", "nickname", "anonymous", "old", "maiden"];
const ADDRESS_USES: &[&str] = &["home", "work", "temp", "old", "billing"];
const TELECOM_USES: &[&str] = &["home", "work", "temp", "old", "mobile"];

/// Name use (table 0200) → HumanName.use; a closed map so only valid codes come out.
fn name_use(code: &str) -> Option<&'static str> {
    Some(match code {
        "L" | "D" => "official",
        "A" | "S" | "K" | "I" => "usual",
        "N" => "nickname",
        "M" | "B" | "BAD" => "maiden",
        "C" => "old",
        "T" | "P" | "R" | "U" => "temp",
        "NAV" => "anonymous",
        _ => return None,
    })
}

/// XPN → HumanName (IG `XPN[HumanName]`): family XPN-1.1, given XPN-2 and XPN-3, prefix XPN-5, suffix XPN-4 and
/// XPN-6, use XPN-7 (table 0200), period XPN-10 or XPN-12/13.
pub fn human_name(ctx: &mut Ctx<'_>, rep: &Repetition<'_>, at: At<'_>) -> Option<Value> {
    name_parts(ctx, rep, at, NameLayout::XPN)
}

#[derive(Clone, Copy)]
struct NameLayout {
    family: usize,
    given: usize,
    middle: usize,
    suffix: usize,
    prefix: usize,
    degree: usize,
    use_: usize,
}

impl NameLayout {
    const XPN: Self = Self { family: 1, given: 2, middle: 3, suffix: 4, prefix: 5, degree: 6, use_: 7 };
    const XCN: Self = Self { family: 2, given: 3, middle: 4, suffix: 5, prefix: 6, degree: 7, use_: 10 };
}

fn name_parts(ctx: &mut Ctx<'_>, rep: &Repetition<'_>, at: At<'_>, l: NameLayout) -> Option<Value> {
    let mut o = Obj::new();
    if let Some(u) = comp(rep, l.use_)
        && let Some(u) = closed_code(ctx, "NameType", &u, NAME_USES, name_use)
    {
        o.insert("use".into(), Value::from(u));
    }
    put(&mut o, "family", comp(rep, l.family).map(|f| Value::from(f.as_ref())));
    let given: Vec<Value> =
        [l.given, l.middle].iter().filter_map(|&n| comp(rep, n)).map(|g| Value::from(g.as_ref())).collect();
    if !given.is_empty() {
        o.insert("given".into(), Value::Array(given));
    }
    put(&mut o, "prefix", comp(rep, l.prefix).map(|p| json!([p.as_ref()])));
    let suffix: Vec<Value> =
        [l.suffix, l.degree].iter().filter_map(|&n| comp(rep, n)).map(|g| Value::from(g.as_ref())).collect();
    if !suffix.is_empty() {
        o.insert("suffix".into(), Value::Array(suffix));
    }
    if !o.contains_key("family") && !o.contains_key("given") {
        return None;
    }
    if l.use_ == 7 {
        let p = match rep.component(10).map(|c| c.raw()).filter(|r| !r.is_empty()) {
            Some(_) => period(ctx, sub(rep, 10, 1), sub(rep, 10, 2), at),
            None => period(ctx, comp(rep, 12), comp(rep, 13), at),
        };
        put(&mut o, "period", p);
    }
    Some(Value::Object(o))
}

/// Address type (table 0190) → Address.use / Address.type, closed maps.
fn address_use_type(code: &str) -> (Option<&'static str>, Option<&'static str>) {
    match code {
        "H" | "HP" | "P" => (Some("home"), None),
        "B" | "O" => (Some("work"), None),
        "C" | "TMP" => (Some("temp"), None),
        "BA" => (Some("old"), None),
        "M" => (None, Some("postal")),
        "SH" => (None, Some("physical")),
        "V" => (Some("temp"), Some("physical")),
        "BI" | "BR" | "RH" | "BDL" | "F" | "L" | "N" | "PL" | "BLK" => (None, None),
        _ => (None, None),
    }
}

/// XAD → Address (IG `XAD[Address]`): line XAD-1.1 and XAD-2, city XAD-3, state XAD-4, postalCode XAD-5,
/// country XAD-6, use/type XAD-7, district XAD-9, period XAD-12 / XAD-13..14.
pub fn address(ctx: &mut Ctx<'_>, rep: &Repetition<'_>, at: At<'_>) -> Option<Value> {
    let mut o = Obj::new();
    let lines: Vec<Value> =
        [comp(rep, 1), comp(rep, 2), comp(rep, 19)].into_iter().flatten().map(|l| Value::from(l.as_ref())).collect();
    if !lines.is_empty() {
        o.insert("line".into(), Value::Array(lines));
    }
    put(&mut o, "city", comp(rep, 3).map(|v| Value::from(v.as_ref())));
    put(&mut o, "state", comp(rep, 4).map(|v| Value::from(v.as_ref())));
    put(&mut o, "postalCode", comp(rep, 5).map(|v| Value::from(v.as_ref())));
    put(&mut o, "country", comp(rep, 6).map(|v| Value::from(v.as_ref())));
    put(&mut o, "district", comp(rep, 9).map(|v| Value::from(v.as_ref())));
    if o.is_empty() {
        return None;
    }
    if let Some(t) = comp(rep, 7) {
        let (_, ty) = address_use_type(&t);
        let u = closed_code(ctx, "AddressType[Use]", &t, ADDRESS_USES, |c| address_use_type(c).0);
        put(&mut o, "use", u.map(Value::from));
        put(&mut o, "type", ty.map(Value::from));
    }
    let p = match rep.component(12).map(|c| c.raw()).filter(|r| !r.is_empty()) {
        Some(_) => period(ctx, sub(rep, 12, 1), sub(rep, 12, 2), at),
        None => period(ctx, comp(rep, 13), comp(rep, 14), at),
    };
    put(&mut o, "period", p);
    Some(Value::Object(o))
}

/// Telecom use (table 0201) → ContactPoint.use, for codes the IG's map does not list.
fn telecom_use(code: &str) -> Option<&'static str> {
    match code {
        "PRN" | "ORN" | "VHN" => Some("home"),
        "WPN" => Some("work"),
        "PRS" => Some("mobile"),
        _ => None,
    }
}

/// Equipment type (table 0202) → ContactPoint.system, for codes the IG's map does not list.
fn telecom_system(code: &str) -> Option<&'static str> {
    Some(match code {
        "PH" | "CP" => "phone",
        "FX" => "fax",
        "Internet" | "X.400" => "email",
        "BP" => "pager",
        "MD" | "SAT" | "TDD" | "TTY" => "other",
        _ => return None,
    })
}

const CONTACT_SYSTEMS: &[&str] = &["phone", "fax", "email", "pager", "url", "sms", "other"];

/// The IG's ContactPoint extensions for the parts of a telephone number (XTN-5..8).
const XTN_PARTS: [(usize, &str); 4] = [
    (5, "http://hl7.org/fhir/StructureDefinition/contactpoint-country"),
    (6, "http://hl7.org/fhir/StructureDefinition/contactpoint-area"),
    (7, "http://hl7.org/fhir/StructureDefinition/contactpoint-local"),
    (8, "http://hl7.org/fhir/StructureDefinition/contactpoint-extension"),
];

/// A telephone number from its parts (IG `XTN[ContactPoint]`): `+country area local X extension`, spaces
/// between; `None` without a local number.
fn composed_number(rep: &Repetition<'_>) -> Option<String> {
    let local = comp(rep, 7)?;
    let mut parts: Vec<String> = Vec::with_capacity(4);
    if let Some(c) = comp(rep, 5) {
        parts.push(format!("+{}", c.trim_start_matches('+')));
    }
    parts.extend(comp(rep, 6).map(|a| a.into_owned()));
    parts.push(local.into_owned());
    if let Some(x) = comp(rep, 8) {
        parts.push(format!("X{x}"));
    }
    Some(parts.join(" "))
}

/// XTN → ContactPoint (IG `XTN[ContactPoint]`). Value: XTN-4 for an e-mail (XTN-3 `Internet`/`X.400`, or no
/// XTN-3 and an XTN-4); else XTN-12 (unformatted number) when valued, else the number built from XTN-5..8, else
/// XTN-1; the parts XTN-5..8 also go into the IG's contactpoint-country/-area/-local/-extension extensions.
/// System from XTN-3 (`TelecommunicationEquipmentType`; `CP` is a phone whose use is `mobile`); without XTN-3
/// a number is a `phone` (XTN-1 and XTN-5..12 are telephone numbers by definition; FHIR requires a system
/// beside a value). Use from XTN-2 (`TelecommunicationUseCode`; `default_use` when absent, e.g. `work` for
/// PID-14); period XTN-13/14; rank XTN-18.
pub fn contact_point(ctx: &mut Ctx<'_>, rep: &Repetition<'_>, at: At<'_>, default_use: Option<&str>) -> Option<Value> {
    let equipment = comp(rep, 3);
    let email_equipment = matches!(equipment.as_deref(), Some("Internet" | "X.400"));
    let email = comp(rep, 4).filter(|_| email_equipment || equipment.is_none());
    let mut o = Obj::new();
    let value = match &email {
        Some(e) => e.to_string(),
        None if email_equipment => return None,
        None => {
            let number = comp(rep, 12).map(|u| u.into_owned()).or_else(|| composed_number(rep));
            number.or_else(|| comp(rep, 1).map(|v| v.into_owned()))?
        }
    };
    let system = match equipment.as_deref() {
        None if email.is_some() => Some("email"),
        None => Some("phone"),
        Some(e) => closed_code(ctx, "TelecommunicationEquipmentType", e, CONTACT_SYSTEMS, telecom_system)
            .or_else(|| (e == "CP").then_some("phone")),
    };
    match system {
        Some(s) => {
            o.insert("system".into(), Value::from(s));
        }
        None => {
            ctx.warn(at, WarningKind::UnknownCode, "equipment type not in table 0202: system other");
            o.insert("system".into(), Value::from("other"));
        }
    }
    o.insert("value".into(), Value::from(value.trim()));
    if email.is_none() {
        let parts: Vec<Value> = XTN_PARTS
            .iter()
            .filter_map(|&(n, url)| comp(rep, n).map(|v| json!({ "url": url, "valueString": v.as_ref() })))
            .collect();
        if !parts.is_empty() {
            o.insert("extension".into(), Value::Array(parts));
        }
    }
    let use_ = comp(rep, 2)
        .as_deref()
        .and_then(|c| closed_code(ctx, "TelecommunicationUseCode", c, TELECOM_USES, telecom_use))
        .or(default_use.and_then(|d| match d {
            "home" => Some("home"),
            "work" => Some("work"),
            _ => None,
        }));
    let mobile = equipment.as_deref() == Some("CP");
    put(&mut o, "use", if mobile { Some(Value::from("mobile")) } else { use_.map(Value::from) });
    put(&mut o, "period", period(ctx, comp(rep, 13), comp(rep, 14), at));
    if let Some(r) = comp(rep, 18).and_then(|r| r.parse::<u32>().ok()).filter(|r| *r > 0) {
        o.insert("rank".into(), Value::from(r));
    }
    Some(Value::Object(o))
}

/// XCN → Practitioner (IG `XCN[Practitioner]`), added to the Bundle once per person: the id is derived from
/// the identifier (XCN-1 with its assigning authority XCN-9) or, without one, from the name. Returns its
/// reference.
pub fn practitioner(ctx: &mut Ctx<'_>, rep: &Repetition<'_>, at: At<'_>) -> Option<Ref> {
    let id_value = comp(rep, 1);
    let name = name_parts(ctx, rep, at, NameLayout::XCN);
    if id_value.is_none() && name.is_none() {
        return None;
    }
    let system = hd_in_component(ctx, rep, 9);
    let mut o = Obj::new();
    let mut ident = None;
    if let Some(v) = &id_value {
        let mut i = Obj::new();
        put(&mut i, "system", system.clone().map(Value::from));
        i.insert("value".into(), Value::from(v.as_ref()));
        if let Some(t) = comp(rep, 13) {
            i.insert("type".into(), identifier_type(ctx, &t, at));
        }
        o.insert("identifier".into(), json!([Value::Object(i)]));
        ident = Some((system.clone().unwrap_or_default(), v.to_string()));
    }
    put(&mut o, "name", name.map(|n| json!([n])));
    let id = match &ident {
        Some((s, v)) => deterministic_id("Practitioner", &[s, v]),
        None => {
            let key = o.get("name").map(|n| n.to_string()).unwrap_or_default();
            deterministic_id("Practitioner", &["name", &key])
        }
    };
    let cond = ident.as_ref().filter(|(s, _)| !s.is_empty()).map(|(s, v)| (s.as_str(), v.as_str()));
    Some(ctx.add("Practitioner", id, o, cond))
}

/// XON → Organization (IG `XON[Organization]`): name XON-1, identifier XON-10 (or XON-3) with system from XON-6,
/// type XON-7. Deduplicated by identifier, else by name.
pub fn organization(ctx: &mut Ctx<'_>, rep: &Repetition<'_>, at: At<'_>) -> Option<Ref> {
    let name = comp(rep, 1);
    let idv = comp(rep, 10).or_else(|| comp(rep, 3));
    if name.is_none() && idv.is_none() {
        return None;
    }
    let system = hd_in_component(ctx, rep, 6);
    let mut o = Obj::new();
    put(&mut o, "name", name.as_ref().map(|n| Value::from(n.as_ref())));
    if let Some(v) = &idv {
        let mut i = Obj::new();
        put(&mut i, "system", system.clone().map(Value::from));
        i.insert("value".into(), Value::from(v.as_ref()));
        if let Some(t) = comp(rep, 7) {
            i.insert("type".into(), identifier_type(ctx, &t, at));
        }
        o.insert("identifier".into(), json!([Value::Object(i)]));
    }
    Some(add_organization(ctx, o, system.as_deref(), idv.as_deref(), name.as_deref()))
}

/// Adds an Organization with a deterministic id (identifier, else name).
pub fn add_organization(ctx: &mut Ctx<'_>, o: Obj, system: Option<&str>, idv: Option<&str>, name: Option<&str>) -> Ref {
    let id = match idv {
        Some(v) => deterministic_id("Organization", &[system.unwrap_or_default(), v]),
        None => deterministic_id("Organization", &["name", name.unwrap_or_default()]),
    };
    let cond = system.zip(idv);
    ctx.add("Organization", id, o, cond)
}

/// An HD naming an organization (e.g. MSH-4, PL-4) → Organization.
pub fn organization_hd(ctx: &mut Ctx<'_>, ns: Option<&str>, uid: Option<&str>, uid_type: Option<&str>) -> Option<Ref> {
    if ns.is_none() && uid.is_none() {
        return None;
    }
    let mut o = Obj::new();
    put(&mut o, "name", ns.map(Value::from));
    let system = uid.and_then(|u| hd_system(ctx, None, Some(u), uid_type));
    if let Some(s) = &system {
        // The universal id names the organization itself: `urn:ietf:rfc:3986` with the URI as value.
        o.insert("identifier".into(), json!([{ "system": "urn:ietf:rfc:3986", "value": s }]));
        return Some(add_organization(ctx, o, Some("urn:ietf:rfc:3986"), Some(s), ns));
    }
    Some(add_organization(ctx, o, None, None, ns))
}

/// PL → Location (IG `PL[Location]`): one Location for the most specific place sent, named from the point of
/// care, room and bed, with physicalType bed/room/ward, `partOf` not modelled; the facility (PL-4) becomes
/// `managingOrganization`. Deduplicated by the whole PL.
pub fn location(ctx: &mut Ctx<'_>, rep: &Repetition<'_>) -> Option<Ref> {
    let parts: Vec<Cow<'_, str>> = [1, 2, 3].iter().filter_map(|&n| comp(rep, n)).collect();
    let building = comp(rep, 7);
    let floor = comp(rep, 8);
    let description = comp(rep, 9);
    let facility = sub(rep, 4, 1);
    if parts.is_empty() && building.is_none() && floor.is_none() && description.is_none() && facility.is_none() {
        return None;
    }
    let mut o = Obj::new();
    let mut name: Vec<&str> = parts.iter().map(|p| p.as_ref()).collect();
    if name.is_empty() {
        name.extend(building.as_deref().into_iter().chain(floor.as_deref()));
    }
    if name.is_empty()
        && let Some(d) = description.as_deref()
    {
        name.push(d);
    }
    let name = if name.is_empty() { facility.as_deref().map(str::to_owned) } else { Some(name.join(" ")) };
    put(&mut o, "name", name.map(Value::from));
    put(&mut o, "description", description.as_ref().map(|d| Value::from(d.as_ref())));
    let physical = if comp(rep, 3).is_some() {
        Some(("bd", "Bed"))
    } else if comp(rep, 2).is_some() {
        Some(("ro", "Room"))
    } else if comp(rep, 1).is_some() {
        Some(("wa", "Ward"))
    } else if floor.is_some() {
        Some(("lvl", "Level"))
    } else if building.is_some() {
        Some(("bu", "Building"))
    } else {
        None
    };
    if let Some((code, display)) = physical {
        o.insert(
            "physicalType".into(),
            json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/location-physical-type", "code": code, "display": display }] }),
        );
    }
    o.insert("mode".into(), Value::from("instance"));
    let fac_uid = sub(rep, 4, 2);
    let fac_ty = sub(rep, 4, 3);
    if let Some(org) = organization_hd(ctx, facility.as_deref(), fac_uid.as_deref(), fac_ty.as_deref()) {
        o.insert("managingOrganization".into(), org.reference());
    }
    let id = deterministic_id("Location", &[rep.raw()]);
    Some(ctx.add("Location", id, o, None))
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
