//! RXR → route and site of an Immunization (IG `RXR[Immunization]`) or of a MedicationRequest's dosage (IG
//! `RXR[MedicationRequest]`).

use crate::hl7v2::bundle::{Obj, Ref, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{codeable_concept, mapped_concept};
use crate::hl7v2::tracker::Seg;

/// Applies an RXR to `target` (Immunization or MedicationRequest). Returns the target when the RXR added
/// something.
pub fn apply(ctx: &mut Ctx<'_>, seg: Seg<'_>, target: &Ref) -> Option<Ref> {
    let mut add = Obj::new();
    put(
        &mut add,
        "route",
        seg.rep(1).and_then(|r| mapped_concept(ctx, &r, "RouteOfAdministration", "0162", seg.at(1))),
    );
    put(&mut add, "site", seg.rep(2).and_then(|r| mapped_concept(ctx, &r, "BodySite", "0163", seg.at(2))));
    if target.rtype == "MedicationRequest" {
        put(&mut add, "method", seg.rep(4).and_then(|r| codeable_concept(ctx, &r, Some("0165"))));
    }
    if add.is_empty() {
        return None;
    }
    match target.rtype {
        "MedicationRequest" => super::rxo::merge_dosage(ctx, target, add),
        "Immunization" => {
            let res = ctx.bundle.get_mut(target)?;
            for (k, v) in add {
                res.entry(k).or_insert(v);
            }
            Some(target.clone())
        }
        _ => None,
    }
}
