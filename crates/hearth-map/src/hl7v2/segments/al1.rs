//! AL1 → AllergyIntolerance (IG `AL1[AllergyIntolerance]`).

use hearth_fhir::ids::deterministic_id;
use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::codeable_concept;
use crate::hl7v2::tracker::{Seg, comp};
use crate::report::WarningKind;

/// A code through a concept map, accepted only when the target is one of `allowed` (FHIR required bindings).
fn closed(
    ctx: &mut Ctx<'_>,
    map: &str,
    code: &str,
    allowed: &[&'static str],
    at: crate::hl7v2::tracker::At<'_>,
) -> Option<&'static str> {
    let target = ctx.concept(map, code).map(|c| c.0);
    let hit = target.as_deref().and_then(|t| allowed.iter().find(|a| **a == t).copied());
    if hit.is_none() {
        ctx.warn(at, WarningKind::UnknownCode, format!("code not in the {map} map"));
    }
    hit
}

pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    let patient = ctx.scope.patient.clone()?;
    seg.mark(1);
    let mut o = Obj::new();
    o.insert("patient".into(), patient.reference());
    o.insert(
        "clinicalStatus".into(),
        json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active", "display": "Active" }] }),
    );
    let code_rep = seg.rep(3);
    if let Some(rep) = &code_rep {
        put(&mut o, "code", codeable_concept(ctx, rep, None));
    }
    if let Some(t) = seg.value(2) {
        if let Some(c) = closed(
            ctx,
            "AllergenType[AllergyIntoleranceCategory]",
            &t,
            &["food", "medication", "environment", "biologic"],
            seg.at(2),
        ) {
            o.insert("category".into(), json!([c]));
        }
        if let Some(ty) = ctx.concept("AllergyType", &t).map(|c| c.0).filter(|c| c == "allergy" || c == "intolerance") {
            o.insert("type".into(), Value::from(ty));
        }
    }
    let severity = seg.value(4);
    if let Some(s) = &severity
        && let Some(c) = closed(
            ctx,
            "AllergySeverity[AllergyIntolerance.criticality]",
            s,
            &["low", "high", "unable-to-assess"],
            seg.at(4),
        )
    {
        o.insert("criticality".into(), Value::from(c));
    }
    let manifestations: Vec<Value> = seg
        .reps(5)
        .filter_map(|r| {
            let t = r.unescaped();
            let t = t.trim();
            (!t.is_empty()).then(|| json!({ "text": t }))
        })
        .collect();
    if !manifestations.is_empty() {
        let mut reaction = Obj::new();
        reaction.insert("manifestation".into(), Value::Array(manifestations));
        if let Some(s) = &severity
            && let Some(sev) = ctx.concept("AllergySeverity[AllergyIntolerance.reaction.severity]", s).map(|c| c.0)
            && matches!(sev.as_str(), "mild" | "moderate" | "severe")
        {
            reaction.insert("severity".into(), Value::from(sev));
        }
        o.insert("reaction".into(), json!([Value::Object(reaction)]));
    }
    put(&mut o, "onsetDateTime", ctx.datetime(&seg, 6));
    let key = code_rep.as_ref().and_then(|r| comp(r, 1).or_else(|| comp(r, 2)));
    let id = match key {
        Some(k) => deterministic_id("AllergyIntolerance", &[&patient.id, &k]),
        None => ctx.segment_id("AllergyIntolerance", &seg),
    };
    Some(ctx.add("AllergyIntolerance", id, o, None))
}
