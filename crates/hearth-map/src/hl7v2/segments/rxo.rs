//! RXO → MedicationRequest (IG `RXO[MedicationRequest]`), merged with its ORC; [`medication_request`] is
//! shared with RXE.

use hearth_fhir::ids::deterministic_id;
use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{codeable_concept, decimal, mapped_concept, practitioner};
use crate::hl7v2::segments::orc;
use crate::hl7v2::tracker::{Seg, comp};

/// The MedicationRequest of an order group: ORC elements (status, identifiers, requester), the patient in
/// scope, the given elements. The id comes from the order numbers, so RXO and RXE of one group make one
/// resource. Sets `scope.order`.
pub fn medication_request(ctx: &mut Ctx<'_>, order: Option<&Seg<'_>>, detail: &Seg<'_>, mut o: Obj) -> Option<Ref> {
    let patient = ctx.scope.patient.clone()?;
    let (ids, identity) = orc::identifiers(ctx, order, None);
    if !ids.is_empty() {
        o.insert("identifier".into(), Value::Array(ids));
    }
    match order {
        Some(orc) => orc::request_common(ctx, orc, &mut o, "groupIdentifier"),
        None => {
            o.insert("status".into(), Value::from("unknown"));
        }
    }
    o.entry("intent").or_insert_with(|| Value::from("order"));
    o.insert("subject".into(), patient.reference());
    if let Some(e) = &ctx.scope.encounter {
        o.insert("encounter".into(), e.reference());
    }
    let id = match (&identity, order) {
        (Some((s, v)), _) => deterministic_id("MedicationRequest", &[s, v]),
        (None, Some(orc)) => ctx.segment_id("MedicationRequest", orc),
        (None, None) => ctx.segment_id("MedicationRequest", detail),
    };
    let cond = identity.as_ref().filter(|(s, _)| !s.is_empty()).map(|(s, v)| (s.as_str(), v.as_str()));
    let rf = ctx.add("MedicationRequest", id, o, cond);
    ctx.scope.order = Some(rf.clone());
    Some(rf)
}

/// Merges dosage elements into the MedicationRequest's first `dosageInstruction` (RXO, RXE, TQ1 and RXR of
/// one order describe one dosage): missing keys are added, arrays (doseAndRate) extended.
pub fn merge_dosage(ctx: &mut Ctx<'_>, mr: &Ref, dosage: Obj) -> Option<Ref> {
    if dosage.is_empty() {
        return None;
    }
    let res = ctx.bundle.get_mut(mr)?;
    let list = res.entry("dosageInstruction").or_insert_with(|| json!([{}]));
    let Value::Array(list) = list else { return None };
    if list.is_empty() {
        list.push(json!({}));
    }
    let Some(Value::Object(first)) = list.first_mut() else { return None };
    for (k, v) in dosage {
        match (first.get_mut(&k), v) {
            (Some(Value::Array(a)), Value::Array(b)) => a.extend(b),
            (Some(_), _) => {}
            (None, v) => {
                first.insert(k, v);
            }
        }
    }
    Some(mr.clone())
}

/// A dose range from minimum/maximum amounts and units (RXO-2/3/4, RXE-3/4/5).
pub fn dose_range(ctx: &Ctx<'_>, seg: &Seg<'_>, min: usize, max: usize, units: usize) -> Option<Value> {
    let unit = seg.rep(units);
    let qty = |v: Value| {
        let mut q = Obj::new();
        q.insert("value".into(), v);
        if let Some(u) = &unit {
            put(&mut q, "unit", comp(u, 2).or_else(|| comp(u, 1)).map(|c| Value::from(c.as_ref())));
            if let (Some(code), Some(system)) = (comp(u, 1), comp(u, 3)) {
                q.insert("system".into(), Value::from(crate::hl7v2::datatypes::coding_system(ctx, &system)));
                q.insert("code".into(), Value::from(code.as_ref()));
            }
        }
        Value::Object(q)
    };
    let low = seg.value(min).and_then(|v| decimal(&v)).map(qty);
    let high = seg.value(max).and_then(|v| decimal(&v)).map(qty);
    match (low, high) {
        (Some(l), Some(h)) => Some(json!({ "doseRange": { "low": l, "high": h } })),
        (Some(l), None) => Some(json!({ "doseQuantity": l })),
        (None, Some(h)) => Some(json!({ "doseRange": { "high": h } })),
        (None, None) => None,
    }
}

/// Dispense quantity (amount, units CWE) and refills → dispenseRequest.
pub fn dispense(seg: &Seg<'_>, amount: usize, units: usize, refills: usize) -> Option<Value> {
    let mut d = Obj::new();
    if let Some(v) = seg.value(amount).and_then(|v| decimal(&v)) {
        let mut q = Obj::new();
        q.insert("value".into(), v);
        if let Some(u) = seg.rep(units) {
            put(&mut q, "unit", comp(&u, 2).or_else(|| comp(&u, 1)).map(|c| Value::from(c.as_ref())));
        }
        d.insert("quantity".into(), Value::Object(q));
    }
    if let Some(n) = seg.value(refills).and_then(|v| v.parse::<u32>().ok()) {
        d.insert("numberOfRepeatsAllowed".into(), Value::from(n));
    }
    (!d.is_empty()).then_some(Value::Object(d))
}

/// Maps an RXO (and the ORC before it) to a MedicationRequest. `None` without RXO-1: the medication is
/// required.
pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>, order: Option<&Seg<'_>>) -> Option<Ref> {
    let medication = seg.rep(1).and_then(|r| codeable_concept(ctx, &r, None))?;
    let mut o = Obj::new();
    o.insert("medicationCodeableConcept".into(), medication);
    let mut dosage = Obj::new();
    if let Some(dr) = dose_range(ctx, &seg, 2, 3, 4) {
        dosage.insert("doseAndRate".into(), json!([dr]));
    }
    if let Some(rep) = seg.rep(9) {
        put(
            &mut o,
            "substitution",
            mapped_concept(ctx, &rep, "AllowSubstitution", Some("0161"), seg.at(9))
                .map(|c| json!({ "allowedCodeableConcept": c })),
        );
    }
    put(&mut o, "dispenseRequest", dispense(&seg, 11, 12, 13));
    if order.and_then(|orc| orc.peek(12)).is_none()
        && let Some(rep) = seg.rep(14)
        && let Some(p) = practitioner(ctx, &rep, seg.at(14))
    {
        o.insert("requester".into(), p.reference());
    }
    let mr = medication_request(ctx, order, &seg, o)?;
    merge_dosage(ctx, &mr, dosage);
    Some(mr)
}
