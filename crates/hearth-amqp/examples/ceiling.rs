//! RabbitMQ's own publishing ceiling on this machine: a raw lapin publisher with confirms, N persistent
//! messages of ~2 KB, at most W unconfirmed, to a fresh durable queue bound to a topic exchange. With
//! `--via-link` the same load goes through `hearth_amqp::Link` (W concurrent publishers, window W) so the
//! two figures can be compared.
//!
//! ```text
//! cargo run --release -p hearth-amqp --example ceiling -- --messages 20000 --window 64 [--size 2048] [--via-link]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)] // a measuring tool: any failure should stop it loudly

use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use hearth_amqp::testing::delete;
use hearth_amqp::{BindingSpec, ExchangeKind, ExchangeSpec, Link, LinkConfig, Outgoing, QueueSpec, Topology};
use hearth_testkit::{amqp_uri as broker_uri, unique_name};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use tokio_util::sync::CancellationToken;

struct Args {
    messages: usize,
    window: usize,
    size: usize,
    via_link: bool,
}

fn args() -> Args {
    let mut a = Args { messages: 20_000, window: 64, size: 2048, via_link: false };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().and_then(|v| v.parse().ok()).expect("a number after the flag");
        match flag.as_str() {
            "--messages" => a.messages = value(),
            "--window" => a.window = value(),
            "--size" => a.size = value(),
            "--via-link" => a.via_link = true,
            other => panic!("unknown argument {other}; see the file header for usage"),
        }
    }
    a
}

#[tokio::main]
async fn main() {
    let a = args();
    let uri = broker_uri();
    let (exchange, queue) = (unique_name("ceiling.x"), unique_name("ceiling.q"));
    let topology = Topology {
        exchanges: vec![ExchangeSpec::durable(&exchange, ExchangeKind::Topic)],
        queues: vec![QueueSpec::durable(&queue)],
        bindings: vec![BindingSpec { queue: queue.clone(), exchange: exchange.clone(), routing_key: "#".into() }],
    };
    let mut cfg = LinkConfig::new(&uri, "hearth-ceiling");
    cfg.topology = topology;
    cfg.max_unconfirmed = a.window;
    let link = Link::start(cfg, CancellationToken::new());
    link.state().wait_for(|s| s.is_connected()).await.unwrap();
    let body = vec![b'x'; a.size];

    let elapsed =
        if a.via_link { via_link(&link, &a, &exchange, &body).await } else { raw(&uri, &a, &exchange, &body).await };
    let in_queue = link.queue_len(&queue).await.unwrap();
    link.close().await;
    delete(&uri, &[&queue], &[&exchange]).await;
    assert_eq!(in_queue as usize, a.messages, "every confirmed message is in the queue");
    let rate = a.messages as f64 / elapsed.as_secs_f64();
    let how = if a.via_link { "hearth_amqp::Link" } else { "raw lapin" };
    println!(
        "{how}: {} messages of {} B, window {}: {:.2} s, {rate:.0} messages/s",
        a.messages,
        a.size,
        a.window,
        elapsed.as_secs_f64()
    );
}

/// One task, `window` confirms outstanding at most, persistent + mandatory like Hearth's publishes.
async fn raw(uri: &str, a: &Args, exchange: &str, body: &[u8]) -> Duration {
    let conn = Connection::connect(uri, ConnectionProperties::default()).await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default()).await.unwrap();
    let options = BasicPublishOptions { mandatory: true, immediate: false };
    let mut pending: FuturesUnordered<lapin::PublisherConfirm> = FuturesUnordered::new();
    let started = Instant::now();
    for n in 0..a.messages {
        if pending.len() >= a.window {
            let confirmation: lapin::Confirmation = pending.next().await.unwrap().unwrap();
            assert!(confirmation.is_ack() && confirmation.take_message().is_none());
        }
        let props = BasicProperties::default().with_delivery_mode(2).with_message_id(format!("m{n}").into());
        let confirm = ch.basic_publish(exchange.into(), "ceiling.run".into(), options, body, props).await.unwrap();
        pending.push(confirm);
    }
    while let Some(c) = pending.next().await {
        assert!(c.unwrap().is_ack());
    }
    let elapsed = started.elapsed();
    conn.close(200, "done".into()).await.unwrap();
    elapsed
}

/// `window` tasks publishing through the link, each waiting for its own confirm.
async fn via_link(link: &Link, a: &Args, exchange: &str, body: &[u8]) -> Duration {
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..a.window)
        .map(|_| {
            let (link, next, total) = (link.clone(), next.clone(), a.messages);
            let (exchange, body) = (exchange.to_owned(), body.to_vec());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= total {
                        break;
                    }
                    let msg = Outgoing {
                        exchange: exchange.clone(),
                        routing_key: "ceiling.run".into(),
                        body: body.clone(),
                        message_id: format!("m{n}"),
                        content_type: "application/fhir+json; fhirVersion=4.0".into(),
                        ..Outgoing::default()
                    };
                    link.publish(msg).await.unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    started.elapsed()
}
