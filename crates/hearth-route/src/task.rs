//! The `task` payload: one FHIR R4 Task per matching message (e.g. a post-discharge follow-up).

use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::projection::is_resource_type;
use crate::raw::RawTask;
use crate::set::Problems;

/// Longest `due_in_hours` accepted: a year (a larger value is a typo, not a follow-up).
pub const MAX_DUE_IN_HOURS: u32 = 366 * 24;
const PRIORITIES: [&str; 4] = ["routine", "urgent", "asap", "stat"];

/// A validated `[routes.<name>.task]`.
#[derive(Debug, Clone)]
pub(crate) struct TaskSpec {
    pub description: String,
    /// `Task.code` as it will be written.
    code: Value,
    pub due_in_hours: u32,
    priority: &'static str,
    owner: Option<String>,
}

impl TaskSpec {
    pub fn compile(raw: &RawTask, path: &str, problems: &mut Problems) -> Option<Self> {
        let before = problems.0.len();
        if raw.description.trim().is_empty() {
            problems.add(format!("{path}.description"), "must not be empty");
        }
        if raw.due_in_hours > MAX_DUE_IN_HOURS {
            problems.add(format!("{path}.due_in_hours"), format!("at most {MAX_DUE_IN_HOURS} (a year)"));
        }
        let priority = raw.priority.as_deref().unwrap_or("routine");
        let priority = PRIORITIES.into_iter().find(|p| *p == priority);
        if priority.is_none() {
            problems.add(format!("{path}.priority"), format!("one of {PRIORITIES:?}"));
        }
        if let Some(owner) = raw.owner.as_deref().filter(|o| !hearth_core::task_owner_allowed(o)) {
            problems.add(
                format!("{path}.owner"),
                format!(
                    "{owner:?} is not a reference R4 allows as Task.owner (one of {}), like \"CareTeam/outreach-team\"",
                    hearth_core::TASK_OWNER_TYPES.join(", ")
                ),
            );
        }
        let code = match &raw.code {
            Some(c) if c.code.trim().is_empty() => {
                problems.add(format!("{path}.code.code"), "must not be empty");
                Value::Null
            }
            Some(c) => {
                let mut coding = Map::new();
                put(&mut coding, "system", c.system.as_deref());
                put(&mut coding, "code", Some(&c.code));
                put(&mut coding, "display", c.display.as_deref());
                json!({ "coding": [coding] })
            }
            None => json!({ "text": raw.description }),
        };
        (problems.0.len() == before).then(|| Self {
            description: raw.description.clone(),
            code,
            due_in_hours: raw.due_in_hours,
            priority: priority.unwrap_or("routine"),
            owner: raw.owner.clone(),
        })
    }

    /// The Task for one message, or why there is none (recorded as skipped in the plan).
    pub fn build(
        &self,
        route: &str,
        message_key: &str,
        now: OffsetDateTime,
        patient: Option<&Value>,
        encounter: Option<&Value>,
    ) -> Result<Value, &'static str> {
        let patient = patient.ok_or("no Patient in the message")?;
        let patient_id = fhir_id(patient).ok_or("the Patient has no usable id")?;
        let mut subject = Map::new();
        subject.insert("reference".into(), format!("Patient/{patient_id}").into());
        if let Some(first) = patient.get("identifier").and_then(|i| i.get(0)) {
            subject.insert("identifier".into(), first.clone());
        }
        let due = due_time(encounter, now, self.due_in_hours).ok_or("the due time is out of range")?;
        let authored = now.format(&Rfc3339).map_err(|_| "the planning time is out of range")?;
        let mut task = Map::new();
        task.insert("resourceType".into(), "Task".into());
        task.insert("id".into(), task_id(route, message_key).to_string().into());
        task.insert("status".into(), "requested".into());
        task.insert("intent".into(), "order".into());
        task.insert("priority".into(), self.priority.into());
        task.insert("code".into(), self.code.clone());
        task.insert("description".into(), self.description.clone().into());
        if let Some(enc) = encounter.and_then(fhir_id).map(|id| json!({ "reference": format!("Encounter/{id}") })) {
            task.insert("focus".into(), enc.clone());
            task.insert("encounter".into(), enc);
        }
        task.insert("for".into(), Value::Object(subject));
        task.insert("authoredOn".into(), authored.into());
        task.insert("restriction".into(), json!({ "period": { "end": due } }));
        if let Some(owner) = &self.owner {
            task.insert("owner".into(), json!({ "reference": owner }));
        }
        Ok(Value::Object(task))
    }
}

/// UUID v5 over the route name and the message key: a resent or reprocessed message yields the same Task id, so
/// the FHIR server updates the Task instead of creating another one.
pub(crate) fn task_id(route: &str, message_key: &str) -> Uuid {
    let namespace = Uuid::new_v5(&Uuid::NAMESPACE_URL, b"urn:hearth:route:task");
    Uuid::new_v5(&namespace, format!("{route}\n{message_key}").as_bytes())
}

/// The discharge time (Encounter.period.end, when it is a full date-time) or `now`, plus `hours`, as FHIR
/// dateTime text in the base time's offset.
fn due_time(encounter: Option<&Value>, now: OffsetDateTime, hours: u32) -> Option<String> {
    let end = encounter.and_then(|e| e.pointer("/period/end")).and_then(Value::as_str);
    let base = end.and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok()).unwrap_or(now);
    let due = base.checked_add(Duration::hours(i64::from(hours)))?;
    due.format(&Rfc3339).ok()
}

/// The resource's `id` when it is a valid FHIR id (`[A-Za-z0-9\-\.]{1,64}`).
pub(crate) fn fhir_id(resource: &Value) -> Option<&str> {
    resource.get("id")?.as_str().filter(|id| valid_id(id))
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// `Type/id` with a FHIR resource type and id.
pub(crate) fn is_reference(s: &str) -> bool {
    s.split_once('/').is_some_and(|(t, id)| is_resource_type(t) && valid_id(id))
}

fn put(obj: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        obj.insert(key.into(), v.into());
    }
}
