//! DG1 → Condition (IG `DG1[Condition]`) and Encounter.diagnosis (IG `DG1[Encounter]`).

use hearth_fhir::ids::deterministic_id;
use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, push, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{concept_with_description, identifier_ei, mapped_concept, practitioner};
use crate::hl7v2::tracker::{Seg, comp};

pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    let patient = ctx.scope.patient.clone()?;
    let encounter = ctx.scope.encounter.clone();
    seg.mark(1);
    let mut o = Obj::new();
    o.insert("subject".into(), patient.reference());
    if let Some(e) = &encounter {
        o.insert("encounter".into(), e.reference());
    }
    o.insert(
        "category".into(),
        json!([{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "encounter-diagnosis", "display": "Encounter Diagnosis" }] }]),
    );
    let code_rep = seg.rep(3);
    let code = concept_with_description(ctx, code_rep.as_ref(), seg.text(4), None);
    put(&mut o, "code", code);
    put(&mut o, "onsetDateTime", ctx.datetime(&seg, 5));
    put(&mut o, "recordedDate", ctx.datetime(&seg, 19));
    if let Some(rep) = seg.rep(16)
        && let Some(p) = practitioner(ctx, &rep, seg.at(16))
    {
        o.insert("asserter".into(), p.reference());
    }
    let ident = seg.rep(20).and_then(|r| identifier_ei(ctx, &r));
    push(&mut o, "identifier", ident.clone());
    let use_ = seg.rep(6).and_then(|r| mapped_concept(ctx, &r, "DiagnosisType", Some("0052"), seg.at(6)));
    let rank = seg.value(15).and_then(|v| v.parse::<u32>().ok()).filter(|r| *r > 0);
    let sys = ident.as_ref().and_then(|i| i["system"].as_str()).unwrap_or_default().to_owned();
    let id = match (ident.as_ref().and_then(|i| i["value"].as_str()), code_rep.as_ref().and_then(|r| comp(r, 1))) {
        (Some(v), _) => deterministic_id("Condition", &[&sys, v]),
        (None, Some(c)) => {
            let scope = encounter.as_ref().unwrap_or(&patient);
            deterministic_id("Condition", &[&scope.id, &c])
        }
        (None, None) => ctx.segment_id("Condition", &seg),
    };
    let cond_ident =
        ident.as_ref().and_then(|i| Some((i["system"].as_str()?.to_owned(), i["value"].as_str()?.to_owned())));
    let rf = ctx.add("Condition", id, o, cond_ident.as_ref().map(|(s, v)| (s.as_str(), v.as_str())));
    if let Some(e) = &encounter
        && let Some(enc) = ctx.bundle.get_mut(e)
    {
        let mut d = Obj::new();
        d.insert("condition".into(), rf.reference());
        put(&mut d, "use", use_);
        put(&mut d, "rank", rank.map(Value::from));
        push(enc, "diagnosis", Some(Value::Object(d)));
    }
    Some(rf)
}
