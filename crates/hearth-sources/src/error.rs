//! The one error type of the sources, with its class.

use std::net::SocketAddr;

use hearth_core::ErrorClass;

use crate::amqp::AmqpSourceError;
use crate::file::InboxError;

/// Why a source could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A channel's secret, profile or settings could not be turned into a running source.
    #[error("channels.{channel}: {reason}")]
    Setup { channel: String, reason: String },
    #[error("cannot listen on {addr} (channel {channel}): {source}")]
    Bind { channel: String, addr: SocketAddr, source: std::io::Error },
    #[error("mllp channel {channel}: accept failed: {source}")]
    Accept { channel: String, source: std::io::Error },
    #[error(transparent)]
    Inbox(#[from] InboxError),
    #[error(transparent)]
    Amqp(#[from] AmqpSourceError),
}

impl SourceError {
    /// Setup and bind failures need an operator (a configuration or a port); the rest may pass.
    pub fn class(&self) -> ErrorClass {
        match self {
            SourceError::Setup { .. } | SourceError::Bind { .. } | SourceError::Amqp(_) => ErrorClass::Permanent,
            SourceError::Accept { .. } | SourceError::Inbox(_) => ErrorClass::Transient,
        }
    }
}
