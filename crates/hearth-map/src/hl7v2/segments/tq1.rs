//! TQ1 → timing of a request (IG `TQ1[ServiceRequest]`, `TQ1[MedicationRequest]`), the simple parts: start and
//! end (TQ1-7/8) as bounds, quantity (TQ1-2), repeat pattern text (TQ1-3), priority (TQ1-9), text instruction
//! (TQ1-11), total occurrences (TQ1-14). For an Appointment, TQ1-7/8 give start and end.

use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, push, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{period, quantity};
use crate::hl7v2::segments::obr::priority;
use crate::hl7v2::tracker::{Seg, comp};

/// Applies a TQ1 to `target` (ServiceRequest, MedicationRequest or Appointment). Returns the target when the
/// TQ1 added something.
pub fn apply(ctx: &mut Ctx<'_>, seg: Seg<'_>, target: &Ref) -> Option<Ref> {
    seg.mark(1);
    let mut add = Obj::new();
    match target.rtype {
        "Appointment" => {
            if let Some(v) = seg.value(7) {
                put(&mut add, "start", ctx.dtm_instant(&v, seg.at(7)));
            }
            if let Some(v) = seg.value(8) {
                put(&mut add, "end", ctx.dtm_instant(&v, seg.at(8)));
            }
            if let Some(p) = seg.value(9) {
                priority_number(&p, &mut add);
            }
        }
        "ServiceRequest" => {
            put(&mut add, "occurrenceTiming", timing(ctx, &seg));
            put(&mut add, "quantityQuantity", seg.rep(2).and_then(|r| quantity(ctx, &r)));
            if let Some(p) = seg.value(9) {
                priority(ctx, &p, &seg, 9, &mut add);
            }
            for rep in seg.reps(11) {
                let t = rep.unescaped().trim().to_owned();
                if !t.is_empty() {
                    push(&mut add, "note", Some(json!({ "text": t })));
                }
            }
        }
        "MedicationRequest" => {
            let mut dosage = Obj::new();
            put(&mut dosage, "timing", timing(ctx, &seg));
            put(&mut dosage, "patientInstruction", seg.text(11).map(Value::from));
            if let Some(q) = seg.rep(2).and_then(|r| quantity(ctx, &r)) {
                dosage.insert("doseAndRate".into(), json!([{ "doseQuantity": q }]));
            }
            if let Some(p) = seg.value(9) {
                priority(ctx, &p, &seg, 9, &mut add);
            }
            let merged = super::rxo::merge_dosage(ctx, target, dosage);
            if merged.is_some() && add.is_empty() {
                return merged;
            }
        }
        _ => return None,
    }
    if add.is_empty() {
        return None;
    }
    let res = ctx.bundle.get_mut(target)?;
    let has_occurrence = res.keys().any(|x| x.starts_with("occurrence"));
    for (k, v) in add {
        if k.starts_with("occurrence") && has_occurrence {
            continue;
        }
        match (res.get_mut(&k), v) {
            (Some(Value::Array(a)), Value::Array(b)) => a.extend(b),
            (Some(_), _) => {}
            (None, v) => {
                res.insert(k, v);
            }
        }
    }
    Some(target.clone())
}

/// TQ1-3 (repeat pattern, as text), TQ1-7/8 (bounds), TQ1-14 (count) → Timing.
fn timing(ctx: &mut Ctx<'_>, seg: &Seg<'_>) -> Option<Value> {
    let mut t = Obj::new();
    let mut repeat = Obj::new();
    put(&mut repeat, "boundsPeriod", period(ctx, seg.value(7), seg.value(8), seg.at(7)));
    if let Some(n) = seg.value(14).and_then(|v| v.parse::<u32>().ok()).filter(|n| *n > 0) {
        repeat.insert("count".into(), Value::from(n));
    }
    if !repeat.is_empty() {
        t.insert("repeat".into(), Value::Object(repeat));
    }
    let patterns: Vec<String> = seg.reps(3).filter_map(|r| comp(&r, 1).map(|c| c.into_owned())).collect();
    if !patterns.is_empty() {
        t.insert("code".into(), json!({ "text": patterns.join(", ") }));
    }
    (!t.is_empty()).then_some(Value::Object(t))
}

/// Appointment.priority is an unsignedInt: the common v2 priorities ranked (stat first).
fn priority_number(code: &str, o: &mut Obj) {
    let n = match code {
        "S" => 1,
        "A" => 2,
        "R" => 5,
        _ => return,
    };
    o.insert("priority".into(), Value::from(n));
}
