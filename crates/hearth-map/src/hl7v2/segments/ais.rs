//! AIS → Appointment.serviceType, start and end (IG `AIS[Appointment]`).

use serde_json::Value;

use crate::hl7v2::bundle::{Ref, push};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::codeable_concept;
use crate::hl7v2::segments::sch::end_after;
use crate::hl7v2::tracker::{Seg, comp};

/// Adds the service (AIS-3) to the Appointment in scope; AIS-4 and the duration AIS-7/8 give its start and end
/// when SCH did not.
pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    let appointment = ctx.scope.get_other("appointment")?.clone();
    seg.mark(1);
    let service = seg.rep(3).and_then(|r| codeable_concept(ctx, &r, None));
    let start = seg.value(4).and_then(|v| ctx.dtm_instant(&v, seg.at(4)));
    let end = match (start.as_ref().and_then(Value::as_str), seg.peek(7)) {
        (Some(s), Some(d)) => {
            let unit = seg.peek(8).and_then(|f| f.repetition(1)).and_then(|r| comp(&r, 1)).map(|u| u.into_owned());
            let end = end_after(s, d.raw(), unit.as_deref());
            if end.is_some() {
                seg.mark(7);
                seg.mark(8);
            }
            end
        }
        _ => None,
    };
    let a = ctx.bundle.get_mut(&appointment)?;
    push(a, "serviceType", service);
    if let Some(s) = start
        && !a.contains_key("start")
    {
        a.insert("start".into(), s);
        if let Some(e) = end {
            a.entry("end").or_insert(Value::from(e));
        }
    }
    Some(appointment)
}
