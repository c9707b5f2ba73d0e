//! PID → Patient (IG `PID[Patient]`).

use hearth_fhir::ids::deterministic_id;
use hearth_hl7v2::Repetition;
use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, push, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{
    address, contact_point, human_name, identifier_cx, identifier_type, mapped_concept, namespace_system, yes_no,
};
use crate::hl7v2::tracker::{Seg, comp};
use crate::report::WarningKind;

/// The Patient's identity from a CX list (PID-3, MRG-1): the first identifier with a system, else the first
/// with a value. Returns `(system, value)`, system empty when none was sent.
pub fn identity(ctx: &Ctx<'_>, reps: &[Repetition<'_>]) -> Option<(String, String)> {
    let ids: Vec<(String, String)> = reps
        .iter()
        .filter_map(|r| {
            let value = comp(r, 1)?.into_owned();
            let system = crate::hl7v2::datatypes::cx_system(ctx, r).unwrap_or_default();
            Some((system, value))
        })
        .collect();
    ids.iter().find(|(s, _)| !s.is_empty()).or(ids.first()).cloned()
}

/// The Patient id for an identity.
pub fn patient_id(system: &str, value: &str) -> String {
    deterministic_id("Patient", &[system, value])
}

/// AdministrativeSex (table 0001) → Patient.gender, a closed set.
pub fn gender(ctx: &mut Ctx<'_>, code: &str, at: crate::hl7v2::tracker::At<'_>) -> Option<&'static str> {
    let mapped = ctx.concept("AdministrativeSex", code).map(|c| c.0);
    let g = match mapped.as_deref().unwrap_or(code) {
        "male" | "M" => Some("male"),
        "female" | "F" => Some("female"),
        "other" | "O" | "A" | "X" => Some("other"),
        "unknown" | "U" | "N" => Some("unknown"),
        _ => None,
    };
    if g.is_none() {
        ctx.warn(at, WarningKind::UnknownCode, "sex code not in AdministrativeSex: gender not set");
    }
    g
}

/// Maps a PID, sets `ctx.scope.patient` and returns the Patient.
pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    seg.mark(1);
    let mut o = Obj::new();
    let mut ids: Vec<Repetition<'_>> = seg.reps(3).collect();
    for n in [2, 4] {
        ids.extend(seg.reps(n));
    }
    for rep in &ids {
        push(&mut o, "identifier", identifier_cx(ctx, rep, seg.at(3)));
    }
    if let Some(ssn) = seg.value(19) {
        let t = identifier_type(ctx, "SS", seg.at(19));
        push(
            &mut o,
            "identifier",
            Some(json!({ "type": t, "system": "http://hl7.org/fhir/sid/us-ssn", "value": ssn })),
        );
    }
    if let Some(dl) = seg.rep(20)
        && let Some(v) = comp(&dl, 1)
    {
        let t = identifier_type(ctx, "DL", seg.at(20));
        let mut i = Obj::new();
        i.insert("type".into(), t);
        put(&mut i, "system", comp(&dl, 2).map(|s| Value::from(namespace_system(ctx, &s))));
        i.insert("value".into(), Value::from(v.as_ref()));
        push(&mut o, "identifier", Some(Value::Object(i)));
    }
    for n in [5, 9] {
        for rep in seg.reps(n) {
            push(&mut o, "name", human_name(ctx, &rep, seg.at(n)));
        }
    }
    if let Some(m) = seg.rep(6).and_then(|r| comp(&r, 1)) {
        push(
            &mut o,
            "extension",
            Some(
                json!({ "url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName", "valueString": m }),
            ),
        );
    }
    birth(ctx, &seg, &mut o);
    if let Some(sex) = seg.value(8)
        && let Some(g) = gender(ctx, &sex, seg.at(8))
    {
        o.insert("gender".into(), Value::from(g));
    }
    for rep in seg.reps(11) {
        push(&mut o, "address", address(ctx, &rep, seg.at(11)));
    }
    for rep in seg.reps(13) {
        push(&mut o, "telecom", contact_point(ctx, &rep, seg.at(13), Some("home")));
    }
    for rep in seg.reps(14) {
        push(&mut o, "telecom", contact_point(ctx, &rep, seg.at(14), Some("work")));
    }
    for rep in seg.reps(40) {
        push(&mut o, "telecom", contact_point(ctx, &rep, seg.at(40), None));
    }
    if let Some(rep) = seg.rep(15)
        && let Some(lang) = mapped_concept(ctx, &rep, "PrimaryLanguage", Some("0296"), seg.at(15))
    {
        o.insert("communication".into(), json!([{ "language": lang, "preferred": true }]));
    }
    if let Some(rep) = seg.rep(17)
        && let Some(r) = mapped_concept(ctx, &rep, "Religion", Some("0006"), seg.at(17))
    {
        push(
            &mut o,
            "extension",
            Some(
                json!({ "url": "http://hl7.org/fhir/StructureDefinition/patient-religion", "valueCodeableConcept": r }),
            ),
        );
    }
    if let Some(rep) = seg.rep(16) {
        put(&mut o, "maritalStatus", mapped_concept(ctx, &rep, "MaritalStatus", Some("0002"), seg.at(16)));
    }
    let birth_order = seg.value(25).and_then(|v| v.parse::<u32>().ok()).filter(|n| *n > 0);
    match (birth_order, seg.value(24).as_deref().and_then(yes_no)) {
        (Some(n), _) => {
            o.insert("multipleBirthInteger".into(), Value::from(n));
        }
        (None, Some(b)) => {
            o.insert("multipleBirthBoolean".into(), Value::from(b));
        }
        _ => {}
    }
    match (ctx.datetime(&seg, 29), seg.value(30).as_deref().and_then(yes_no)) {
        (Some(d), _) => {
            o.insert("deceasedDateTime".into(), d);
        }
        (None, Some(b)) => {
            o.insert("deceasedBoolean".into(), Value::from(b));
        }
        _ => {}
    }
    let identity = identity(ctx, &ids);
    let id = match &identity {
        Some((s, v)) => patient_id(s, v),
        None => ctx.segment_id("Patient", &seg),
    };
    let cond = identity.as_ref().filter(|(s, _)| !s.is_empty()).map(|(s, v)| (s.clone(), v.clone()));
    let rf = ctx.add("Patient", id, o, cond.as_ref().map(|(s, v)| (s.as_str(), v.as_str())));
    ctx.scope.patient = Some(rf.clone());
    if !ctx.focus.contains(&rf) {
        ctx.focus.push(rf.clone());
    }
    account(ctx, &seg, &rf);
    Some(rf)
}

/// PID-18 → Account (IG `PID[Account]`): the patient account number, status `active`, about the Patient.
fn account(ctx: &mut Ctx<'_>, seg: &Seg<'_>, patient: &Ref) -> Option<Ref> {
    let rep = seg.rep(18)?;
    let ident = identifier_cx(ctx, &rep, seg.at(18))?;
    add_account(ctx, ident, "active", patient)
}

/// An Account identified by a CX identifier (PID-18, MRG-3): one resource per (system, number), so the account
/// a PID names and the prior account a merge names are the resources an earlier message created.
pub fn add_account(ctx: &mut Ctx<'_>, ident: Value, status: &str, patient: &Ref) -> Option<Ref> {
    let system = ident.get("system").and_then(Value::as_str).unwrap_or_default().to_owned();
    let value = ident.get("value").and_then(Value::as_str)?.to_owned();
    let mut a = Obj::new();
    a.insert("identifier".into(), json!([ident]));
    a.insert("status".into(), Value::from(status));
    a.insert("subject".into(), json!([patient.reference()]));
    let id = deterministic_id("Account", &[&system, &value]);
    let cond = (!system.is_empty()).then_some((system.as_str(), value.as_str()));
    Some(ctx.add("Account", id, a, cond))
}

/// PID-7 → birthDate (the date part, at the precision sent) and the patient-birthTime extension when a time
/// was sent.
fn birth(ctx: &mut Ctx<'_>, seg: &Seg<'_>, o: &mut Obj) {
    let Some(raw) = seg.value(7) else { return };
    let Some(date) = ctx.dtm_date(&raw, seg.at(7)) else { return };
    o.insert("birthDate".into(), date);
    let digits = raw.split(['+', '-']).next().unwrap_or_default();
    if digits.len() > 8
        && let Some(Value::String(t)) = ctx.dtm_datetime(&raw, seg.at(7))
        && t.contains('T')
    {
        o.insert(
            "_birthDate".into(),
            json!({ "extension": [{ "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": t }] }),
        );
    }
}
