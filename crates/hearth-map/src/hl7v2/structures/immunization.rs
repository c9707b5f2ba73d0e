//! Immunizations (IG `VXU_V04`): per order group, ORC + RXA → Immunization (IG `ORC[Immunization]`,
//! `RXA[Immunization]`), RXR its route and site; OBX in the group are Observations part of it, OBX before
//! any group are observations about the patient.

use super::orders::{common, focus, require_pid};
use super::{Registration, walk};
use crate::MapError;
use crate::hl7v2::bundle::Ref;
use crate::hl7v2::context::Ctx;
use crate::hl7v2::segments;
use crate::hl7v2::tracker::Seg;

pub const STRUCTURES: &[Registration] = &[Registration { keys: &["VXU_V04"], map }];

/// Maps a vaccination update.
pub fn map(ctx: &mut Ctx<'_>) -> Result<(), MapError> {
    require_pid(ctx)?;
    let mut orc: Option<Seg<'_>> = None;
    let mut note: Option<Ref> = None;
    walk(ctx, |ctx, seg| match seg.name() {
        "ORC" => {
            orc = Some(seg);
            ctx.scope.set_other("immunization", None);
            ctx.scope.observation = None;
            note = None;
            true
        }
        "RXA" => {
            let imm = segments::rxa::map(ctx, seg, orc.take());
            focus(ctx, imm.as_ref());
            note.clone_from(&imm);
            imm.is_some()
        }
        "RXR" => match ctx.scope.get_other("immunization").cloned() {
            Some(imm) => segments::rxr::apply(ctx, seg, &imm).is_some(),
            None => false,
        },
        "OBX" => {
            note = segments::obx::map(ctx, seg);
            true
        }
        "NTE" => match note.clone() {
            Some(t) => segments::nte::annotate(ctx, seg, &t).is_some(),
            None => false,
        },
        _ => common(ctx, seg),
    });
    Ok(())
}
