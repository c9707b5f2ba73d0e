//! PV2 → Encounter (IG `PV2[Encounter]`): admit reason, visit description, priority (`EncounterPriority`).

use crate::hl7v2::bundle::{Ref, push, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{codeable_concept, mapped_concept};
use crate::hl7v2::tracker::Seg;

pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    let enc = ctx.scope.encounter.clone()?;
    let reason = seg.rep(3).and_then(|r| codeable_concept(ctx, &r, None));
    let text = seg.text(12);
    let priority = seg.rep(25).and_then(|r| mapped_concept(ctx, &r, "EncounterPriority", Some("0217"), seg.at(25)));
    if let Some(e) = ctx.bundle.get_mut(&enc) {
        push(e, "reasonCode", reason);
        if !e.contains_key("priority") {
            put(e, "priority", priority);
        }
        if let Some(t) = text {
            // The visit description becomes a type's text (Encounter.text is XHTML narrative).
            push(e, "type", Some(serde_json::json!({ "text": t })));
        }
    }
    Some(enc)
}
