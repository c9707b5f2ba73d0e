//! The alert board: which conditions are raised now and which cleared recently. The engine evaluates the
//! thresholds and reports each condition here every round; the board turns that into one "raised" and one
//! "cleared" change per episode (no floods: a condition that stays true is reported once).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::rfc3339;

/// Cleared alerts kept for the dashboard and `/api/v1/alerts`.
const RECENT: usize = 100;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertKind {
    /// A channel had at least N errors within its window.
    Errors,
    /// A channel received nothing for too long.
    Idle,
    /// A destination's outbox holds too many pending deliveries.
    OutboxDepth,
    /// A destination's oldest pending delivery is too old.
    OldestPending,
    /// A destination's broker is unreachable (or blocks publishers).
    Disconnected,
    /// A TLS listener's certificate expires within 14 days (or has expired).
    CertificateExpiry,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Errors => "errors",
            AlertKind::Idle => "idle",
            AlertKind::OutboxDepth => "outbox_depth",
            AlertKind::OldestPending => "oldest_pending",
            AlertKind::Disconnected => "disconnected",
            AlertKind::CertificateExpiry => "certificate_expiry",
        }
    }

    /// `channel`, `destination` or `listener` (a TLS listener: `channels.<name>` or `http`).
    pub fn scope(self) -> &'static str {
        match self {
            AlertKind::Errors | AlertKind::Idle => "channel",
            AlertKind::OutboxDepth | AlertKind::OldestPending | AlertKind::Disconnected => "destination",
            AlertKind::CertificateExpiry => "listener",
        }
    }
}

/// One alert episode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub id: u64,
    pub kind: AlertKind,
    /// The channel or destination name.
    pub subject: String,
    /// What was seen when it was raised (figures and names only, never message content).
    pub message: String,
    pub raised_at: OffsetDateTime,
    pub cleared_at: Option<OffsetDateTime>,
}

impl Alert {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "kind": self.kind.as_str(),
            "scope": self.kind.scope(),
            "subject": self.subject,
            "message": self.message,
            "state": if self.cleared_at.is_some() { "cleared" } else { "raised" },
            "raised_at": rfc3339(self.raised_at),
            "cleared_at": self.cleared_at.map(rfc3339),
        })
    }
}

/// A change worth telling someone about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertChange {
    Raised(Alert),
    Cleared(Alert),
}

impl AlertChange {
    pub fn alert(&self) -> &Alert {
        match self {
            AlertChange::Raised(a) | AlertChange::Cleared(a) => a,
        }
    }
}

/// Shared between the evaluator (writes) and the HTTP handlers (read). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct AlertBoard {
    inner: Arc<Mutex<Board>>,
}

#[derive(Debug, Default)]
struct Board {
    next_id: u64,
    active: BTreeMap<(AlertKind, String), Alert>,
    recent: VecDeque<Alert>,
}

impl AlertBoard {
    /// Reports a condition's current state: `Some(message)` while it holds, `None` when it does not. Answers a
    /// change only when the state flips.
    pub fn report(
        &self,
        kind: AlertKind,
        subject: &str,
        condition: Option<String>,
        now: OffsetDateTime,
    ) -> Option<AlertChange> {
        let mut b = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (kind, subject.to_owned());
        match (condition, b.active.contains_key(&key)) {
            (Some(message), false) => {
                b.next_id += 1;
                let alert = Alert {
                    id: b.next_id,
                    kind,
                    subject: subject.to_owned(),
                    message,
                    raised_at: now,
                    cleared_at: None,
                };
                b.active.insert(key, alert.clone());
                Some(AlertChange::Raised(alert))
            }
            (None, true) => {
                let mut alert = b.active.remove(&key)?;
                alert.cleared_at = Some(now);
                b.recent.push_front(alert.clone());
                b.recent.truncate(RECENT);
                Some(AlertChange::Cleared(alert))
            }
            _ => None,
        }
    }

    /// Raised alerts, oldest first.
    pub fn active(&self) -> Vec<Alert> {
        let b = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut v: Vec<Alert> = b.active.values().cloned().collect();
        v.sort_by_key(|a| a.id);
        v
    }

    /// Cleared alerts, most recent first.
    pub fn recent(&self) -> Vec<Alert> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).recent.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_raise_and_one_clear_per_episode() {
        let board = AlertBoard::default();
        let t = OffsetDateTime::UNIX_EPOCH;
        let raised = board.report(AlertKind::Disconnected, "fhir", Some("down".into()), t);
        assert!(matches!(raised, Some(AlertChange::Raised(ref a)) if a.subject == "fhir"));
        // Still down: nothing new, the first message stays.
        assert_eq!(board.report(AlertKind::Disconnected, "fhir", Some("still down".into()), t), None);
        assert_eq!(board.active().len(), 1);
        assert_eq!(board.active()[0].message, "down");
        // Another subject is another alert.
        assert!(board.report(AlertKind::Disconnected, "billing", Some("down".into()), t).is_some());
        let cleared = board.report(AlertKind::Disconnected, "fhir", None, t);
        assert!(matches!(cleared, Some(AlertChange::Cleared(ref a)) if a.cleared_at == Some(t)));
        assert_eq!(board.report(AlertKind::Disconnected, "fhir", None, t), None);
        assert_eq!(board.active().len(), 1);
        assert_eq!(board.recent().len(), 1);
        assert_eq!(board.recent()[0].to_json()["state"], "cleared");
        // A new episode gets a new id.
        let again = board.report(AlertKind::Disconnected, "fhir", Some("down".into()), t).unwrap();
        assert_eq!(again.alert().id, 3);
    }
}
