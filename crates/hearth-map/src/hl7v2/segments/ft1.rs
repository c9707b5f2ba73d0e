//! FT1 → ChargeItem (DFT_P03/P11). The IG has no FT1 map yet; this follows the FT1 field definitions: code
//! FT1-25 (the procedure code, CPT/HCPCS: what was done) with the transaction code FT1-7 (the charge master
//! entry) as further codings, else FT1-7 alone; occurrence FT1-4, entered FT1-5, quantity FT1-10, price FT1-11,
//! reason FT1-19, performer FT1-20, product FT1-29, status from the transaction type FT1-6 (CG → billable).

use hearth_fhir::ids::deterministic_id;
use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, push, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{codeable_concept, decimal, period, practitioner};
use crate::hl7v2::segments::obx::alternate_code;
use crate::hl7v2::tracker::{Seg, sub};
use crate::report::WarningKind;

/// Maps an FT1 to a ChargeItem for the patient (and encounter) in scope. `None` (with a warning) without a
/// transaction or procedure code: ChargeItem.code is required.
pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    let patient = ctx.scope.patient.clone()?;
    let transaction = seg.rep(7).and_then(|r| codeable_concept(ctx, &r, Some("0132")));
    let procedure = seg.rep(25).and_then(|r| codeable_concept(ctx, &r, Some("0088")));
    let Some(code) = charge_code(procedure, transaction) else {
        ctx.warn(seg.at(7), WarningKind::InvalidValue, "FT1 without a transaction or procedure code: not mapped");
        return None;
    };
    seg.mark(1);
    let mut o = Obj::new();
    let txn = seg.value(2).map(|v| v.into_owned());
    if let Some(t) = &txn {
        push(&mut o, "identifier", Some(json!({ "value": t })));
    }
    status(ctx, &seg, &mut o);
    o.insert("code".into(), code);
    o.insert("subject".into(), patient.reference());
    if let Some(e) = &ctx.scope.encounter {
        o.insert("context".into(), e.reference());
    }
    if let Some(rep) = seg.rep(4) {
        let (start, end) = (sub(&rep, 1, 1), sub(&rep, 2, 1));
        match end {
            Some(e) => put(&mut o, "occurrencePeriod", period(ctx, start, Some(e), seg.at(4))),
            None => put(&mut o, "occurrenceDateTime", start.and_then(|s| ctx.dtm_datetime(&s, seg.at(4)))),
        }
    }
    put(&mut o, "enteredDate", ctx.datetime(&seg, 5));
    if let Some(q) = seg.value(10).and_then(|v| decimal(&v)) {
        o.insert("quantity".into(), json!({ "value": q }));
    }
    if let Some(rep) = seg.rep(11) {
        // CP: price (MO: quantity & denomination) in component 1.
        let value = sub(&rep, 1, 1).and_then(|v| decimal(&v));
        let currency = sub(&rep, 1, 2).filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()));
        if let Some(v) = value {
            let mut m = Obj::new();
            m.insert("value".into(), v);
            put(&mut m, "currency", currency.map(|c| Value::from(c.as_ref())));
            o.insert("priceOverride".into(), Value::Object(m));
        }
    }
    for rep in seg.reps(19) {
        push(&mut o, "reason", codeable_concept(ctx, &rep, None));
    }
    for rep in seg.reps(20) {
        if let Some(p) = practitioner(ctx, &rep, seg.at(20)) {
            push(&mut o, "performer", Some(json!({ "actor": p.reference() })));
        }
    }
    put(&mut o, "productCodeableConcept", seg.rep(29).and_then(|r| codeable_concept(ctx, &r, None)));
    let id = match &txn {
        Some(t) => deterministic_id("ChargeItem", &[&patient.id, t]),
        None => ctx.segment_id("ChargeItem", &seg),
    };
    Some(ctx.add("ChargeItem", id, o, None))
}

/// The procedure's codings first (ChargeItem.code says what was charged for), then the transaction code's; the
/// text of the first that has one.
fn charge_code(procedure: Option<Value>, transaction: Option<Value>) -> Option<Value> {
    let (Some(Value::Object(mut p)), Some(Value::Object(t))) = (procedure.clone(), transaction.clone()) else {
        return procedure.or(transaction);
    };
    if let (Some(Value::Array(pc)), Some(Value::Array(tc))) = (p.get_mut("coding"), t.get("coding")) {
        pc.extend(tc.iter().filter(|c| !pc.contains(c)).cloned().collect::<Vec<_>>());
    } else if let Some(tc) = t.get("coding") {
        p.entry("coding").or_insert_with(|| tc.clone());
    }
    if let Some(text) = t.get("text") {
        p.entry("text").or_insert_with(|| text.clone());
    }
    Some(Value::Object(p))
}

/// FT1-6 transaction type (table 0017) → ChargeItem.status.
fn status(ctx: &mut Ctx<'_>, seg: &Seg<'_>, o: &mut Obj) {
    let code = seg.value(6).map(|c| c.to_ascii_uppercase());
    let s = match code.as_deref() {
        Some("CG") => "billable",
        None => "unknown",
        Some(c) => {
            if !matches!(c, "CD" | "PY" | "AJ") {
                ctx.warn(seg.at(6), WarningKind::UnknownCode, "transaction type not in table 0017");
            }
            o.insert("_status".into(), alternate_code("0017", c));
            "unknown"
        }
    };
    o.insert("status".into(), Value::from(s));
}
