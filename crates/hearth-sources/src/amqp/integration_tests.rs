//! The AMQP source against the real RabbitMQ and a temp-file SQLite journal. Without a broker the tests say
//! so and return, except under `CI=true` (`hearth_testkit::amqp`).

use std::time::Duration;

use hearth_amqp::testing::delete;
use hearth_amqp::{Link, LinkConfig, Outgoing, QueueSpec};
use hearth_core::{MessageStatus, PayloadKind};
use hearth_store::{Journal, JournalConfig, MessageFilter, SqliteConfig};
use hearth_testkit::unique_name;
use tokio_util::sync::CancellationToken;

use super::{AmqpSource, AmqpSourceConfig};

/// A synthetic ADT^A01 (no real person).
fn adt(n: usize) -> Vec<u8> {
    format!(
        "MSH|^~\\&|UPSTREAM|NORTH|HEARTH|HOSP|20240101120000||ADT^A01^ADT_A01|CTRL{n:05}|P|2.5.1\r\
         EVN|A01|20240101120000\rPID|1||{n}^^^HOSP^MR||TEST^PATIENT{n}||19800101|F\rPV1|1|I\r"
    )
    .into_bytes()
}

struct Setup {
    uri: String,
    queue: String,
    link: Link,
    journal: Journal,
    _dir: tempfile::TempDir,
}

async fn setup(uri: String) -> Setup {
    let queue = unique_name("test.source.q");
    // The source's link declares the queue too; the publisher declares it first so publishes have a target.
    let mut cfg = LinkConfig::new(&uri, unique_name("hearth-test-publisher"));
    cfg.topology.queues.push(QueueSpec::durable(&queue));
    let link = Link::start(cfg, CancellationToken::new());
    link.state().wait_for(|s| s.is_connected()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let journal =
        Journal::open(&JournalConfig::Sqlite(SqliteConfig::new(dir.path().join("journal.db")))).await.unwrap();
    Setup { uri, queue, link, journal, _dir: dir }
}

impl Setup {
    fn source_config(&self, kind: PayloadKind) -> AmqpSourceConfig {
        let mut link = LinkConfig::new(&self.uri, unique_name("hearth-test-source"));
        link.topology.queues.push(QueueSpec::durable(&self.queue));
        AmqpSourceConfig { prefetch: 32, ..AmqpSourceConfig::new(link, &self.queue, kind) }
    }

    /// Publishes to the queue through the default exchange.
    async fn publish(&self, body: Vec<u8>, message_id: &str) {
        let msg = Outgoing {
            exchange: String::new(),
            routing_key: self.queue.clone(),
            body,
            message_id: message_id.into(),
            content_type: "x-application/hl7-v2+er7".into(),
            ..Outgoing::default()
        };
        self.link.publish(msg).await.unwrap();
    }

    /// Runs the source until the journal holds `expected` messages (appends, duplicates included), then
    /// shuts it down gracefully.
    async fn run_source_until(&self, kind: PayloadKind, expected_appends: u64) {
        let shutdown = CancellationToken::new();
        let source = AmqpSource::new("adt-in", self.source_config(kind), self.journal.clone());
        let running = tokio::spawn(source.run(shutdown.clone()));
        let reached = tokio::time::timeout(Duration::from_secs(30), async {
            while self.journal.stats().appends < expected_appends {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(15), running).await.unwrap().unwrap().unwrap();
        assert!(
            reached.is_ok(),
            "journal reached {} appends, expected {expected_appends}",
            self.journal.stats().appends
        );
    }

    async fn finish(self) {
        self.link.close().await;
        self.journal.close().await;
        delete(&self.uri, &[&self.queue], &[]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journals_200_hl7_messages_acks_them_and_dedups_a_resend() {
    let Some(uri) = hearth_testkit::amqp("journals_200_hl7_messages_acks_them_and_dedups_a_resend") else { return };
    let s = setup(uri).await;

    for n in 0..200 {
        s.publish(adt(n), &format!("m{n}")).await;
    }
    s.run_source_until(PayloadKind::Hl7v2, 200).await;
    let counts = s.journal.count_by_status(Some("adt-in")).await.unwrap();
    assert_eq!(counts.get(&MessageStatus::Received), Some(&200), "{counts:?}");
    assert_eq!(s.link.queue_len(&s.queue).await.unwrap(), 0, "every delivery was acked");

    let by_control_id = MessageFilter { control_id: Some("CTRL00042".into()), ..Default::default() };
    let stored = s.journal.list(&by_control_id, None, 10).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].meta.event().as_deref(), Some("ADT^A01"));
    assert_eq!(stored[0].meta.sending_application.as_deref(), Some("UPSTREAM"));
    let raw = s.journal.get(stored[0].id).await.unwrap().unwrap().raw.unwrap();
    assert_eq!(raw, adt(42), "bytes stored exactly as received");

    // The same 200 again (a resend upstream): acknowledged, counted as duplicates, nothing new stored.
    for n in 0..200 {
        s.publish(adt(n), &format!("m{n}")).await;
    }
    s.run_source_until(PayloadKind::Hl7v2, 400).await;
    assert_eq!(s.journal.count_all().await.unwrap(), 200);
    let again = s.journal.list(&by_control_id, None, 10).await.unwrap();
    assert_eq!(again[0].duplicates, 1);
    assert_eq!(s.link.queue_len(&s.queue).await.unwrap(), 0);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_oversized_input_is_journaled_rejected_and_acked() {
    let Some(uri) = hearth_testkit::amqp("garbage_and_oversized_input_is_journaled_rejected_and_acked") else { return };
    let s = setup(uri).await;

    s.publish(b"this is not HL7 at all".to_vec(), "g1").await;
    s.publish(adt(1), "ok1").await;
    s.publish(vec![b'M'; 5000], "big").await;

    let shutdown = CancellationToken::new();
    let mut cfg = s.source_config(PayloadKind::Hl7v2);
    cfg.max_message_bytes = 4096;
    let running = tokio::spawn(AmqpSource::new("adt-in", cfg, s.journal.clone()).run(shutdown.clone()));
    tokio::time::timeout(Duration::from_secs(30), async {
        while s.journal.stats().appends < 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    shutdown.cancel();
    running.await.unwrap().unwrap();

    let only_rejected = MessageFilter { status: Some(MessageStatus::Rejected), ..Default::default() };
    let rejected = s.journal.list(&only_rejected, None, 10).await.unwrap();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert!(rejected.iter().any(|m| m.reason.as_deref().is_some_and(|r| r.contains("max_message_bytes"))));
    assert!(rejected.iter().all(|m| m.raw_len.is_some_and(|n| n > 0)), "content kept for the operator");
    assert_eq!(s.journal.count_all().await.unwrap(), 3);
    assert_eq!(s.link.queue_len(&s.queue).await.unwrap(), 0);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fhir_dedups_on_message_id_per_channel() {
    let Some(uri) = hearth_testkit::amqp("fhir_dedups_on_message_id_per_channel") else { return };
    let s = setup(uri).await;

    let body = br#"{"resourceType":"Bundle","type":"transaction","entry":[]}"#.to_vec();
    s.publish(body.clone(), "bundle-1").await;
    s.publish(body.clone(), "bundle-1").await;
    s.publish(body, "").await;
    s.run_source_until(PayloadKind::Fhir, 3).await;
    let all = s.journal.list(&MessageFilter::default(), None, 10).await.unwrap();
    assert_eq!(all.len(), 2, "the resend with the same message_id is a duplicate; no id means no dedup");
    assert!(all.iter().any(|m| m.dedup_key.as_deref() == Some("adt-in:bundle-1") && m.duplicates == 1));
    s.finish().await;
}
