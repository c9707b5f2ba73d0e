//! Publishing one delivery: the message properties of the AMQP contract (content type, persistent,
//! `message_id`, the `x-hearth-*` headers), confirmed by the broker.

use hearth_amqp::{Link, LinkState, Outgoing, PublishError};
use hearth_store::DueDelivery;

use crate::outbox::{NotReady, SendError};

/// The content type of FHIR bodies.
pub const FHIR_CONTENT_TYPE: &str = "application/fhir+json; fhirVersion=4.0";

/// Publishes to one exchange over a supervised [`Link`].
#[derive(Debug, Clone)]
pub struct AmqpPublisher {
    pub link: Link,
    pub exchange: String,
}

impl AmqpPublisher {
    pub(crate) async fn send(&self, d: &DueDelivery, body: &str) -> Result<(), SendError> {
        let mut headers = vec![
            ("x-hearth-channel".to_owned(), d.channel.clone()),
            ("x-hearth-message-id".to_owned(), d.message_id.to_string()),
        ];
        if let Some(event) = &d.event {
            headers.push(("x-hearth-event".to_owned(), event.clone()));
        }
        let msg = Outgoing {
            exchange: self.exchange.clone(),
            routing_key: d.routing_key.clone(),
            body: body.as_bytes().to_vec(),
            message_id: d.content_id.clone(),
            content_type: FHIR_CONTENT_TYPE.to_owned(),
            headers,
            timestamp: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok().map(|t| t.as_secs()),
        };
        self.link.publish(msg).await.map_err(classify)
    }

    /// `Ok` when publishing makes sense now; otherwise why not.
    pub(crate) fn ready(&self) -> Result<(), NotReady> {
        match &*self.link.state().borrow() {
            LinkState::Connected => Ok(()),
            LinkState::Connecting => Err(NotReady::Connecting),
            LinkState::Blocked { reason } => Err(NotReady::Blocked(reason.clone())),
            LinkState::Disconnected { error, .. } => Err(NotReady::Disconnected(error.clone())),
            LinkState::Closed => Err(NotReady::Closed),
        }
    }

    /// Resolves when the link's state may have changed.
    pub(crate) async fn changed(&self) {
        let mut rx = self.link.state();
        let _ = rx.changed().await;
    }
}

fn classify(e: PublishError) -> SendError {
    match e {
        // The destination is not there: not an attempt, the delivery waits for the link.
        PublishError::NotConnected | PublishError::Blocked => SendError::Unavailable(e.to_string()),
        other => SendError::Failed(other.to_string()),
    }
}
