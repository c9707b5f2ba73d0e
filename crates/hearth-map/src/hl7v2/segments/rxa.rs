//! RXA → Immunization (IG `RXA[Immunization]`), with its ORC (IG `ORC[Immunization]`).

use hearth_fhir::ids::deterministic_id;
use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, push, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{codeable_concept, coding_system, decimal, location, practitioner};
use crate::hl7v2::segments::orc;
use crate::hl7v2::tracker::{Seg, comp};
use crate::report::WarningKind;

const PERFORMER_FUNCTION: &str = "http://terminology.hl7.org/CodeSystem/v2-0443";

/// Maps an RXA (with the ORC of its order group) to an Immunization of the patient in scope; sets the scope
/// slot `immunization`. `None` (with a warning) without RXA-5: Immunization.vaccineCode is required.
pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>, order: Option<Seg<'_>>) -> Option<Ref> {
    let patient = ctx.scope.patient.clone()?;
    let Some(vaccine) = seg.rep(5).and_then(|r| codeable_concept(ctx, &r, Some("0292"))) else {
        ctx.warn(seg.at(5), WarningKind::InvalidValue, "RXA without an administered code: not mapped");
        return None;
    };
    seg.mark(1);
    seg.mark(2);
    let mut o = Obj::new();
    let (ids, identity) = orc::identifiers(ctx, order.as_ref(), None);
    if !ids.is_empty() {
        o.insert("identifier".into(), Value::Array(ids));
    }
    status(ctx, &seg, &mut o);
    o.insert("vaccineCode".into(), vaccine.clone());
    o.insert("patient".into(), patient.reference());
    if let Some(e) = &ctx.scope.encounter {
        o.insert("encounter".into(), e.reference());
    }
    let when = seg.value(3).map(|v| v.into_owned());
    match when.as_deref().and_then(|v| ctx.dtm_datetime(v, seg.at(3))) {
        Some(dt) => {
            o.insert("occurrenceDateTime".into(), dt);
        }
        None => {
            o.insert("occurrenceString".into(), Value::from(when.clone().unwrap_or_else(|| "unknown".to_owned())));
        }
    }
    if let Some(v) = seg.value(9).map(|v| v.into_owned()) {
        // NIP001: 00 new record (the sender administered it), 01 historical.
        match v.as_str() {
            "00" => {
                o.insert("primarySource".into(), Value::from(true));
            }
            "01" => {
                o.insert("primarySource".into(), Value::from(false));
            }
            _ => {}
        }
    }
    if seg.value(21).is_some_and(|a| a.eq_ignore_ascii_case("A")) {
        put(&mut o, "recorded", ctx.datetime(&seg, 22));
    }
    dose(ctx, &seg, &mut o);
    for rep in seg.reps(10) {
        if let Some(p) = practitioner(ctx, &rep, seg.at(10)) {
            push(&mut o, "performer", Some(performer(&p, "AP", "Administering Provider")));
        }
    }
    if let Some(orc) = &order
        && let Some(rep) = orc.rep(12)
        && let Some(p) = practitioner(ctx, &rep, orc.at(12))
    {
        push(&mut o, "performer", Some(performer(&p, "OP", "Ordering Provider")));
    }
    put(&mut o, "lotNumber", seg.text(15).map(Value::from));
    put(&mut o, "expirationDate", ctx.date(&seg, 16));
    if let Some(rep) = seg.rep(17) {
        put(&mut o, "manufacturer", manufacturer(ctx, &rep));
    }
    put(&mut o, "statusReason", seg.rep(18).and_then(|r| codeable_concept(ctx, &r, None)));
    for rep in seg.reps(19) {
        push(&mut o, "reasonCode", codeable_concept(ctx, &rep, None));
    }
    if let Some(rep) = seg.rep(27)
        && let Some(l) = location(ctx, &rep)
    {
        o.insert("location".into(), l.reference());
    }
    let id = match &identity {
        Some((s, v)) => deterministic_id("Immunization", &[s, v]),
        None => {
            let (code, at) = (vaccine.to_string(), when.unwrap_or_default());
            deterministic_id("Immunization", &[&patient.id, &code, &at])
        }
    };
    let rf = ctx.add("Immunization", id, o, None);
    ctx.scope.set_other("immunization", Some(rf.clone()));
    Some(rf)
}

fn performer(p: &Ref, code: &str, display: &str) -> Value {
    json!({ "function": { "coding": [{ "system": PERFORMER_FUNCTION, "code": code, "display": display }] }, "actor": p.reference() })
}

/// RXA-21 = D → entered-in-error; else RXA-20 (CompletionStatus) → completed / not-done; `completed` when
/// nothing was sent.
fn status(ctx: &mut Ctx<'_>, seg: &Seg<'_>, o: &mut Obj) {
    if seg.value(21).is_some_and(|a| a.eq_ignore_ascii_case("D")) {
        o.insert("status".into(), Value::from("entered-in-error"));
        return;
    }
    let s = match seg.value(20).map(|c| c.to_ascii_uppercase()) {
        None => "completed".to_owned(),
        Some(c) => match ctx.concept("CompletionStatus", &c).map(|x| x.0) {
            Some(s) if matches!(s.as_str(), "completed" | "not-done" | "entered-in-error") => s,
            _ => {
                ctx.warn(
                    seg.at(20),
                    WarningKind::UnknownCode,
                    "completion status not in table 0322: completed assumed",
                );
                "completed".to_owned()
            }
        },
    };
    o.insert("status".into(), Value::from(s));
}

/// RXA-6 amount (999 means unknown) and RXA-7 units → doseQuantity.
fn dose(ctx: &mut Ctx<'_>, seg: &Seg<'_>, o: &mut Obj) {
    let Some(v) = seg.value(6).filter(|v| v.as_ref() != "999").and_then(|v| decimal(&v)) else { return };
    let mut q = Obj::new();
    q.insert("value".into(), v);
    if let Some(u) = seg.rep(7) {
        let code = comp(&u, 1);
        put(&mut q, "unit", comp(&u, 2).or(code.clone()).map(|c| Value::from(c.as_ref())));
        if let (Some(code), Some(system)) = (code, comp(&u, 3)) {
            q.insert("system".into(), Value::from(coding_system(ctx, &system)));
            q.insert("code".into(), Value::from(code.as_ref()));
        }
    }
    o.insert("doseQuantity".into(), Value::Object(q));
}

/// CWE[Organization] (RXA-17, an MVX code) → Organization named by the text, identified by the code.
fn manufacturer(ctx: &mut Ctx<'_>, rep: &hearth_hl7v2::Repetition<'_>) -> Option<Value> {
    let code = comp(rep, 1);
    let name = comp(rep, 2);
    if code.is_none() && name.is_none() {
        return None;
    }
    let system = comp(rep, 3).map(|s| coding_system(ctx, &s));
    let mut o = Obj::new();
    put(&mut o, "name", name.as_ref().map(|n| Value::from(n.as_ref())));
    if let Some(c) = &code {
        let mut i = Obj::new();
        put(&mut i, "system", system.clone().map(Value::from));
        i.insert("value".into(), Value::from(c.as_ref()));
        o.insert("identifier".into(), json!([Value::Object(i)]));
    }
    let org = crate::hl7v2::datatypes::add_organization(ctx, o, system.as_deref(), code.as_deref(), name.as_deref());
    Some(org.reference())
}
