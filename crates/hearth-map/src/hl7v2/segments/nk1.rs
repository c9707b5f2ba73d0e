//! NK1 → RelatedPerson (IG `NK1[RelatedPerson]`).

use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, push, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{address, codeable_concept, contact_point, human_name, identifier_cx, period};
use crate::hl7v2::segments::pid::gender;
use crate::hl7v2::tracker::{Seg, comp};

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
        push(&mut o, "relationship", codeable_concept(ctx, &rep, Some("0063")));
    }
    if let Some(rep) = seg.rep(7) {
        push(&mut o, "relationship", codeable_concept(ctx, &rep, Some("0131")));
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
        && let Some(lang) = codeable_concept(ctx, &rep, Some("0296"))
    {
        o.insert("communication".into(), json!([{ "language": lang }]));
    }
    let occ = seg.occurrence().to_string();
    let key = seg.peek(1).map(|f| f.raw().to_owned()).unwrap_or(occ);
    let id = hearth_fhir::ids::deterministic_id("RelatedPerson", &[&patient.id, "NK1", &key]);
    let _ = comp;
    Some(ctx.add("RelatedPerson", id, o, None))
}
