//! RXR → route and site of an Immunization (IG `RXR[Immunization]`) or of a MedicationRequest's dosage (IG
//! `RXR[MedicationRequest]`): route `RouteOfAdministration`, site `BodyParts` (`BodySite` for table 0163 codes),
//! method `AdministrationMethod`, additional instructions (RXR-5) `RoutingInstruction`.

use serde_json::Value;

use crate::hl7v2::bundle::{Obj, Ref, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::mapped_concept;
use crate::hl7v2::tracker::Seg;
use crate::hl7v2::tracker::comp;

/// Applies an RXR to `target` (Immunization or MedicationRequest). Returns the target when the RXR added
/// something.
pub fn apply(ctx: &mut Ctx<'_>, seg: Seg<'_>, target: &Ref) -> Option<Ref> {
    let mut add = Obj::new();
    put(
        &mut add,
        "route",
        seg.rep(1).and_then(|r| mapped_concept(ctx, &r, "RouteOfAdministration", Some("0162"), seg.at(1))),
    );
    if let Some(rep) = seg.rep(2) {
        // The IG names BodyParts (table 0550); v2.5 senders use table 0163 (BodySite), whose codes differ.
        let code = comp(&rep, 1);
        let map = match code {
            Some(c) if !ctx.opts.vocabulary.knows_code("BodyParts", &c) => ("BodySite", Some("0163")),
            _ => ("BodyParts", Some("0550")),
        };
        put(&mut add, "site", mapped_concept(ctx, &rep, map.0, map.1, seg.at(2)));
    }
    if target.rtype == "MedicationRequest" {
        let method = seg.rep(4).and_then(|r| mapped_concept(ctx, &r, "AdministrationMethod", Some("0165"), seg.at(4)));
        put(&mut add, "method", method);
        let extra: Vec<Value> = seg
            .reps(5)
            .filter_map(|r| mapped_concept(ctx, &r, "RoutingInstruction", Some("0964"), seg.at(5)))
            .collect();
        if !extra.is_empty() {
            add.insert("additionalInstruction".into(), Value::Array(extra));
        }
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
