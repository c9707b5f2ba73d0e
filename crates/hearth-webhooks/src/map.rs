//! An [`Event`] to a FHIR R4 transaction Bundle: Communication always, Encounter (class VR) for a completed call,
//! Task when someone must follow up.

use hearth_core::search_value as pct;
use hearth_fhir::ids::deterministic_id;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::event::{Direction, Event, FollowUp, Medium};
use crate::link::LinkRule;

/// `meta.tag` system naming the mapping that produced a resource (shared with the other Hearth mappers).
pub use hearth_core::MAPPING_SYSTEM;
/// Task.code system for follow-up kinds.
pub const FOLLOW_UP_SYSTEM: &str = "urn:hearth:webhooks:follow-up";
/// Communication extension holding a call's duration (R4 Communication has no element for it).
pub const DURATION_EXTENSION: &str = "urn:hearth:fhir:extension:call-duration";
const PARTICIPATION_MODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode";
const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
const UCUM: &str = "http://unitsofmeasure.org";

/// What the patient index said about the event (see [`crate::link_from`]). Hearth never guesses: only a linked
/// patient is put on the resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatientLink {
    /// By the customer's phone number (the event carried no patient identifier).
    Linked {
        id: String,
        identifier_system: Option<String>,
        identifier_value: String,
    },
    /// By the patient identifier the event carried.
    LinkedByIdentifier {
        id: String,
        identifier_system: Option<String>,
        identifier_value: String,
    },
    Unknown,
    Ambiguous {
        candidates: usize,
    },
    /// The identifier found a Patient whose name or birth date contradicts the event's: not linked.
    Mismatch,
}

/// Deployment choices for the mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapConfig {
    /// Task.owner, a reference such as `CareTeam/care-team-outreach`; no owner when `None`, nor when its type is
    /// not one R4 allows for Task.owner ([`task_owner_allowed`]; the report says so).
    pub care_team_owner: Option<String>,
    /// Country calling code for national numbers (the same one the profiles and the patient index use).
    pub default_country_code: String,
}

impl Default for MapConfig {
    fn default() -> Self {
        MapConfig { care_team_owner: None, default_country_code: "1".to_owned() }
    }
}

/// A mapped event: the transaction Bundle and a report (no patient values in it).
#[derive(Debug, Clone, PartialEq)]
pub struct Conversion {
    pub bundle: Value,
    pub report: Value,
}

/// Maps one event. Ids are UUID v5 over the vendor and the contact's identity, so a retried event (or the next
/// status of the same call) updates the same resources; Tasks are created only if absent (`ifNoneExist`), so a
/// retry never reopens a Task the care team closed. `now` stamps Task.authoredOn and Bundle.timestamp.
pub fn map(event: &Event, patient: &PatientLink, cfg: &MapConfig, now: OffsetDateTime) -> Conversion {
    let tag = json!({
        "system": MAPPING_SYSTEM,
        "code": format!("hearth-webhooks-{}/{}", event.profile_name, event.profile_version),
        "display": "Converted by Hearth from a contact-center webhook",
    });
    let ids = Ids::new(event);
    let mut entries = Vec::new();
    let encounter = event.is_completed_call().then(|| encounter(event, patient, &ids));
    if let Some(enc) = encounter {
        entries.push(put_entry("Encounter", &ids.encounter, enc, &tag));
    }
    let comm = communication(event, patient, &ids, event.is_completed_call());
    entries.insert(0, put_entry("Communication", &ids.communication, comm, &tag));
    if let Some(kind) = event.follow_up {
        entries.push(task_entry(event, kind, patient, cfg, &ids, now, &tag));
    }
    let types: Vec<Value> = entries.iter().map(|e| e["resource"]["resourceType"].clone()).collect();
    let bundle = json!({
        "resourceType": "Bundle",
        "id": deterministic_id("Bundle", &[event.vendor.as_str(), &event.event_key]),
        "type": "transaction",
        "timestamp": fhir_time(now),
        "entry": entries,
    });
    let mut report = report(event, patient, types, &tag);
    if event.follow_up.is_some()
        && cfg.care_team_owner.as_deref().is_some_and(|o| !task_owner_allowed(o))
        && let Some(Value::Array(w)) = report.get_mut("warnings")
    {
        w.push(json!("care_team_owner is not a type R4 allows as Task.owner: the Task has no owner"));
    }
    Conversion { bundle, report }
}

pub use hearth_core::{TASK_OWNER_TYPES, task_owner_allowed};

struct Ids {
    communication: String,
    encounter: String,
    system: String,
}

impl Ids {
    fn new(e: &Event) -> Ids {
        let v = e.vendor.as_str();
        // A voicemail is a message of its own: the call's later status callbacks must not overwrite it.
        let communication = match e.follow_up {
            Some(FollowUp::Voicemail) => deterministic_id("Communication", &[v, &e.contact_id, "voicemail"]),
            _ => deterministic_id("Communication", &[v, &e.contact_id]),
        };
        Ids {
            communication,
            encounter: deterministic_id("Encounter", &[v, &e.contact_id]),
            system: format!("urn:hearth:webhooks:{v}"),
        }
    }

    fn task(&self, e: &Event, kind: FollowUp) -> String {
        deterministic_id("Task", &[e.vendor.as_str(), &e.contact_id, kind.code()])
    }
}

fn communication(e: &Event, patient: &PatientLink, ids: &Ids, with_encounter: bool) -> Map<String, Value> {
    let mut c = Map::new();
    c.insert("identifier".into(), json!([{ "system": ids.system, "value": e.contact_id }]));
    c.insert("status".into(), json!(e.communication_status));
    if let Some(reason) = e.follow_up.filter(|f| f.means_not_done()) {
        c.insert("statusReason".into(), json!({ "text": reason.code() }));
    }
    let (code, display) = medium_code(e.medium);
    c.insert(
        "medium".into(),
        json!([{ "coding": [{ "system": PARTICIPATION_MODE, "code": code, "display": display }] }]),
    );
    let patient_ref = patient_reference(patient);
    if let Some(p) = &patient_ref {
        c.insert("subject".into(), p.clone());
    }
    if with_encounter {
        c.insert("encounter".into(), json!({ "reference": format!("urn:uuid:{}", ids.encounter) }));
    }
    if let Some(at) = e.occurred_at {
        let key = if e.direction == Direction::Inbound { "received" } else { "sent" };
        c.insert(key.into(), json!(fhir_time(at)));
    }
    // The patient's side: the Patient when linked, else the number as display text for a person to link later.
    let party = patient_ref.or_else(|| e.customer_number().map(|n| json!({ "display": n })));
    if let Some(p) = party {
        let key = if e.direction == Direction::Inbound { "sender" } else { "recipient" };
        c.insert(key.into(), if key == "recipient" { json!([p]) } else { p });
    }
    if let Some(text) = &e.text {
        c.insert("payload".into(), json!([{ "contentString": text }]));
    }
    if let Some(d) = e.duration_s.filter(|_| e.medium == Medium::Voice) {
        c.insert("extension".into(), json!([{ "url": DURATION_EXTENSION, "valueDuration": seconds(d) }]));
    }
    c
}

fn encounter(e: &Event, patient: &PatientLink, ids: &Ids) -> Map<String, Value> {
    let mut enc = Map::new();
    enc.insert("identifier".into(), json!([{ "system": ids.system, "value": e.contact_id }]));
    enc.insert("status".into(), json!("finished"));
    enc.insert("class".into(), json!({ "system": ACT_CODE, "code": "VR", "display": "virtual" }));
    if let Some(p) = patient_reference(patient) {
        enc.insert("subject".into(), p);
    }
    if let Some(d) = e.duration_s {
        enc.insert("length".into(), seconds(d));
    }
    enc
}

fn task_entry(
    e: &Event,
    kind: FollowUp,
    patient: &PatientLink,
    cfg: &MapConfig,
    ids: &Ids,
    now: OffsetDateTime,
    tag: &Value,
) -> Value {
    let id = ids.task(e, kind);
    let value = format!("{}/{}", e.contact_id, kind.code());
    let mut t = Map::new();
    t.insert("identifier".into(), json!([{ "system": ids.system, "value": value }]));
    t.insert("status".into(), json!("requested"));
    t.insert("intent".into(), json!("order"));
    t.insert("priority".into(), json!("routine"));
    t.insert(
        "code".into(),
        json!({ "coding": [{ "system": FOLLOW_UP_SYSTEM, "code": kind.code(), "display": kind.display() }],
                "text": kind.display() }),
    );
    t.insert("description".into(), json!(kind.display()));
    t.insert("focus".into(), json!({ "reference": format!("urn:uuid:{}", ids.communication) }));
    if let Some(p) = patient_reference(patient) {
        t.insert("for".into(), p);
    }
    t.insert("authoredOn".into(), json!(fhir_time(now)));
    if let Some(owner) = cfg.care_team_owner.as_deref().filter(|o| task_owner_allowed(o)) {
        t.insert("owner".into(), json!({ "reference": owner }));
    }
    let if_none_exist = format!("identifier={}|{}", pct(&ids.system), pct(&value));
    entry("Task", &id, t, tag, json!({ "method": "POST", "url": "Task", "ifNoneExist": if_none_exist }))
}

fn put_entry(rtype: &str, id: &str, body: Map<String, Value>, tag: &Value) -> Value {
    entry(rtype, id, body, tag, json!({ "method": "PUT", "url": format!("{rtype}/{id}") }))
}

fn entry(rtype: &str, id: &str, body: Map<String, Value>, tag: &Value, request: Value) -> Value {
    let mut res = Map::new();
    res.insert("resourceType".into(), json!(rtype));
    res.insert("id".into(), json!(id));
    res.insert("meta".into(), json!({ "tag": [tag] }));
    res.extend(body);
    json!({ "fullUrl": format!("urn:uuid:{id}"), "resource": res, "request": request })
}

/// By id and by business identifier, so a receiver without the id can still resolve it.
fn patient_reference(p: &PatientLink) -> Option<Value> {
    let (PatientLink::Linked { id, identifier_system, identifier_value }
    | PatientLink::LinkedByIdentifier { id, identifier_system, identifier_value }) = p
    else {
        return None;
    };
    let mut identifier = Map::new();
    if let Some(s) = identifier_system {
        identifier.insert("system".into(), json!(s));
    }
    identifier.insert("value".into(), json!(identifier_value));
    Some(json!({ "reference": format!("Patient/{id}"), "identifier": identifier }))
}

fn medium_code(m: Medium) -> (&'static str, &'static str) {
    match m {
        Medium::Voice => ("PHONE", "telephone"),
        Medium::Sms => ("SMSWRIT", "SMS written"),
        Medium::Chat => ("ONLINEWRIT", "online written"),
    }
}

fn seconds(s: u64) -> Value {
    json!({ "value": s, "unit": "s", "system": UCUM, "code": "s" })
}

/// FHIR dateTime/instant text in UTC (golden files stay stable), to the millisecond at most: strict readers
/// (Google's FHIR protos among them) refuse the nanoseconds a clock gives.
pub fn fhir_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let ms = t.millisecond();
    let t = t.replace_nanosecond(u32::from(ms) * 1_000_000).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

fn report(e: &Event, patient: &PatientLink, resources: Vec<Value>, tag: &Value) -> Value {
    let mut r = Map::new();
    r.insert("mapping".into(), tag["code"].clone());
    r.insert("vendor".into(), json!(e.vendor.as_str()));
    r.insert("event_key".into(), json!(e.event_key));
    let (flag, candidates, rule) = match patient {
        PatientLink::Linked { .. } => ("linked", None, Some(LinkRule::Phone)),
        PatientLink::LinkedByIdentifier { .. } => ("linked", None, Some(LinkRule::Identifier)),
        PatientLink::Unknown => ("unknown", None, None),
        PatientLink::Ambiguous { candidates } => ("ambiguous", Some(*candidates), None),
        PatientLink::Mismatch => ("mismatch", None, None),
    };
    r.insert("patient".into(), json!(flag));
    if let Some(rule) = rule {
        r.insert("linked_by".into(), json!(rule.as_str()));
    } else if e.patient.is_some() {
        // Which rule was tried: an event that names its patient is never linked by phone.
        r.insert("lookup".into(), json!(LinkRule::Identifier.as_str()));
    }
    if let Some(n) = candidates {
        r.insert("candidates".into(), json!(n));
    }
    r.insert("follow_up".into(), json!(e.follow_up.map(FollowUp::code)));
    r.insert("resources".into(), Value::Array(resources));
    let mut warnings = Vec::new();
    if e.customer_number().is_none() && e.patient.is_none() {
        warnings.push(json!("no customer phone number in the event: it cannot be linked to a patient"));
    }
    if flag != "linked" {
        warnings.push(json!(format!("patient {flag}: resources carry no subject; link by hand if needed")));
    }
    r.insert("warnings".into(), Value::Array(warnings));
    Value::Object(r)
}
