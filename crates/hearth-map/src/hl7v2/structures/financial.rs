//! Financial messages: DFT_P03/P11 (order groups as in ORM, FT1 → ChargeItem) and BAR_P01/P02/P12 (patient,
//! visit, diagnoses, procedures, insurance, observations). See [`super::orders`] for the walker.

use super::Registration;
use super::orders::{Kind, map_kind};
use crate::MapError;
use crate::hl7v2::context::Ctx;

pub const STRUCTURES: &[Registration] = &[Registration {
    keys: &["DFT_P03", "DFT_P11", "BAR_P01", "BAR_P02", "BAR_P05", "BAR_P06", "BAR_P10", "BAR_P12"],
    map,
}];

/// Maps a financial message.
pub fn map(ctx: &mut Ctx<'_>) -> Result<(), MapError> {
    map_kind(ctx, Kind::Financial)
}
