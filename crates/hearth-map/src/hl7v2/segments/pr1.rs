//! PR1 → Procedure (IG `PR1[Procedure]`).

use hearth_fhir::ids::deterministic_id;
use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, push, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{codeable_concept, concept_with_description, identifier_ei, practitioner};
use crate::hl7v2::tracker::{Seg, comp};

pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    let patient = ctx.scope.patient.clone()?;
    let encounter = ctx.scope.encounter.clone();
    seg.mark(1);
    let mut o = Obj::new();
    o.insert("status".into(), Value::from("completed"));
    o.insert("subject".into(), patient.reference());
    if let Some(e) = &encounter {
        o.insert("encounter".into(), e.reference());
    }
    let code_rep = seg.rep(3);
    let code = concept_with_description(ctx, code_rep.as_ref(), seg.text(4), Some("0088"));
    put(&mut o, "code", code);
    put(&mut o, "performedDateTime", ctx.datetime(&seg, 5));
    if let Some(rep) = seg.rep(6) {
        put(&mut o, "category", codeable_concept(ctx, &rep, Some("0230")));
    }
    for (n, role) in [(8, "Anesthesiologist"), (11, "Surgeon"), (12, "Procedure practitioner")] {
        for rep in seg.reps(n) {
            if let Some(p) = practitioner(ctx, &rep, seg.at(n)) {
                push(&mut o, "performer", Some(json!({ "function": { "text": role }, "actor": p.reference() })));
            }
        }
    }
    if let Some(rep) = seg.rep(15) {
        push(&mut o, "reasonCode", codeable_concept(ctx, &rep, None));
    }
    let ident = seg.rep(19).and_then(|r| identifier_ei(ctx, &r));
    push(&mut o, "identifier", ident.clone());
    let id = match (ident.as_ref().and_then(|i| i["value"].as_str()), code_rep.as_ref().and_then(|r| comp(r, 1))) {
        (Some(v), _) => {
            deterministic_id("Procedure", &[ident.as_ref().and_then(|i| i["system"].as_str()).unwrap_or_default(), v])
        }
        (None, Some(c)) => {
            let when = seg.value(5).map(|w| w.into_owned()).unwrap_or_default();
            deterministic_id("Procedure", &[&encounter.as_ref().unwrap_or(&patient).id, &c, &when])
        }
        (None, None) => ctx.segment_id("Procedure", &seg),
    };
    Some(ctx.add("Procedure", id, o, None))
}
