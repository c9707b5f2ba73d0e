//! Append throughput with group commit, SQLite next to PostgreSQL in the same run.
//!
//! For each concurrency level, `MESSAGES` appends of a ~1 KB HL7 v2 message (every one new, with its own dedup
//! key) from that many concurrent tasks through `Journal::append`, i.e. what a source waits for before its ACK;
//! once on a SQLite journal in a temporary directory, once on PostgreSQL (`HEARTH_TEST_PG_URL`, default the local
//! server's `test` database) in a schema of its own, dropped afterwards. Prints messages/s, messages per commit
//! and the append latency (p50, p99).
//!
//! `cargo run --release -p hearth-store --example append_throughput [MESSAGES] [CONCURRENCY,...]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use hearth_core::{Envelope, MessageMeta, MessageStatus, PayloadKind};
use hearth_store::{Journal, JournalConfig, PostgresConfig, SqliteConfig};
use sqlx::Connection;

fn envelope(n: usize, run: &str) -> Envelope {
    let mut raw = format!(
        "MSH|^~\\&|LAB|NORTH|HEARTH|HOSP|20260101120000||ADT^A01^ADT_A01|M{n}|P|2.5.1\rEVN|A01|20260101120000\r\
         PID|1||P{n}^^^NORTH^MR||DOE^JANE^Q||19800101|F|||1 MAIN ST^^SPRINGFIELD^IL^62701||(217)555-0100\r\
         PV1|1|I|WARD^101^A|||||||MED\r"
    );
    while raw.len() < 1_000 {
        raw.push_str("OBX|1|TX|NOTE||padding to a typical message size||||||F\r");
    }
    Envelope {
        channel: "adt".into(),
        kind: PayloadKind::Hl7v2,
        received_at: time::OffsetDateTime::now_utc(),
        raw: raw.into_bytes(),
        status: MessageStatus::Received,
        reason: None,
        dedup_key: Some(format!("{run}-{n}")),
        meta: MessageMeta { control_id: Some(format!("M{n}")), ..MessageMeta::default() },
        trace_id: hearth_core::trace::TraceId::random(),
    }
}

struct Figures {
    rate: f64,
    per_commit: f64,
    p50: Duration,
    p99: Duration,
}

async fn run(cfg: &JournalConfig, messages: usize, concurrency: usize, tag: &str) -> Figures {
    let journal = Journal::open(cfg).await.unwrap();
    // Warm up the connections and the statement caches.
    for n in 0..100 {
        journal.append(envelope(n, &format!("warm-{tag}"))).await.unwrap();
    }
    let commits_before = journal.stats().commits;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let journal = journal.clone();
        let tag = tag.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = t;
            while n < messages {
                let sent = Instant::now();
                journal.append(envelope(n, &tag)).await.unwrap();
                latencies.push(sent.elapsed());
                n += concurrency;
            }
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(messages);
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    let commits = journal.stats().commits - commits_before;
    journal.close().await;
    latencies.sort_unstable();
    let at = |pct: usize| latencies[(latencies.len() * pct / 100).min(latencies.len() - 1)];
    Figures {
        rate: messages as f64 / elapsed.as_secs_f64(),
        per_commit: messages as f64 / commits.max(1) as f64,
        p50: at(50),
        p99: at(99),
    }
}

fn print(backend: &str, concurrency: usize, f: &Figures) {
    println!(
        "{backend:<10} {concurrency:>5} {:>10.0} {:>9.1} {:>9.2} {:>9.2}",
        f.rate,
        f.per_commit,
        f.p50.as_secs_f64() * 1e3,
        f.p99.as_secs_f64() * 1e3
    );
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let messages: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let levels: Vec<usize> = args
        .next()
        .map(|a| a.split(',').filter_map(|c| c.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 8, 64, 256]);
    let url = std::env::var("HEARTH_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());

    println!("{messages} appends per run, ~1 KB each; every row a fresh journal");
    println!("{:<10} {:>5} {:>10} {:>9} {:>9} {:>9}", "backend", "tasks", "msg/s", "msg/commit", "p50 ms", "p99 ms");
    for (i, &concurrency) in levels.iter().enumerate() {
        let messages = if concurrency == 1 { messages / 10 } else { messages };
        let dir = tempfile::tempdir().unwrap();
        let sqlite = JournalConfig::Sqlite(SqliteConfig::new(dir.path().join("bench.db")));
        let schema = format!("hearth_bench_{}_{i}", std::process::id());
        let postgres =
            JournalConfig::Postgres(PostgresConfig { schema: Some(schema.clone()), ..PostgresConfig::new(&url) });
        // Alternate which backend goes first, so that neither always runs on a warmer machine.
        let order = if i % 2 == 0 {
            [("sqlite", &sqlite), ("postgres", &postgres)]
        } else {
            [("postgres", &postgres), ("sqlite", &sqlite)]
        };
        for (name, cfg) in order {
            let f = run(cfg, messages, concurrency, &format!("{name}{i}")).await;
            print(name, concurrency, &f);
        }
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE")).execute(&mut conn).await.unwrap();
    }
}
