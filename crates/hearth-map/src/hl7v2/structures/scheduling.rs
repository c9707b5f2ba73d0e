//! Scheduling (IG `SIU_S12`; every SIU_S12…S26 with the same shape): SCH → Appointment, whose status follows
//! the event (S15 cancelled, S17 entered-in-error, S26 noshow…); the patient, the services (AIS), locations
//! (AIL) and people (AIP) become its participants; NTE its notes; SCH-26/27 the ServiceRequests it is based on.

use serde_json::json;

use super::orders::{common, focus, require_pid};
use super::{Registration, walk};
use crate::MapError;
use crate::hl7v2::context::Ctx;
use crate::hl7v2::segments;
use crate::hl7v2::tracker::Seg;

pub const STRUCTURES: &[Registration] = &[Registration {
    keys: &[
        "SIU_S12", "SIU_S13", "SIU_S14", "SIU_S15", "SIU_S16", "SIU_S17", "SIU_S18", "SIU_S19", "SIU_S20", "SIU_S21",
        "SIU_S22", "SIU_S23", "SIU_S24", "SIU_S26",
    ],
    map,
}];

/// Maps a scheduling message.
pub fn map(ctx: &mut Ctx<'_>) -> Result<(), MapError> {
    require_pid(ctx)?;
    if ctx.segment("SCH").is_none() {
        return Err(MapError::Invalid { location: "SCH".to_owned(), reason: "SIU message without SCH".to_owned() });
    }
    let mut sch: Option<Seg<'_>> = None;
    walk(ctx, |ctx, seg| {
        let appointment = ctx.scope.get_other("appointment").cloned();
        match (seg.name(), appointment) {
            ("SCH", _) => {
                sch = Some(seg);
                let appointment = segments::sch::map(ctx, seg);
                focus(ctx, appointment.as_ref());
                appointment.is_some()
            }
            ("TQ1", Some(a)) => segments::tq1::apply(ctx, seg, &a).is_some(),
            ("NTE", Some(a)) => segments::nte::annotate(ctx, seg, &a).is_some(),
            ("RGS", _) => {
                seg.mark(1);
                true
            }
            ("AIS", _) => segments::ais::map(ctx, seg).is_some(),
            ("AIL", _) => segments::ail::map(ctx, seg).is_some(),
            ("AIP", _) => segments::aip::map(ctx, seg).is_some(),
            ("PID", a) => {
                let handled = common(ctx, seg);
                // `common` resets the scope for a new patient: the appointment stays.
                ctx.scope.set_other("appointment", a.clone());
                if let (Some(a), Some(p)) = (a, ctx.scope.patient.clone()) {
                    segments::sch::add_participant(ctx, &a, json!({ "actor": p.reference(), "status": "accepted" }));
                }
                handled
            }
            ("OBX", _) => segments::obx::map(ctx, seg).is_some(),
            _ => common(ctx, seg),
        }
    });
    if let (Some(sch), Some(a)) = (sch, ctx.scope.get_other("appointment").cloned()) {
        segments::sch::service_requests(ctx, &sch, &a);
    }
    Ok(())
}
