//! MRG → Patient.link (A39/A40 merge): the surviving Patient (PID) `replaces` the old one, the old one (MRG-1,
//! same id rule as PID-3, so it is the resource an earlier message created) becomes inactive and
//! `replaced-by` the survivor. MRG-3 (prior patient account number) → Account (IG `MRG[Account]`).

use hearth_hl7v2::Repetition;
use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, push};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{human_name, identifier_cx};
use crate::hl7v2::segments::pid::{add_account, identity, patient_id};
use crate::hl7v2::tracker::Seg;

pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    let survivor = ctx.scope.patient.clone()?;
    // IG MRG[Account]: the prior patient account number (MRG-3), status unknown (the message does not say
    // whether the prior account is still open), now about the surviving Patient.
    if let Some(rep) = seg.rep(3)
        && let Some(ident) = identifier_cx(ctx, &rep, seg.at(3))
    {
        add_account(ctx, ident, "unknown", &survivor);
    }
    let ids: Vec<Repetition<'_>> = seg.reps(1).chain(seg.reps(2)).chain(seg.reps(4)).collect();
    let (system, value) = identity(ctx, &ids)?;
    let mut o = Obj::new();
    for rep in &ids {
        push(&mut o, "identifier", identifier_cx(ctx, rep, seg.at(1)));
    }
    for rep in seg.reps(7) {
        push(&mut o, "name", human_name(ctx, &rep, seg.at(7)));
    }
    o.insert("active".into(), Value::from(false));
    o.insert("link".into(), json!([{ "other": survivor.reference(), "type": "replaced-by" }]));
    let id = patient_id(&system, &value);
    if id == survivor.id {
        return None;
    }
    let cond = (!system.is_empty()).then_some((system.as_str(), value.as_str()));
    let old = ctx.add("Patient", id, o, cond);
    if let Some(p) = ctx.bundle.get_mut(&survivor) {
        push(p, "link", Some(json!({ "other": old.reference(), "type": "replaces" })));
    }
    Some(old)
}
