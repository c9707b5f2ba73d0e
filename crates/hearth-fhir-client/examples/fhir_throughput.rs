//! Deliveries per second to a FHIR server with this client (scripts/bench-fhir.sh runs it; see
//! docs/performance.md).
//!
//!     fhir_throughput generate N FILE            N distinct ADT^A01 transaction Bundles (one patient each), NDJSON
//!     fhir_throughput send URL FILE MODE C       sends them all, C at a time (MODE: bundle | resources)
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use hearth_fhir_client::{ClientSettings, FhirClient, Payload};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["generate", n, file] => generate(n.parse().expect("N"), file),
        ["send", url, file, mode, c] => send(url, file, mode, c.parse().expect("C")).await,
        _ => {
            eprintln!("usage: fhir_throughput generate N FILE | send URL FILE bundle|resources CONCURRENCY");
            std::process::exit(2);
        }
    }
}

fn generate(n: usize, file: &str) {
    let a01 = common::golden("hl7v2/adt-a01-full.expected.json").remove(0);
    let mut out = std::io::BufWriter::new(std::fs::File::create(file).expect("create"));
    for _ in 0..n {
        serde_json::to_writer(&mut out, &common::Salt::new().apply(&a01)).unwrap();
        out.write_all(b"\n").unwrap();
    }
    out.flush().unwrap();
}

async fn send(url: &str, file: &str, mode: &str, concurrency: usize) {
    let payload = if mode == "resources" { Payload::Resources } else { Payload::Bundle };
    let bundles: Arc<Vec<Vec<u8>>> =
        Arc::new(std::fs::read_to_string(file).expect("read").lines().map(|l| l.as_bytes().to_vec()).collect());
    let mut settings = ClientSettings::new(url);
    settings.max_in_flight = concurrency;
    let client = FhirClient::new(&settings, None).expect("client");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, bundles, next) = (client.clone(), bundles.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(b) = bundles.get(i) else { return };
                if let Err(e) = client.send(b, payload).await {
                    panic!("delivery {i}: {e:?}");
                }
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("sender");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "hearth-fhir-client  mode={mode:<9} concurrency={concurrency}  {} deliveries in {secs:.1} s = {:.1} deliveries/s",
        bundles.len(),
        bundles.len() as f64 / secs
    );
}
