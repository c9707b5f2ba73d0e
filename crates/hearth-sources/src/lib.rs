//! Sources: the components that receive messages from outside, journal them, and only then answer.
//!
//! One folder per source kind, each holding its configuration (raw keys, validation, the validated plan), its
//! runtime and its integration tests; [`registry`] lists the kinds and starts them:
//! - [`mllp`]: HL7 v2 over MLLP/TCP, many concurrent connections, ACK after the journal commit.
//! - [`amqp`]: HL7 v2 or FHIR consumed from a queue, acknowledged to the broker after the journal commit.
//! - [`file`]: CSV billing files dropped in an inbox directory, journaled in chunks (one per row group).
//! - [`http_ingest`]: `POST /ingest/{channel}`, a CSV upload (same chunks) or one HL7 v2 message (ACK text).
//! - [`webhook`]: contact-center webhooks on `POST /webhooks/{channel}`, 2xx after the journal commit.
//!
//! Every source follows `docs/specs/component.md`: journal before acknowledging, bound what the peer controls,
//! apply backpressure, never log payload.
//!
//! ```
//! use hearth_core::config::Problems;
//! use hearth_sources::registry::{self, RawSource, SourcePlan};
//!
//! let raw: std::collections::BTreeMap<String, RawSource> =
//!     toml::from_str("[adt]\ntype = \"mllp\"\nlisten = \"127.0.0.1:2575\"\n").unwrap();
//! let mut problems = Problems::default();
//! let channels = registry::validate(raw, &mut problems);
//! assert!(problems.is_empty());
//! let SourcePlan::Mllp(m) = &channels[0].source else { unreachable!() };
//! assert_eq!(m.max_frame_bytes, hearth_sources::mllp::DEFAULT_MAX_FRAME_BYTES);
//! ```
#![forbid(unsafe_code)]

pub mod amqp;
mod error;
pub mod file;
mod hl7v2_intake;
mod http_body;
pub mod http_ingest;
pub mod mapping;
pub mod mllp;
mod receipt;
pub mod registry;
pub mod tls;
pub mod webhook;

pub use error::SourceError;
pub use hl7v2_intake::accepted as hl7v2_meta;
pub use registry::{Channel, ChannelPlan, RawSource, Running, SingletonWork, SourcePlan};

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
