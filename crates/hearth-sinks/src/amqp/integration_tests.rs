//! The outbox worker against the real RabbitMQ and a SQLite journal in a temp file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::{AmqpPublisher, Backoff, Publisher, Sink, SinkConfig};
use hearth_amqp::{BindingSpec, ExchangeKind, ExchangeSpec, Link, LinkConfig, QueueSpec, Topology};
use hearth_core::{Envelope, MessageMeta, MessageStatus, PayloadKind};
use hearth_store::{DeliveryFilter, DeliveryStatus, Journal, JournalConfig, NewDelivery, SqliteConfig};
use hearth_testkit::unique_name;
use tokio_util::sync::CancellationToken;

async fn journal_with(dir: &std::path::Path, destination: &str, n: usize) -> Journal {
    let journal = Journal::open(&JournalConfig::Sqlite(SqliteConfig::new(dir.join("j.db")))).await.unwrap();
    for i in 0..n {
        let env = Envelope {
            channel: "adt".into(),
            kind: PayloadKind::Hl7v2,
            received_at: time::OffsetDateTime::now_utc(),
            raw: b"MSH|".to_vec(),
            status: MessageStatus::Received,
            reason: None,
            dedup_key: Some(format!("k{i}")),
            meta: MessageMeta { trigger_event: Some("A01".into()), ..MessageMeta::default() },
            trace_id: hearth_core::trace::TraceId::random(),
        };
        let id = journal.append(env).await.unwrap().id;
        let d = NewDelivery {
            destination: destination.into(),
            route: "default".into(),
            routing_key: format!("adt.A01.Patient.{i}"),
            resource_type: "Patient".into(),
            content_id: format!("content-{i}"),
            lane: None,
            body: format!("{{\"resourceType\":\"Patient\",\"id\":\"p{i}\"}}"),
        };
        journal.set_outcome(id, MessageStatus::Processed, None, None, None, vec![d]).await.unwrap();
    }
    journal
}

fn sink(journal: &Journal, link: &Link, exchange: &str, max_attempts: u32) -> Sink {
    Sink::new(
        SinkConfig {
            destination: "mq".into(),
            max_attempts,
            backoff: Backoff { initial: Duration::from_millis(20), max: Duration::from_millis(50) },
            max_in_flight: 64,
        },
        journal.clone(),
        Publisher::Amqp(AmqpPublisher { link: link.clone(), exchange: exchange.into() }),
    )
}

async fn wait_status(journal: &Journal, status: DeliveryStatus, n: usize) -> Vec<hearth_store::DeliveryRecord> {
    let filter = DeliveryFilter { status: Some(status), ..DeliveryFilter::default() };
    for _ in 0..600 {
        let got = journal.list_deliveries(&filter, None, 1000).await.unwrap();
        if got.len() == n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("deliveries did not all become {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sink_publishes_every_due_delivery_with_confirms() {
    let Some(uri) = hearth_testkit::amqp("sink_publishes") else { return };
    let dir = tempfile::tempdir().unwrap();
    let journal = journal_with(dir.path(), "mq", 300).await;
    let (x, q) = (unique_name("sink-x"), unique_name("sink-q"));
    let mut cfg = LinkConfig::new(&uri, "sink test");
    cfg.topology = Topology {
        exchanges: vec![ExchangeSpec::durable(&x, ExchangeKind::Topic)],
        queues: vec![QueueSpec::durable(&q)],
        bindings: vec![BindingSpec { queue: q.clone(), exchange: x.clone(), routing_key: "#".into() }],
    };
    let stop = CancellationToken::new();
    let link = Link::start(cfg, stop.clone());
    let task = tokio::spawn(sink(&journal, &link, &x, 5).run(stop.clone()));
    let sent = wait_status(&journal, DeliveryStatus::Sent, 300).await;
    assert!(sent.iter().all(|d| d.attempts == 1 && d.sent_at.is_some()));

    let mut consumer = link.consume(&q, 500).await.unwrap();
    let mut ids = std::collections::BTreeSet::new();
    while ids.len() < 300 {
        let d = tokio::time::timeout(Duration::from_secs(30), consumer.next()).await.unwrap().unwrap();
        assert_eq!(d.content_type.as_deref(), Some(crate::FHIR_CONTENT_TYPE));
        assert_eq!(d.delivery_mode, Some(2));
        assert_eq!(d.header("x-hearth-channel"), Some("adt"));
        assert_eq!(d.header("x-hearth-event"), Some("A01"));
        d.ack().await.unwrap();
        ids.insert(d.message_id.clone().unwrap());
    }
    assert_eq!(ids.len(), 300);
    consumer.close().await;
    stop.cancel();
    task.await.unwrap();
    journal.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unroutable_deliveries_retry_then_go_dead() {
    let Some(uri) = hearth_testkit::amqp("sink_unroutable") else { return };
    let dir = tempfile::tempdir().unwrap();
    let journal = journal_with(dir.path(), "mq", 5).await;
    let x = unique_name("sink-unbound-x");
    let mut cfg = LinkConfig::new(&uri, "sink test");
    cfg.topology.exchanges.push(ExchangeSpec::durable(&x, ExchangeKind::Topic));
    let stop = CancellationToken::new();
    let link = Link::start(cfg, stop.clone());
    let task = tokio::spawn(sink(&journal, &link, &x, 3).run(stop.clone()));
    let dead = wait_status(&journal, DeliveryStatus::Dead, 5).await;
    for d in dead {
        assert_eq!(d.attempts, 3);
        assert_eq!(journal.delivery_failures(d.id).await.unwrap().len(), 3);
    }
    stop.cancel();
    task.await.unwrap();
    journal.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_spends_no_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal_with(dir.path(), "mq", 3).await;
    // Nothing listens on port 1: the link never connects, the sink waits and records nothing.
    let stop = CancellationToken::new();
    let link = Link::start(LinkConfig::new("amqp://guest:guest@127.0.0.1:1/%2f", "sink test"), stop.clone());
    let task = tokio::spawn(sink(&journal, &link, "nowhere", 1).run(stop.clone()));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let all = journal.list_deliveries(&DeliveryFilter::default(), None, 10).await.unwrap();
    assert!(all.iter().all(|d| d.status == DeliveryStatus::Pending && d.attempts == 0), "{all:?}");
    stop.cancel();
    task.await.unwrap();
    journal.close().await;
}
