//! FHIR R4 AuditEvent resources for content views and actions, recorded in the journal before the answer.

use hearth_store::{Journal, NewAuditEvent, StoreError};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::{Caller, rfc3339};

/// What happened, in the audit trail's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Message content was shown.
    View,
    Reprocess,
    Resend,
    ResendDead,
    Pause,
    Resume,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::View => "view",
            Action::Reprocess => "reprocess",
            Action::Resend => "resend",
            Action::ResendDead => "resend_dead",
            Action::Pause => "pause",
            Action::Resume => "resume",
        }
    }

    /// AuditEvent.action (http://hl7.org/fhir/audit-event-action): Read, Execute, Update.
    fn fhir_code(self) -> &'static str {
        match self {
            Action::View => "R",
            Action::Reprocess | Action::Resend | Action::ResendDead => "E",
            Action::Pause | Action::Resume => "U",
        }
    }
}

/// What the action was about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Message(i64),
    Delivery(i64),
    Channel(String),
    Destination(String),
}

/// Records one event; the caller answers only once this returned `Ok` (content is never shown unaudited).
/// `outcome_ok` false records a failed attempt (AuditEvent.outcome 4, minor failure).
pub(crate) async fn record(
    journal: &Journal,
    caller: &Caller,
    action: Action,
    target: &Target,
    outcome_ok: bool,
) -> Result<u64, StoreError> {
    let at = OffsetDateTime::now_utc();
    let message_id = match target {
        Target::Message(id) => Some(*id),
        _ => None,
    };
    let event = resource(caller, action, target, outcome_ok, at).to_string();
    let new = NewAuditEvent {
        at,
        actor: caller.name.clone(),
        role: caller.role.as_str().to_owned(),
        action: action.as_str().to_owned(),
        message_id,
        event,
    };
    journal.audit(new).await
}

fn resource(caller: &Caller, action: Action, target: &Target, outcome_ok: bool, at: OffsetDateTime) -> Value {
    let (kind, value) = match target {
        Target::Message(id) => ("message", id.to_string()),
        Target::Delivery(id) => ("delivery", id.to_string()),
        Target::Channel(n) => ("channel", n.clone()),
        Target::Destination(n) => ("destination", n.clone()),
    };
    json!({
        "resourceType": "AuditEvent",
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation"
        },
        "subtype": [{ "system": "urn:hearth:audit-action", "code": action.as_str() }],
        "action": action.fhir_code(),
        "recorded": rfc3339(at),
        "outcome": if outcome_ok { "0" } else { "4" },
        "agent": [{
            "type": { "text": caller.role.as_str() },
            "who": { "display": caller.name },
            "requestor": true
        }],
        "source": { "observer": { "display": "hearth" } },
        "entity": [{
            "what": { "identifier": { "system": format!("urn:hearth:{kind}"), "value": value } },
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                "code": "2",
                "display": "System Object"
            }
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;

    #[test]
    fn an_audit_event_names_who_and_what_never_a_token() {
        let caller = Caller { name: "oncall".into(), role: Role::Operator };
        let r = resource(&caller, Action::View, &Target::Message(42), true, OffsetDateTime::UNIX_EPOCH);
        assert_eq!(r["resourceType"], "AuditEvent");
        assert_eq!(r["action"], "R");
        assert_eq!(r["recorded"], "1970-01-01T00:00:00Z");
        assert_eq!(r["agent"][0]["who"]["display"], "oncall");
        assert_eq!(r["entity"][0]["what"]["identifier"]["value"], "42");
        assert_eq!(r["outcome"], "0");
    }
}
