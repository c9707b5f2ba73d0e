//! Referrals (REF_I12…I15, RRI_I12…I15 with the same pieces): RF1 becomes the referral ServiceRequest, each
//! PRD a Practitioner it names as requester (referring) or performer (referred-to, with the place as the
//! request's location); the patient, visit, insurance, diagnoses, procedures and results go to the shared
//! segment maps (OBR/OBX as in a results message). The message sends RF1 and PRD before PID, so the Patient is
//! mapped first.

use super::orders::{Kind, State, flush, focus, require_pid, step};
use super::{Registration, walk};
use crate::MapError;
use crate::hl7v2::bundle::Ref;
use crate::hl7v2::context::Ctx;
use crate::hl7v2::segments;

pub const STRUCTURES: &[Registration] = &[Registration {
    keys: &["REF_I12", "REF_I13", "REF_I14", "REF_I15", "RRI_I12", "RRI_I13", "RRI_I14", "RRI_I15"],
    map,
}];

/// Maps a referral message.
pub fn map(ctx: &mut Ctx<'_>) -> Result<(), MapError> {
    require_pid(ctx)?;
    if let Some(pid) = ctx.segment("PID") {
        segments::pid::map(ctx, pid);
    }
    let mut st = State::default();
    let mut referral: Option<Ref> = None;
    let mut seen_pid = false;
    walk(ctx, |ctx, seg| match seg.name() {
        "RF1" => {
            referral = segments::rf1::map(ctx, seg);
            focus(ctx, referral.as_ref());
            st.annotate_next(referral.clone());
            referral.is_some()
        }
        "PRD" => segments::prd::map(ctx, seg, referral.as_ref()).is_some(),
        // Already mapped; a second PID would be another patient, which a referral does not carry.
        "PID" if !seen_pid => {
            seen_pid = true;
            true
        }
        _ => step(ctx, &mut st, Kind::Results, seg),
    });
    flush(ctx, &mut st);
    Ok(())
}
