//! Problems (PPR_PC1 add, PC2 update, PC3 delete): each PRB becomes a problem-list Condition (see
//! [`segments::prb`]), its NTE notes; visits, goals' observations and orders go to the shared segment maps.

use super::orders::{Kind, State, flush, focus, require_pid, step};
use super::{Registration, walk};
use crate::MapError;
use crate::hl7v2::context::Ctx;
use crate::hl7v2::segments;

pub const STRUCTURES: &[Registration] = &[Registration { keys: &["PPR_PC1", "PPR_PC2", "PPR_PC3"], map }];

/// Maps a problem message.
pub fn map(ctx: &mut Ctx<'_>) -> Result<(), MapError> {
    require_pid(ctx)?;
    let mut st = State::default();
    walk(ctx, |ctx, seg| match seg.name() {
        "PRB" => {
            flush(ctx, &mut st);
            ctx.scope.order = None;
            ctx.scope.observation = None;
            let condition = segments::prb::map(ctx, seg);
            focus(ctx, condition.as_ref());
            st.annotate_next(condition.clone());
            condition.is_some()
        }
        _ => step(ctx, &mut st, Kind::Orders, seg),
    });
    flush(ctx, &mut st);
    Ok(())
}
