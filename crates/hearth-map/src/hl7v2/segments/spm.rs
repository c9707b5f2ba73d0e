//! SPM → Specimen (IG `SPM[Specimen]`).

use hearth_fhir::ids::deterministic_id;
use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, push, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{identifier_cx, identifier_ei, mapped_concept, mapped_concepts, quantity, v2_table};
use crate::hl7v2::tracker::{Seg, sub};
use crate::report::WarningKind;

/// Maps an SPM to a Specimen of the patient in scope, requested by the order in scope. Sets `scope.specimen`.
pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    seg.mark(1);
    let mut o = Obj::new();
    let mut identity: Option<(String, String)> = None;
    if let Some(rep) = seg.rep(2) {
        // EIP: placer assigned identifier in component 1, filler assigned in component 2 (subcomponents = EI).
        for (c, code) in [(1, "PLAC"), (2, "FILL")] {
            let Some(value) = sub(&rep, c, 1) else { continue };
            let ns = sub(&rep, c, 2);
            let system = crate::hl7v2::datatypes::hd_system(
                ctx,
                ns.as_deref(),
                sub(&rep, c, 3).as_deref(),
                sub(&rep, c, 4).as_deref(),
            );
            let mut i = Obj::new();
            put(&mut i, "system", system.clone().map(Value::from));
            i.insert("value".into(), Value::from(value.as_ref()));
            i.insert("type".into(), json!({ "coding": [{ "system": v2_table("0203"), "code": code }] }));
            push(&mut o, "identifier", Some(Value::Object(i)));
            if identity.is_none() || code == "FILL" {
                identity = Some((system.unwrap_or_default(), value.into_owned()));
            }
        }
    }
    for rep in seg.reps(31) {
        push(&mut o, "identifier", identifier_cx(ctx, &rep, seg.at(31)));
    }
    if let Some(rep) = seg.rep(32)
        && let Some(Value::Object(mut i)) = identifier_ei(ctx, &rep)
    {
        i.insert("type".into(), json!({ "coding": [{ "system": v2_table("0203"), "code": "SHIP" }] }));
        push(&mut o, "identifier", Some(Value::Object(i)));
    }
    put(&mut o, "accessionIdentifier", seg.rep(30).and_then(|r| identifier_cx(ctx, &r, seg.at(30))));
    put(&mut o, "type", seg.rep(4).and_then(|r| mapped_concept(ctx, &r, "SpecimenType", Some("0487"), seg.at(4))));
    if let Some(p) = &ctx.scope.patient {
        o.insert("subject".into(), p.reference());
    }
    if let Some(order) = &ctx.scope.order {
        push(&mut o, "request", Some(order.reference()));
    }
    let mut collection = Obj::new();
    let method = seg.rep(7).and_then(|r| mapped_concept(ctx, &r, "SpecimenCollectionMethod", Some("0488"), seg.at(7)));
    put(&mut collection, "method", method);
    let site = seg.rep(8).and_then(|r| mapped_concept(ctx, &r, "SpecimenSourceSite", None, seg.at(8)));
    put(&mut collection, "bodySite", site);
    put(&mut collection, "quantity", seg.rep(12).and_then(|r| quantity(ctx, &r)));
    if let Some(rep) = seg.rep(17) {
        let (start, end) = (sub(&rep, 1, 1), sub(&rep, 2, 1));
        match end {
            Some(e) => put(
                &mut collection,
                "collectedPeriod",
                crate::hl7v2::datatypes::period(ctx, start, Some(e), seg.at(17)),
            ),
            None => put(&mut collection, "collectedDateTime", start.and_then(|s| ctx.dtm_datetime(&s, seg.at(17)))),
        }
    }
    if !collection.is_empty() {
        o.insert("collection".into(), Value::Object(collection));
    }
    put(&mut o, "receivedTime", ctx.datetime(&seg, 18));
    if let Some(v) = seg.value(20) {
        match ctx.concept("YesNoIndicator[AvailabilityStatus]", &v).map(|c| c.0) {
            Some(s) if matches!(s.as_str(), "available" | "unavailable" | "unsatisfactory" | "entered-in-error") => {
                o.insert("status".into(), Value::from(s));
            }
            _ => ctx.warn(seg.at(20), WarningKind::UnknownCode, "specimen availability not in table 0136"),
        }
    }
    for c in mapped_concepts(ctx, &seg, 24, "SpecimenCondition", Some("0493")) {
        push(&mut o, "condition", Some(c));
    }
    let mut container = Obj::new();
    put(&mut container, "type", seg.rep(27).and_then(|r| mapped_concept(ctx, &r, "ContainerType", None, seg.at(27))));
    put(
        &mut container,
        "additiveCodeableConcept",
        seg.rep(6).and_then(|r| mapped_concept(ctx, &r, "AdditivePreservative", Some("0371"), seg.at(6))),
    );
    if !container.is_empty() {
        o.insert("container".into(), json!([Value::Object(container)]));
    }
    if let Some(t) = seg.text(14) {
        push(&mut o, "note", Some(json!({ "text": t })));
    }
    let accession = o.get("accessionIdentifier").and_then(|a| {
        let v = a.get("value").and_then(Value::as_str)?;
        Some((a.get("system").and_then(Value::as_str).unwrap_or_default().to_owned(), v.to_owned()))
    });
    // Identity: SPM-2 (filler, else placer), else the accession number SPM-30, else the order and the SPM's rank
    // under it; never the set id SPM-1, which senders repeat in every order group.
    let id = match (identity.as_ref().or(accession.as_ref()), ctx.scope.order.clone()) {
        (Some((s, v)), _) => deterministic_id("Specimen", &[s, v]),
        (None, Some(order)) => {
            let rank = ctx.nth(&["SPM", &order.id]).to_string();
            deterministic_id("Specimen", &[&order.id, "SPM", &rank])
        }
        (None, None) => ctx.segment_id("Specimen", &seg),
    };
    let cond = identity.as_ref().filter(|(s, _)| !s.is_empty()).map(|(s, v)| (s.as_str(), v.as_str()));
    let rf = ctx.add("Specimen", id, o, cond);
    ctx.scope.specimen = Some(rf.clone());
    Some(rf)
}
