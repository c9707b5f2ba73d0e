//! Sinks: drain the journal's outbox to destinations. One folder per destination kind (`amqp/`, `fhir/`: its
//! config, its publisher, its tests), one [`registry`] that lists the kinds, validates and starts them, and the outbox worker
//! every kind shares.
//!
//! One [`Sink`] per destination reads the due deliveries of its destination from the journal (oldest first; of an
//! ordered lane only its head), publishes them concurrently up to the destination's `max_in_flight`, and records
//! every outcome back in the journal in one group-committed write: `sent` once the destination confirmed,
//! otherwise a retry at a later time (exponential backoff with jitter) or, after the retry limit, `dead`.
//!
//! A destination that is not reachable (disconnected, or its broker blocks publishers) is not attempted at all:
//! its deliveries wait without using up their retries, and the sink resumes when the link is back. Only failures
//! the destination itself reported (a nack, an unroutable return, a timeout, a connection lost mid-publish) count
//! as attempts. Nothing is ever removed from the outbox by a sink: acknowledged input is delivered or `dead`.
//!
//! ```
//! use std::time::Duration;
//! use hearth_sinks::Backoff;
//!
//! let b = Backoff { initial: Duration::from_secs(1), max: Duration::from_secs(60) };
//! // Attempt n waits between half and all of initial * 2^(n-1), capped at max.
//! let d = b.delay(3, 0.0);
//! assert_eq!(d, Duration::from_secs(2)); // 4 s, halved by the lowest jitter draw
//! assert_eq!(b.delay(30, 1.0), Duration::from_secs(60));
//! ```
#![forbid(unsafe_code)]

pub mod amqp;
pub mod fhir;
mod monitor;
mod outbox;
pub mod registry;

pub use amqp::{AmqpPublisher, FHIR_CONTENT_TYPE};
pub use fhir::FhirPublisher;
pub use monitor::monitor;
pub use outbox::{Backoff, MAX_RETRY_AFTER, NotReady, RetrySettings, SendError, Sink, SinkConfig, report_pending};
pub use registry::{Destination, DestinationKind, DestinationPlan, Publisher, RawDestination, RetryPlan, StartError};

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
