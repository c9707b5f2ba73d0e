//! GT1 → Account with its guarantor (IG `GT1[Account]`): the guarantor is the Patient when GT1-11 says `SEL`,
//! else a RelatedPerson named by GT1-3 (address GT1-5, phone GT1-6, birth date GT1-8, sex GT1-9).

use hearth_fhir::ids::deterministic_id;
use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, push, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{address, contact_point, human_name, identifier_cx, mapped_concept};
use crate::hl7v2::segments::pid::gender;
use crate::hl7v2::tracker::Seg;

pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    let patient = ctx.scope.patient.clone()?;
    seg.mark(1);
    let relationship = seg.rep(11);
    let is_self = relationship.as_ref().and_then(|r| crate::hl7v2::tracker::comp(r, 1)).as_deref() == Some("SEL");
    let names: Vec<Value> = seg.reps(3).filter_map(|r| human_name(ctx, &r, seg.at(3))).collect();
    let party = if is_self || names.is_empty() {
        if is_self {
            for n in [3, 5, 6, 8, 9] {
                seg.mark(n);
            }
        }
        patient.clone()
    } else {
        let mut o = Obj::new();
        o.insert("patient".into(), patient.reference());
        let key = names.first().map(Value::to_string).unwrap_or_default();
        o.insert("name".into(), Value::Array(names));
        for rep in seg.reps(5) {
            push(&mut o, "address", address(ctx, &rep, seg.at(5)));
        }
        for rep in seg.reps(6) {
            push(&mut o, "telecom", contact_point(ctx, &rep, seg.at(6), Some("home")));
        }
        put(&mut o, "birthDate", ctx.date(&seg, 8));
        if let Some(s) = seg.value(9)
            && let Some(g) = gender(ctx, &s, seg.at(9))
        {
            o.insert("gender".into(), Value::from(g));
        }
        if let Some(rep) = &relationship {
            push(&mut o, "relationship", mapped_concept(ctx, rep, "Relationship", Some("0063"), seg.at(11)));
        }
        let id = deterministic_id("RelatedPerson", &[&patient.id, "guarantor", &key]);
        ctx.add("RelatedPerson", id, o, None)
    };
    let mut a = Obj::new();
    a.insert("status".into(), Value::from("active"));
    a.insert("subject".into(), json!([patient.reference()]));
    let mut number = None;
    if let Some(rep) = seg.rep(2) {
        let ident = identifier_cx(ctx, &rep, seg.at(2));
        number = ident.as_ref().and_then(|i| i["value"].as_str().map(str::to_owned));
        push(&mut a, "identifier", ident);
    }
    a.insert("guarantor".into(), json!([{ "party": party.reference() }]));
    let id = deterministic_id("Account", &[&patient.id, "guarantor", number.as_deref().unwrap_or(&party.id)]);
    Some(ctx.add("Account", id, a, None))
}
