//! Consuming from a queue across reconnects. Each subscription has its own channel with `basic.qos`
//! prefetch; deliveries are acknowledged explicitly, and whatever is not acknowledged when a channel ends is
//! redelivered by the broker (at-least-once).

use std::sync::Arc;

use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Acker, Channel};

use crate::config::MAX_SHORT;
use crate::error::ConsumeError;
use crate::link::{Session, Shared, backoff_delay};
use crate::topology::short;

/// A subscription to one queue. `next` survives reconnects; it ends only when the link closes.
#[derive(Debug)]
pub struct Consumer {
    shared: Arc<Shared>,
    queue: String,
    prefetch: u16,
    sub: Option<Subscription>,
}

#[derive(Debug)]
struct Subscription {
    channel: Channel,
    stream: lapin::Consumer,
    session: Arc<Session>,
}

impl Consumer {
    pub(crate) async fn start(shared: Arc<Shared>, queue: &str, prefetch: u16) -> Result<Consumer, ConsumeError> {
        if prefetch == 0 {
            return Err(ConsumeError::Invalid("prefetch must be at least 1 (0 would mean unbounded)".into()));
        }
        if queue.is_empty() || queue.len() > MAX_SHORT {
            return Err(ConsumeError::Invalid("queue name must be 1 to 255 bytes".into()));
        }
        let mut consumer = Consumer { shared, queue: queue.to_owned(), prefetch, sub: None };
        consumer.sub = Some(consumer.subscribe().await?);
        Ok(consumer)
    }

    pub fn queue(&self) -> &str {
        &self.queue
    }

    async fn subscribe(&self) -> Result<Subscription, ConsumeError> {
        let session = self.shared.current_session().await.ok_or(ConsumeError::Closed)?;
        let channel = session.conn.create_channel().await.map_err(|e| ConsumeError::from_lapin(&e))?;
        let qos = BasicQosOptions { global: false };
        channel.basic_qos(self.prefetch, qos).await.map_err(|e| ConsumeError::from_lapin(&e))?;
        let options = BasicConsumeOptions::default(); // explicit acks
        let stream = channel
            .basic_consume(short(&self.queue), "".into(), options, FieldTable::default())
            .await
            .map_err(|e| ConsumeError::from_lapin(&e))?;
        Ok(Subscription { channel, stream, session })
    }

    /// The next delivery, or `None` once the link is closed. After a lost connection it waits for the link
    /// to reconnect and subscribes again (retrying with backoff while the broker refuses).
    pub async fn next(&mut self) -> Option<Delivery> {
        let mut failures = 0u32;
        loop {
            if self.shared.stop.is_cancelled() {
                return None;
            }
            let Some(sub) = self.sub.as_mut() else {
                match self.subscribe().await {
                    Ok(sub) => self.sub = Some(sub),
                    Err(ConsumeError::Closed) => return None,
                    Err(e) => {
                        tracing::warn!(queue = %self.queue, error = %e, "amqp resubscribe failed; retrying");
                        let cfg = &self.shared.cfg;
                        let delay = backoff_delay(failures, cfg.reconnect_min, cfg.reconnect_max);
                        failures = failures.saturating_add(1);
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            _ = self.shared.stop.cancelled() => return None,
                        }
                    }
                }
                continue;
            };
            let next = tokio::select! {
                d = sub.stream.next() => d,
                _ = sub.session.dead.cancelled() => None,
                _ = self.shared.stop.cancelled() => return None,
            };
            match next {
                Some(Ok(d)) => return Some(Delivery::from_lapin(d)),
                Some(Err(e)) => tracing::warn!(queue = %self.queue, error = %e, "amqp consumer interrupted"),
                None => tracing::info!(queue = %self.queue, "amqp consumer ended; subscribing again"),
            }
            self.sub = None;
        }
    }

    /// Stops the subscription: closing its channel hands deliveries that were prefetched but never returned
    /// by `next` back to the queue. Acknowledge the deliveries in hand first.
    pub async fn close(mut self) {
        if let Some(sub) = self.sub.take()
            && sub.channel.status().connected()
        {
            let _ = sub.channel.close(200, "consumer closed".into()).await;
        }
    }
}

/// One message from a queue, with the properties Hearth uses. Acknowledge it with [`Delivery::ack`] once
/// it is safe (e.g. journaled), or [`Delivery::nack`] to hand it back.
#[derive(Debug)]
pub struct Delivery {
    pub body: Vec<u8>,
    pub exchange: String,
    pub routing_key: String,
    /// The broker delivered it before (to this or another consumer) without an ack.
    pub redelivered: bool,
    pub message_id: Option<String>,
    pub content_type: Option<String>,
    pub delivery_mode: Option<u8>,
    pub timestamp: Option<u64>,
    /// String-like and numeric header values as text; other types are left out.
    pub headers: Vec<(String, String)>,
    acker: Acker,
}

impl Delivery {
    fn from_lapin(d: lapin::message::Delivery) -> Self {
        let p = &d.properties;
        let headers = p
            .headers()
            .as_ref()
            .map(|h| h.inner().iter().filter_map(|(k, v)| Some((k.to_string(), header_text(v)?))).collect())
            .unwrap_or_default();
        Delivery {
            exchange: d.exchange.to_string(),
            routing_key: d.routing_key.to_string(),
            redelivered: d.redelivered,
            message_id: p.message_id().as_ref().map(|s| s.to_string()),
            content_type: p.content_type().as_ref().map(|s| s.to_string()),
            delivery_mode: *p.delivery_mode(),
            timestamp: *p.timestamp(),
            headers,
            body: d.data,
            acker: d.acker,
        }
    }

    /// The value of header `name`, if present and text-like.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Tells the broker this delivery is handled; it will not be redelivered.
    pub async fn ack(&self) -> Result<(), ConsumeError> {
        self.acker.ack(BasicAckOptions::default()).await.map(drop).map_err(|e| ConsumeError::from_lapin(&e))
    }

    /// Hands the delivery back: `requeue` puts it back on the queue, otherwise it is dead-lettered (or
    /// dropped by the broker if the queue has no dead-letter exchange).
    pub async fn nack(&self, requeue: bool) -> Result<(), ConsumeError> {
        let options = BasicNackOptions { multiple: false, requeue };
        self.acker.nack(options).await.map(drop).map_err(|e| ConsumeError::from_lapin(&e))
    }
}

fn header_text(v: &AMQPValue) -> Option<String> {
    Some(match v {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.to_string(),
        AMQPValue::Boolean(b) => b.to_string(),
        AMQPValue::ShortShortInt(n) => n.to_string(),
        AMQPValue::ShortShortUInt(n) => n.to_string(),
        AMQPValue::ShortInt(n) => n.to_string(),
        AMQPValue::ShortUInt(n) => n.to_string(),
        AMQPValue::LongInt(n) => n.to_string(),
        AMQPValue::LongUInt(n) => n.to_string(),
        AMQPValue::LongLongInt(n) => n.to_string(),
        AMQPValue::Timestamp(n) => n.to_string(),
        _ => return None,
    })
}
