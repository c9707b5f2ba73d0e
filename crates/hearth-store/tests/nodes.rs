//! Several nodes on one journal: two or three `Journal` handles opened on the same database (on SQLite, the same
//! file), each registered as a node, racing for the same messages and deliveries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Kind, Place, envelope};
use hearth_core::MessageStatus;
use hearth_store::{ConversionOutcome, DeliveryOutcome, Journal, NewDelivery, Node, NodeRegistration, StoreError};
use time::OffsetDateTime;

fn registration(id: &str, lease: Duration) -> NodeRegistration {
    NodeRegistration { id: id.into(), host: format!("host-of-{id}"), lease }
}

async fn nodes(place: &Place, n: usize, lease: Duration) -> Vec<Node> {
    let mut nodes = Vec::new();
    for i in 0..n {
        let journal = place.open().await;
        nodes.push(journal.register_node(registration(&format!("node-{i}"), lease)).await.unwrap());
    }
    nodes
}

async fn close(nodes: Vec<Node>) {
    for node in nodes {
        node.journal().close().await;
    }
}

fn processed(deliveries: Vec<NewDelivery>) -> ConversionOutcome {
    ConversionOutcome {
        status: MessageStatus::Processed,
        bundle: Some("{}".into()),
        report: Some("{}".into()),
        reason: None,
        deliveries,
        patient_identifiers: Vec::new(),
    }
}

fn delivery(key: &str, lane: Option<&str>) -> NewDelivery {
    NewDelivery {
        destination: "amqp".into(),
        route: "default".into(),
        routing_key: key.into(),
        resource_type: "Patient".into(),
        content_id: format!("cid-{key}"),
        lane: lane.map(str::to_owned),
        body: "{}".into(),
    }
}

on_both! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_of_one_dedup_key_store_one_row(place) {
        const KEYS: usize = 40;
        const COPIES: usize = 3;
        let journals: Vec<Journal> = handles(place, 3).await;
        let mut tasks = Vec::new();
        for journal in &journals {
            for copy in 0..COPIES {
                let journal = journal.clone();
                tasks.push(tokio::spawn(async move {
                    let mut got = Vec::new();
                    for k in 0..KEYS {
                        // Each task walks the keys from a different start, so that the nodes collide everywhere.
                        let key = format!("key-{}", (k + copy * 7) % KEYS);
                        let a = journal.append(envelope("adt", &key, Some(&key), key.as_bytes())).await.unwrap();
                        got.push((key, a));
                    }
                    got
                }));
            }
        }
        let mut by_key: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
        let mut firsts = 0;
        for t in tasks {
            for (key, a) in t.await.unwrap() {
                by_key.entry(key).or_default().insert(a.id);
                firsts += usize::from(!a.duplicate);
            }
        }
        assert_eq!(by_key.len(), KEYS);
        assert!(by_key.values().all(|ids| ids.len() == 1), "one id per key: {by_key:?}");
        assert_eq!(firsts, KEYS, "exactly one append per key stored it");
        let journal = &journals[0];
        assert_eq!(journal.count_all().await.unwrap(), KEYS as u64);
        let mut resent = 0;
        for ids in by_key.values() {
            resent += journal.get(*ids.first().unwrap()).await.unwrap().unwrap().summary.duplicates;
        }
        assert_eq!(resent as usize, KEYS * COPIES * journals.len() - KEYS);
        for j in journals {
            j.close().await;
        }
    }
}

/// `n` handles on the same journal.
async fn handles(place: &Place, n: usize) -> Vec<Journal> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(place.open().await);
    }
    v
}

on_both! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn claims_hand_each_message_to_exactly_one_node(place) {
        const MESSAGES: usize = 300;
        let nodes = nodes(place, 3, Duration::from_secs(30)).await;
        for i in 0..MESSAGES {
            let key = format!("m{i}");
            nodes[i % 3].journal().append(envelope("adt", &key, Some(&key), b"MSH|")).await.unwrap();
        }
        let mut tasks = Vec::new();
        for node in &nodes {
            let node = node.clone();
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let page = node.claim_received(16).await.unwrap();
                    if page.is_empty() {
                        return mine;
                    }
                    for m in page {
                        assert_eq!(m.summary.status, MessageStatus::Received);
                        assert_eq!(m.raw.as_deref(), Some(&b"MSH|"[..]));
                        node.set_outcome(m.summary.id, processed(Vec::new())).await.unwrap();
                        mine.push(m.summary.id);
                    }
                }
            }));
        }
        let mut all = BTreeSet::new();
        let mut per_node = Vec::new();
        for t in tasks {
            let mine = t.await.unwrap();
            per_node.push(mine.len());
            for id in mine {
                assert!(all.insert(id), "message {id} converted twice");
            }
        }
        assert_eq!(all.len(), MESSAGES, "every message converted ({per_node:?} per node)");
        let counts = nodes[0].journal().count_by_status(None).await.unwrap();
        assert_eq!(counts[&MessageStatus::Processed], MESSAGES as u64);
        close(nodes).await;
    }
}

on_both! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lane_is_drained_by_one_node_at_a_time_and_in_order(place) {
        const MESSAGES: usize = 60;
        const LANES: usize = 4;
        let nodes = nodes(place, 3, Duration::from_secs(30)).await;
        let journal = nodes[0].journal().clone();
        for i in 0..MESSAGES {
            let key = format!("m{i:03}");
            let id = journal.append(envelope("adt", &key, Some(&key), b"MSH|")).await.unwrap().id;
            let lane = format!("patient-{}", i % LANES);
            let deliveries = vec![delivery(&format!("{lane}/{key}"), Some(&lane)), delivery(&format!("free/{key}"), None)];
            journal.set_outcome(id, MessageStatus::Processed, Some("{}"), None, None, deliveries).await.unwrap();
        }
        // lane -> the node publishing its head now; and the order each lane's rows were sent in.
        let in_flight: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
        let sent: Arc<Mutex<BTreeMap<String, Vec<String>>>> = Arc::default();
        let mut tasks = Vec::new();
        for node in &nodes {
            let (node, in_flight, sent) = (node.clone(), Arc::clone(&in_flight), Arc::clone(&sent));
            tasks.push(tokio::spawn(async move {
                let mut idle = 0;
                while idle < 20 {
                    let leased = node.lease_deliveries("amqp", OffsetDateTime::now_utc(), 8).await.unwrap();
                    if leased.is_empty() {
                        idle += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                    idle = 0;
                    for d in &leased {
                        if let Some(lane) = &d.lane {
                            let mut f = in_flight.lock().unwrap();
                            let other = f.insert(lane.clone(), node.id().to_owned());
                            assert!(other.is_none(), "lane {lane} leased by {} while {other:?} has it", node.id());
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(3)).await; // publishing
                    for d in &leased {
                        if let Some(lane) = &d.lane {
                            sent.lock().unwrap().entry(lane.clone()).or_default().push(d.routing_key.clone());
                            in_flight.lock().unwrap().remove(lane);
                        }
                    }
                    let outcomes = leased.iter().map(|d| DeliveryOutcome::Sent { id: d.id }).collect();
                    node.journal().record_deliveries(outcomes).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let sent = sent.lock().unwrap().clone();
        assert_eq!(sent.len(), LANES);
        for (lane, keys) in &sent {
            assert_eq!(keys.len(), MESSAGES / LANES, "{lane}");
            let mut sorted = keys.clone();
            sorted.sort();
            assert_eq!(keys, &sorted, "lane {lane} out of order");
        }
        let stats = journal.outbox_stats().await.unwrap();
        assert_eq!((stats[0].pending, stats[0].sent), (0, 2 * MESSAGES as u64));
        close(nodes).await;
    }
}

on_both! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn what_a_node_that_stopped_heartbeating_held_is_taken_over_after_its_lease(place) {
        // Long enough that a busy machine still heartbeats in time, short enough to wait out.
        let lease = Duration::from_secs(2);
        let a = place.open().await.register_node(registration("a", lease)).await.unwrap();
        let b = place.open().await.register_node(registration("b", Duration::from_secs(30))).await.unwrap();
        // Ids are unique among live nodes.
        let twin = b.journal().register_node(registration("a", lease)).await.unwrap_err();
        assert!(matches!(twin, StoreError::Refused(_)), "{twin:?}");

        let journal = a.journal().clone();
        for i in 0..4 {
            let key = format!("m{i}");
            journal.append(envelope("adt", &key, Some(&key), b"MSH|")).await.unwrap();
        }
        let claimed: Vec<i64> = a.claim_received(2).await.unwrap().iter().map(|m| m.summary.id).collect();
        assert_eq!(claimed.len(), 2);
        // The rest goes to b; a's claims are not b's while a is alive.
        let theirs: Vec<i64> = b.claim_received(10).await.unwrap().iter().map(|m| m.summary.id).collect();
        assert_eq!(theirs.len(), 2);
        assert!(theirs.iter().all(|id| !claimed.contains(id)));
        for id in &theirs {
            b.set_outcome(*id, processed(vec![delivery(&format!("d{id}"), None)])).await.unwrap();
        }
        let leased = a.lease_deliveries("amqp", OffsetDateTime::now_utc(), 10).await.unwrap();
        assert_eq!(leased.len(), 2);
        assert!(b.lease_deliveries("amqp", OffsetDateTime::now_utc(), 10).await.unwrap().is_empty());
        // Heartbeats keep a's hold beyond its lease.
        for _ in 0..6 {
            tokio::time::sleep(lease / 4).await;
            a.heartbeat().await.unwrap();
        }
        assert!(b.claim_received(10).await.unwrap().is_empty());
        assert!(b.lease_deliveries("amqp", OffsetDateTime::now_utc(), 10).await.unwrap().is_empty());
        let view = journal.nodes().await.unwrap();
        assert_eq!(view.iter().map(|n| (n.id.as_str(), n.alive)).collect::<Vec<_>>(), [("a", true), ("b", true)]);
        assert_eq!(view[0].host, "host-of-a");

        // a stops heartbeating (it hangs, or died): after its lease, b takes over its claims and its lease.
        tokio::time::sleep(lease + Duration::from_millis(500)).await;
        assert!(!journal.nodes().await.unwrap()[0].alive);
        let taken: Vec<i64> = b.claim_received(10).await.unwrap().iter().map(|m| m.summary.id).collect();
        assert_eq!(taken, claimed);
        let relet = b.lease_deliveries("amqp", OffsetDateTime::now_utc(), 10).await.unwrap();
        assert_eq!(relet, leased);
        // a wakes up: its late conversion is refused, its heartbeat says it is lost; it may join again.
        let late = a.set_outcome(claimed[0], processed(Vec::new())).await.unwrap_err();
        assert_eq!(late, StoreError::ClaimLost(claimed[0]));
        assert!(matches!(a.heartbeat().await.unwrap_err(), StoreError::NodeLost(_)));
        assert!(matches!(a.claim_received(1).await.unwrap_err(), StoreError::NodeLost(_)));
        let a = journal.register_node(registration("a", Duration::from_secs(60))).await.unwrap();
        for id in &claimed {
            b.set_outcome(*id, processed(Vec::new())).await.unwrap();
        }
        assert!(a.claim_received(10).await.unwrap().is_empty());
        // Leaving frees at once.
        assert!(a.lease_deliveries("amqp", OffsetDateTime::now_utc(), 10).await.unwrap().is_empty());
        b.leave().await.unwrap();
        assert_eq!(a.lease_deliveries("amqp", OffsetDateTime::now_utc(), 10).await.unwrap(), leased);
        assert_eq!(journal.nodes().await.unwrap().iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), ["a"]);
        b.journal().close().await;
        journal.close().await;
    }
}

on_both! {
    #[tokio::test]
    async fn a_lane_waits_for_older_messages_still_being_converted(place) {
        let node = place.open().await.register_node(registration("n", Duration::from_secs(30))).await.unwrap();
        let journal = node.journal().clone();
        let older = journal.append(envelope("adt", "1", Some("1"), b"MSH|")).await.unwrap().id;
        let newer = journal.append(envelope("adt", "2", Some("2"), b"MSH|")).await.unwrap().id;
        // Another node converts the newer message first; the older one may yet put a row in front of it.
        let deliveries = vec![delivery("newer", Some("p1")), delivery("free", None)];
        journal.set_outcome(newer, MessageStatus::Processed, None, None, None, deliveries).await.unwrap();
        let keys = |due: Vec<hearth_store::DueDelivery>| due.into_iter().map(|d| d.routing_key).collect::<Vec<_>>();
        assert_eq!(keys(journal.due_deliveries("amqp", OffsetDateTime::now_utc(), 10).await.unwrap()), ["free"]);
        journal.set_outcome(older, MessageStatus::Processed, None, None, None, vec![delivery("older", Some("p1"))]).await.unwrap();
        // Now the older message's row leads its lane, though it was planned later.
        let due = node.lease_deliveries("amqp", OffsetDateTime::now_utc(), 10).await.unwrap();
        assert_eq!(keys(due.clone()), ["free", "older"]);
        journal.record_deliveries(due.iter().map(|d| DeliveryOutcome::Sent { id: d.id }).collect()).await.unwrap();
        assert_eq!(keys(node.lease_deliveries("amqp", OffsetDateTime::now_utc(), 10).await.unwrap()), ["newer"]);
        journal.close().await;
    }
}

on_both! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn leadership_is_held_by_one_node_and_moves_when_released(place) {
        let a = place.open().await.register_node(registration("a", Duration::from_secs(30))).await.unwrap();
        let lead = a.try_lead("inbox").await.unwrap().expect("nobody leads yet");
        assert!(lead.is_held());
        assert!(a.try_lead("inbox").await.unwrap().is_none(), "held once");
        assert!(a.try_lead("Not A Name").await.is_err());
        let other = a.try_lead("retention").await.unwrap().unwrap();
        a.heartbeat().await.unwrap();
        assert_eq!(a.journal().nodes().await.unwrap()[0].leads, ["inbox", "retention"]);
        if place.kind == Kind::Postgres {
            // Another node's journal: the lock is the server's.
            let b = place.open().await.register_node(registration("b", Duration::from_secs(30))).await.unwrap();
            assert!(b.try_lead("inbox").await.unwrap().is_none());
            lead.release().await;
            let moved = b.try_lead("inbox").await.unwrap().expect("released to b");
            assert!(a.try_lead("inbox").await.unwrap().is_none());
            drop(moved);
            b.journal().close().await;
        } else {
            lead.release().await;
        }
        let again = eventually(|| a.try_lead("inbox")).await;
        assert!(again.is_held());
        drop(other);
        a.heartbeat().await.unwrap();
        assert_eq!(a.journal().nodes().await.unwrap()[0].leads, ["inbox"]);
        a.journal().close().await;
    }
}

/// Retries `try_lead` for a few seconds (a released PostgreSQL lock is free once its session has ended).
async fn eventually<F, Fut>(mut attempt: F) -> hearth_store::Leadership
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<hearth_store::Leadership>, StoreError>>,
{
    for _ in 0..100 {
        if let Some(l) = attempt().await.unwrap() {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("leadership never became free");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_leadership_moves_when_the_leaders_connection_dies() {
    let Some(place) = Place::postgres("postgres_leadership_moves_when_the_leaders_connection_dies") else { return };
    let a = place.open().await.register_node(registration("a", Duration::from_secs(30))).await.unwrap();
    let b = place.open().await.register_node(registration("b", Duration::from_secs(30))).await.unwrap();
    let mut lead = a.try_lead("inbox").await.unwrap().unwrap();
    assert!(b.try_lead("inbox").await.unwrap().is_none());

    // The server ends the leader's session (as when its node is cut off or killed).
    let mut admin = place.admin().await;
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(l.pid) FROM pg_locks l
         WHERE l.locktype = 'advisory' AND l.granted
           AND ((l.classid::bigint << 32) | l.objid::bigint)
               = hashtextextended('hearth:' || current_schema() || ':inbox', 0)",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(killed, [true], "exactly the leader's session");
    tokio::time::timeout(Duration::from_secs(15), lead.lost()).await.expect("the leader notices");
    assert!(!lead.is_held());
    let moved = eventually(|| b.try_lead("inbox")).await;
    assert!(moved.is_held());
    drop(lead);
    drop(moved);
    a.journal().close().await;
    b.journal().close().await;
}
