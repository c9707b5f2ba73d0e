//! Deliveries per second through the FHIR destination: the outbox of a SQLite journal drained by the sink to a
//! FHIR server (scripts/bench-fhir.sh runs it beside the client alone and the server's own rate; see
//! docs/performance.md).
//!
//!     fhir_sink_throughput URL FILE C    FILE: NDJSON transaction Bundles (`fhir_throughput generate`), one
//!                                        delivery each on its own patient lane, C in flight
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use hearth_core::{Envelope, MessageMeta, MessageStatus, PayloadKind};
use hearth_fhir_client::{ClientSettings, FhirClient};
use hearth_sinks::{Backoff, FhirPublisher, Publisher, Sink, SinkConfig};
use hearth_store::{Journal, JournalConfig, NewDelivery, SqliteConfig};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, file, c] = args.as_slice() else {
        eprintln!("usage: fhir_sink_throughput URL FILE CONCURRENCY");
        std::process::exit(2);
    };
    let concurrency: usize = c.parse().expect("CONCURRENCY");
    let bundles: Vec<String> = std::fs::read_to_string(file).expect("read").lines().map(str::to_owned).collect();
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&JournalConfig::Sqlite(SqliteConfig::new(dir.path().join("j.db")))).await.unwrap();
    for (i, body) in bundles.iter().enumerate() {
        let env = Envelope {
            channel: "adt".into(),
            kind: PayloadKind::Hl7v2,
            received_at: time::OffsetDateTime::now_utc(),
            raw: b"MSH|".to_vec(),
            status: MessageStatus::Received,
            reason: None,
            dedup_key: Some(format!("bench-{i}")),
            meta: MessageMeta::default(),
            trace_id: hearth_core::trace::TraceId::random(),
        };
        let id = journal.append(env).await.unwrap().id;
        let d = NewDelivery {
            destination: "ehr".into(),
            route: "bench".into(),
            routing_key: "adt.A01.Bundle".into(),
            resource_type: "Bundle".into(),
            content_id: format!("bench-{i}"),
            lane: Some(format!("patient-{i}")),
            body: body.clone(),
        };
        journal.set_outcome(id, MessageStatus::Processed, None, None, None, vec![d]).await.unwrap();
    }
    let stop = CancellationToken::new();
    let mut settings = ClientSettings::new(url);
    settings.max_in_flight = concurrency;
    let publisher = Publisher::Fhir(FhirPublisher::start(FhirClient::new(&settings, None).unwrap(), stop.clone()));
    while publisher.ready().is_err() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cfg = SinkConfig {
        destination: "ehr".into(),
        max_attempts: 10,
        backoff: Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(5) },
        max_in_flight: concurrency,
    };
    let started = Instant::now();
    let task = tokio::spawn(Sink::new(cfg, journal.clone(), publisher).run(stop.clone()));
    loop {
        let stats = journal.outbox_stats().await.unwrap();
        let s = stats.iter().find(|s| s.destination == "ehr").unwrap();
        assert_eq!(s.dead, 0, "a delivery went dead");
        if s.pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    stop.cancel();
    task.await.unwrap();
    journal.close().await;
    println!(
        "hearth-fhir-sink    mode=bundle    concurrency={concurrency}  {} deliveries in {secs:.1} s = {:.1} deliveries/s",
        bundles.len(),
        bundles.len() as f64 / secs
    );
}
