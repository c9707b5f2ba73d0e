//! The ADT family: every ADT event whose segments share the PID/PV1 shape (A01…A62), mapped generically from the
//! segments sent, in order. A PID starts a patient (A17 has two; each PV1 belongs to the PID before it); MRG
//! links the PID's patient to the merged one (A39/A40/A41/A42).

use super::{Registration, walk};
use crate::MapError;
use crate::hl7v2::context::Ctx;
use crate::hl7v2::segments;
use crate::hl7v2::tracker::Seg;

pub const STRUCTURES: &[Registration] = &[Registration {
    keys: &[
        "ADT_A01", "ADT_A02", "ADT_A03", "ADT_A04", "ADT_A05", "ADT_A06", "ADT_A07", "ADT_A08", "ADT_A09", "ADT_A10",
        "ADT_A11", "ADT_A12", "ADT_A13", "ADT_A14", "ADT_A15", "ADT_A16", "ADT_A17", "ADT_A18", "ADT_A19", "ADT_A20",
        "ADT_A21", "ADT_A22", "ADT_A23", "ADT_A24", "ADT_A25", "ADT_A26", "ADT_A27", "ADT_A28", "ADT_A29", "ADT_A30",
        "ADT_A31", "ADT_A32", "ADT_A33", "ADT_A34", "ADT_A35", "ADT_A36", "ADT_A37", "ADT_A38", "ADT_A39", "ADT_A40",
        "ADT_A41", "ADT_A42", "ADT_A43", "ADT_A44", "ADT_A45", "ADT_A46", "ADT_A47", "ADT_A48", "ADT_A49", "ADT_A50",
        "ADT_A51", "ADT_A52", "ADT_A53", "ADT_A54", "ADT_A55", "ADT_A56", "ADT_A57", "ADT_A58", "ADT_A59", "ADT_A60",
        "ADT_A61", "ADT_A62",
    ],
    map,
}];

/// Maps an ADT message.
pub fn map(ctx: &mut Ctx<'_>) -> Result<(), MapError> {
    if ctx.segment("PID").is_none() {
        return Err(MapError::Invalid { location: "PID".to_owned(), reason: "ADT message without PID".to_owned() });
    }
    walk(ctx, |ctx, seg| {
        match seg.name() {
            "PID" => {
                ctx.scope.encounter = None;
                segments::pid::map(ctx, seg);
            }
            "DG1" => {
                segments::dg1::map(ctx, seg);
            }
            "MRG" => {
                segments::mrg::map(ctx, seg);
            }
            "GT1" => {
                segments::gt1::map(ctx, seg);
            }
            "ROL" => {
                segments::rol::map(ctx, seg);
            }
            // Observations about the patient (IG `OBX[Observation]` in ADT), from map-orders' OBX map.
            "OBX" => {
                if let Some(obs) = segments::obx::map(ctx, seg) {
                    ctx.scope.observation = Some(obs);
                }
            }
            _ => return patient_visit(ctx, seg),
        }
        true
    });
    Ok(())
}

/// The patient and visit segments every structure maps the same way (EVN, PD1, NK1, PV1, PV2, AL1, PR1, IN1).
/// PID and DG1 are left to the caller: what they reset or link differs by structure. `true` when handled.
pub fn patient_visit(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> bool {
    match seg.name() {
        "EVN" => {
            segments::evn::map(ctx, seg);
        }
        "PD1" => {
            segments::pd1::map(ctx, seg);
        }
        "NK1" => {
            segments::nk1::map(ctx, seg);
        }
        "PV1" => {
            segments::pv1::map(ctx, seg);
        }
        "PV2" => {
            segments::pv2::map(ctx, seg);
        }
        "AL1" => {
            segments::al1::map(ctx, seg);
        }
        "PR1" => {
            segments::pr1::map(ctx, seg);
        }
        "IN1" => {
            segments::in1::map(ctx, seg);
        }
        _ => return false,
    }
    true
}
