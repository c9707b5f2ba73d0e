//! The operations surface's reads and writes: identifier search, channel pause, figures, audit, retention.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use std::time::Duration;

use hearth_core::MessageStatus;
use hearth_store::{ConversionOutcome, DeliveryOutcome, Journal, NewAuditEvent, NewDelivery, SearchPage, SearchQuery};
use time::OffsetDateTime;

fn delivery(key: &str) -> NewDelivery {
    NewDelivery {
        destination: "fhir".into(),
        route: "default".into(),
        routing_key: key.into(),
        resource_type: "Patient".into(),
        content_id: format!("cid-{key}"),
        lane: None,
        body: "{\"resourceType\":\"Patient\"}".into(),
    }
}

fn outcome(patients: &[&str], deliveries: Vec<NewDelivery>) -> ConversionOutcome {
    ConversionOutcome {
        status: MessageStatus::Processed,
        bundle: Some("{\"resourceType\":\"Bundle\"}".into()),
        report: Some("{}".into()),
        reason: None,
        deliveries,
        patient_identifiers: patients.iter().map(|p| (*p).to_owned()).collect(),
    }
}

async fn converted(journal: &Journal, control_id: &str, patients: &[&str]) -> i64 {
    let id = journal.append(common::envelope("adt", control_id, Some(control_id), b"MSH|raw")).await.unwrap().id;
    journal.set_outcome_indexed(id, outcome(patients, vec![delivery(control_id)])).await.unwrap();
    id
}

const FIRST: SearchPage = SearchPage { cursor: None, newest_first: true, limit: 10 };

fn by_patient(ident: &str) -> SearchQuery {
    SearchQuery { patient_identifier: Some(ident.into()), ..SearchQuery::default() }
}

on_both! {
    #[tokio::test]
    async fn patient_identifier_search_finds_each_patients_messages_newest_first(place) {
        let journal = place.open().await;
        let a1 = converted(&journal, "c1", &["urn:mrn|A", "urn:ssn|111"]).await;
        let _b = converted(&journal, "c2", &["urn:mrn|B"]).await;
        let a2 = converted(&journal, "c3", &["urn:mrn|A"]).await;

        let ids = |v: Vec<hearth_store::MessageSummary>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
        assert_eq!(ids(journal.search(&by_patient("urn:mrn|A"), FIRST).await.unwrap()), vec![a2, a1]);
        assert_eq!(ids(journal.search(&by_patient("urn:ssn|111"), FIRST).await.unwrap()), vec![a1]);
        assert!(journal.search(&by_patient("urn:mrn|Z"), FIRST).await.unwrap().is_empty());
        // Paging by cursor, oldest first.
        let page = SearchPage { cursor: Some(a1), newest_first: false, limit: 1 };
        assert_eq!(ids(journal.search(&by_patient("urn:mrn|A"), page).await.unwrap()), vec![a2]);
        // Combined with other filters.
        let q = SearchQuery { control_id: Some("c1".into()), ..by_patient("urn:mrn|A") };
        assert_eq!(ids(journal.search(&q, FIRST).await.unwrap()), vec![a1]);
        assert_eq!(journal.patient_identifiers(a1).await.unwrap(), vec!["urn:mrn|A", "urn:ssn|111"]);

        // A reprocessed message's new conversion replaces its identifiers.
        journal.reprocess(a1).await.unwrap();
        journal.set_outcome_indexed(a1, outcome(&["urn:mrn|C"], vec![])).await.unwrap();
        assert_eq!(ids(journal.search(&by_patient("urn:mrn|A"), FIRST).await.unwrap()), vec![a2]);
        assert_eq!(ids(journal.search(&by_patient("urn:mrn|C"), FIRST).await.unwrap()), vec![a1]);
    }
}

on_both! {
    #[tokio::test]
    async fn search_filters_by_status_event_and_time(place) {
        let journal = place.open().await;
        let a = converted(&journal, "c1", &[]).await;
        let mut env = common::envelope("lab", "c2", Some("c2"), b"MSH|raw");
        env.meta.trigger_event = Some("R01".into());
        env.received_at = common::at(5_000_000);
        let b = journal.append(env).await.unwrap().id;

        let run = |q: SearchQuery| {
            let journal = journal.clone();
            async move { journal.search(&q, FIRST).await.unwrap().into_iter().map(|m| m.id).collect::<Vec<_>>() }
        };
        assert_eq!(run(SearchQuery { status: Some(MessageStatus::Received), ..Default::default() }).await, vec![b]);
        assert_eq!(run(SearchQuery { event: Some("A01".into()), ..Default::default() }).await, vec![a]);
        assert_eq!(run(SearchQuery { channel: Some("lab".into()), ..Default::default() }).await, vec![b]);
        let from = SearchQuery { received_from: Some(common::at(1_000_000)), ..Default::default() };
        assert_eq!(run(from).await, vec![b]);
        let to = SearchQuery { received_to: Some(common::at(1_000_000)), ..Default::default() };
        assert_eq!(run(to).await, vec![a]);
    }
}

on_both! {
    #[tokio::test]
    async fn a_paused_channel_holds_its_appends_and_only_its_own_and_stays_paused_across_a_restart(place) {
        let journal = place.open().await;
        journal.pause_channel("adt", "operator").await.unwrap();
        assert_eq!(journal.paused_channels().get("adt").map(String::as_str), Some("operator"));
        journal.close().await;

        // Reopened (a restart): still paused.
        let journal = place.open().await;
        assert_eq!(journal.paused_channels().get("adt").map(String::as_str), Some("operator"));
        let held = tokio::spawn({
            let journal = journal.clone();
            async move { journal.append(common::envelope("adt", "c1", Some("c1"), b"MSH|")).await }
        });
        // Another channel goes through while adt waits.
        journal.append(common::envelope("lab", "c2", Some("c2"), b"MSH|")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!held.is_finished(), "the paused channel's append must wait");
        journal.resume_channel("adt").await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), held).await.unwrap().unwrap().unwrap();
        assert_eq!(journal.count_all().await.unwrap(), 2);
        assert!(journal.paused_channels().is_empty());
        journal.close().await;

        // Resumed is stored too.
        let journal = place.open().await;
        assert!(journal.paused_channels().is_empty());
        journal.close().await;
    }
}

on_both! {
    #[tokio::test]
    async fn channel_and_destination_figures(place) {
        let journal = place.open().await;
        let a = converted(&journal, "c1", &[]).await;
        converted(&journal, "c2", &[]).await;
        let e = journal.append(common::envelope("adt", "c3", Some("c3"), b"MSH|")).await.unwrap().id;
        journal.set_conversion(e, MessageStatus::Error, None, None, Some("bad")).await.unwrap();

        let stats = journal.channel_stats("adt").await.unwrap();
        assert_eq!(stats.counts[&MessageStatus::Processed], 2);
        assert_eq!(stats.counts[&MessageStatus::Error], 1);
        assert_eq!(stats.last_received_at, Some(common::at(0)));
        assert!((stats.error_rate - 1.0 / 3.0).abs() < 1e-9, "{}", stats.error_rate);
        assert!(stats.latency_p50_ms.is_some() && stats.latency_p99_ms >= stats.latency_p50_ms);
        let before = OffsetDateTime::now_utc() - Duration::from_secs(60);
        assert_eq!(journal.errors_since("adt", before).await.unwrap(), 1);
        assert_eq!(journal.errors_since("adt", OffsetDateTime::now_utc() + Duration::from_secs(60)).await.unwrap(), 0);
        assert_eq!(journal.channel_stats("none").await.unwrap().last_received_at, None);

        let d = journal.destination_stats("fhir").await.unwrap();
        assert_eq!((d.pending, d.dead), (2, 0));
        assert!(d.oldest_pending.is_some());
        let first = journal.list_deliveries(&Default::default(), None, 10).await.unwrap()[0].id;
        journal.record_deliveries(vec![DeliveryOutcome::Dead { id: first, error: "gone".into() }]).await.unwrap();
        let d = journal.destination_stats("fhir").await.unwrap();
        assert_eq!((d.pending, d.dead), (1, 1));
        let _ = a;
    }
}

on_both! {
    #[tokio::test]
    async fn audit_events_are_kept_newest_first(place) {
        let journal = place.open().await;
        let event = |action: &str, message_id: Option<i64>| NewAuditEvent {
            at: common::at(0),
            actor: "ops-team".into(),
            role: "operator".into(),
            action: action.into(),
            message_id,
            event: "{\"resourceType\":\"AuditEvent\"}".into(),
        };
        let first = journal.audit(event("view", Some(7))).await.unwrap();
        let second = journal.audit(event("pause", None)).await.unwrap();
        assert!(second > first);
        let all = journal.audit_events(None, None, 10).await.unwrap();
        assert_eq!(all.iter().map(|r| r.action.as_str()).collect::<Vec<_>>(), vec!["pause", "view"]);
        assert_eq!(all[1].actor, "ops-team");
        assert_eq!(all[1].at, common::at(0));
        let about = journal.audit_events(Some(7), None, 10).await.unwrap();
        assert_eq!(about.len(), 1);
        assert_eq!(journal.audit_events(None, Some(second as i64), 10).await.unwrap().len(), 1);
    }
}

on_both! {
    #[tokio::test]
    async fn retention_prunes_old_content_in_batches_and_keeps_metadata(place) {
        let journal = place.open().await;
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(converted(&journal, &format!("c{i}"), &["urn:mrn|A"]).await);
        }
        // All but the last have their delivery sent; the last still has a pending one and keeps its content.
        let deliveries = journal.list_deliveries(&Default::default(), None, 10).await.unwrap();
        let sent = deliveries[..4].iter().map(|d| DeliveryOutcome::Sent { id: d.id }).collect();
        journal.record_deliveries(sent).await.unwrap();
        // A message younger than the cut-off stops the walk.
        let mut young = common::envelope("adt", "young", Some("young"), b"MSH|");
        young.received_at = OffsetDateTime::now_utc();
        let young = journal.append(young).await.unwrap().id;

        let cutoff = OffsetDateTime::now_utc() - Duration::from_secs(3600);
        let p = journal.prune_content("adt", cutoff, 0, 2).await.unwrap();
        assert_eq!((p.pruned, p.cursor, p.caught_up), (2, ids[1], false));
        let p = journal.prune_content("adt", cutoff, p.cursor, 10).await.unwrap();
        assert_eq!((p.pruned, p.cursor, p.caught_up), (2, ids[4], true));

        let old = journal.get(ids[0]).await.unwrap().unwrap();
        assert_eq!((old.raw, old.bundle, old.report), (None, None, None));
        assert_eq!(old.summary.status, MessageStatus::Processed);
        assert!(journal.get(ids[4]).await.unwrap().unwrap().raw.is_some(), "pending delivery keeps its content");
        assert!(journal.get(young).await.unwrap().unwrap().raw.is_some());
        assert_eq!(journal.count_all().await.unwrap(), 6);
        assert_eq!(journal.search(&by_patient("urn:mrn|A"), FIRST).await.unwrap().len(), 5, "metadata stays");
        // A pruned delivery can no longer be resent; its message cannot be reprocessed.
        assert!(journal.resend(hearth_store::ResendTarget::Delivery(deliveries[0].id)).await.is_err());
        assert!(journal.reprocess(ids[0]).await.is_err());
    }
}
