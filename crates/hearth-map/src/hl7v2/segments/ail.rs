//! AIL → Appointment.participant with a Location actor (IG `AIL[Appointment]`).

use serde_json::Value;

use crate::hl7v2::bundle::{Obj, Ref, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::location;
use crate::hl7v2::segments::sch::{add_participant, participant_period, participant_status};
use crate::hl7v2::tracker::Seg;

/// Adds the location (AIL-3) as a participant of the Appointment in scope, its status from AIL-12 and its
/// period from AIL-6 and the duration AIL-9/10.
pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    let appointment = ctx.scope.get_other("appointment")?.clone();
    let actor = seg.rep(3).and_then(|r| location(&mut *ctx, &r))?;
    seg.mark(1);
    let status = seg.value(12).map(|s| s.into_owned());
    let mut p = Obj::new();
    p.insert("actor".into(), actor.reference());
    p.insert("status".into(), Value::from(participant_status(status.as_deref())));
    put(&mut p, "period", participant_period(ctx, &seg, 6, 9, 10));
    add_participant(ctx, &appointment, Value::Object(p))
}
