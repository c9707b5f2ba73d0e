//! Message structures: one function per structure, `fn(&mut Ctx<'_>) -> Result<(), MapError>`, registered in a
//! module's `STRUCTURES` table. [`lookup`] finds the registration for a message: by MSH-9.3 (or the structure
//! derived from MSH-9.1/9.2), then by `CODE_EVENT` (`SIU_S14`). A message no table names gets
//! [`MapError::UnsupportedStructure`](crate::MapError::UnsupportedStructure).

use super::context::Ctx;
use super::tracker::Seg;
use crate::MapError;
use crate::report::WarningKind;

// map-core
pub mod adt;

// map-orders
pub mod documents;
pub mod financial;
pub mod immunization;
pub mod orders;
pub mod pharmacy;
pub mod problems;
pub mod referrals;
pub mod results;
pub mod scheduling;

/// A structure's conversion function.
pub type MapFn = fn(&mut Ctx<'_>) -> Result<(), MapError>;

/// One entry of a dispatch table.
#[derive(Debug, Clone, Copy)]
pub struct Registration {
    /// Keys this function handles: structure names (`ADT_A01`) or `CODE_EVENT` (`ADT_A03`, `SIU_S14`).
    pub keys: &'static [&'static str],
    pub map: MapFn,
}

/// Every table, searched in order.
const TABLES: &[&[Registration]] = &[
    adt::STRUCTURES,
    orders::STRUCTURES,
    results::STRUCTURES,
    documents::STRUCTURES,
    scheduling::STRUCTURES,
    pharmacy::STRUCTURES,
    immunization::STRUCTURES,
    financial::STRUCTURES,
    problems::STRUCTURES,
    referrals::STRUCTURES,
];

/// The registration for a message: by structure, then by `code_event`.
pub fn lookup(structure: &str, code: &str, event: &str) -> Option<Registration> {
    let find = |key: &str| TABLES.iter().flat_map(|t| t.iter()).find(|r| r.keys.contains(&key)).copied();
    find(structure).or_else(|| find(&format!("{code}_{event}")))
}

/// Every key registered (for documentation and the corpus test).
pub fn registered() -> Vec<&'static str> {
    TABLES.iter().flat_map(|t| t.iter()).flat_map(|r| r.keys.iter().copied()).collect()
}

/// Runs `f` on every segment after MSH, in order. `f` returns whether it handled the segment; a segment it did
/// not handle gets an `UnmappedSegment` warning (Z-segments get theirs from [`Ctx::finish`]) and its valued
/// fields are listed as unmapped.
pub fn walk<'a>(ctx: &mut Ctx<'a>, mut f: impl FnMut(&mut Ctx<'a>, Seg<'a>) -> bool) {
    for seg in ctx.segments() {
        if seg.name() == "MSH" {
            continue;
        }
        if !f(ctx, seg) && !seg.name().starts_with('Z') {
            ctx.warn(seg.name(), WarningKind::UnmappedSegment, "segment not mapped in this structure");
        }
    }
}
