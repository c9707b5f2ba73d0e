//! At-least-once delivery under faults, against the real RabbitMQ: the broker stopped and started in the middle
//! of a run, and Hearth killed with SIGKILL in the middle of a run. Lost must be 0: every acknowledged message's
//! deliveries reach the queue (duplicates are allowed, identified by `message_id`).
//!
//! These tests stop the broker, so `scripts/test.sh` runs them in a phase of their own (`disruptive_` names).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use common::{Engine, adt, mllp_send};
use hearth_store::Journal;
use hearth_testkit::unique_name;

const T: Duration = Duration::from_secs(120);

fn config(uri: &str, exchange: &str, queue: &str) -> String {
    format!(
        "[destinations.fhir]\ntype = \"amqp\"\nendpoint = \"{uri}\"\nexchange = \"{exchange}\"\n\
         retry_initial_ms = 200\nretry_max_ms = 2000\nmax_attempts = 1000\n\
         [[destinations.fhir.queues]]\nname = \"{queue}\"\nbind = [\"#\"]\n"
    )
}

fn rabbitmqctl(args: &[&str]) {
    let st = Command::new("rabbitmqctl").args(args).status().expect("rabbitmqctl");
    assert!(st.success(), "rabbitmqctl {args:?} failed");
}

/// Every delivery of every message in the journal was sent, and arrived on the queue.
async fn assert_nothing_lost(journal: &Journal, uri: &str, queue: &str, messages: usize) {
    let all = common::wait_outbox_drained(journal, "fhir", messages, T).await;
    assert!(all.iter().all(|d| d.status == hearth_store::DeliveryStatus::Sent), "every delivery sent");
    let want: BTreeSet<String> = all.iter().map(|d| d.content_id.clone()).collect();
    // Consume at least as many as were sent; duplicates may come on top, the set must be complete.
    let got = common::consume(uri, queue, all.len(), T).await;
    let mut ids: BTreeSet<String> = got.iter().filter_map(|d| d.message_id.clone()).collect();
    // Duplicates may have taken some of the first `all.len()` places: drain what else is there.
    let extra = common::consume_available(uri, queue, Duration::from_secs(2)).await;
    ids.extend(extra.into_iter().filter_map(|d| d.message_id));
    let missing: Vec<_> = want.difference(&ids).collect();
    assert!(missing.is_empty(), "{} deliveries sent but not on the queue: {missing:?}", missing.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disruptive_broker_restart_mid_run_loses_nothing() {
    let Some(uri) = hearth_testkit::amqp("broker_restart") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (exchange, queue) = (unique_name("hearth-restart-x"), unique_name("hearth-restart-q"));
    let mut engine = Engine::start(dir.path(), "", &config(&uri, &exchange, &queue));
    let addr = engine.mllp.clone();
    let sender = std::thread::spawn(move || {
        let mut acks = Vec::new();
        for batch in 0..8 {
            let msgs: Vec<Vec<u8>> = (0..40).map(|i| adt(&format!("RESTART-{batch}-{i}"))).collect();
            acks.extend(mllp_send(&addr, &msgs));
            std::thread::sleep(Duration::from_millis(400));
        }
        acks
    });
    std::thread::sleep(Duration::from_millis(800));
    rabbitmqctl(&["stop_app"]);
    std::thread::sleep(Duration::from_secs(3));
    rabbitmqctl(&["start_app"]);
    let acks = sender.join().unwrap();
    assert_eq!(acks.len(), 320);
    assert!(acks.iter().all(|a| a.contains("|AA|")), "ingest does not depend on the broker");

    let journal = engine.journal().await;
    assert_nothing_lost(&journal, &uri, &queue, 320).await;
    journal.close().await;
    assert!(engine.terminate().success());
    common::delete_queue(&queue);
}

/// Sends messages one by one until the connection fails; returns how many were acknowledged `AA`.
fn send_until_error(addr: &str, prefix: &str, max: usize) -> usize {
    let Ok(mut client) = hearth_testkit::mllp::Client::connect(addr, Duration::from_secs(10)) else { return 0 };
    for i in 0..max {
        let Ok(ack) = client.send(&adt(&format!("{prefix}-{i}"))) else { return i };
        assert!(String::from_utf8_lossy(&ack).contains("|AA|"));
    }
    max
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disruptive_sigkill_mid_run_then_restart_loses_nothing() {
    let Some(uri) = hearth_testkit::amqp("sigkill") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (exchange, queue) = (unique_name("hearth-kill-x"), unique_name("hearth-kill-q"));
    let mut engine = Engine::start(dir.path(), "", &config(&uri, &exchange, &queue));
    let addr = engine.mllp.clone();
    let sender = std::thread::spawn(move || send_until_error(&addr, "KILL", 100_000));
    std::thread::sleep(Duration::from_millis(1500));
    engine.kill9();
    let acked = sender.join().unwrap();
    assert!(acked > 0, "some messages were acknowledged before the kill");

    engine.restart();
    let journal = engine.journal().await;
    assert!(journal.count_all().await.unwrap() >= acked as u64, "every acknowledged message is in the journal");
    assert_nothing_lost(&journal, &uri, &queue, acked).await;
    journal.close().await;
    assert!(engine.terminate().success());
    common::delete_queue(&queue);
}

/// Sends one message on a fresh connection and waits at most `wait` for its ACK; `None` if none came.
fn ack_within(addr: &str, control_id: &str, wait: Duration) -> Option<String> {
    let mut client = hearth_testkit::mllp::Client::connect(addr, wait).ok()?;
    client.send(&adt(control_id)).ok().map(|ack| String::from_utf8_lossy(&ack).into_owned())
}

/// RabbitMQ tells a connection it is blocked (`connection.blocked`) when that connection next publishes under an
/// alarm, not when the alarm goes off. So the first message after the alarm is journaled and acknowledged; its
/// publish reveals the block, ingest pauses, and the next message waits for its ACK until the alarm clears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disruptive_a_broker_memory_alarm_pauses_acknowledgements_until_it_clears() {
    let Some(uri) = hearth_testkit::amqp("memory_alarm") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (exchange, queue) = (unique_name("hearth-alarm-x"), unique_name("hearth-alarm-q"));
    let mut engine = Engine::start(dir.path(), "", &config(&uri, &exchange, &queue));
    assert!(ack_within(&engine.mllp, "ALARM-0", Duration::from_secs(10)).unwrap().contains("|AA|"));
    let journal = engine.journal().await;
    common::wait_outbox_drained(&journal, "fhir", 1, T).await;

    // A watermark this small is always exceeded: the broker raises its memory alarm and blocks publishers.
    rabbitmqctl(&["set_vm_memory_high_watermark", "0.0000001"]);
    let first = ack_within(&engine.mllp, "ALARM-1", Duration::from_secs(10));
    let blocked = {
        let mut seen = false;
        for _ in 0..300 {
            if common::http_get(&engine.http, "/readyz").is_some_and(|(c, b)| c == 503 && b.contains("ingest_paused")) {
                seen = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        seen
    };
    let addr = engine.mllp.clone();
    let waiting = std::thread::spawn(move || ack_within(&addr, "ALARM-2", Duration::from_secs(60)));
    std::thread::sleep(Duration::from_secs(2));
    let answered_while_blocked = waiting.is_finished();
    // Whatever happened, restore the broker before asserting.
    rabbitmqctl(&["set_vm_memory_high_watermark", "0.4"]);
    assert!(
        first.is_some_and(|a| a.contains("|AA|")),
        "the message that reveals the block is journaled and acknowledged"
    );
    assert!(blocked, "/readyz reports ingest_paused once the broker blocks the destination's publisher");
    assert!(!answered_while_blocked, "no ACK while the destination's broker blocks publishers");
    let ack = waiting.join().unwrap().expect("the ACK comes once the alarm clears");
    assert!(ack.contains("|AA|"), "{ack}");
    assert_nothing_lost(&journal, &uri, &queue, 3).await;
    journal.close().await;
    assert!(engine.terminate().success());
    common::delete_queue(&queue);
}
