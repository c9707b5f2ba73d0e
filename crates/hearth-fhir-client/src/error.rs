//! The crate's one error type. Every error has a [`ErrorClass`] that tells the caller what to do with the
//! delivery; `Display` never contains payload or server text that could echo it (the OperationOutcome is
//! available separately, for the journal, through [`Error::outcome`]).

use std::time::Duration;

/// What the caller (the outbox) does with a failed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Retry later, with backoff (honouring [`Error::retry_after`] when the server gave one). Resending is
    /// safe: the requests are conditional or carry deterministic ids.
    Transient,
    /// Dead at once: sending the same bytes again will fail the same way.
    Permanent,
    /// The server or the token endpoint refuses our credentials, even after a fresh token: the destination
    /// needs an operator (an alert), and the delivery should wait rather than be dead-lettered.
    Unauthorized,
}

impl ErrorClass {
    /// A bounded label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Unauthorized => "unauthorized",
        }
    }
}

/// Why a request to the FHIR server (or its token endpoint) did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The settings cannot work (found before any IO, by [`crate::ClientSettings::validate`] or when the
    /// client is built): bad URL, bad header, unreadable key.
    #[error("invalid FHIR client settings: {0}")]
    Config(String),
    /// The Bundle handed to the client is not something it can send (not JSON, not a transaction, an entry
    /// without a request). Never retried: the mapper must change.
    #[error("cannot send this Bundle: {0}")]
    Invalid(String),
    /// No connection, a reset, or the connection closed before the whole response arrived (the request may
    /// have been processed: resending is safe by construction).
    #[error("network error talking to the FHIR server: {0}")]
    Network(String),
    /// No complete response within the request timeout.
    #[error("no response from the FHIR server within {0:?}")]
    Timeout(Duration),
    /// 429 or 5xx (or 408): the server asks us to come back later.
    #[error("the FHIR server is unavailable or throttling: HTTP {status}{}", issue_codes(.codes))]
    Unavailable { status: u16, retry_after: Option<Duration>, codes: Vec<String>, outcome: Option<String> },
    /// 4xx other than 401/403/408/429 (400, 404, 409, 412, 422...), or a transaction-response entry with
    /// such a status: the server refuses this content. `outcome` is the server's OperationOutcome (JSON,
    /// bounded in size) when it sent one.
    #[error("the FHIR server rejected the request: HTTP {status}{}{}", entry_label(.entry), issue_codes(.codes))]
    Rejected { status: u16, entry: Option<usize>, codes: Vec<String>, outcome: Option<String> },
    /// 401/403 from the server after one token renewal, or the token endpoint refused our credentials.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The token endpoint could not be reached or failed (network, 5xx, 429, a malformed answer).
    #[error("the token endpoint is unavailable: {detail}")]
    TokenUnavailable { detail: String, retry_after: Option<Duration> },
    /// A 2xx whose body is not what FHIR says it must be (e.g. a transaction-response with a different
    /// number of entries). We cannot tell what was stored: retry (safe by construction).
    #[error("unexpected answer from the FHIR server: {0}")]
    Protocol(String),
}

fn entry_label(entry: &Option<usize>) -> String {
    entry.map(|i| format!(" (entry {i})")).unwrap_or_default()
}

/// OperationOutcome issue codes (a closed FHIR value set, so safe to log), as ` [invalid, structure]`.
fn issue_codes(codes: &[String]) -> String {
    if codes.is_empty() { String::new() } else { format!(" [{}]", codes.join(", ")) }
}

impl Error {
    /// What to do with the delivery.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Network(_)
            | Error::Timeout(_)
            | Error::Unavailable { .. }
            | Error::TokenUnavailable { .. }
            | Error::Protocol(_) => ErrorClass::Transient,
            Error::Config(_) | Error::Invalid(_) | Error::Rejected { .. } => ErrorClass::Permanent,
            Error::Unauthorized(_) => ErrorClass::Unauthorized,
        }
    }

    /// Shorthand for `class() == Transient`.
    pub fn is_transient(&self) -> bool {
        self.class() == ErrorClass::Transient
    }

    /// The wait the server asked for (`Retry-After`, in seconds or as an HTTP date), when it gave one. The
    /// caller uses it instead of its own backoff when it is longer (and caps it).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Unavailable { retry_after, .. } | Error::TokenUnavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The server's OperationOutcome (JSON text, at most [`crate::ClientSettings::max_outcome_bytes`]) for
    /// the failure record. It may quote the content it refused: store it with the message, never log it.
    pub fn outcome(&self) -> Option<&str> {
        match self {
            Error::Rejected { outcome, .. } | Error::Unavailable { outcome, .. } => outcome.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status the server answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Rejected { status, .. } | Error::Unavailable { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A short, bounded label for metrics (`error_type`).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::Invalid(_) => "invalid",
            Error::Network(_) => "network",
            Error::Timeout(_) => "timeout",
            Error::Unavailable { status: 429, .. } => "throttled",
            Error::Unavailable { .. } => "unavailable",
            Error::Rejected { status: 412, .. } => "precondition_failed",
            Error::Rejected { .. } => "rejected",
            Error::Unauthorized(_) => "unauthorized",
            Error::TokenUnavailable { .. } => "token_unavailable",
            Error::Protocol(_) => "protocol",
        }
    }

    /// The failure text for the journal: the OperationOutcome when there is one, else the message.
    pub fn failure_text(&self) -> String {
        match self.outcome() {
            Some(oo) => format!("{self}: {oo}"),
            None => self.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let rejected = Error::Rejected { status: 422, entry: Some(2), codes: vec!["invalid".into()], outcome: None };
        assert_eq!(rejected.class(), ErrorClass::Permanent);
        assert_eq!(rejected.to_string(), "the FHIR server rejected the request: HTTP 422 (entry 2) [invalid]");
        let busy =
            Error::Unavailable { status: 429, retry_after: Some(Duration::from_secs(3)), codes: vec![], outcome: None };
        assert!(busy.is_transient());
        assert_eq!(busy.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(busy.kind(), "throttled");
        assert_eq!(Error::Unauthorized("x".into()).class(), ErrorClass::Unauthorized);
        assert_eq!(Error::Protocol("x".into()).class(), ErrorClass::Transient);
    }
}
