//! The vendor-neutral event a webhook carries.

use serde::Deserialize;
use time::OffsetDateTime;

use crate::profile::Vendor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Medium {
    Voice,
    Sms,
    Chat,
}

/// Seen from the care organisation: `Inbound` is the patient reaching out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    Inbound,
    Outbound,
}

/// Why an event needs a person to act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FollowUp {
    MissedCall,
    Abandoned,
    Voicemail,
    CallbackRequested,
}

impl FollowUp {
    /// The code in `urn:hearth:webhooks:follow-up` (Task.code).
    pub fn code(self) -> &'static str {
        match self {
            FollowUp::MissedCall => "missed-call",
            FollowUp::Abandoned => "abandoned",
            FollowUp::Voicemail => "voicemail",
            FollowUp::CallbackRequested => "callback-requested",
        }
    }

    pub fn display(self) -> &'static str {
        match self {
            FollowUp::MissedCall => "Missed call: call the patient back",
            FollowUp::Abandoned => "Caller hung up in the queue: call the patient back",
            FollowUp::Voicemail => "Voicemail left: listen and call the patient back",
            FollowUp::CallbackRequested => "Callback requested: call the patient back",
        }
    }

    /// The contact did not happen (the Communication is `not-done`, and no Encounter is made).
    pub fn means_not_done(self) -> bool {
        matches!(self, FollowUp::MissedCall | FollowUp::Abandoned)
    }
}

/// One call, SMS or chat event, as read from a webhook under a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The vendor's identity of this event, for deduplication (CallSid/CallStatus, MessageSid/status,
    /// ContactId/eventType, Genesys message id/type).
    pub event_key: String,
    /// The vendor's identity of the contact (CallSid, MessageSid, ContactId, message id): all events of one
    /// contact update the same resources.
    pub contact_id: String,
    pub vendor: Vendor,
    pub profile_name: String,
    pub profile_version: String,
    pub medium: Medium,
    pub direction: Direction,
    /// E.164 when the vendor's value is a phone number; `None` otherwise (a client id, "Anonymous").
    pub from: Option<String>,
    pub to: Option<String>,
    /// The vendor's status or event type, as sent.
    pub status: String,
    /// The FHIR Communication.status the profile gives it.
    pub communication_status: String,
    /// The vendor status is one of the profile's `completed_statuses`.
    pub completed: bool,
    pub occurred_at: Option<OffsetDateTime>,
    pub duration_s: Option<u64>,
    pub text: Option<String>,
    pub follow_up: Option<FollowUp>,
    /// The patient the event names by identifier, when the profile maps such fields and the event has them.
    pub patient: Option<crate::link::PatientIdentity>,
}

impl Event {
    /// The patient's number: the caller for inbound contacts, the callee for outbound ones. This is the number
    /// to look up in the patient index.
    pub fn customer_number(&self) -> Option<&str> {
        match self.direction {
            Direction::Inbound => self.from.as_deref(),
            Direction::Outbound => self.to.as_deref(),
        }
    }

    /// A call that took place with someone answering: it gets an Encounter of class VR.
    pub fn is_completed_call(&self) -> bool {
        self.medium == Medium::Voice
            && self.completed
            && !matches!(self.follow_up, Some(FollowUp::MissedCall | FollowUp::Abandoned | FollowUp::Voicemail))
    }
}

/// A webhook that is authentic and well-formed but is not a call, SMS or chat (agent presence, typing
/// indicators, tasks): the caller journals it as filtered, answers 2xx, and maps nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    /// Names the event type; never a value that could be patient data.
    pub reason: String,
}

/// The outcome of [`crate::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Event(Box<Event>),
    Ignored(Ignored),
}
