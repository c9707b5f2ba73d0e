//! Trace ids in the journal (migration 0010, docs/operations.md "Traces"): every append stores the envelope's
//! trace id in the same statement as the message, alone or batched, on both backends; message reads and the
//! outbox's due deliveries hand it back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use std::collections::BTreeMap;

use common::envelope;
use hearth_core::MessageStatus;
use hearth_core::trace::TraceId;
use hearth_store::NewDelivery;
use time::OffsetDateTime;

on_both! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_append_stores_its_trace_id(place) {
        let journal = place.open().await;
        // One alone, then many queued together (they land in batched multi-row statements).
        let single = envelope("adt", "t0", Some("t0"), b"single");
        let single_trace = single.trace_id;
        let first = journal.append(single).await.unwrap();
        let mut pending = Vec::new();
        for i in 0..300u32 {
            let env = envelope("adt", "t", Some(&format!("k{i}")), format!("message {i}").as_bytes());
            let (journal, trace) = (journal.clone(), env.trace_id);
            pending.push(tokio::spawn(async move { (journal.append(env).await.unwrap().id, trace) }));
        }
        let mut want: BTreeMap<i64, TraceId> = BTreeMap::from([(first.id, single_trace)]);
        for p in pending {
            let (id, trace) = p.await.unwrap();
            want.insert(id, trace);
        }
        assert_eq!(want.len(), 301);
        for (id, trace) in &want {
            let got = journal.get(*id).await.unwrap().unwrap().summary.trace_id;
            assert_eq!(got, Some(trace.to_hex()), "message {id}");
        }
        // A duplicate keeps the first message's trace id.
        let again = envelope("adt", "t0", Some("t0"), b"single");
        assert_ne!(again.trace_id, single_trace);
        let dup = journal.append(again).await.unwrap();
        assert!(dup.duplicate);
        assert_eq!(journal.get(first.id).await.unwrap().unwrap().summary.trace_id, Some(single_trace.to_hex()));
        // Search results carry it too.
        let listed = journal.list(&hearth_store::MessageFilter::default(), None, 1000).await.unwrap();
        assert!(listed.iter().all(|m| m.trace_id.as_deref() == want.get(&m.id).map(TraceId::to_hex).as_deref()));
        journal.close().await;
    }
}

on_both! {
    #[tokio::test]
    async fn due_deliveries_carry_their_message_trace_id(place) {
        let journal = place.open().await;
        let env = envelope("adt", "d1", Some("d1"), b"routed");
        let trace = env.trace_id;
        let id = journal.append(env).await.unwrap().id;
        let delivery = NewDelivery {
            destination: "amqp".into(),
            route: "default".into(),
            routing_key: "adt".into(),
            resource_type: "Patient".into(),
            content_id: "cid-1".into(),
            lane: None,
            body: "{\"resourceType\":\"Patient\"}".into(),
        };
        journal.set_outcome(id, MessageStatus::Processed, Some("{}"), Some("{}"), None, vec![delivery]).await.unwrap();
        let due = journal.due_deliveries("amqp", OffsetDateTime::now_utc(), 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].message_id, id);
        assert_eq!(due[0].trace_id, Some(trace.to_hex()));
        journal.close().await;
    }
}
