//! Segment maps: one file per segment, `pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref>` (see
//! `FRAMEWORK.md`). This file only declares the modules.

// map-core
pub mod al1;
pub mod dg1;
pub mod evn;
pub mod gt1;
pub mod in1;
pub mod mrg;
pub mod msh;
pub mod nk1;
pub mod pd1;
pub mod pid;
pub mod pr1;
pub mod pv1;
pub mod pv2;
pub mod rol;

// map-orders
pub mod ail;
pub mod aip;
pub mod ais;
pub mod ft1;
pub mod nte;
pub mod obr;
pub mod obx;
pub mod orc;
pub mod prb;
pub mod prd;
pub mod rf1;
pub mod rxa;
pub mod rxe;
pub mod rxo;
pub mod rxr;
pub mod sch;
pub mod spm;
pub mod tq1;
pub mod txa;
