//! PRD → Practitioner (a provider of a referral, REF_I12…I15), linked to the referral by its role PRD-1
//! (table 0286): the referring provider (RP) is the ServiceRequest's requester, the referred-to provider (RT)
//! its performer, with their place (PRD-4) as the request's location; other roles (primary care, consulting)
//! are performers too. Name PRD-2, address PRD-3, telecom PRD-5, identifiers PRD-7 (PLN: id, type).

use hearth_fhir::ids::deterministic_id;
use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, push};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{address, contact_point, human_name, identifier_type, location};
use crate::hl7v2::tracker::{Seg, comp};

/// Maps a PRD; links it to `referral` when there is one. Returns the Practitioner.
pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>, referral: Option<&Ref>) -> Option<Ref> {
    let mut o = Obj::new();
    for rep in seg.reps(2) {
        push(&mut o, "name", human_name(ctx, &rep, seg.at(2)));
    }
    let mut key = None;
    for rep in seg.reps(7) {
        let Some(v) = comp(&rep, 1) else { continue };
        let mut i = Obj::new();
        // PLN-2 is the identifier's type (table 0338), PLN-3 the issuing state: no assigning authority.
        if let Some(t) = comp(&rep, 2) {
            i.insert("type".into(), identifier_type(ctx, &t, seg.at(7)));
        }
        i.insert("value".into(), Value::from(v.as_ref()));
        key.get_or_insert_with(|| (String::new(), v.into_owned()));
        push(&mut o, "identifier", Some(Value::Object(i)));
    }
    if !o.contains_key("name") && key.is_none() {
        return None;
    }
    for rep in seg.reps(3) {
        push(&mut o, "address", address(ctx, &rep, seg.at(3)));
    }
    for rep in seg.reps(5) {
        push(&mut o, "telecom", contact_point(ctx, &rep, seg.at(5), Some("work")));
    }
    let id = match &key {
        Some((s, v)) => deterministic_id("Practitioner", &[s, v]),
        None => deterministic_id("Practitioner", &["name", &o.get("name").map(Value::to_string).unwrap_or_default()]),
    };
    let cond = key.as_ref().filter(|(s, _)| !s.is_empty()).map(|(s, v)| (s.as_str(), v.as_str()));
    let practitioner = ctx.add("Practitioner", id, o, cond);
    let role = seg.rep(1).and_then(|r| comp(&r, 1)).map(|r| r.to_ascii_uppercase());
    let place = seg.rep(4).and_then(|r| location(ctx, &r));
    if let Some(referral) = referral
        && let Some(sr) = ctx.bundle.get_mut(referral)
    {
        match role.as_deref() {
            Some("RP") => {
                sr.entry("requester").or_insert_with(|| practitioner.reference());
            }
            _ => {
                push(sr, "performer", Some(practitioner.reference()));
                if role.as_deref() == Some("RT")
                    && let Some(l) = &place
                {
                    push(sr, "locationReference", Some(l.reference()));
                }
            }
        }
        if role.as_deref() == Some("RT") {
            sr.entry("performerType").or_insert_with(|| json!({ "text": "Referred-to provider" }));
        }
    }
    Some(practitioner)
}
