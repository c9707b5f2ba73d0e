//! ROL → Patient.generalPractitioner (role `PP` of table 0443, IG `ROL[Patient-GeneralPractitioner]`) or, in a
//! visit, Encounter.participant with the role as its type (IG `ROL[Encounter-PractitionerRole]`, simplified to
//! the Practitioner).

use serde_json::json;

use crate::hl7v2::bundle::{Ref, push};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{mapped_concept, practitioner};
use crate::hl7v2::tracker::{Seg, comp};

pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    seg.mark(1);
    seg.mark(2);
    let role_rep = seg.rep(3)?;
    let role_code = comp(&role_rep, 1).map(|c| c.into_owned());
    let role = mapped_concept(ctx, &role_rep, "ProviderRole", Some("0443"), seg.at(3));
    let person = seg.rep(4).and_then(|r| practitioner(ctx, &r, seg.at(4)))?;
    let target = if role_code.as_deref() == Some("PP") || ctx.scope.encounter.is_none() {
        ctx.scope.patient.clone().map(|p| (p, true))
    } else {
        ctx.scope.encounter.clone().map(|e| (e, false))
    };
    let (target, is_patient) = target?;
    if let Some(r) = ctx.bundle.get_mut(&target) {
        if is_patient {
            if role_code.as_deref() == Some("PP") {
                push(r, "generalPractitioner", Some(person.reference()));
            }
        } else {
            let mut p = json!({ "individual": person.reference() });
            if let Some(role) = role {
                p["type"] = json!([role]);
            }
            push(r, "participant", Some(p));
        }
    }
    Some(person)
}
