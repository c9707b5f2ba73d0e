//! Against the real RabbitMQ on 127.0.0.1 (or `HEARTH_TEST_AMQP_URI`). Every test uses its own exchange and
//! queue names and deletes them at the end. Without a broker each test says so and returns, except under
//! `CI=true`, where that is a failure (`hearth_testkit::amqp`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure should stop the test

use std::time::{Duration, Instant};

use hearth_amqp::{
    BindingSpec, ExchangeKind, ExchangeSpec, Link, LinkConfig, LinkState, Outgoing, PublishError, QueueSpec, QueueType,
    Topology,
};
use hearth_testkit::unique_name;
use lapin::options::{ExchangeDeleteOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use tokio_util::sync::CancellationToken;

/// One exchange, one queue bound with `key`, names unique to the test.
struct Fixture {
    uri: String,
    exchange: String,
    queue: String,
}

impl Fixture {
    fn new(uri: String, test: &str) -> Self {
        Fixture { uri, exchange: unique_name(&format!("test.{test}.x")), queue: unique_name(&format!("test.{test}.q")) }
    }

    fn topology(&self, key: &str) -> Topology {
        Topology {
            exchanges: vec![ExchangeSpec::durable(&self.exchange, ExchangeKind::Topic)],
            queues: vec![QueueSpec::durable(&self.queue)],
            bindings: vec![BindingSpec {
                queue: self.queue.clone(),
                exchange: self.exchange.clone(),
                routing_key: key.into(),
            }],
        }
    }

    fn config(&self, key: &str) -> LinkConfig {
        let mut cfg = LinkConfig::new(&self.uri, unique_name("hearth-test"));
        cfg.topology = self.topology(key);
        cfg.reconnect_min = Duration::from_millis(100);
        cfg.reconnect_max = Duration::from_secs(2);
        cfg.confirm_timeout = Duration::from_secs(20);
        cfg
    }

    fn message(&self, key: &str, n: usize) -> Outgoing {
        Outgoing {
            exchange: self.exchange.clone(),
            routing_key: key.into(),
            body: format!("{{\"resourceType\":\"Patient\",\"id\":\"p{n}\"}}").into_bytes(),
            message_id: format!("m-{n}"),
            content_type: "application/fhir+json; fhirVersion=4.0".into(),
            headers: vec![("x-hearth-channel".into(), "adt".into()), ("x-hearth-event".into(), "ADT^A01".into())],
            timestamp: Some(1_700_000_000),
        }
    }

    async fn admin(&self) -> lapin::Channel {
        let conn = lapin::Connection::connect(&self.uri, lapin::ConnectionProperties::default()).await.unwrap();
        let ch = conn.create_channel().await.unwrap();
        // The channel keeps the connection's IO loop alive; the connection handle itself may go.
        std::mem::forget(conn);
        ch
    }

    async fn queue_len(&self, queue: &str) -> u32 {
        let ch = self.admin().await;
        let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
        let q = ch.queue_declare(queue.into(), passive, FieldTable::default()).await.unwrap();
        let _ = ch.close(200, "ok".into()).await;
        q.message_count()
    }

    async fn cleanup(&self, extra_queues: &[&str]) {
        let ch = self.admin().await;
        for q in std::iter::once(self.queue.as_str()).chain(extra_queues.iter().copied()) {
            let _ = ch.queue_delete(q.into(), QueueDeleteOptions::default()).await;
        }
        let _ = ch.exchange_delete(self.exchange.as_str().into(), ExchangeDeleteOptions::default()).await;
        let _ = ch.close(200, "ok".into()).await;
    }
}

async fn wait_state(link: &Link, what: &str, f: impl FnMut(&LinkState) -> bool) -> LinkState {
    let mut rx = link.state();
    let seen = tokio::time::timeout(Duration::from_secs(20), rx.wait_for(f)).await.map(|r| r.map(|s| s.clone()));
    match seen {
        Ok(Ok(s)) => s,
        _ => panic!("link never became {what}; last state {:?}", *rx.borrow()),
    }
}

async fn connected(link: &Link) {
    wait_state(link, "connected", LinkState::is_connected).await;
}

/// Closes our connection from the broker side, like an operator or a broker restart would.
fn close_from_broker(connection_name: &str) {
    let out = std::process::Command::new("rabbitmqctl")
        .args(["list_connections", "pid", "client_properties", "-q"])
        .output()
        .expect("rabbitmqctl runs (tests that close connections need it, as root)");
    let listing = String::from_utf8_lossy(&out.stdout);
    let pid = listing
        .lines()
        .find(|l| l.contains(connection_name))
        .and_then(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("connection {connection_name} not listed by rabbitmqctl:\n{listing}"));
    let status = std::process::Command::new("rabbitmqctl")
        .args(["close_connection", &pid, "hearth test: closed by the broker"])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topology_declaration_is_idempotent() {
    let Some(uri) = hearth_testkit::amqp("topology_declaration_is_idempotent") else { return };
    let fx = Fixture::new(uri, "topo");
    let dlx = unique_name("test.topo.dlx");
    let quorum = unique_name("test.topo.quorum");
    let mut cfg = fx.config("adt.#");
    cfg.topology.exchanges[0].alternate_exchange = Some(dlx.clone());
    cfg.topology.exchanges.push(ExchangeSpec::durable(&dlx, ExchangeKind::Fanout));
    cfg.topology.queues[0] = QueueSpec {
        dead_letter_exchange: Some(dlx.clone()),
        dead_letter_routing_key: Some("dead".into()),
        message_ttl_ms: Some(60_000),
        max_length: Some(10_000),
        ..QueueSpec::durable(&fx.queue)
    };
    cfg.topology.queues.push(QueueSpec { queue_type: QueueType::Quorum, ..QueueSpec::durable(&quorum) });

    // Declared three times: on a first link, again on a second one, and again after the first reconnects.
    let first = Link::start(cfg.clone(), CancellationToken::new());
    connected(&first).await;
    let second = Link::start(cfg.clone(), CancellationToken::new());
    connected(&second).await;
    close_from_broker(&cfg.connection_name);
    wait_state(&first, "disconnected", |s| !s.is_connected()).await;
    connected(&first).await;
    first.publish(fx.message("adt.A01.Patient", 1)).await.unwrap();
    assert_eq!(fx.queue_len(&fx.queue).await, 1);

    // The same queue with other arguments is the broker's PRECONDITION_FAILED, reported in the state.
    let mut clash = cfg.clone();
    clash.connection_name = unique_name("hearth-test-clash");
    clash.topology.queues[0].message_ttl_ms = Some(1);
    let third = Link::start(clash, CancellationToken::new());
    let s = wait_state(&third, "disconnected", |s| matches!(s, LinkState::Disconnected { .. })).await;
    assert!(matches!(&s, LinkState::Disconnected { error, .. } if error.contains("PRECONDITION_FAILED")), "{s:?}");

    for l in [&first, &second, &third] {
        l.close().await;
    }
    fx.cleanup(&[&quorum]).await;
    let ch = fx.admin().await;
    ch.exchange_delete(dlx.as_str().into(), ExchangeDeleteOptions::default()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_consume_round_trip_keeps_properties() {
    let Some(uri) = hearth_testkit::amqp("publish_consume_round_trip_keeps_properties") else { return };
    let fx = Fixture::new(uri, "roundtrip");
    let link = Link::start(fx.config("adt.*.Patient"), CancellationToken::new());
    connected(&link).await;
    link.publish(fx.message("adt.A01.Patient", 7)).await.unwrap();

    let mut consumer = link.consume(&fx.queue, 10).await.unwrap();
    let d = tokio::time::timeout(Duration::from_secs(10), consumer.next()).await.unwrap().unwrap();
    assert_eq!(d.body, br#"{"resourceType":"Patient","id":"p7"}"#);
    assert_eq!(d.message_id.as_deref(), Some("m-7"));
    assert_eq!(d.content_type.as_deref(), Some("application/fhir+json; fhirVersion=4.0"));
    assert_eq!(d.delivery_mode, Some(2));
    assert_eq!(d.timestamp, Some(1_700_000_000));
    assert_eq!(d.header("x-hearth-channel"), Some("adt"));
    assert_eq!(d.header("x-hearth-event"), Some("ADT^A01"));
    assert_eq!((d.exchange.as_str(), d.routing_key.as_str()), (fx.exchange.as_str(), "adt.A01.Patient"));
    assert!(!d.redelivered);
    d.ack().await.unwrap();
    consumer.close().await;
    assert_eq!(fx.queue_len(&fx.queue).await, 0);
    link.close().await;
    fx.cleanup(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unroutable_publish_is_returned_to_the_right_caller() {
    let Some(uri) = hearth_testkit::amqp("unroutable_publish_is_returned_to_the_right_caller") else { return };
    let fx = Fixture::new(uri, "returned");
    let link = Link::start(fx.config("routed"), CancellationToken::new());
    connected(&link).await;

    let err = link.publish(fx.message("nobody.listens", 1)).await.unwrap_err();
    assert!(matches!(&err, PublishError::Returned { code: 312, text } if text == "NO_ROUTE"), "{err:?}");
    assert!(!err.is_transient());

    // Pipelined and interleaved: every unroutable one, and only those, must come back as Returned, even when
    // the broker acks several publishes with one `multiple` ack.
    let tasks: Vec<_> = (0..600)
        .map(|n| {
            let (link, key) = (link.clone(), if n % 7 == 3 { "nobody.listens" } else { "routed" });
            let msg = fx.message(key, n);
            tokio::spawn(async move { (n, link.publish(msg).await) })
        })
        .collect();
    let mut routed = 0;
    for t in tasks {
        let (n, r) = t.await.unwrap();
        if n % 7 == 3 {
            assert!(matches!(r, Err(PublishError::Returned { .. })), "publish {n}: {r:?}");
        } else {
            assert_eq!(r, Ok(()), "publish {n}");
            routed += 1;
        }
    }
    assert_eq!(fx.queue_len(&fx.queue).await, routed);
    link.close().await;
    fx.cleanup(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_publishes_all_confirmed_with_window_64() {
    let Some(uri) = hearth_testkit::amqp("thousand_concurrent_publishes_all_confirmed_with_window_64") else { return };
    let fx = Fixture::new(uri, "window");
    let mut cfg = fx.config("#");
    cfg.max_unconfirmed = 64;
    let link = Link::start(cfg, CancellationToken::new());
    connected(&link).await;
    let tasks: Vec<_> = (0..1000)
        .map(|n| {
            let (link, msg) = (link.clone(), fx.message("adt.A01.Patient", n));
            tokio::spawn(async move { link.publish(msg).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(fx.queue_len(&fx.queue).await, 1000, "every confirmed message is in the queue");
    link.close().await;
    fx.cleanup(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_broker_closes_the_connection() {
    let Some(uri) = hearth_testkit::amqp("reconnects_after_the_broker_closes_the_connection") else { return };
    let fx = Fixture::new(uri, "reconnect");
    let cfg = fx.config("#");
    let name = cfg.connection_name.clone();
    let link = Link::start(cfg, CancellationToken::new());
    connected(&link).await;
    let mut consumer = link.consume(&fx.queue, 5).await.unwrap();

    // Every state the link goes through (a watch keeps only the latest value, so record them as they come).
    let mut rx = link.state();
    let seen = tokio::spawn(async move {
        let mut seen = Vec::new();
        while rx.changed().await.is_ok() {
            let s = rx.borrow_and_update().clone();
            let back = s.is_connected();
            seen.push(s);
            if back {
                break;
            }
        }
        seen
    });

    // Publishers keep going while the connection is closed under them: every call finishes (confirmed or
    // failed with a retryable error) within the timeout, none hangs.
    let stop = CancellationToken::new();
    let workers: Vec<_> = (0..16)
        .map(|w| {
            let (link, stop, fx_msg) = (link.clone(), stop.clone(), fx.message("adt.A01.Patient", w));
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0u32, 0u32);
                while !stop.is_cancelled() {
                    let r = tokio::time::timeout(Duration::from_secs(10), link.publish(fx_msg.clone()))
                        .await
                        .expect("a publish hung");
                    match r {
                        Ok(()) => ok += 1,
                        Err(PublishError::Lost(_) | PublishError::NotConnected) => {
                            failed += 1;
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Err(e) => panic!("unexpected error for an interrupted publish: {e:?}"),
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    close_from_broker(&name);
    let seen = tokio::time::timeout(Duration::from_secs(20), seen).await.expect("link came back").unwrap();
    assert!(matches!(seen.first(), Some(LinkState::Disconnected { .. })), "{seen:?}");
    assert!(seen.last().is_some_and(LinkState::is_connected), "{seen:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.cancel();
    let (mut ok, mut failed) = (0, 0);
    for w in workers {
        let (o, f) = w.await.unwrap();
        (ok, failed) = (ok + o, failed + f);
    }
    eprintln!("publishes across the reconnect: {ok} confirmed, {failed} failed (retryable); states {seen:?}");
    assert!(ok > 0 && failed > 0);

    // Connected again (topology redeclared), and publishing works.
    link.publish(fx.message("adt.A02.Patient", 99_999)).await.unwrap();

    // The consumer resubscribed on the new connection and sees the new message (after any redelivered ones).
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(d) = consumer.next().await {
            d.ack().await.unwrap();
            if d.message_id.as_deref() == Some("m-99999") {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(found);
    consumer.close().await;
    link.close().await;
    assert_eq!(*link.state().borrow(), LinkState::Closed);
    assert_eq!(link.publish(fx.message("x", 1)).await, Err(PublishError::NotConnected));
    fx.cleanup(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_exchange_is_refused_and_the_channel_comes_back() {
    let Some(uri) = hearth_testkit::amqp("missing_exchange_is_refused_and_the_channel_comes_back") else { return };
    let fx = Fixture::new(uri, "refused");
    let link = Link::start(fx.config("#"), CancellationToken::new());
    connected(&link).await;
    let mut msg = fx.message("k", 1);
    msg.exchange = unique_name("test.refused.missing");
    let err = link.publish(msg).await.unwrap_err();
    assert!(matches!(&err, PublishError::Refused { code: 404, .. }), "{err:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match link.publish(fx.message("k", 2)).await {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline && e.is_transient() => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("publishing never recovered: {e:?}"),
        }
    }
    assert!(link.state().borrow().is_connected(), "a channel error does not drop the connection");
    link.close().await;
    fx.cleanup(&[]).await;
}

#[tokio::test]
async fn oversized_names_are_invalid_not_a_panic() {
    let Some(uri) = hearth_testkit::amqp("oversized_names_are_invalid_not_a_panic") else { return };
    let fx = Fixture::new(uri, "invalid");
    let link = Link::start(fx.config("#"), CancellationToken::new());
    connected(&link).await;
    let mut msg = fx.message("k", 1);
    msg.message_id = "x".repeat(300);
    assert!(matches!(link.publish(msg).await, Err(PublishError::Invalid(_))));
    let mut msg = fx.message("k", 1);
    msg.routing_key = "é".repeat(200);
    assert!(matches!(link.publish(msg).await, Err(PublishError::Invalid(_))));
    link.close().await;
    fx.cleanup(&[]).await;
}
