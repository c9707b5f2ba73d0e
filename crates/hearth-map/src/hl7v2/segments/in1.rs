//! IN1 → Coverage (IG `IN1[Coverage]`) with its payor Organization (IN1-3/4/5/7) and, when the insured is not
//! the patient, a RelatedPerson subscriber (IN1-16/18/19).

use hearth_fhir::ids::deterministic_id;
use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, push, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{
    add_organization, address, contact_point, cx_system, human_name, identifier_cx, mapped_concept, period,
};
use crate::hl7v2::tracker::{Seg, comp};

const SUBSCRIBER_RELATIONSHIP: &str = "http://terminology.hl7.org/CodeSystem/subscriber-relationship";

/// IN1-17 insured's relationship (table 0063) → subscriber-relationship, a closed map.
fn relationship(code: &str) -> Option<(&'static str, &'static str)> {
    Some(match code {
        "SEL" => ("self", "Self"),
        "SPO" | "DOM" => ("spouse", "Spouse"),
        "CHD" | "NCH" | "SCH" | "FCH" | "DEP" => ("child", "Child"),
        "PAR" | "MTH" | "FTH" => ("parent", "Parent"),
        "EME" | "EMR" => ("other", "Other"),
        _ => return None,
    })
}

fn payor(ctx: &mut Ctx<'_>, seg: &Seg<'_>) -> Option<Ref> {
    let id_rep = seg.rep(3);
    let name = seg.rep(4).and_then(|r| comp(&r, 1).map(|c| c.into_owned()));
    let idv = id_rep.as_ref().and_then(|r| comp(r, 1).map(|c| c.into_owned()));
    if idv.is_none() && name.is_none() {
        return None;
    }
    let system = id_rep.as_ref().and_then(|r| cx_system(ctx, r));
    let mut o = Obj::new();
    if let Some(r) = &id_rep {
        push(&mut o, "identifier", identifier_cx(ctx, r, seg.at(3)));
    }
    put(&mut o, "name", name.clone().map(Value::from));
    for rep in seg.reps(5) {
        push(&mut o, "address", address(ctx, &rep, seg.at(5)));
    }
    for rep in seg.reps(7) {
        push(&mut o, "telecom", contact_point(ctx, &rep, seg.at(7), Some("work")));
    }
    o.insert(
        "type".into(),
        json!([{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "ins", "display": "Insurance Company" }] }]),
    );
    Some(add_organization(ctx, o, system.as_deref(), idv.as_deref(), name.as_deref()))
}

pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    let patient = ctx.scope.patient.clone()?;
    seg.mark(1);
    let mut o = Obj::new();
    o.insert("status".into(), Value::from("active"));
    o.insert("beneficiary".into(), patient.reference());
    let payor = payor(ctx, &seg);
    o.insert("payor".into(), json!([payor.as_ref().unwrap_or(&patient).reference()]));
    let plan = seg.rep(2);
    if let Some(rep) = &plan
        && let Some(v) = comp(rep, 1)
    {
        let mut c = Obj::new();
        c.insert(
            "type".into(),
            json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/coverage-class", "code": "plan" }] }),
        );
        c.insert("value".into(), Value::from(v.as_ref()));
        put(&mut c, "name", comp(rep, 2).map(|n| Value::from(n.as_ref())));
        push(&mut o, "class", Some(Value::Object(c)));
    }
    if let Some(g) = seg.value(8) {
        let mut c = Obj::new();
        c.insert("type".into(), json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/coverage-class", "code": "group" }] }));
        c.insert("value".into(), Value::from(g.as_ref()));
        put(&mut c, "name", seg.text(9).map(Value::from));
        push(&mut o, "class", Some(Value::Object(c)));
    }
    let start = seg.value(12);
    let end = seg.value(13);
    put(&mut o, "period", period(ctx, start, end, seg.at(12)));
    if let Some(rep) = seg.rep(15) {
        put(&mut o, "type", mapped_concept(ctx, &rep, "PlanId", Some("0086"), seg.at(15)));
    }
    let rel_rep = seg.rep(17);
    let rel = rel_rep.as_ref().and_then(|r| comp(r, 1)).map(|c| c.into_owned());
    if let Some(rep) = &rel_rep {
        // The IG's Relationship map (v3 RoleCode) as the Coverage.relationship's codings, led by the
        // subscriber-relationship code FHIR's extensible binding asks for.
        let mut cc = match mapped_concept(ctx, rep, "Relationship", Some("0063"), seg.at(17)) {
            Some(Value::Object(cc)) => cc,
            _ => Obj::new(),
        };
        if let Some((c, d)) = rel.as_deref().and_then(relationship) {
            let mut codings = vec![json!({ "system": SUBSCRIBER_RELATIONSHIP, "code": c, "display": d })];
            if let Some(Value::Array(rest)) = cc.remove("coding") {
                codings.extend(rest);
            }
            cc.insert("coding".into(), Value::Array(codings));
        }
        if !cc.is_empty() {
            o.insert("relationship".into(), Value::Object(cc));
        }
    }
    if rel.as_deref() == Some("SEL") {
        seg.mark(16);
        o.insert("subscriber".into(), patient.reference());
    } else if let Some(sub) = subscriber(ctx, &seg, &patient) {
        o.insert("subscriber".into(), sub.reference());
    }
    if let Some(rep) = seg.rep(49).or_else(|| seg.rep(36))
        && let Some(v) = comp(&rep, 1)
    {
        o.insert("subscriberId".into(), Value::from(v.as_ref()));
    }
    let policy = seg.value(36);
    if let Some(p) = &policy {
        let mut i = Obj::new();
        put(&mut i, "system", payor.as_ref().map(|r| Value::from(format!("urn:uuid:{}", r.id))));
        i.insert("value".into(), Value::from(p.as_ref()));
        push(&mut o, "identifier", Some(Value::Object(i)));
    }
    if let Some(n) = seg.value(22).and_then(|v| v.parse::<u32>().ok()).filter(|n| *n > 0) {
        o.insert("order".into(), Value::from(n));
    }
    let payor_id = payor.as_ref().map(|p| p.id.as_str()).unwrap_or("self");
    let id = match &policy {
        Some(p) => deterministic_id("Coverage", &[&patient.id, payor_id, p]),
        None => {
            let plan_code = plan.as_ref().and_then(|r| comp(r, 1)).map(|c| c.into_owned()).unwrap_or_default();
            let set_id = seg.value(1).map(|c| c.into_owned()).unwrap_or_default();
            deterministic_id("Coverage", &[&patient.id, payor_id, &plan_code, &set_id])
        }
    };
    Some(ctx.add("Coverage", id, o, None))
}

/// The insured person when not the patient (IN1-16 name, IN1-18 birth date, IN1-19 address).
fn subscriber(ctx: &mut Ctx<'_>, seg: &Seg<'_>, patient: &Ref) -> Option<Ref> {
    let names: Vec<Value> = seg.reps(16).filter_map(|r| human_name(ctx, &r, seg.at(16))).collect();
    if names.is_empty() {
        return None;
    }
    let mut o = Obj::new();
    o.insert("patient".into(), patient.reference());
    let key = names.first().map(Value::to_string).unwrap_or_default();
    o.insert("name".into(), Value::Array(names));
    put(&mut o, "birthDate", ctx.date(seg, 18));
    for rep in seg.reps(19) {
        push(&mut o, "address", address(ctx, &rep, seg.at(19)));
    }
    if let Some(rep) = seg.rep(17) {
        push(&mut o, "relationship", mapped_concept(ctx, &rep, "Relationship", Some("0063"), seg.at(17)));
    }
    let id = deterministic_id("RelatedPerson", &[&patient.id, "insured", &key]);
    Some(ctx.add("RelatedPerson", id, o, None))
}
