//! AMQP 0-9-1 wire layer over lapin: a supervised connection, topology declaration, a confirmed publisher
//! and a consumer. The only crate that speaks AMQP; the AMQP sink and the AMQP source build on it.
//!
//! - [`Link`] owns one connection under Hearth's own supervision (lapin's auto-recovery is not used): it
//!   connects, declares the [`Topology`], and after any failure reconnects with exponential backoff and
//!   jitter, redeclaring the topology before anyone may publish or consume again. [`Link::state`] says what
//!   it is doing; `Blocked` mirrors the broker's `connection.blocked` (memory or disk alarm).
//! - [`Link::publish`] sends one message persistent and `mandatory` on a channel in confirm mode and returns
//!   after the broker's confirm. Many publishes run at once (bounded by `max_unconfirmed`); each gets its own
//!   outcome, an unroutable message comes back as [`PublishError::Returned`], and a lost connection fails
//!   every pending publish promptly.
//! - [`Link::consume`] yields [`Delivery`] values across reconnects; the caller acknowledges each.
//! - `amqps://` runs over TLS with the rustls configuration hearth-tls builds from [`LinkConfig::tls`]
//!   (CA file, optional client certificate for EXTERNAL, server-name verification always on).
//!
//! ```
//! use std::time::Duration;
//! use hearth_amqp::{BindingSpec, ConfigError, ExchangeKind, ExchangeSpec, LinkConfig, QueueSpec};
//!
//! let mut cfg = LinkConfig::new("amqp://guest:guest@127.0.0.1:5672/%2f", "hearth-doc");
//! cfg.topology.exchanges.push(ExchangeSpec::durable("hearth.fhir", ExchangeKind::Topic));
//! cfg.topology.queues.push(QueueSpec { message_ttl_ms: Some(86_400_000), ..QueueSpec::durable("billing") });
//! cfg.topology.bindings.push(BindingSpec {
//!     queue: "billing".into(),
//!     exchange: "hearth.fhir".into(),
//!     routing_key: "*.*.Claim".into(),
//! });
//! cfg.max_unconfirmed = 64;
//! cfg.confirm_timeout = Duration::from_secs(10);
//! assert_eq!(cfg.validate(), Ok(()));
//!
//! // TLS: amqps:// with the CA to trust, and a client certificate for RabbitMQ's EXTERNAL login. Mistakes in
//! // the shape of the settings are refused up front, not in a reconnect loop.
//! cfg.uri = "amqps://broker.example/%2f?auth_mechanism=external".into();
//! cfg.tls.ca_file = Some("/etc/hearth/broker-ca.pem".into());
//! assert!(matches!(cfg.validate(), Err(ConfigError::Invalid(_))));
//! cfg.tls.cert_file = Some("/etc/hearth/hearth.pem".into());
//! cfg.tls.key_file = Some("/etc/hearth/hearth.key".into());
//! assert_eq!(cfg.validate(), Ok(()));
//! ```
//!
//! With a broker (see `tests/broker.rs` for the full set):
//!
//! ```no_run
//! # async fn demo() -> Result<(), hearth_amqp::PublishError> {
//! use hearth_amqp::{Link, LinkConfig, Outgoing};
//! use tokio_util::sync::CancellationToken;
//!
//! let link = Link::start(LinkConfig::new("amqp://guest:guest@127.0.0.1:5672/%2f", "hearth"), CancellationToken::new());
//! link.state().wait_for(|s| s.is_connected()).await.ok();
//! link.publish(Outgoing {
//!     exchange: "hearth.fhir".into(),
//!     routing_key: "adt.A01.Patient".into(),
//!     body: br#"{"resourceType":"Patient"}"#.to_vec(),
//!     message_id: "3f1c...".into(),
//!     content_type: "application/fhir+json; fhirVersion=4.0".into(),
//!     ..Outgoing::default()
//! }).await?;
//! link.close().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod config;
mod consumer;
mod endpoint;
mod error;
mod link;
mod publish;
pub mod testing;
mod tls;
mod topology;

pub use config::{BindingSpec, ExchangeKind, ExchangeSpec, LinkConfig, QueueSpec, QueueType, Topology};
pub use consumer::{Consumer, Delivery};
pub use endpoint::{DEFAULT_ENDPOINT, Endpoint, EndpointError, endpoint_uris, redact_uri};
pub use error::{ConfigError, ConsumeError, PublishError};
pub use link::{Link, LinkState, backoff_delay};
pub use publish::{Outgoing, PUBLISH_ID_HEADER};
