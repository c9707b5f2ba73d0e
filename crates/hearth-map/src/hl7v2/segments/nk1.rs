//! NK1 → RelatedPerson (IG `NK1[RelatedPerson]`) and Patient.contact (IG `NK1[Patient]`). The relationship
//! goes through the IG's `Relationship` (NK1-3) and `ContactRole` (NK1-7) maps.

use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, push, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{address, contact_point, human_name, identifier_cx, mapped_concept, period};
use crate::hl7v2::segments::pid::gender;
use crate::hl7v2::tracker::{Seg, comp};

/// IG `NK1[Patient]`: the same person as a Patient.contact (name, relationships, address, telecoms, gender,
/// period), for systems that read contacts from the Patient alone.
fn contact(ctx: &mut Ctx<'_>, patient: &Ref, related: &Obj) {
    let mut c = Obj::new();
    for (from, to, first_only) in [
        ("relationship", "relationship", false),
        ("name", "name", true),
        ("telecom", "telecom", false),
        ("address", "address", true),
        ("gender", "gender", false),
        ("period", "period", false),
    ] {
        let v = match related.get(from) {
            Some(Value::Array(a)) if first_only => a.first().cloned(),
            other => other.cloned(),
        };
        put(&mut c, to, v);
    }
    if c.keys().all(|k| k == "relationship") {
        return;
    }
    if let Some(p) = ctx.bundle.get_mut(patient) {
        push(p, "contact", Some(Value::Object(c)));
    }
}

pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    let patient = ctx.scope.patient.clone()?;
    seg.mark(1);
    let mut o = Obj::new();
    o.insert("patient".into(), patient.reference());
    for n in [12, 33] {
        for rep in seg.reps(n) {
            push(&mut o, "identifier", identifier_cx(ctx, &rep, seg.at(n)));
        }
    }
    for rep in seg.reps(2) {
        push(&mut o, "name", human_name(ctx, &rep, seg.at(2)));
    }
    for rep in seg.reps(30) {
        push(&mut o, "name", human_name(ctx, &rep, seg.at(30)));
    }
    if let Some(rep) = seg.rep(3) {
        push(&mut o, "relationship", mapped_concept(ctx, &rep, "Relationship", Some("0063"), seg.at(3)));
    }
    if let Some(rep) = seg.rep(7) {
        push(&mut o, "relationship", mapped_concept(ctx, &rep, "ContactRole", Some("0131"), seg.at(7)));
    }
    for rep in seg.reps(4) {
        push(&mut o, "address", address(ctx, &rep, seg.at(4)));
    }
    for (n, default_use) in [(5, Some("home")), (6, Some("work")), (31, None), (40, Some("work")), (41, Some("home"))] {
        for rep in seg.reps(n) {
            push(&mut o, "telecom", contact_point(ctx, &rep, seg.at(n), default_use));
        }
    }
    let start = seg.value(8);
    let end = seg.value(9);
    put(&mut o, "period", period(ctx, start, end, seg.at(8)));
    if let Some(sex) = seg.value(15)
        && let Some(g) = gender(ctx, &sex, seg.at(15))
    {
        o.insert("gender".into(), Value::from(g));
    }
    put(&mut o, "birthDate", ctx.date(&seg, 16));
    if let Some(rep) = seg.rep(20)
        && let Some(lang) = mapped_concept(ctx, &rep, "PrimaryLanguage", Some("0296"), seg.at(20))
    {
        o.insert("communication".into(), json!([{ "language": lang }]));
    }
    contact(ctx, &patient, &o);
    // Identity: the person's identifier (NK1-12/33), else their name and relationship; never the set id NK1-1,
    // which senders repeat. The same contact named in two messages is one RelatedPerson.
    let key = match o.get("identifier").and_then(|i| i.get(0)) {
        Some(i) => {
            format!("id:{}|{}", i["system"].as_str().unwrap_or_default(), i["value"].as_str().unwrap_or_default())
        }
        None => {
            let name = o.get("name").map(Value::to_string).unwrap_or_default();
            let rel = o.get("relationship").map(Value::to_string).unwrap_or_default();
            format!("name:{name}|{rel}")
        }
    };
    let rank = ctx.nth(&["NK1", &patient.id, &key]).to_string();
    let id = hearth_fhir::ids::deterministic_id("RelatedPerson", &[&patient.id, "NK1", &key, &rank]);
    let _ = comp;
    Some(ctx.add("RelatedPerson", id, o, None))
}
