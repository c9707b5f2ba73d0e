//! Patient-identifier search among 1,000,000 journaled messages (the target: under 100 ms).
//!
//! Builds the journal once through the public API (append, then the conversion with two Patient identifiers
//! per message: 200,000 patients with 5 messages each) in `HEARTH_BENCH_DIR` (default a directory under the
//! system temp dir), reusing it on later runs; then times searches for random patients.
//!
//! `cargo run --release -p hearth-store --example identifier_search [MESSAGES]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use hearth_core::{Envelope, MessageMeta, MessageStatus, PayloadKind};
use hearth_store::{ConversionOutcome, Journal, JournalConfig, SearchPage, SearchQuery, SqliteConfig};

const WRITERS: u64 = 128;

fn envelope(n: u64) -> Envelope {
    Envelope {
        channel: if n.is_multiple_of(3) { "lab".into() } else { "adt".into() },
        kind: PayloadKind::Hl7v2,
        received_at: time::OffsetDateTime::now_utc(),
        raw: format!("MSH|^~\\&|LAB|NORTH|||20260101||ADT^A01|M{n}|P|2.5.1\rPID|1||P{}^^^NORTH^MR", n % 200_000)
            .into_bytes(),
        status: MessageStatus::Received,
        reason: None,
        dedup_key: Some(format!("bench-{n}")),
        meta: MessageMeta { control_id: Some(format!("M{n}")), ..MessageMeta::default() },
        trace_id: hearth_core::trace::TraceId::random(),
    }
}

fn identifiers(patient: u64) -> Vec<String> {
    vec![format!("urn:oid:2.16.840.1.113883.19|P{patient}"), format!("http://hl7.org/fhir/sid/us-ssn|9{patient:08}")]
}

async fn build(journal: &Journal, total: u64) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let journal = journal.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = w;
            while n < total {
                let id = journal.append(envelope(n)).await.unwrap().id;
                let outcome = ConversionOutcome {
                    status: MessageStatus::Processed,
                    bundle: Some("{\"resourceType\":\"Bundle\"}".into()),
                    report: Some("{}".into()),
                    reason: None,
                    deliveries: Vec::new(),
                    patient_identifiers: identifiers(n % 200_000),
                };
                journal.set_outcome_indexed(id, outcome).await.unwrap();
                n += WRITERS;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    println!("built {total} messages in {:.1} s", started.elapsed().as_secs_f64());
}

#[tokio::main]
async fn main() {
    let total: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let dir = std::env::var_os("HEARTH_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("hearth-identifier-bench-{total}")));
    let journal = Journal::open(&JournalConfig::Sqlite(SqliteConfig::new(dir.join("journal.db")))).await.unwrap();
    let have = journal.count_all().await.unwrap();
    if have < total {
        println!("building the journal in {} ({have} messages there)", dir.display());
        build(&journal, total).await;
    }
    println!("journal: {} messages in {}", journal.count_all().await.unwrap(), dir.display());

    let page = SearchPage { cursor: None, newest_first: true, limit: 50 };
    let mut times = Vec::new();
    let mut found = 0;
    for i in 0..1_000u64 {
        // Spread over the whole patient range (a cheap LCG: no extra dependency).
        let patient = (i.wrapping_mul(2_654_435_761) + 12_345) % 200_000;
        let q = SearchQuery { patient_identifier: Some(identifiers(patient).remove(0)), ..SearchQuery::default() };
        let t = Instant::now();
        found += journal.search(&q, page).await.unwrap().len();
        times.push(t.elapsed());
    }
    times.sort();
    let pct = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    println!(
        "1000 searches by patient identifier: {found} messages found; p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        ms(pct(50)),
        ms(pct(99)),
        ms(times[times.len() - 1])
    );
    // The same searches combined with a channel and a status filter (the query plan must still start from the
    // identifier's index).
    let mut times = Vec::new();
    let mut found = 0;
    for i in 0..1_000u64 {
        let patient = (i.wrapping_mul(2_654_435_761) + 777) % 200_000;
        let q = SearchQuery {
            patient_identifier: Some(identifiers(patient).remove(0)),
            channel: Some("adt".into()),
            status: Some(MessageStatus::Processed),
            ..SearchQuery::default()
        };
        let t = Instant::now();
        found += journal.search(&q, page).await.unwrap().len();
        times.push(t.elapsed());
    }
    times.sort();
    let pct = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    println!(
        "1000 searches by patient identifier + channel + status: {found} messages found; p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        ms(pct(50)),
        ms(pct(99)),
        ms(times[times.len() - 1])
    );
    journal.close().await;
}
