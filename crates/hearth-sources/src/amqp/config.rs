//! What an AMQP source consumes and how.

use hearth_amqp::LinkConfig;
use hearth_core::PayloadKind;

use super::source::AmqpSourceError;

/// An AMQP source: the link (declaring the queue if the topology says so), the queue, and what it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct AmqpSourceConfig {
    pub link: LinkConfig,
    pub queue: String,
    /// Deliveries in hand at once (`basic.qos`); also how many are journaled concurrently.
    pub prefetch: u16,
    /// `Hl7v2` or `Fhir`.
    pub kind: PayloadKind,
    /// Larger messages are journaled as `rejected` (kept, not parsed) and acknowledged.
    pub max_message_bytes: usize,
}

impl AmqpSourceConfig {
    /// Prefetch 64 and a 16 MiB message limit.
    pub fn new(link: LinkConfig, queue: impl Into<String>, kind: PayloadKind) -> Self {
        Self { link, queue: queue.into(), prefetch: 64, kind, max_message_bytes: 16 * 1024 * 1024 }
    }

    pub fn validate(&self) -> Result<(), AmqpSourceError> {
        self.link.validate().map_err(|e| AmqpSourceError::Config(e.to_string()))?;
        if self.queue.is_empty() || self.queue.len() > 255 {
            return Err(AmqpSourceError::Config("queue name must be 1 to 255 bytes".into()));
        }
        if self.prefetch == 0 {
            return Err(AmqpSourceError::Config("prefetch must be at least 1".into()));
        }
        if self.max_message_bytes == 0 {
            return Err(AmqpSourceError::Config("max_message_bytes must be at least 1".into()));
        }
        if !matches!(self.kind, PayloadKind::Hl7v2 | PayloadKind::Fhir) {
            let kind = self.kind.as_str();
            return Err(AmqpSourceError::Config(format!("kind {kind}: an AMQP source carries hl7v2 or fhir")));
        }
        Ok(())
    }
}
