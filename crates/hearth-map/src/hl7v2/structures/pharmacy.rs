//! Pharmacy orders (RDE_O11; RDE_O25 and RDS_O13 with the same pieces): per order group (ORC) one
//! MedicationRequest from RXO and RXE (IG `RXO[MedicationRequest]`), its route from RXR (IG
//! `RXR[MedicationRequest]`), its timing from TQ1 (IG `TQ1[MedicationRequest]`), notes from NTE, Observations
//! (OBX) as supporting information, charges (FT1) as ChargeItems.

use super::orders::{common, focus, link, require_pid};
use super::{Registration, walk};
use crate::MapError;
use crate::hl7v2::bundle::Ref;
use crate::hl7v2::context::Ctx;
use crate::hl7v2::segments;
use crate::hl7v2::tracker::Seg;

pub const STRUCTURES: &[Registration] =
    &[Registration { keys: &["RDE_O11", "RDE_O25", "RDE_O01", "RDS_O13", "RDS_O01", "OMP_O09", "RDE_O49"], map }];

/// Maps a pharmacy order message.
pub fn map(ctx: &mut Ctx<'_>) -> Result<(), MapError> {
    require_pid(ctx)?;
    let mut orc: Option<Seg<'_>> = None;
    let mut pending_tq1: Vec<Seg<'_>> = Vec::new();
    let mut note: Option<Ref> = None;
    walk(ctx, |ctx, seg| match seg.name() {
        "ORC" => {
            orc = Some(seg);
            pending_tq1.clear();
            ctx.scope.order = None;
            ctx.scope.observation = None;
            note = None;
            true
        }
        "RXO" | "RXE" => {
            let mr = if seg.name() == "RXO" {
                segments::rxo::map(ctx, seg, orc.as_ref())
            } else {
                segments::rxe::map(ctx, seg, orc.as_ref())
            };
            if let Some(mr) = &mr {
                for tq1 in std::mem::take(&mut pending_tq1) {
                    segments::tq1::apply(ctx, tq1, mr);
                }
            }
            focus(ctx, mr.as_ref());
            note.clone_from(&mr);
            mr.is_some()
        }
        "TQ1" => match ctx.scope.order.clone() {
            Some(mr) => segments::tq1::apply(ctx, seg, &mr).is_some(),
            None if orc.is_some() => {
                pending_tq1.push(seg);
                true
            }
            None => false,
        },
        "RXR" => match ctx.scope.order.clone() {
            Some(mr) => segments::rxr::apply(ctx, seg, &mr).is_some(),
            None => false,
        },
        "OBX" => {
            let Some(obs) = segments::obx::map(ctx, seg) else { return true };
            if let Some(mr) = ctx.scope.order.clone() {
                link(ctx, &mr, "supportingInformation", &obs);
            }
            note = Some(obs);
            true
        }
        "NTE" => match note.clone() {
            Some(t) => segments::nte::annotate(ctx, seg, &t).is_some(),
            None => false,
        },
        "FT1" => {
            let charge = segments::ft1::map(ctx, seg);
            focus(ctx, charge.as_ref());
            charge.is_some()
        }
        _ => common(ctx, seg),
    });
    Ok(())
}
