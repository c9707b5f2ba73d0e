//! NTE → Annotation (IG `NTE[ServiceRequest]`, `NTE[Observation]`), the Appointment note extension (IG
//! `NTE[Appointment-Comment]`) and DocumentReference content (IG `NTE[DocumentReference]`).
//!
//! An NTE has no resource of its own: the structure says what it annotates ([`annotate`]).

use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, push, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::practitioner;
use crate::hl7v2::tracker::Seg;

/// The R5 `Appointment.note` cross-version extension (IG `NTE[Appointment-Comment]`).
pub const APPOINTMENT_NOTE: &str = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.note";

/// The comment text: NTE-3 repetitions, one line each; `None` when empty. Marks NTE-1 (set id) and NTE-3.
pub fn text(seg: &Seg<'_>) -> Option<String> {
    seg.mark(1);
    let lines: Vec<String> = seg.reps(3).map(|r| r.unescaped().trim().to_owned()).filter(|l| !l.is_empty()).collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// NTE → Annotation: text NTE-3, author NTE-5 (Practitioner), time NTE-6.
pub fn annotation(ctx: &mut Ctx<'_>, seg: &Seg<'_>) -> Option<Value> {
    let text = text(seg)?;
    let mut o = Obj::new();
    if let Some(rep) = seg.rep(5)
        && let Some(p) = practitioner(ctx, &rep, seg.at(5))
    {
        o.insert("authorReference".into(), p.reference());
    }
    put(&mut o, "time", ctx.datetime(seg, 6));
    o.insert("text".into(), Value::from(text));
    Some(Value::Object(o))
}

/// Adds the NTE to `target`: `note` (Annotation) for resources that have one, the R5 note extension for an
/// Appointment, a text content for a DocumentReference. Returns the target when something was added.
pub fn annotate(ctx: &mut Ctx<'_>, seg: Seg<'_>, target: &Ref) -> Option<Ref> {
    let value = match target.rtype {
        "Appointment" => json!({ "url": APPOINTMENT_NOTE, "valueAnnotation": annotation(ctx, &seg)? }),
        "DocumentReference" => {
            let t = text(&seg)?;
            json!({ "attachment": { "contentType": "text/plain", "data": super::txa::base64(t.as_bytes()) } })
        }
        "ServiceRequest" | "Observation" | "Specimen" | "Immunization" | "MedicationRequest" | "ChargeItem"
        | "Procedure" | "Condition" => annotation(ctx, &seg)?,
        _ => return None,
    };
    let key = match target.rtype {
        "Appointment" => "extension",
        "DocumentReference" => "content",
        _ => "note",
    };
    let res = ctx.bundle.get_mut(target)?;
    push(res, key, Some(value));
    Some(target.clone())
}

/// NTE → a note on the resource in scope (the last Observation, else the order): the default use.
pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    let target = ctx.scope.observation.clone().or_else(|| ctx.scope.order.clone())?;
    annotate(ctx, seg, &target)
}
