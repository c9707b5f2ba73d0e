//! PRB → Condition, a problem-list item (PPR_PC1/PC2/PC3). The IG has no PRB map yet; this follows the PRB
//! field definitions and the IG's DG1[Condition] conventions: code PRB-3, identifier PRB-4 (problem instance),
//! recorded PRB-7 (established), abatement PRB-9 (actual resolution), category problem-list-item, clinical status
//! from the life-cycle status PRB-14, onset PRB-16 (else the onset text PRB-17). A deletion (PRB-1 `DE`, or the
//! PC3 event) is `verificationStatus` entered-in-error, without a clinical status (FHIR's con-5).

use hearth_fhir::ids::deterministic_id;
use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, push, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{codeable_concept, identifier_ei};
use crate::hl7v2::tracker::{Seg, comp};
use crate::report::WarningKind;

const CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";
const VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/condition-ver-status";

/// PRB-14 life-cycle status (a user-defined table: code or text) → Condition.clinicalStatus.
fn clinical_status(code: &str) -> Option<&'static str> {
    Some(match code.to_ascii_lowercase().as_str() {
        "a" | "active" => "active",
        "i" | "inactive" => "inactive",
        "r" | "resolved" => "resolved",
        "remission" => "remission",
        "relapse" => "relapse",
        "recurrence" => "recurrence",
        _ => return None,
    })
}

/// Maps a PRB to a Condition of the patient in scope. `None` without a patient or a problem code.
pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    let patient = ctx.scope.patient.clone()?;
    let Some(code) = seg.rep(3).and_then(|r| codeable_concept(ctx, &r, None)) else {
        ctx.warn(seg.at(3), WarningKind::InvalidValue, "PRB without a problem id: not mapped");
        return None;
    };
    let mut o = Obj::new();
    let ident = seg.rep(4).and_then(|r| identifier_ei(ctx, &r));
    push(&mut o, "identifier", ident.clone());
    let action = seg.value(1).map(|a| a.to_ascii_uppercase());
    let deleted = action.as_deref() == Some("DE") || ctx.msg.header().trigger_event == "PC3";
    let life = seg.rep(14);
    if deleted {
        seg.mark(14);
        o.insert(
            "verificationStatus".into(),
            json!({ "coding": [{ "system": VERIFICATION, "code": "entered-in-error" }] }),
        );
    } else if let Some(rep) = &life {
        let key = comp(rep, 1).or_else(|| comp(rep, 2));
        match key.as_deref().and_then(clinical_status) {
            Some(s) => {
                o.insert("clinicalStatus".into(), json!({ "coding": [{ "system": CLINICAL, "code": s }] }));
            }
            None => {
                ctx.warn(seg.at(14), WarningKind::UnknownCode, "problem life-cycle status without a FHIR equivalent")
            }
        }
    }
    o.insert(
        "category".into(),
        json!([{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item", "display": "Problem List Item" }] }]),
    );
    o.insert("code".into(), code.clone());
    o.insert("subject".into(), patient.reference());
    if let Some(e) = &ctx.scope.encounter {
        o.insert("encounter".into(), e.reference());
    }
    match ctx.datetime(&seg, 16) {
        Some(onset) => {
            o.insert("onsetDateTime".into(), onset);
        }
        None => put(&mut o, "onsetString", seg.text(17).map(Value::from)),
    }
    put(&mut o, "abatementDateTime", ctx.datetime(&seg, 9));
    put(&mut o, "recordedDate", ctx.datetime(&seg, 7));
    seg.mark(2);
    // Identity: the problem instance (PRB-4), so PC2 updates and PC3 deletes the Condition PC1 created.
    let (system, value) = match ident.as_ref() {
        Some(i) => {
            (i["system"].as_str().unwrap_or_default().to_owned(), i["value"].as_str().unwrap_or_default().to_owned())
        }
        None => (String::new(), code.to_string()),
    };
    let id = if system.is_empty() {
        deterministic_id("Condition", &[&patient.id, "PRB", &value])
    } else {
        deterministic_id("Condition", &[&system, &value])
    };
    let cond = (!system.is_empty() && ident.is_some()).then_some((system.as_str(), value.as_str()));
    Some(ctx.add("Condition", id, o, cond))
}
