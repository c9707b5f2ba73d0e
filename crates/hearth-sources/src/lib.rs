//! Sources: the components that receive messages from outside, journal them, and only then answer.
//!
//! - [`mllp`]: HL7 v2 over MLLP/TCP, many concurrent connections, ACK after the journal commit.
//! - [`file`]: CSV billing files dropped in an inbox directory, journaled in chunks (one per row group).
//! - [`http_ingest`]: `POST /ingest/{channel}`, a CSV upload (same chunks) or one HL7 v2 message (ACK text).
//! - [`webhook`]: contact-center webhooks on `POST /webhooks/{channel}`, 2xx after the journal commit.
//!
//! HTTP ingest, webhooks and the file inbox join here in later issues. Every source follows
//! `docs/specs/component.md`: journal before acknowledging, bound what the peer controls, apply backpressure,
//! never log payload.
#![forbid(unsafe_code)]

pub mod amqp;
pub mod file;
mod hl7v2_intake;
mod http_body;
pub mod http_ingest;
pub mod mllp;
pub mod webhook;
