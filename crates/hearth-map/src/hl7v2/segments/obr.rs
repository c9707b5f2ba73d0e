//! OBR → ServiceRequest elements (IG `OBR[ServiceRequest]`, see [`super::orc::service_request`]),
//! DiagnosticReport (IG `OBR[DiagnosticReport]`) and Specimen (IG `OBR[Specimen]`).

use hearth_fhir::ids::deterministic_id;
use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, push, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{checked_period, codeable_concept, mapped_concept, practitioner, quantity, v2_table};
use crate::hl7v2::segments::obx::alternate_code;
use crate::hl7v2::segments::orc;
use crate::hl7v2::tracker::{Seg, comp};
use crate::report::WarningKind;

const DIAGNOSTIC_REPORT_STATUS: &[&str] = &[
    "registered",
    "partial",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "appended",
    "cancelled",
    "entered-in-error",
    "unknown",
];

/// The OBR elements of a ServiceRequest: code OBR-4, priority OBR-5, occurrence OBR-6, intent OBR-11,
/// requester OBR-16 (when ORC-12 gave none), reasonCode OBR-31, orderDetail OBR-46/47.
pub fn service_request_fields(ctx: &mut Ctx<'_>, obr: &Seg<'_>, o: &mut Obj) {
    obr.mark(1);
    put(o, "code", obr.rep(4).and_then(|r| codeable_concept(ctx, &r, None)));
    if let Some(p) = obr.value(5) {
        priority(ctx, &p, obr, 5, o);
    }
    put(o, "occurrenceDateTime", ctx.datetime(obr, 6));
    if obr.value(11).is_some_and(|v| v.eq_ignore_ascii_case("G")) {
        o.insert("intent".into(), Value::from("reflex-order"));
    }
    if o.contains_key("requester") {
        // The same ordering provider as ORC-12 (IG: OBR-16 only when ORC-12 is empty).
        obr.mark(16);
    } else if let Some(rep) = obr.rep(16)
        && let Some(p) = practitioner(ctx, &rep, obr.at(16))
    {
        o.insert("requester".into(), p.reference());
    }
    for rep in obr.reps(31) {
        push(o, "reasonCode", codeable_concept(ctx, &rep, None));
    }
    for n in [46, 47] {
        for rep in obr.reps(n) {
            push(o, "orderDetail", codeable_concept(ctx, &rep, None));
        }
    }
}

/// A priority code (table 0485) → request priority; codes the IG maps to nothing are reported, not invented.
pub fn priority(ctx: &mut Ctx<'_>, code: &str, seg: &Seg<'_>, n: usize, o: &mut Obj) {
    match ctx.concept("ExtendedPriorityCodes", code).map(|c| c.0) {
        Some(p) if matches!(p.as_str(), "routine" | "urgent" | "asap" | "stat") => {
            o.insert("priority".into(), Value::from(p));
        }
        _ => ctx.warn(seg.at(n), WarningKind::UnknownCode, "priority without a FHIR equivalent: not mapped"),
    }
}

/// OBR → DiagnosticReport based on the order in scope, about the patient in scope. Sets `scope.report`.
/// `None` (with a warning) without OBR-4: DiagnosticReport.code is required.
pub fn diagnostic_report(ctx: &mut Ctx<'_>, orc: Option<&Seg<'_>>, obr: Seg<'_>) -> Option<Ref> {
    let Some(code) = obr.rep(4).and_then(|r| codeable_concept(ctx, &r, None)) else {
        ctx.warn(obr.at(4), WarningKind::InvalidValue, "OBR without a universal service identifier: no report");
        return None;
    };
    let (ids, identity) = orc::identifiers(ctx, orc, Some(&obr));
    let mut o = Obj::new();
    if !ids.is_empty() {
        o.insert("identifier".into(), Value::Array(ids));
    }
    if let Some(order) = &ctx.scope.order {
        push(&mut o, "basedOn", Some(order.reference()));
    }
    report_status(ctx, &obr, &mut o);
    for rep in obr.reps(24) {
        push(&mut o, "category", mapped_concept(ctx, &rep, "DiagnosticServiceSectionID", Some("0074"), obr.at(24)));
    }
    o.insert("code".into(), code);
    if let Some(p) = &ctx.scope.patient {
        o.insert("subject".into(), p.reference());
    }
    if let Some(e) = &ctx.scope.encounter {
        o.insert("encounter".into(), e.reference());
    }
    let start = ctx.datetime(&obr, 7);
    match ctx.datetime(&obr, 8) {
        Some(end) => {
            put(&mut o, "effectivePeriod", checked_period(ctx, start, Some(end), obr.at(8)));
        }
        None => put(&mut o, "effectiveDateTime", start),
    }
    if let Some(v) = obr.value(22) {
        put(&mut o, "issued", ctx.dtm_instant(&v, obr.at(22)));
    }
    for (n, key) in [(32, "resultsInterpreter"), (34, "performer"), (35, "performer")] {
        for rep in obr.reps(n) {
            if let Some(p) = ndl_practitioner(ctx, &rep) {
                push(&mut o, key, Some(p.reference()));
            }
        }
    }
    // The filler's number identifies the report; without one the placer's does (one report per order).
    let rtype = "DiagnosticReport";
    let id = orc::order_id(ctx, rtype, identity.as_ref(), &obr);
    let rf = ctx.add(rtype, id, o, None);
    ctx.scope.report = Some(rf.clone());
    Some(rf)
}

/// OBR-25 → DiagnosticReport.status (IG `ResultStatus[Non-Queries]`), `unknown` when unmapped.
fn report_status(ctx: &mut Ctx<'_>, obr: &Seg<'_>, o: &mut Obj) {
    let Some(code) = obr.value(25).map(|c| c.to_ascii_uppercase()) else {
        o.insert("status".into(), Value::from("unknown"));
        return;
    };
    let fhir = ctx
        .concept("ResultStatus[Non-Queries]", &code)
        .map(|c| c.0)
        .filter(|c| DIAGNOSTIC_REPORT_STATUS.contains(&c.as_str()));
    if fhir.is_none() {
        if !ctx.opts.vocabulary.knows_code("ResultStatus[Non-Queries]", &code) {
            ctx.warn(obr.at(25), WarningKind::UnknownCode, "result status not in table 0123: status unknown");
        }
        o.insert("_status".into(), alternate_code("0123", &code));
    }
    o.insert("status".into(), Value::from(fhir.unwrap_or_else(|| "unknown".to_owned())));
}

/// NDL (OBR-32..35): component 1 is a CNN (id & family & given & middle & suffix & prefix & degree & source
/// table & assigning authority) → Practitioner, with the same identity rule as XCN.
fn ndl_practitioner(ctx: &mut Ctx<'_>, rep: &hearth_hl7v2::Repetition<'_>) -> Option<Ref> {
    let c = rep.component(1)?;
    let s = |n: usize| c.subcomponent(n).map(|x| x.unescaped().trim().to_owned()).filter(|x| !x.is_empty());
    let (idv, family) = (s(1), s(2));
    if idv.is_none() && family.is_none() && s(3).is_none() {
        return None;
    }
    let mut o = Obj::new();
    let mut name = Obj::new();
    put(&mut name, "family", family.map(Value::from));
    let givens: Vec<Value> = [s(3), s(4)].into_iter().flatten().map(Value::from).collect();
    if !givens.is_empty() {
        name.insert("given".into(), Value::Array(givens));
    }
    put(&mut name, "prefix", s(6).map(|p| json!([p])));
    put(&mut name, "suffix", s(5).map(|p| json!([p])));
    if !name.is_empty() {
        o.insert("name".into(), json!([Value::Object(name)]));
    }
    let system = crate::hl7v2::datatypes::hd_system(ctx, s(9).as_deref(), s(10).as_deref(), s(11).as_deref());
    let id = match &idv {
        Some(v) => {
            let mut i = Obj::new();
            put(&mut i, "system", system.clone().map(Value::from));
            i.insert("value".into(), Value::from(v.clone()));
            o.insert("identifier".into(), json!([Value::Object(i)]));
            deterministic_id("Practitioner", &[system.as_deref().unwrap_or_default(), v])
        }
        None => {
            let key = o.get("name").map(|n| n.to_string()).unwrap_or_default();
            deterministic_id("Practitioner", &["name", &key])
        }
    };
    let cond = system.as_deref().zip(idv.as_deref());
    Some(ctx.add("Practitioner", id, o, cond))
}

/// OBR → Specimen (IG `OBR[Specimen]`) when the OBR describes one (collection volume OBR-9, collector OBR-10,
/// received OBR-14 or source OBR-15). Sets `scope.specimen`.
pub fn specimen(ctx: &mut Ctx<'_>, obr: Seg<'_>) -> Option<Ref> {
    if ![9, 10, 14, 15].iter().any(|&n| obr.peek(n).is_some()) {
        return None;
    }
    let mut o = Obj::new();
    let mut collection = Obj::new();
    put(&mut collection, "quantity", obr.rep(9).and_then(|r| quantity(ctx, &r)));
    if let Some(rep) = obr.rep(10)
        && let Some(p) = practitioner(ctx, &rep, obr.at(10))
    {
        collection.insert("collector".into(), p.reference());
    }
    if let Some(rep) = obr.rep(15) {
        // SPS: specimen source (CWE) in component 1, body site in component 4.
        if let Some(c) = rep.component(1) {
            let code = c.subcomponent(1).map(|x| x.unescaped().trim().to_owned()).filter(|x| !x.is_empty());
            let text = c.subcomponent(2).map(|x| x.unescaped().trim().to_owned()).filter(|x| !x.is_empty());
            if let Some(code) = code {
                let mut coding = Obj::new();
                coding.insert("system".into(), Value::from(v2_table("0070")));
                coding.insert("code".into(), Value::from(code));
                put(&mut coding, "display", text.map(Value::from));
                o.insert("type".into(), json!({ "coding": [Value::Object(coding)] }));
            }
        }
        if let Some(site) = comp(&rep, 4) {
            collection.insert("bodySite".into(), json!({ "text": site.as_ref() }));
        }
    }
    if !collection.is_empty() {
        o.insert("collection".into(), Value::Object(collection));
    }
    put(&mut o, "receivedTime", ctx.datetime(&obr, 14));
    if let Some(p) = &ctx.scope.patient {
        o.insert("subject".into(), p.reference());
    }
    if let Some(order) = &ctx.scope.order {
        push(&mut o, "request", Some(order.reference()));
    }
    let parent = ctx.scope.report.as_ref().or(ctx.scope.order.as_ref()).map(|r| r.id.clone());
    let id = match parent {
        Some(p) => deterministic_id("Specimen", &[&p, "OBR"]),
        None => ctx.segment_id("Specimen", &obr),
    };
    let rf = ctx.add("Specimen", id, o, None);
    ctx.scope.specimen = Some(rf.clone());
    Some(rf)
}
