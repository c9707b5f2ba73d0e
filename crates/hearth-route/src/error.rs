//! The crate's error types: configuration problems (at compile) and planning errors (per message).

/// One configuration problem, naming the key path (`routes.discharge.condition`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteProblem {
    pub path: String,
    pub message: String,
}

impl RouteProblem {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

impl std::fmt::Display for RouteProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why a message could not be routed. Every kind is permanent: the same Bundle and configuration always give the
/// same error, so the engine keeps the message as `error` (fix the route or the mapping, then reprocess).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The input is not a FHIR Bundle object.
    #[error("not a FHIR Bundle: {0}")]
    NotABundle(&'static str),
    /// A Bundle entry whose resource cannot be delivered on its own.
    #[error("Bundle entry {index}: {reason}")]
    BadEntry { index: usize, reason: &'static str },
    /// A route's condition failed at run time (e.g. a comparison of a string with a date).
    #[error("route `{route}`: condition failed: {source}")]
    Condition {
        route: String,
        #[source]
        source: hearth_fhirpath::EvalError,
    },
}

impl RouteError {
    /// Always `false`: routing is a pure function of the Bundle, so retrying cannot help.
    pub fn is_transient(&self) -> bool {
        false
    }
}
