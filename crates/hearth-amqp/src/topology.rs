//! Declares a [`Topology`] on a channel. Declarations are idempotent on the broker as long as the arguments
//! are the same, so the link runs this on every (re)connect. A mismatch (a queue that exists with other
//! arguments) is a `PRECONDITION_FAILED` the operator must see: it fails the connection attempt with that text.

use lapin::Channel;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

use crate::config::{ExchangeKind, ExchangeSpec, QueueSpec, QueueType, Topology};

/// Exchanges first (queues dead-letter into them, bindings need them), then queues, then bindings.
pub(crate) async fn declare(channel: &Channel, topology: &Topology) -> Result<(), lapin::Error> {
    for e in &topology.exchanges {
        let options = ExchangeDeclareOptions { durable: e.durable, ..ExchangeDeclareOptions::default() };
        channel.exchange_declare(short(&e.name), lapin_kind(e.kind), options, exchange_args(e)).await?;
    }
    for q in &topology.queues {
        let options = QueueDeclareOptions { durable: q.durable, ..QueueDeclareOptions::default() };
        channel.queue_declare(short(&q.name), options, queue_args(q)).await?;
    }
    for b in &topology.bindings {
        let (queue, exchange, key) = (short(&b.queue), short(&b.exchange), short(&b.routing_key));
        channel.queue_bind(queue, exchange, key, QueueBindOptions::default(), FieldTable::default()).await?;
    }
    Ok(())
}

/// Names were length-checked by `LinkConfig::validate`; a longer one is cut rather than panicking in lapin
/// (the broker then reports the unknown name).
pub(crate) fn short(s: &str) -> ShortString {
    ShortString::try_new(s).unwrap_or_else(|_| ShortString::try_new(truncate(s, 255)).unwrap_or_default())
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

fn lapin_kind(kind: ExchangeKind) -> lapin::ExchangeKind {
    match kind {
        ExchangeKind::Topic => lapin::ExchangeKind::Topic,
        ExchangeKind::Direct => lapin::ExchangeKind::Direct,
        ExchangeKind::Fanout => lapin::ExchangeKind::Fanout,
        ExchangeKind::Headers => lapin::ExchangeKind::Headers,
    }
}

fn long(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()))
}

fn exchange_args(e: &ExchangeSpec) -> FieldTable {
    let mut args = FieldTable::default();
    if let Some(ae) = &e.alternate_exchange {
        args.insert("alternate-exchange".into(), long(ae));
    }
    args
}

/// Only non-default arguments are sent, so a queue declared by hand with the defaults still matches.
/// `x-queue-type` is sent for quorum queues only: an existing classic queue without the argument would
/// otherwise fail the equivalence check on older brokers.
fn queue_args(q: &QueueSpec) -> FieldTable {
    let mut args = FieldTable::default();
    if q.queue_type == QueueType::Quorum {
        args.insert("x-queue-type".into(), long("quorum"));
    }
    if let Some(dlx) = &q.dead_letter_exchange {
        args.insert("x-dead-letter-exchange".into(), long(dlx));
    }
    if let Some(key) = &q.dead_letter_routing_key {
        args.insert("x-dead-letter-routing-key".into(), long(key));
    }
    if let Some(ttl) = q.message_ttl_ms {
        args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(i64::from(ttl)));
    }
    if let Some(max) = q.max_length {
        args.insert("x-max-length".into(), AMQPValue::LongLongInt(i64::from(max)));
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_arguments_only_when_set() {
        let plain = queue_args(&QueueSpec::durable("q"));
        assert!(plain.inner().is_empty());
        let q = QueueSpec {
            queue_type: QueueType::Quorum,
            dead_letter_exchange: Some("dlx".into()),
            message_ttl_ms: Some(60_000),
            ..QueueSpec::durable("q")
        };
        let args = queue_args(&q);
        assert_eq!(args.inner().len(), 3);
        assert_eq!(args.inner().get("x-message-ttl"), Some(&AMQPValue::LongLongInt(60_000)));
    }

    #[test]
    fn short_never_panics() {
        let long_name = "é".repeat(200);
        assert!(short(&long_name).as_str().len() <= 255);
        assert_eq!(short("ok").as_str(), "ok");
    }
}
