//! The outbox: deliveries stored with a conversion, drained by sinks, retried, dead, resent, reprocessed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use std::time::Duration;

use hearth_core::MessageStatus;
use hearth_store::{DeliveryFilter, DeliveryOutcome, DeliveryStatus, Journal, NewDelivery, ResendTarget, StoreError};
use time::OffsetDateTime;

fn delivery(destination: &str, key: &str, lane: Option<&str>) -> NewDelivery {
    NewDelivery {
        destination: destination.into(),
        route: "default".into(),
        routing_key: key.into(),
        resource_type: "Patient".into(),
        content_id: format!("cid-{key}"),
        lane: lane.map(str::to_owned),
        body: format!("{{\"resourceType\":\"Patient\",\"id\":\"{key}\"}}"),
    }
}

/// Appends a message and stores its conversion with `deliveries`; returns its id.
async fn routed(journal: &Journal, control_id: &str, deliveries: Vec<NewDelivery>) -> i64 {
    let env = common::envelope("adt", control_id, Some(control_id), b"MSH|^~\\&|raw");
    let id = journal.append(env).await.unwrap().id;
    journal.set_outcome(id, MessageStatus::Processed, Some("{}"), Some("{}"), None, deliveries).await.unwrap();
    id
}

fn later() -> OffsetDateTime {
    OffsetDateTime::now_utc() + Duration::from_secs(3600)
}

on_both! {
    #[tokio::test]
    async fn deliveries_are_stored_with_the_conversion_and_due_in_order(place) {
        let journal = place.open().await;
        let mut changes = journal.outbox_changes();
        let m1 = routed(&journal, "C1", vec![delivery("amqp", "a", None), delivery("billing", "b", None)]).await;
        let m2 = routed(&journal, "C2", vec![delivery("amqp", "c", None)]).await;
        assert!(changes.has_changed().unwrap(), "sinks are woken by new deliveries");
        changes.borrow_and_update();

        let due = journal.due_deliveries("amqp", OffsetDateTime::now_utc(), 10).await.unwrap();
        assert_eq!(due.iter().map(|d| (d.message_id, d.routing_key.as_str())).collect::<Vec<_>>(), [(m1, "a"), (m2, "c")]);
        assert_eq!(due[0].channel, "adt");
        assert_eq!(due[0].event.as_deref(), Some("A01"));
        assert_eq!(due[0].content_id, "cid-a");
        assert!(due[0].body.as_deref().unwrap().contains("\"id\":\"a\""));
        assert_eq!(journal.due_deliveries("billing", OffsetDateTime::now_utc(), 10).await.unwrap().len(), 1);
        assert_eq!(journal.get(m1).await.unwrap().unwrap().summary.status, MessageStatus::Processed);

        // One sent, one retried later: neither is due now.
        let changed = journal
            .record_deliveries(vec![
                DeliveryOutcome::Sent { id: due[0].id },
                DeliveryOutcome::Retry { id: due[1].id, error: "nacked".into(), at: later() },
            ])
            .await
            .unwrap();
        assert_eq!(changed, 2);
        assert!(journal.due_deliveries("amqp", OffsetDateTime::now_utc(), 10).await.unwrap().is_empty());
        assert!(journal.next_due("amqp").await.unwrap().unwrap() > OffsetDateTime::now_utc());
        let due_later = journal.due_deliveries("amqp", later(), 10).await.unwrap();
        assert_eq!(due_later.len(), 1);
        assert_eq!(due_later[0].attempts, 1);

        let stats = journal.outbox_stats().await.unwrap();
        let amqp = stats.iter().find(|s| s.destination == "amqp").unwrap();
        assert_eq!((amqp.pending, amqp.sent, amqp.dead), (1, 1, 0));
        assert!(amqp.oldest_pending.is_some());
        journal.close().await;
    }
}

on_both! {
    #[tokio::test]
    async fn dead_deliveries_are_resent_with_a_fresh_budget_and_failures_are_kept(place) {
        let journal = place.open().await;
        routed(&journal, "C1", vec![delivery("poison", "a", None), delivery("poison", "b", None)]).await;
        let due = journal.due_deliveries("poison", OffsetDateTime::now_utc(), 10).await.unwrap();
        let outcomes = due.iter().map(|d| DeliveryOutcome::Dead { id: d.id, error: "unroutable".into() }).collect();
        journal.record_deliveries(outcomes).await.unwrap();
        let dead = DeliveryFilter { status: Some(DeliveryStatus::Dead), ..DeliveryFilter::default() };
        assert_eq!(journal.list_deliveries(&dead, None, 100).await.unwrap().len(), 2);
        assert_eq!(journal.delivery_failures(due[0].id).await.unwrap()[0].2, "unroutable");
        assert!(journal.due_deliveries("poison", OffsetDateTime::now_utc(), 10).await.unwrap().is_empty());

        assert_eq!(journal.resend(ResendTarget::Delivery(due[0].id)).await.unwrap(), 1);
        assert_eq!(journal.resend(ResendTarget::DeadFor("poison".into())).await.unwrap(), 1);
        let again = journal.due_deliveries("poison", OffsetDateTime::now_utc(), 10).await.unwrap();
        assert_eq!(again.len(), 2);
        assert!(again.iter().all(|d| d.attempts == 0));
        assert!(matches!(journal.resend(ResendTarget::Delivery(9999)).await, Err(StoreError::NotFound(9999))));
        // An outcome for a row that is no longer pending changes nothing.
        journal.record_deliveries(vec![DeliveryOutcome::Sent { id: due[0].id }]).await.unwrap();
        assert_eq!(journal.record_deliveries(vec![DeliveryOutcome::Sent { id: due[0].id }]).await.unwrap(), 0);
        journal.close().await;
    }
}

on_both! {
    #[tokio::test]
    async fn an_ordered_lane_releases_one_delivery_at_a_time(place) {
        let journal = place.open().await;
        routed(&journal, "C1", vec![delivery("d", "p1-first", Some("p1")), delivery("d", "p2-first", Some("p2"))]).await;
        routed(&journal, "C2", vec![delivery("d", "p1-second", Some("p1")), delivery("d", "free", None)]).await;
        let keys = |due: &[hearth_store::DueDelivery]| due.iter().map(|d| d.routing_key.clone()).collect::<Vec<_>>();

        let due = journal.due_deliveries("d", OffsetDateTime::now_utc(), 10).await.unwrap();
        assert_eq!(keys(&due), ["p1-first", "p2-first", "free"]);
        // The head of p1 fails and waits: p1's second message must wait behind it, the others go on.
        journal
            .record_deliveries(vec![
                DeliveryOutcome::Retry { id: due[0].id, error: "timeout".into(), at: later() },
                DeliveryOutcome::Sent { id: due[1].id },
                DeliveryOutcome::Sent { id: due[2].id },
            ])
            .await
            .unwrap();
        assert!(journal.due_deliveries("d", OffsetDateTime::now_utc(), 10).await.unwrap().is_empty());
        let due = journal.due_deliveries("d", later(), 10).await.unwrap();
        assert_eq!(keys(&due), ["p1-first"]);
        journal.record_deliveries(vec![DeliveryOutcome::Sent { id: due[0].id }]).await.unwrap();
        let due = journal.due_deliveries("d", OffsetDateTime::now_utc(), 10).await.unwrap();
        assert_eq!(keys(&due), ["p1-second"]);
        journal.close().await;
    }
}

on_both! {
    #[tokio::test]
    async fn reprocess_returns_the_message_to_received_and_cancels_unsent_deliveries(place) {
        let journal = place.open().await;
        let id = routed(&journal, "C1", vec![delivery("d", "sent", None), delivery("d", "unsent", None)]).await;
        let due = journal.due_deliveries("d", OffsetDateTime::now_utc(), 10).await.unwrap();
        journal.record_deliveries(vec![DeliveryOutcome::Sent { id: due[0].id }]).await.unwrap();

        journal.reprocess(id).await.unwrap();
        let msg = journal.get(id).await.unwrap().unwrap();
        assert_eq!(msg.summary.status, MessageStatus::Received);
        assert_eq!((msg.bundle, msg.report), (None, None));
        let all = journal
            .list_deliveries(&DeliveryFilter { message_id: Some(id), ..DeliveryFilter::default() }, None, 10)
            .await
            .unwrap();
        let statuses: Vec<_> = all.iter().map(|d| d.status).collect();
        assert_eq!(statuses, [DeliveryStatus::Sent, DeliveryStatus::Cancelled]);
        assert_eq!(journal.next_received(0, 10).await.unwrap().len(), 1);
        assert!(matches!(journal.reprocess(4242).await, Err(StoreError::NotFound(4242))));
        journal.close().await;
    }
}

on_both! {
    #[tokio::test]
    async fn paused_ingest_holds_appends_until_resumed(place) {
        let journal = place.open().await;
        journal.pause_ingest("destination blocked");
        assert_eq!(journal.ingest_paused().as_deref(), Some("destination blocked"));
        let j = journal.clone();
        let append = tokio::spawn(async move { j.append(common::envelope("adt", "P1", Some("P1"), b"MSH|")).await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!append.is_finished(), "an append must wait while ingest is paused");
        assert_eq!(journal.count_all().await.unwrap(), 0);
        journal.resume_ingest();
        let appended = tokio::time::timeout(Duration::from_secs(5), append).await.unwrap().unwrap().unwrap();
        assert!(!appended.duplicate);
        assert_eq!(journal.ingest_paused(), None);
        journal.close().await;
    }
}

on_both! {
    #[tokio::test]
    async fn pending_counts_follow_the_outbox(place) {
        let journal = place.open().await;
        assert!(journal.pending_deliveries().await.unwrap().is_empty());
        routed(&journal, "C1", vec![delivery("a", "1", None), delivery("a", "2", None), delivery("b", "3", None)]).await;
        assert_eq!(journal.pending_deliveries().await.unwrap(), [("a".to_owned(), 2), ("b".to_owned(), 1)]);
        journal.close().await;
    }
}

on_both! {
    #[tokio::test]
    async fn failures_are_kept_across_resends(place) {
        let journal = place.open().await;
        routed(&journal, "C1", vec![delivery("d", "a", None)]).await;
        for round in 0..2 {
            let due = journal.due_deliveries("d", OffsetDateTime::now_utc(), 10).await.unwrap();
            assert_eq!(due.len(), 1, "round {round}");
            journal
                .record_deliveries(vec![DeliveryOutcome::Dead { id: due[0].id, error: format!("round {round}") }])
                .await
                .unwrap();
            journal.resend(ResendTarget::DeadFor("d".into())).await.unwrap();
        }
        let id = journal.due_deliveries("d", OffsetDateTime::now_utc(), 10).await.unwrap()[0].id;
        let failures = journal.delivery_failures(id).await.unwrap();
        assert_eq!(failures.iter().map(|f| (f.0, f.2.as_str())).collect::<Vec<_>>(), [(1, "round 0"), (1, "round 1")]);
        journal.close().await;
    }
}

on_both! {
    #[tokio::test]
    async fn a_message_with_more_deliveries_than_one_insert_statement_holds_keeps_them_all_in_order(place) {
        let journal = place.open().await;
        let keys: Vec<String> = (0..150).map(|i| format!("k{i:03}")).collect();
        let m = routed(&journal, "BIG", keys.iter().map(|k| delivery("amqp", k, None)).collect()).await;
        let due = journal.due_deliveries("amqp", OffsetDateTime::now_utc(), 1_000).await.unwrap();
        assert_eq!(due.iter().map(|d| d.routing_key.clone()).collect::<Vec<_>>(), keys);
        assert!(due.iter().all(|d| d.message_id == m && d.body.as_deref().unwrap().contains(&d.routing_key)));

        // Every one confirmed in one batch: all sent, none due.
        let outcomes = due.iter().map(|d| DeliveryOutcome::Sent { id: d.id }).collect();
        assert_eq!(journal.record_deliveries(outcomes).await.unwrap(), 150);
        assert!(journal.due_deliveries("amqp", OffsetDateTime::now_utc(), 1_000).await.unwrap().is_empty());
    }
}
