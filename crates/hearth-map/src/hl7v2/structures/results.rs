//! Results (IG `ORU_R01`; OUL_R22/R23/R24 with the same pieces): per OBR a ServiceRequest and a
//! DiagnosticReport whose `result` lists the OBX Observations and whose `specimen` lists the SPM Specimens.
//! See [`super::orders`] for the walker.

use super::Registration;
use super::orders::{Kind, map_kind};
use crate::MapError;
use crate::hl7v2::context::Ctx;

pub const STRUCTURES: &[Registration] =
    &[Registration { keys: &["ORU_R01", "OUL_R21", "OUL_R22", "OUL_R23", "OUL_R24", "ORU_W01"], map }];

/// Maps a results message.
pub fn map(ctx: &mut Ctx<'_>) -> Result<(), MapError> {
    map_kind(ctx, Kind::Results)
}
