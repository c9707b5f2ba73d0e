//! PD1 → Patient (IG `PD1[Patient]`): general practitioner (PD1-3 organization, PD1-4 practitioner).

use crate::hl7v2::bundle::{Ref, push};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{organization, practitioner};
use crate::hl7v2::tracker::Seg;

pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    let patient = ctx.scope.patient.clone()?;
    let mut gps = Vec::new();
    for rep in seg.reps(3) {
        gps.extend(organization(ctx, &rep, seg.at(3)));
    }
    for rep in seg.reps(4) {
        gps.extend(practitioner(ctx, &rep, seg.at(4)));
    }
    if let Some(p) = ctx.bundle.get_mut(&patient) {
        for g in &gps {
            push(p, "generalPractitioner", Some(g.reference()));
        }
    }
    Some(patient)
}
