//! AIP → Appointment.participant with a Practitioner actor (IG `AIP[Appointment]`).

use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{codeable_concept, practitioner};
use crate::hl7v2::segments::sch::{add_participant, participant_period, participant_status};
use crate::hl7v2::tracker::Seg;

/// Adds the person (AIP-3) as a participant of the Appointment in scope: type AIP-4, status AIP-12, period
/// AIP-6 plus the duration AIP-9/10.
pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    let appointment = ctx.scope.get_other("appointment")?.clone();
    let actor = seg.rep(3).and_then(|r| practitioner(ctx, &r, seg.at(3)))?;
    seg.mark(1);
    let status = seg.value(12).map(|s| s.into_owned());
    let mut p = Obj::new();
    if let Some(t) = seg.rep(4).and_then(|r| codeable_concept(ctx, &r, None)) {
        p.insert("type".into(), json!([t]));
    }
    p.insert("actor".into(), actor.reference());
    p.insert("status".into(), Value::from(participant_status(status.as_deref())));
    put(&mut p, "period", participant_period(ctx, &seg, 6, 9, 10));
    add_participant(ctx, &appointment, Value::Object(p))
}
