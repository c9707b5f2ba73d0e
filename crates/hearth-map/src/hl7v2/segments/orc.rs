//! ORC → ServiceRequest (IG `ORC[ServiceRequest]`), merged with its OBR (IG `OBR[ServiceRequest]`): one
//! ServiceRequest per order group, identified by its placer order number (ORC-2, else OBR-2), else its filler
//! order number, so that an ORM, the ORU answering it and a later cancel all address the same resource.
//!
//! ORC-12 (else OBR-16) becomes the requester through the shared XCN → Practitioner map, so the ordering
//! provider named in PV1, ORC and OBR is one Practitioner.

use hearth_fhir::ids::deterministic_id;
use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, push, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{codeable_concept, identifier_ei, mapped_concept, practitioner, v2_table};
use crate::hl7v2::segments::obx::alternate_code;
use crate::hl7v2::tracker::Seg;
use crate::report::WarningKind;

/// ServiceRequest.status (R4 value set `request-status`, a required binding).
pub const REQUEST_STATUS: &[&str] =
    &["draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"];
/// MedicationRequest.status (R4 value set `medicationrequest-status`, a required binding): no `revoked`.
pub const MEDICATION_REQUEST_STATUS: &[&str] =
    &["active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft", "unknown"];

/// The order's identifiers: placer (PLAC) from ORC-2 else OBR-2 (`order_field`), filler (FILL) from ORC-3 else
/// field 3 of the detail segment, placer group (PGN, ORC-4) as requisition. Returns the identifiers and the
/// identity (system, value) of the order (placer, else filler).
pub fn identifiers(
    ctx: &Ctx<'_>,
    orc: Option<&Seg<'_>>,
    detail: Option<&Seg<'_>>,
) -> (Vec<Value>, Option<(String, String)>) {
    let mut out = Vec::new();
    let mut identity = None;
    for (n, code) in [(2, "PLAC"), (3, "FILL")] {
        let rep = orc.and_then(|s| s.rep(n));
        let detail_rep = detail.and_then(|s| s.rep(n));
        let Some(rep) = rep.or(detail_rep) else { continue };
        let Some(Value::Object(mut i)) = identifier_ei(ctx, &rep) else { continue };
        if identity.is_none() {
            let system = i.get("system").and_then(Value::as_str).unwrap_or_default().to_owned();
            let value = i.get("value").and_then(Value::as_str).unwrap_or_default().to_owned();
            identity = Some((system, value));
        }
        i.insert("type".into(), json!({ "coding": [{ "system": v2_table("0203"), "code": code }] }));
        out.push(Value::Object(i));
    }
    (out, identity)
}

/// The ServiceRequest id for an order identity, else a per-message id from the segment.
pub fn order_id(ctx: &Ctx<'_>, rtype: &str, identity: Option<&(String, String)>, seg: &Seg<'_>) -> String {
    match identity {
        Some((s, v)) => deterministic_id(rtype, &[s, v]),
        None => ctx.segment_id(rtype, seg),
    }
}

/// Status, intent, identifiers, requester and the other ORC elements common to every request resource, into
/// `o`. `group_key` is where the placer group number (ORC-4) goes: `requisition` (ServiceRequest) or
/// `groupIdentifier` (MedicationRequest).
pub fn request_common(ctx: &mut Ctx<'_>, orc: &Seg<'_>, o: &mut Obj, group_key: &str) {
    let medication = group_key == "groupIdentifier";
    request_status(ctx, orc, o, medication);
    if let Some(rep) = orc.rep(4)
        && let Some(Value::Object(mut i)) = identifier_ei(ctx, &rep)
    {
        i.insert("type".into(), json!({ "coding": [{ "system": v2_table("0203"), "code": "PGN" }] }));
        o.insert(group_key.into(), Value::Object(i));
    }
    if let Some(rep) = orc.rep(28)
        && let Some(Value::Object(cc)) = mapped_concept(ctx, &rep, "ConfidentialityCode", Some("0177"), orc.at(28))
        && let Some(Value::Array(codings)) = cc.get("coding")
    {
        // IG: ORC-28 → meta.security (CWE[Coding]): the mapped coding (first) is the label.
        o.insert("meta".into(), json!({ "security": [codings.first()] }));
    }
    let control = orc.peek(1).map(|f| f.raw().trim().to_ascii_uppercase());
    if control.as_deref() == Some("NW") {
        put(o, "authoredOn", ctx.datetime(orc, 9));
    }
    if let Some(rep) = orc.rep(12)
        && let Some(p) = practitioner(ctx, &rep, orc.at(12))
    {
        o.insert("requester".into(), p.reference());
    }
    if let Some(rep) = orc.rep(16)
        && let Some(cc) = codeable_concept(ctx, &rep, None)
    {
        push(
            o,
            "extension",
            Some(
                json!({ "url": "http://hl7.org/fhir/StructureDefinition/request-statusReason", "valueCodeableConcept": cc }),
            ),
        );
    }
}

/// ORC-5 (OrderStatus), else ORC-1 (OrderControlCode) → request status; `unknown` with the v2 code kept in
/// the alternate-codes extension when the IG maps the code to nothing. The IG's maps target ServiceRequest's
/// value set; for a MedicationRequest (`medication`) its `revoked` becomes `stopped` for a discontinued or
/// replaced order (DC, OD, RP: it may have started) and `cancelled` otherwise.
pub fn request_status(ctx: &mut Ctx<'_>, orc: &Seg<'_>, o: &mut Obj, medication: bool) {
    let from_status = orc.value(5).map(|c| (c.to_ascii_uppercase(), "OrderStatus", "0038", 5));
    let from_control =
        || orc.value(1).map(|c| (c.to_ascii_uppercase(), "OrderControlCode[ServiceRequest.status]", "0119", 1));
    orc.mark(1);
    let Some((code, map, table, n)) = from_status.or_else(from_control) else {
        o.insert("status".into(), Value::from("unknown"));
        return;
    };
    let allowed = if medication { MEDICATION_REQUEST_STATUS } else { REQUEST_STATUS };
    let fhir = ctx
        .concept(map, &code)
        .map(|c| match c.0.as_str() {
            "revoked" if medication && matches!(code.as_str(), "DC" | "OD" | "RP") => "stopped".to_owned(),
            "revoked" if medication => "cancelled".to_owned(),
            _ => c.0,
        })
        .filter(|c| allowed.contains(&c.as_str()));
    if fhir.is_none() {
        if !ctx.opts.vocabulary.knows_code(map, &code) {
            ctx.warn(orc.at(n), WarningKind::UnknownCode, format!("code not in table {table}: status unknown"));
        }
        o.insert("_status".into(), alternate_code(table, &code));
    }
    o.insert("status".into(), Value::from(fhir.unwrap_or_else(|| "unknown".to_owned())));
}

/// An ORC with its OBR (either may be missing) → ServiceRequest about the patient in scope. Sets
/// `scope.order`. In a message without a patient (an order or result for a specimen alone, allowed by ORM/OML/
/// ORU) the required subject is a reference by display only, saying so.
pub fn service_request(ctx: &mut Ctx<'_>, orc: Option<Seg<'_>>, obr: Option<Seg<'_>>) -> Option<Ref> {
    let subject = match &ctx.scope.patient {
        Some(p) => p.reference(),
        None if ctx.segment("PID").is_none() => json!({ "display": "no patient: the message has no PID" }),
        None => return None,
    };
    let anchor = orc.or(obr)?;
    let (ids, identity) = identifiers(ctx, orc.as_ref(), obr.as_ref());
    let mut o = Obj::new();
    if !ids.is_empty() {
        o.insert("identifier".into(), Value::Array(ids));
    }
    match &orc {
        Some(orc) => request_common(ctx, orc, &mut o, "requisition"),
        None => {
            o.insert("status".into(), Value::from("unknown"));
        }
    }
    o.insert("intent".into(), Value::from("order"));
    if let Some(obr) = &obr {
        super::obr::service_request_fields(ctx, obr, &mut o);
    }
    if let Some(rep) = orc.as_ref().and_then(|s| s.rep(29)) {
        let at = orc.as_ref().map(|s| s.at(29));
        push(&mut o, "locationCode", at.and_then(|at| mapped_concept(ctx, &rep, "OrderType", Some("0482"), at)));
    }
    o.insert("subject".into(), subject);
    if let Some(e) = &ctx.scope.encounter {
        o.insert("encounter".into(), e.reference());
    }
    let id = order_id(ctx, "ServiceRequest", identity.as_ref(), &anchor);
    let cond = identity.as_ref().filter(|(s, _)| !s.is_empty()).map(|(s, v)| (s.as_str(), v.as_str()));
    let rf = ctx.add("ServiceRequest", id, o, cond);
    ctx.scope.order = Some(rf.clone());
    Some(rf)
}

/// An ORC alone (no OBR, RXO, RXE… follows) → ServiceRequest.
pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    service_request(ctx, Some(seg), None)
}
