//! SCH → Appointment (IG `SCH[Appointment]`) and, when it names orders (SCH-26/27), ServiceRequests (IG
//! `SCH[ServiceRequest]`).

use hearth_fhir::ids::deterministic_id;
use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, push, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{identifier_ei, mapped_concept, practitioner};
use crate::hl7v2::segments::obx::alternate_code;
use crate::hl7v2::tracker::{Seg, comp};
use crate::report::WarningKind;

const APPOINTMENT_STATUS: &[&str] = &[
    "proposed",
    "pending",
    "booked",
    "arrived",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
    "checked-in",
    "waitlist",
];

/// The Appointment status an SIU event implies, when it implies one (S15 cancellation, S16 discontinuation,
/// S17 deletion, S26 no-show): it wins over SCH-25, which senders often leave at its booking value.
pub fn event_status(event: &str) -> Option<&'static str> {
    match event {
        "S15" | "S16" => Some("cancelled"),
        "S17" => Some("entered-in-error"),
        "S26" => Some("noshow"),
        _ => None,
    }
}

/// Maps an SCH to an Appointment; sets the scope slot `appointment`.
pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    let mut o = Obj::new();
    let mut identity = None;
    for n in [1, 2] {
        if let Some(i) = seg.rep(n).and_then(|r| identifier_ei(ctx, &r)) {
            let system = i.get("system").and_then(Value::as_str).unwrap_or_default().to_owned();
            let value = i.get("value").and_then(Value::as_str).unwrap_or_default().to_owned();
            identity = Some((system, value));
            push(&mut o, "identifier", Some(i));
        }
    }
    status(ctx, &seg, &mut o);
    if let Some(rep) = seg.rep(7) {
        // IG: SCH-7 is an appointment type when it names table 0277, else a reason (AppointmentReasonCodes).
        if comp(&rep, 3).is_some_and(|s| s.eq_ignore_ascii_case("HL70277")) {
            let cc = mapped_concept(ctx, &rep, "AppointmentTypeCodes", Some("0277"), seg.at(7));
            put(&mut o, "appointmentType", cc);
        } else {
            let cc = mapped_concept(ctx, &rep, "AppointmentReasonCodes", Some("0276"), seg.at(7));
            push(&mut o, "reasonCode", cc);
        }
    }
    if !o.contains_key("appointmentType") {
        let cc = seg.rep(8).and_then(|r| mapped_concept(ctx, &r, "AppointmentTypeCodes", Some("0277"), seg.at(8)));
        put(&mut o, "appointmentType", cc);
    }
    let unit = seg.value(10).map(|u| u.to_ascii_lowercase());
    if matches!(unit.as_deref(), Some("min" | "minutes" | "m"))
        && let Some(n) = seg.value(9).and_then(|v| v.parse::<u32>().ok()).filter(|n| *n > 0)
    {
        o.insert("minutesDuration".into(), Value::from(n));
    }
    if let Some(rep) = seg.rep(11) {
        // TQ: start date/time in component 4, end in component 5.
        if let Some(s) = comp(&rep, 4) {
            put(&mut o, "start", ctx.dtm_instant(&s, seg.at(11)));
        }
        if let Some(e) = comp(&rep, 5) {
            put(&mut o, "end", ctx.dtm_instant(&e, seg.at(11)));
        }
    }
    for n in [12, 16, 20] {
        if let Some(rep) = seg.rep(n)
            && let Some(p) = practitioner(ctx, &rep, seg.at(n))
        {
            push(&mut o, "participant", Some(json!({ "actor": p.reference(), "status": "accepted" })));
        }
    }
    let id = match &identity {
        Some((s, v)) => deterministic_id("Appointment", &[s, v]),
        None => ctx.segment_id("Appointment", &seg),
    };
    let rf = ctx.add("Appointment", id, o, None);
    ctx.scope.set_other("appointment", Some(rf.clone()));
    Some(rf)
}

/// SCH-25 (FillerStatusCodes[Appointment]) → status, overridden by the event (see [`event_status`]); `booked`
/// when neither says.
fn status(ctx: &mut Ctx<'_>, seg: &Seg<'_>, o: &mut Obj) {
    let event = ctx.msg.header().trigger_event.clone();
    let sent = seg.value(25).map(|c| c.into_owned());
    let mapped = sent.as_deref().and_then(|c| {
        let fhir = ctx.concept("FillerStatusCodes[Appointment]", c).map(|x| x.0);
        fhir.filter(|f| APPOINTMENT_STATUS.contains(&f.as_str()))
    });
    if let Some(c) = sent.as_deref()
        && mapped.is_none()
    {
        if !ctx.opts.vocabulary.knows_code("FillerStatusCodes[Appointment]", c) {
            ctx.warn(seg.at(25), WarningKind::UnknownCode, "filler status not in table 0278");
        }
        o.insert("_status".into(), alternate_code("0278", c));
    }
    let s = event_status(&event).map(str::to_owned).or(mapped).unwrap_or_else(|| "booked".to_owned());
    o.insert("status".into(), Value::from(s));
}

/// SCH-26/27 (placer/filler order numbers) → ServiceRequests the Appointment is based on (IG
/// `SCH[ServiceRequest]`), once the patient is known.
pub fn service_requests(ctx: &mut Ctx<'_>, seg: &Seg<'_>, appointment: &Ref) {
    let Some(patient) = ctx.scope.patient.clone() else { return };
    for (n, code) in [(26, "PLAC"), (27, "FILL")] {
        let Some(Value::Object(mut i)) = seg.rep(n).and_then(|r| identifier_ei(ctx, &r)) else { continue };
        let system = i.get("system").and_then(Value::as_str).unwrap_or_default().to_owned();
        let value = i.get("value").and_then(Value::as_str).unwrap_or_default().to_owned();
        i.insert(
            "type".into(),
            json!({ "coding": [{ "system": crate::hl7v2::datatypes::v2_table("0203"), "code": code }] }),
        );
        let mut o = Obj::new();
        o.insert("identifier".into(), json!([Value::Object(i)]));
        let status = match ctx.bundle.get_mut(appointment).and_then(|a| a.get("status")).and_then(Value::as_str) {
            Some("cancelled" | "noshow") => "revoked",
            Some("entered-in-error") => "entered-in-error",
            Some("fulfilled") => "completed",
            _ => "active",
        };
        o.insert("status".into(), Value::from(status));
        o.insert("intent".into(), Value::from("order"));
        o.insert("subject".into(), patient.reference());
        let id = deterministic_id("ServiceRequest", &[&system, &value]);
        let cond = (!system.is_empty()).then_some((system.as_str(), value.as_str()));
        let sr = ctx.add("ServiceRequest", id, o, cond);
        if let Some(a) = ctx.bundle.get_mut(appointment) {
            push(a, "basedOn", Some(sr.reference()));
        }
    }
}

/// Appointment.participant.status from a resource's filler status (table 0278).
pub fn participant_status(code: Option<&str>) -> &'static str {
    match code.map(str::to_ascii_lowercase).as_deref() {
        Some("booked" | "started" | "complete") => "accepted",
        Some("cancelled" | "deleted" | "discontinued" | "noshow" | "blocked") => "declined",
        Some("pending" | "waitlist" | "overbook") => "tentative",
        _ => "needs-action",
    }
}

/// Adds a participant to the Appointment.
pub fn add_participant(ctx: &mut Ctx<'_>, appointment: &Ref, participant: Value) -> Option<Ref> {
    let a = ctx.bundle.get_mut(appointment)?;
    push(a, "participant", Some(participant));
    Some(appointment.clone())
}

/// `start` (a FHIR dateTime with time and offset) plus `amount` `unit`s (minutes when no unit; s, min, h, d) →
/// the end, in the same offset. `None` for a date without time or an amount that is not a whole number.
pub fn end_after(start: &str, amount: &str, unit: Option<&str>) -> Option<String> {
    let n: i64 = amount.trim().parse().ok().filter(|n: &i64| *n >= 0)?;
    let per = match unit.map(str::to_ascii_lowercase).as_deref() {
        None | Some("min" | "m" | "minute" | "minutes") => 60,
        Some("s" | "sec" | "second" | "seconds") => 1,
        Some("h" | "hr" | "hour" | "hours") => 3600,
        Some("d" | "day" | "days") => 86_400,
        _ => return None,
    };
    let offset = if start.ends_with('Z') {
        0
    } else {
        let o = start.get(start.len().checked_sub(6)?..)?;
        let sign = match o.get(..1)? {
            "+" => 1,
            "-" => -1,
            _ => return None,
        };
        let h: i32 = o.get(1..3)?.parse().ok()?;
        let m: i32 = o.get(4..6)?.parse().ok()?;
        sign * (h * 3600 + m * 60)
    };
    let ts: jiff::Timestamp = start.parse().ok()?;
    let end = ts.checked_add(jiff::SignedDuration::from_secs(n.checked_mul(per)?)).ok()?;
    let tz = jiff::tz::TimeZone::fixed(jiff::tz::Offset::from_seconds(offset).ok()?);
    Some(end.to_zoned(tz).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
}

/// A participant period: start (field `start`), end = start + duration (fields `duration`, `units`).
pub fn participant_period(
    ctx: &mut Ctx<'_>,
    seg: &Seg<'_>,
    start: usize,
    duration: usize,
    units: usize,
) -> Option<Value> {
    let s = ctx.datetime(seg, start)?;
    let mut p = Obj::new();
    if let (Some(st), Some(d)) = (s.as_str(), seg.peek(duration).map(|f| f.raw().to_owned())) {
        let unit = seg.peek(units).and_then(|f| f.repetition(1)).and_then(|r| comp(&r, 1)).map(|u| u.into_owned());
        if let Some(end) = end_after(st, &d, unit.as_deref()) {
            seg.mark(duration);
            seg.mark(units);
            p.insert("end".into(), Value::from(end));
        }
    }
    p.insert("start".into(), s);
    Some(Value::Object(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            end_after("2021-09-24T09:30:00+02:15", "50", Some("min")).as_deref(),
            Some("2021-09-24T10:20:00+02:15")
        );
        assert_eq!(
            end_after("2021-09-24T23:30:00-05:00", "2", Some("h")).as_deref(),
            Some("2021-09-25T01:30:00-05:00")
        );
        assert_eq!(end_after("2021-09-24T09:30:00Z", "30", None).as_deref(), Some("2021-09-24T10:00:00+00:00"));
        assert_eq!(end_after("2021-09-24", "30", None), None);
        assert_eq!(end_after("2021-09-24T09:30:00+02:00", "x", None), None);
        assert_eq!(end_after("2021-09-24T09:30:00+02:00", "3", Some("fortnight")), None);
    }
}
