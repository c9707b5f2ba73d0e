//! The AMQP destination: publishes outbox deliveries to an exchange with publisher confirms, over a supervised
//! `hearth_amqp::Link`.

mod config;
#[cfg(test)]
mod integration_tests;
mod publisher;

pub use config::{
    AmqpDestinationPlan, DEFAULT_EXCHANGE, QueuePlan, RawAmqpDestination, RawExchange, RawQueue, validate,
};
pub use publisher::{AmqpPublisher, FHIR_CONTENT_TYPE};
