//! RF1 → ServiceRequest, a referral (REF_I12…I15). The IG has no RF1 map yet; this follows the RF1 field
//! definitions: status RF1-1 (table 0283), priority RF1-2 (0280), category "referral" plus the referral type
//! RF1-3 (0281) and category RF1-5 (0284), identifiers RF1-6 (originating) and RF1-11 (external), authoredOn
//! RF1-7 (effective), occurrence until RF1-8 (expiration), reason RF1-10 (0336).

use hearth_fhir::ids::deterministic_id;
use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, push, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{checked_period, codeable_concept, identifier_ei, v2_table};
use crate::hl7v2::segments::obx::alternate_code;
use crate::hl7v2::tracker::Seg;
use crate::report::WarningKind;

/// Referral status (table 0283) → ServiceRequest.status: accepted and pending referrals are active; rejected and
/// expired ones will not be carried out.
fn status(code: &str) -> Option<&'static str> {
    match code {
        "A" | "P" => Some("active"),
        "R" | "E" => Some("revoked"),
        _ => None,
    }
}

/// Referral priority (table 0280) → ServiceRequest.priority.
fn priority(code: &str) -> Option<&'static str> {
    match code {
        "S" => Some("stat"),
        "A" => Some("asap"),
        "R" => Some("routine"),
        _ => None,
    }
}

/// Maps an RF1 to the referral ServiceRequest about the patient in scope; sets `scope.order`.
pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    let patient = ctx.scope.patient.clone()?;
    let mut o = Obj::new();
    let mut identity = None;
    for (n, code) in [(6, "PLAC"), (11, "FILL")] {
        let Some(Value::Object(mut i)) = seg.rep(n).and_then(|r| identifier_ei(ctx, &r)) else { continue };
        if identity.is_none() {
            identity = Some((
                i.get("system").and_then(Value::as_str).unwrap_or_default().to_owned(),
                i.get("value").and_then(Value::as_str).unwrap_or_default().to_owned(),
            ));
        }
        i.insert("type".into(), json!({ "coding": [{ "system": v2_table("0203"), "code": code }] }));
        push(&mut o, "identifier", Some(Value::Object(i)));
    }
    let sent = seg.value(1).map(|s| s.to_ascii_uppercase());
    match sent.as_deref().map(|c| (c, status(c))) {
        Some((_, Some(s))) => {
            o.insert("status".into(), Value::from(s));
        }
        Some((c, None)) => {
            ctx.warn(seg.at(1), WarningKind::UnknownCode, "referral status not in table 0283: status unknown");
            o.insert("_status".into(), alternate_code("0283", c));
            o.insert("status".into(), Value::from("unknown"));
        }
        None => {
            o.insert("status".into(), Value::from("active"));
        }
    }
    o.insert("intent".into(), Value::from("order"));
    push(
        &mut o,
        "category",
        Some(
            json!({ "coding": [{ "system": "http://snomed.info/sct", "code": "3457005", "display": "Patient referral" }] }),
        ),
    );
    for (n, table) in [(3, "0281"), (5, "0284")] {
        if let Some(rep) = seg.rep(n) {
            push(&mut o, "category", codeable_concept(ctx, &rep, Some(table)));
        }
    }
    if let Some(p) = seg.value(2) {
        match priority(&p.to_ascii_uppercase()) {
            Some(p) => {
                o.insert("priority".into(), Value::from(p));
            }
            None => ctx.warn(seg.at(2), WarningKind::UnknownCode, "referral priority not in table 0280: not mapped"),
        }
    }
    o.insert("subject".into(), patient.reference());
    if let Some(e) = &ctx.scope.encounter {
        o.insert("encounter".into(), e.reference());
    }
    let effective = ctx.datetime(&seg, 7);
    put(&mut o, "authoredOn", effective.clone());
    let expires = ctx.datetime(&seg, 8);
    if expires.is_some() {
        put(&mut o, "occurrencePeriod", checked_period(ctx, effective, expires, seg.at(8)));
    }
    for rep in seg.reps(10) {
        push(&mut o, "reasonCode", codeable_concept(ctx, &rep, Some("0336")));
    }
    seg.mark(9);
    let id = match &identity {
        Some((s, v)) => deterministic_id("ServiceRequest", &[s, v]),
        None => ctx.segment_id("ServiceRequest", &seg),
    };
    let cond = identity.as_ref().filter(|(s, _)| !s.is_empty()).map(|(s, v)| (s.as_str(), v.as_str()));
    let rf = ctx.add("ServiceRequest", id, o, cond);
    ctx.scope.order = Some(rf.clone());
    Some(rf)
}
