//! Errors. Each says whether it is worth retrying soon ([`PublishError::is_transient`]); none carries payload.

use lapin::ErrorKind;
use lapin::protocol::AMQPErrorKind;

/// A configuration the link cannot use (found without IO by [`crate::LinkConfig::validate`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid AMQP URI: {0}")]
    Uri(String),
    #[error("invalid AMQP link configuration: {0}")]
    Invalid(String),
}

/// Why a publish was not confirmed. The caller (the outbox) retries every kind eventually; the kind says how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// No connection right now (connecting, or backing off after a failure).
    #[error("not connected to the broker")]
    NotConnected,
    /// The broker blocked publishers (memory or disk alarm). Nothing was sent.
    #[error("the broker is blocking publishers (resource alarm)")]
    Blocked,
    /// The broker refused responsibility for the message (`basic.nack`: an internal error, or a queue limit
    /// with `reject-publish`).
    #[error("the broker nacked the message")]
    Nacked,
    /// The message could not be routed to any queue (`mandatory` publish returned, `NO_ROUTE`).
    #[error("message returned by the broker: {code} {text}")]
    Returned { code: u16, text: String },
    /// The broker closed the publishing channel because of this publish or one beside it (e.g. 404, the
    /// exchange does not exist). The link reopens the channel; retrying only helps once the cause is fixed.
    #[error("the broker refused the publish: {code} {text}")]
    Refused { code: u16, text: String },
    /// The connection or channel went away before the confirm arrived: the message may or may not have been
    /// stored (retrying may create a duplicate, identifiable by `message_id`).
    #[error("connection lost before the confirm: {0}")]
    Lost(String),
    /// No confirm within `confirm_timeout` (same uncertainty as `Lost`).
    #[error("no confirm within the timeout")]
    Timeout,
    /// The message cannot be encoded (a name or property longer than AMQP allows); it never will be.
    #[error("message cannot be published: {0}")]
    Invalid(String),
}

impl PublishError {
    /// `true` when retrying soon, with nothing changed, is likely to succeed (connection trouble, alarms,
    /// timeouts, a nack). `false` when a retry needs an operator first (unroutable, refused, invalid): back off
    /// long, or dead-letter after the limit.
    pub fn is_transient(&self) -> bool {
        match self {
            PublishError::NotConnected
            | PublishError::Blocked
            | PublishError::Nacked
            | PublishError::Lost(_)
            | PublishError::Timeout => true,
            PublishError::Returned { .. } | PublishError::Refused { .. } | PublishError::Invalid(_) => false,
        }
    }

    /// A short, bounded label for metrics (`error_type`).
    pub fn kind(&self) -> &'static str {
        match self {
            PublishError::NotConnected => "not_connected",
            PublishError::Blocked => "blocked",
            PublishError::Nacked => "nacked",
            PublishError::Returned { .. } => "returned",
            PublishError::Refused { .. } => "refused",
            PublishError::Lost(_) => "lost",
            PublishError::Timeout => "timeout",
            PublishError::Invalid(_) => "invalid",
        }
    }

    /// A channel or connection error from lapin, as a publish outcome. `sent` says whether the message may
    /// have reached the wire (a state error before sending means it certainly did not).
    pub(crate) fn from_lapin(e: &lapin::Error, sent: bool) -> Self {
        match broker_error(e) {
            Some((code, text, true)) => PublishError::Refused { code, text },
            _ if !sent && is_state_error(e) => PublishError::NotConnected,
            _ => PublishError::Lost(e.to_string()),
        }
    }
}

/// Why consuming (or acknowledging a delivery) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsumeError {
    #[error("not connected to the broker")]
    NotConnected,
    /// The link was closed or shut down.
    #[error("the AMQP link is closed")]
    Closed,
    /// The broker refused (e.g. 404: the queue does not exist; 403: access refused).
    #[error("the broker refused: {code} {text}")]
    Refused { code: u16, text: String },
    /// The connection or channel went away; deliveries not acknowledged will be redelivered.
    #[error("connection lost: {0}")]
    Lost(String),
    #[error("invalid consumer settings: {0}")]
    Invalid(String),
}

impl ConsumeError {
    pub(crate) fn from_lapin(e: &lapin::Error) -> Self {
        match broker_error(e) {
            Some((code, text, _)) => ConsumeError::Refused { code, text },
            None if is_state_error(e) => ConsumeError::NotConnected,
            None => ConsumeError::Lost(e.to_string()),
        }
    }
}

/// `(reply code, reply text, channel-level)` when the broker closed something with a protocol error.
pub(crate) fn broker_error(e: &lapin::Error) -> Option<(u16, String, bool)> {
    match e.kind() {
        ErrorKind::ProtocolError(amqp) => {
            let soft = matches!(amqp.kind(), AMQPErrorKind::Soft(_));
            Some((amqp.get_id(), amqp.get_message().to_string(), soft))
        }
        _ => None,
    }
}

/// The channel or connection was not open when we tried: nothing was sent.
fn is_state_error(e: &lapin::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::InvalidChannelState(..) | ErrorKind::InvalidConnectionState(_) | ErrorKind::InvalidChannel(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_split() {
        assert!(PublishError::Lost("x".into()).is_transient());
        assert!(PublishError::Blocked.is_transient());
        assert!(!PublishError::Returned { code: 312, text: "NO_ROUTE".into() }.is_transient());
        assert!(!PublishError::Invalid("x".into()).is_transient());
        assert_eq!(PublishError::Timeout.kind(), "timeout");
    }
}
