//! Orders (IG `ORM_O01`, `OML_O21`; OMG_O19 with the same pieces) and the order-group walker shared with
//! results (ORU/OUL), documents (MDM) and financial messages (DFT/BAR).
//!
//! The walker reads the segments in order. An ORC opens an order group; it waits for its detail segment (OBR)
//! so that the pair becomes one ServiceRequest (TQ1s between them are applied once it exists). In a results
//! message the OBR also becomes a DiagnosticReport, whose `result` lists the group's Observations; in an order
//! message the Observations are the ServiceRequest's `supportingInfo`. NTE annotates what precedes it. Patient
//! and visit segments (PID, PV1, AL1, DG1, IN1…) go to the ADT segment maps.

use super::{Registration, walk};
use crate::MapError;
use crate::hl7v2::bundle::{Ref, push};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::segments;
use crate::hl7v2::tracker::Seg;

pub const STRUCTURES: &[Registration] =
    &[Registration { keys: &["ORM_O01", "OML_O21", "OML_O33", "OML_O35", "OMG_O19", "OMB_O27", "OMI_O23"], map }];

/// Maps an order message.
pub fn map(ctx: &mut Ctx<'_>) -> Result<(), MapError> {
    map_kind(ctx, Kind::Orders)
}

/// What the walker builds from order groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// ORM/OML/OMG: ServiceRequests; OBX → supportingInfo.
    Orders,
    /// ORU/OUL: ServiceRequest + DiagnosticReport per OBR; OBX → DiagnosticReport.result.
    Results,
    /// MDM: ServiceRequests and one DocumentReference (TXA) whose content the OBX give.
    Documents,
    /// DFT/BAR: orders as in [`Kind::Orders`] plus FT1 → ChargeItem.
    Financial,
}

/// The walker's state between segments.
#[derive(Debug, Default)]
pub struct State<'a> {
    /// An ORC waiting for its OBR.
    pending_orc: Option<Seg<'a>>,
    /// TQ1s seen while an ORC waits.
    pending_tq1: Vec<Seg<'a>>,
    /// What an NTE annotates.
    note: Option<Ref>,
    /// Every order of the message (DocumentReference.context.related).
    pub orders: Vec<Ref>,
    /// The MDM document.
    pub document: Option<Ref>,
    /// The OBR of the current group when no ORC came before it (OUL sends ORC after OBR).
    lone_obr: Option<Seg<'a>>,
    /// Specimen groups lead (OUL_R22…R24: SPM, then its OBR groups): an OBR keeps the SPM's Specimen.
    specimen_leads: bool,
}

/// Maps a message of order groups: the patient segments, then every group.
pub fn map_kind(ctx: &mut Ctx<'_>, kind: Kind) -> Result<(), MapError> {
    if matches!(kind, Kind::Orders | Kind::Results) && ctx.segment("PID").is_none() {
        // The PATIENT group is optional in ORM_O01, OML_O21 and ORU_R01 (results of a specimen without a
        // patient, quality control): the resources carry no patient.
        ctx.warn("PID", crate::WarningKind::InvalidValue, "message without a patient (PID): no Patient, no subject");
    } else {
        require_pid(ctx)?;
    }
    let mut st = State::default();
    walk(ctx, |ctx, seg| step(ctx, &mut st, kind, seg));
    flush(ctx, &mut st);
    if let Some(doc) = st.document.clone() {
        segments::txa::relate(ctx, &doc, &st.orders);
    }
    Ok(())
}

/// Every structure of this helper needs a patient (ServiceRequest.subject, Immunization.patient… are required).
pub fn require_pid(ctx: &Ctx<'_>) -> Result<(), MapError> {
    let ok = ctx.segment("PID").is_some_and(|s| s.peek(3).is_some() || s.peek(5).is_some());
    if ok {
        Ok(())
    } else {
        Err(MapError::Invalid {
            location: "PID".to_owned(),
            reason: "message without a patient (PID-3/PID-5)".to_owned(),
        })
    }
}

/// Patient and visit segments, mapped by the ADT segment maps. `true` when the segment is handled.
pub fn common(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> bool {
    match seg.name() {
        "PID" => {
            ctx.scope = Default::default();
            segments::pid::map(ctx, seg);
        }
        "DG1" => {
            let condition = segments::dg1::map(ctx, seg);
            if let (Some(c), Some(order)) = (condition, ctx.scope.order.clone())
                && order.rtype == "ServiceRequest"
            {
                link(ctx, &order, "reasonReference", &c);
            }
        }
        _ => return super::adt::patient_visit(ctx, seg),
    }
    true
}

/// Names a main resource of the message in MessageHeader.focus (once).
pub fn focus(ctx: &mut Ctx<'_>, what: Option<&Ref>) {
    if let Some(r) = what
        && !ctx.focus.contains(r)
    {
        ctx.focus.push(r.clone());
    }
}

/// Pushes a reference to `what` into `target[key]`.
pub fn link(ctx: &mut Ctx<'_>, target: &Ref, key: &str, what: &Ref) {
    if let Some(res) = ctx.bundle.get_mut(target) {
        push(res, key, Some(what.reference()));
    }
}

/// Segments that may sit between an ORC and its detail segment without closing the wait.
fn keeps_waiting(name: &str) -> bool {
    matches!(name, "TQ1" | "TQ2" | "PRT" | "OBR" | "ORC" | "RXO" | "RXE")
}

/// One segment of an order-group message (see the module docs); `true` when handled. Public so that structures
/// with segments of their own (PPR's PRB, REF's RF1/PRD) hand the rest to it.
pub fn step<'a>(ctx: &mut Ctx<'a>, st: &mut State<'a>, kind: Kind, seg: Seg<'a>) -> bool {
    let name = seg.name();
    if !matches!(name, "ORC" | "PRT" | "OBR") {
        // Only an ORC right after its OBR belongs to it.
        st.lone_obr = None;
    }
    if st.pending_orc.is_some() && !keeps_waiting(name) {
        flush(ctx, st);
    }
    match name {
        "ORC" => {
            flush(ctx, st);
            if let Some(obr) = st.lone_obr.take() {
                // ORC after its OBR (OUL): the same order group. The ORC's status replaces the `unknown` the OBR
                // alone gave (merging keeps the first value of a key).
                let before = ctx.scope.order.clone();
                if let Some(res) = before.as_ref().and_then(|b| ctx.bundle.get_mut(b)) {
                    res.remove("status");
                    res.remove("_status");
                }
                let order = segments::orc::service_request(ctx, Some(seg), Some(obr));
                if let Some(res) = before.as_ref().and_then(|b| ctx.bundle.get_mut(b)) {
                    res.entry("status").or_insert_with(|| serde_json::Value::from("unknown"));
                }
                if let (Some(o), Some(report)) = (&order, ctx.scope.report.clone()) {
                    link(ctx, &report, "basedOn", o);
                }
                if let Some(o) = &order
                    && !st.orders.contains(o)
                {
                    st.orders.push(o.clone());
                }
                return order.is_some();
            }
            new_group(ctx, st.specimen_leads);
            st.pending_orc = Some(seg);
            true
        }
        "TQ1" => {
            if st.pending_orc.is_some() {
                st.pending_tq1.push(seg);
                return true;
            }
            match ctx.scope.order.clone() {
                Some(order) => segments::tq1::apply(ctx, seg, &order).is_some(),
                None => false,
            }
        }
        "OBR" => {
            let orc = st.pending_orc.take();
            st.lone_obr = None;
            if orc.is_none() {
                new_group(ctx, st.specimen_leads);
                st.lone_obr = Some(seg);
            }
            let order = segments::orc::service_request(ctx, orc, Some(seg));
            apply_tq1(ctx, st, order.as_ref());
            if let Some(o) = &order {
                st.orders.push(o.clone());
            }
            st.note = order.clone();
            if kind == Kind::Results {
                let report = segments::obr::diagnostic_report(ctx, orc.as_ref(), seg);
                focus(ctx, report.as_ref());
            } else {
                focus(ctx, order.as_ref());
            }
            let leading = ctx.scope.specimen.clone();
            if let Some(sp) = segments::obr::specimen(ctx, seg) {
                link_specimen(ctx, &sp);
            }
            if let Some(sp) = leading {
                link_specimen(ctx, &sp);
                ctx.scope.specimen = Some(sp);
            }
            true
        }
        "OBX" => {
            if kind == Kind::Documents
                && let Some(doc) = st.document.clone()
            {
                st.note = Some(doc.clone());
                return segments::txa::content(ctx, seg, &doc).is_some();
            }
            // IG ORU_R01: OBX-29 QST/SCI (asked at order entry) support the order; other OBX are results.
            let question = seg.peek(29).is_some_and(|f| matches!(f.raw().trim(), "QST" | "SCI"));
            let Some(obs) = segments::obx::map(ctx, seg) else { return true };
            if let Some(report) = ctx.scope.report.clone().filter(|_| !question) {
                link(ctx, &report, "result", &obs);
            } else if let Some(order) = ctx.scope.order.clone()
                && order.rtype == "ServiceRequest"
            {
                link(ctx, &order, "supportingInfo", &obs);
            }
            st.note = Some(obs);
            true
        }
        "NTE" => match st.note.clone() {
            Some(target) => segments::nte::annotate(ctx, seg, &target).is_some(),
            None => false,
        },
        "SPM" => {
            if ctx.scope.report.is_none() && ctx.scope.order.is_none() {
                st.specimen_leads = true;
            }
            if st.specimen_leads {
                new_group(ctx, false);
            }
            ctx.scope.observation = None;
            let Some(sp) = segments::spm::map(ctx, seg) else { return false };
            link_specimen(ctx, &sp);
            st.note = Some(sp);
            true
        }
        "RXO" | "RXE" => {
            let orc = st.pending_orc.take();
            if orc.is_none() {
                new_group(ctx, false);
            }
            let order = if name == "RXO" {
                segments::rxo::map(ctx, seg, orc.as_ref())
            } else {
                segments::rxe::map(ctx, seg, orc.as_ref())
            };
            apply_tq1(ctx, st, order.as_ref());
            focus(ctx, order.as_ref());
            st.note.clone_from(&order);
            order.is_some()
        }
        "RXR" => match ctx.scope.order.clone() {
            Some(order) if order.rtype == "MedicationRequest" => segments::rxr::apply(ctx, seg, &order).is_some(),
            _ => false,
        },
        "TXA" => {
            let doc = segments::txa::map(ctx, seg);
            focus(ctx, doc.as_ref());
            st.document = doc.clone();
            st.note = doc.clone();
            doc.is_some()
        }
        "FT1" => {
            let charge = segments::ft1::map(ctx, seg);
            focus(ctx, charge.as_ref());
            st.note = charge.clone();
            charge.is_some()
        }
        _ => common(ctx, seg),
    }
}

impl State<'_> {
    /// Makes `target` what the next NTE annotates (a structure's own segment, e.g. PRB's Condition).
    pub fn annotate_next(&mut self, target: Option<Ref>) {
        self.note = target;
    }
}

/// Clears the order-group scope (a new ORC or OBR group starts); the Specimen stays when specimen groups lead.
fn new_group(ctx: &mut Ctx<'_>, keep_specimen: bool) {
    ctx.scope.order = None;
    ctx.scope.report = None;
    if !keep_specimen {
        ctx.scope.specimen = None;
    }
    ctx.scope.observation = None;
}

/// A waiting ORC that got no detail segment becomes a ServiceRequest of its own.
pub fn flush<'a>(ctx: &mut Ctx<'a>, st: &mut State<'a>) {
    let Some(orc) = st.pending_orc.take() else { return };
    let order = segments::orc::service_request(ctx, Some(orc), None);
    apply_tq1(ctx, st, order.as_ref());
    if let Some(o) = &order {
        st.orders.push(o.clone());
    }
    st.note = order;
}

fn apply_tq1<'a>(ctx: &mut Ctx<'a>, st: &mut State<'a>, order: Option<&Ref>) {
    for tq1 in std::mem::take(&mut st.pending_tq1) {
        let applied = order.and_then(|o| segments::tq1::apply(ctx, tq1, o));
        if applied.is_none() {
            ctx.warn(tq1.name(), crate::WarningKind::UnmappedSegment, "timing without an order: not mapped");
        }
    }
}

/// A Specimen of the current group: DiagnosticReport.specimen and ServiceRequest.specimen.
fn link_specimen(ctx: &mut Ctx<'_>, sp: &Ref) {
    if let Some(report) = ctx.scope.report.clone() {
        link(ctx, &report, "specimen", sp);
    }
    if let Some(order) = ctx.scope.order.clone()
        && order.rtype == "ServiceRequest"
    {
        link(ctx, &order, "specimen", sp);
    }
}
