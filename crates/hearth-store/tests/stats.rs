//! The dashboard's per-minute buckets: counts add up across flushes, restarts and nodes; samples keep the
//! larger; reads filter by channel or destination and window; retention deletes old minutes only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use std::time::Duration;

use hearth_core::minutes::{latency_bucket, quantile_ms};
use hearth_store::{Minutes, StatsQuery, StatsSubject};
use time::OffsetDateTime;

/// A minute (a multiple of 60) in 2027.
const T0: i64 = 1_800_000_000;

/// One flush as a node makes it: `adt` received `n` and processed `n - 1` in minute `T0`, ACKs at 2 ms; the
/// `fhir` destination sent `n` with an outbox of `depth`.
fn flush(n: u64, depth: u64, oldest_ms: Option<u64>) -> Minutes {
    let mut m = Minutes::default();
    let c = m.channel("adt", T0).unwrap();
    c.received = n;
    c.processed = n - 1;
    c.error = 1;
    c.ack_latency.insert(latency_bucket(Duration::from_millis(2)), n);
    let d = m.destination("fhir", T0).unwrap();
    d.sent = n;
    d.failed = 1;
    d.depth = Some(depth);
    d.oldest_pending_ms = oldest_ms;
    m.channel("lab", T0 + 60).unwrap().rejected = 3;
    // A bucket a day older than the rest, for retention.
    m.channel("adt", T0 - 86_400).unwrap().received = 7;
    m
}

fn window(subject: StatsSubject) -> StatsQuery {
    StatsQuery { from_minute: T0 - 3600, to_minute: T0 + 3600, subject }
}

on_both! {
    #[tokio::test]
    async fn minute_buckets_add_up_across_flushes_restarts_and_nodes(place) {
        let journal = place.open().await;
        assert_eq!(journal.record_minutes(Minutes::default()).await.unwrap(), 0, "nothing to write");
        journal.record_minutes(flush(10, 4, Some(1_500))).await.unwrap();
        journal.close().await;

        // After a restart, a second flush (or a second node: on PostgreSQL two journals at once) adds in.
        let journal = place.open().await;
        let other = match place.kind {
            common::Kind::Postgres => Some(place.open().await),
            common::Kind::Sqlite => None,
        };
        journal.record_minutes(flush(5, 9, None)).await.unwrap();
        if let Some(other) = &other {
            other.record_minutes(flush(2, 1, Some(99))).await.unwrap();
        }
        let (extra, flushes) = if other.is_some() { (2, 3) } else { (0, 2) };

        let all = journal.stats_minutes(&window(StatsSubject::All)).await.unwrap();
        let adt = &all.channels[&("adt".to_owned(), T0)];
        assert_eq!((adt.received, adt.processed, adt.error), (15 + extra, 15 + extra - flushes, flushes));
        let p50 = quantile_ms(&adt.ack_latency, 0.5).unwrap();
        assert!((2.0..2.4).contains(&p50), "{p50}");
        assert_eq!(adt.ack_latency.values().sum::<u64>(), 15 + extra);
        assert_eq!(all.channels[&("lab".to_owned(), T0 + 60)].rejected, 3 * flushes);
        let fhir = &all.destinations[&("fhir".to_owned(), T0)];
        assert_eq!((fhir.sent, fhir.failed), (15 + extra, flushes));
        assert_eq!(fhir.depth, Some(9), "the larger sample");
        assert_eq!(fhir.oldest_pending_ms, Some(1_500), "a missing sample keeps the one there");
        assert!(!all.channels.contains_key(&("adt".to_owned(), T0 - 86_400)), "outside the window");

        let only_lab = journal.stats_minutes(&window(StatsSubject::Channel("lab".into()))).await.unwrap();
        assert_eq!(only_lab.channels.keys().map(|(c, _)| c.as_str()).collect::<Vec<_>>(), ["lab"]);
        assert!(only_lab.destinations.is_empty());
        let only_fhir = journal.stats_minutes(&window(StatsSubject::Destination("fhir".into()))).await.unwrap();
        assert!(only_fhir.channels.is_empty());
        assert_eq!(only_fhir.destinations.len(), 1);

        // Retention: buckets before the cut-off go, the others stay.
        let cutoff = OffsetDateTime::from_unix_timestamp(T0 - 3600).unwrap();
        let deleted = journal.prune_minutes(cutoff).await.unwrap();
        assert_eq!(deleted, 1, "the day-old adt bucket");
        let wide = StatsQuery { from_minute: 0, to_minute: i64::MAX, subject: StatsSubject::All };
        let left = journal.stats_minutes(&wide).await.unwrap();
        assert_eq!(left.channels.len(), 2);
        assert_eq!(left.destinations.len(), 1);
        if let Some(other) = other {
            other.close().await;
        }
        journal.close().await;
    }
}
