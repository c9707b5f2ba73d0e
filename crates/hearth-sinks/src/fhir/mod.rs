//! The FHIR server destination: delivers outbox deliveries to a FHIR R4 REST server with
//! `hearth-fhir-client` (transaction Bundles or one conditional request per resource), and reports the
//! server's state from a `GET [base]/metadata` probe.

mod config;
#[cfg(test)]
mod integration_tests;
mod sink;

pub use config::{AuthPlan, FhirDestinationPlan, RawAuth, RawFhirDestination, validate};
pub use sink::FhirPublisher;
