//! HL7 v2 or FHIR from an AMQP queue (Hearth behind another engine): each delivery is journaled, and only
//! then acknowledged to the broker.

mod config;
#[cfg(test)]
mod integration_tests;
mod source;

pub use config::{AmqpSourceConfig, AmqpSourcePlan, RawAmqpSource, validate};
pub use source::{AmqpSource, AmqpSourceError};
