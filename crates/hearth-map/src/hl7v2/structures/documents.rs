//! Documents (IG `MDM_T02`; every MDM_T01…T11 with the same shape): the order groups become ServiceRequests,
//! TXA a DocumentReference related to them, and the OBX after TXA its content (IG `OBX[DocumentReference]`).
//! See [`super::orders`] for the walker.

use super::Registration;
use super::orders::{Kind, map_kind};
use crate::MapError;
use crate::hl7v2::context::Ctx;

pub const STRUCTURES: &[Registration] = &[Registration {
    keys: &[
        "MDM_T01", "MDM_T02", "MDM_T03", "MDM_T04", "MDM_T05", "MDM_T06", "MDM_T07", "MDM_T08", "MDM_T09", "MDM_T10",
        "MDM_T11",
    ],
    map,
}];

/// Maps a document management message.
pub fn map(ctx: &mut Ctx<'_>) -> Result<(), MapError> {
    map_kind(ctx, Kind::Documents)
}
