//! PV1 → Encounter (IG `PV1[Encounter]`): class from PV1-2 (PatientClass map), status from the trigger event,
//! period PV1-44/45, locations, participants, identifier PV1-19.

use hearth_fhir::ids::deterministic_id;
use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, push, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{
    checked_period, codeable_concept, cx_system, identifier_cx, location, mapped_concept, mapped_concepts,
    practitioner, v2_table,
};
use crate::hl7v2::tracker::{Seg, comp};
use crate::report::WarningKind;

/// Encounter.status, a closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncounterStatus {
    Planned,
    Arrived,
    InProgress,
    Finished,
    Cancelled,
    Unknown,
}

impl EncounterStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planned => "planned",
            Self::Arrived => "arrived",
            Self::InProgress => "in-progress",
            Self::Finished => "finished",
            Self::Cancelled => "cancelled",
            Self::Unknown => "unknown",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "planned" => Self::Planned,
            "arrived" => Self::Arrived,
            "in-progress" => Self::InProgress,
            "finished" => Self::Finished,
            "cancelled" => Self::Cancelled,
            "unknown" => Self::Unknown,
            _ => return None,
        })
    }

    /// The status an ADT trigger event implies; `None` when the event says nothing (A08 update, A31…), in which
    /// case the discharge/admit dates decide.
    pub fn from_event(event: &str) -> Option<Self> {
        Some(match event {
            "A01" | "A02" | "A06" | "A07" | "A12" | "A13" | "A15" | "A16" | "A21" | "A22" | "A25" | "A26" => {
                Self::InProgress
            }
            "A04" | "A10" => Self::Arrived,
            "A03" => Self::Finished,
            "A05" | "A14" => Self::Planned,
            "A11" | "A27" | "A38" => Self::Cancelled,
            _ => return None,
        })
    }
}

const STATUSES: &[&str] = &[
    "planned",
    "arrived",
    "triaged",
    "in-progress",
    "onleave",
    "finished",
    "cancelled",
    "entered-in-error",
    "unknown",
];

fn parse_status(s: &str) -> Option<&'static str> {
    STATUSES.iter().find(|x| **x == s).copied()
}

/// Encounter.status as the IG says: finished when PV1-45 (discharge) is valued; else the trigger event's status
/// (`Event[EncounterStatus]`, then Hearth's table for events the IG does not list); else the patient class's
/// (`PatientClass[EncounterStatus]`); else `unknown`.
fn status(ctx: &Ctx<'_>, seg: &Seg<'_>, event: &str, discharged: bool) -> EncounterStatus {
    if discharged {
        return EncounterStatus::Finished;
    }
    let by_map = |map: &str, code: &str| {
        ctx.concept(map, code).and_then(|c| parse_status(&c.0)).and_then(EncounterStatus::parse)
    };
    if let Some(s) = by_map("Event[EncounterStatus]", event).or_else(|| EncounterStatus::from_event(event)) {
        return s;
    }
    seg.peek(2)
        .and_then(|f| f.component(1).map(|c| c.unescaped().trim().to_owned()))
        .and_then(|c| by_map("PatientClass[EncounterStatus]", &c))
        .unwrap_or(EncounterStatus::Unknown)
}

/// Where the Encounter class comes from when PV1-2 is not in the PatientClass map.
const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

fn class(ctx: &mut Ctx<'_>, seg: &Seg<'_>) -> Value {
    let Some(code) = seg.value(2) else {
        return json!({ "system": "http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "code": "UNK", "display": "unknown" });
    };
    if let Some((c, display, system)) = ctx.concept("PatientClass[EncounterClass]", &code) {
        let mut o = Obj::new();
        o.insert("system".into(), Value::from(system.unwrap_or_else(|| ACT_CODE.to_owned())));
        o.insert("code".into(), Value::from(c));
        put(&mut o, "display", display.map(Value::from));
        return Value::Object(o);
    }
    ctx.warn(
        seg.at(2),
        WarningKind::UnknownCode,
        "patient class not in PatientClass[EncounterClass]: kept with table 0004",
    );
    json!({ "system": v2_table("0004"), "code": code })
}

fn participant(ctx: &mut Ctx<'_>, seg: &Seg<'_>, n: usize, code: &str, display: &str, o: &mut Obj) {
    for rep in seg.reps(n) {
        if let Some(p) = practitioner(ctx, &rep, seg.at(n)) {
            push(
                o,
                "participant",
                Some(json!({
                    "type": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": code, "display": display }] }],
                    "individual": p.reference()
                })),
            );
        }
    }
}

fn locations(ctx: &mut Ctx<'_>, seg: &Seg<'_>, status: EncounterStatus, o: &mut Obj) {
    let current = if status == EncounterStatus::Finished {
        "completed"
    } else if status == EncounterStatus::Planned {
        "planned"
    } else {
        "active"
    };
    for (n, st) in [(3, current), (11, current), (6, "completed"), (43, "completed"), (42, "planned")] {
        for rep in seg.reps(n) {
            if let Some(l) = location(ctx, &rep) {
                push(o, "location", Some(json!({ "location": l.reference(), "status": st })));
            }
        }
    }
}

/// Encounter.hospitalization (IG `PV1[Encounter]`): admit source PV1-14, re-admission PV1-13
/// (`ReadmissionIndicator`), special arrangements PV1-15 (`AmbulatoryStatus`), special courtesy PV1-16
/// (`VIPIndicator`), discharge disposition PV1-36 (`DischargeDisposition`), discharge location PV1-37, diet
/// PV1-38 (`DietType`).
fn hospitalization(ctx: &mut Ctx<'_>, seg: &Seg<'_>, o: &mut Obj) {
    let mut hosp = Obj::new();
    if let Some(rep) = seg.rep(14) {
        put(&mut hosp, "admitSource", codeable_concept(ctx, &rep, Some("0023")));
    }
    if let Some(rep) = seg.rep(13) {
        put(&mut hosp, "reAdmission", mapped_concept(ctx, &rep, "ReadmissionIndicator", Some("0092"), seg.at(13)));
    }
    for (n, key, map, table) in [
        (15, "specialArrangement", "AmbulatoryStatus", "0009"),
        (16, "specialCourtesy", "VIPIndicator", "0099"),
        (38, "dietPreference", "DietType", "0114"),
    ] {
        for c in mapped_concepts(ctx, seg, n, map, Some(table)) {
            push(&mut hosp, key, Some(c));
        }
    }
    if let Some(rep) = seg.rep(36) {
        let d = mapped_concept(ctx, &rep, "DischargeDisposition", Some("0112"), seg.at(36));
        put(&mut hosp, "dischargeDisposition", d);
    }
    if let Some(rep) = seg.rep(37)
        && let Some(l) = comp(&rep, 1)
    {
        hosp.insert("destination".into(), json!({ "display": l }));
    }
    if !hosp.is_empty() {
        o.insert("hospitalization".into(), Value::Object(hosp));
    }
}

/// Maps a PV1 (for the patient in scope), sets `ctx.scope.encounter`.
pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    let patient = ctx.scope.patient.clone();
    seg.mark(1);
    let mut o = Obj::new();
    let event = ctx.msg.header().trigger_event.clone();
    let start = ctx.datetime(&seg, 44);
    let end = ctx.datetime(&seg, 45);
    let status = status(ctx, &seg, &event, end.is_some());
    o.insert("status".into(), Value::from(status.as_str()));
    o.insert("class".into(), class(ctx, &seg));
    let visit = seg.rep(19);
    if let Some(rep) = &visit {
        push(&mut o, "identifier", identifier_cx(ctx, rep, seg.at(19)));
    }
    if let Some(rep) = seg.rep(50) {
        push(&mut o, "identifier", identifier_cx(ctx, &rep, seg.at(50)));
    }
    if let Some(rep) = seg.rep(4) {
        push(&mut o, "type", mapped_concept(ctx, &rep, "AdmissionType", Some("0007"), seg.at(4)));
    }
    if let Some(rep) = seg.rep(18) {
        push(&mut o, "type", codeable_concept(ctx, &rep, Some("0018")));
    }
    if let Some(rep) = seg.rep(10) {
        put(&mut o, "serviceType", mapped_concept(ctx, &rep, "HospitalService", Some("0069"), seg.at(10)));
    }
    if let Some(p) = &patient {
        o.insert("subject".into(), p.reference());
    }
    put(&mut o, "period", checked_period(ctx, start, end, seg.at(45)));
    participant(ctx, &seg, 7, "ATND", "attender", &mut o);
    participant(ctx, &seg, 8, "REF", "referrer", &mut o);
    participant(ctx, &seg, 9, "CON", "consultant", &mut o);
    participant(ctx, &seg, 17, "ADM", "admitter", &mut o);
    locations(ctx, &seg, status, &mut o);
    hospitalization(ctx, &seg, &mut o);
    let id = match visit.as_ref().and_then(|r| comp(r, 1).map(|v| (cx_system(ctx, r).unwrap_or_default(), v))) {
        Some((s, v)) => deterministic_id("Encounter", &[&s, &v]),
        None => ctx.segment_id("Encounter", &seg),
    };
    let cond = visit.as_ref().and_then(|r| cx_system(ctx, r).zip(comp(r, 1).map(|v| v.into_owned())));
    let rf = ctx.add("Encounter", id, o, cond.as_ref().map(|(s, v)| (s.as_str(), v.as_str())));
    ctx.scope.encounter = Some(rf.clone());
    if !ctx.focus.contains(&rf) {
        ctx.focus.push(rf.clone());
    }
    Some(rf)
}
