//! Converts the whole sample corpus (`<corpus>/hl7v2/ms-fhir-converter/samples`, parsed up front): time per
//! message and JSON output throughput. Target: ≥ 5,000 messages/s on one core (≤ 200 µs/message).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hearth_map::hl7v2::{Hl7v2Mapper, MapOptions};

fn corpus_dir() -> PathBuf {
    match std::env::var_os("HEARTH_CORPUS") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
    }
}

fn bench(c: &mut Criterion) {
    let dir = corpus_dir().join("hl7v2/ms-fhir-converter/samples");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        eprintln!("skipped: corpus not found at {}", dir.display());
        return;
    };
    let mapper = Hl7v2Mapper::new(MapOptions::default());
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let mut msgs = Vec::new();
    for e in rd.flatten() {
        let Ok(bytes) = std::fs::read(e.path()) else { continue };
        if let Ok(m) = hearth_hl7v2::parse(&bytes, &Default::default())
            && mapper.map(&m, now).is_ok()
        {
            msgs.push(m);
        }
    }
    let out_bytes: usize = msgs
        .iter()
        .filter_map(|m| mapper.map(m, now).ok())
        .map(|c| serde_json::to_vec(&c.bundle).map(|v| v.len()).unwrap_or(0))
        .sum();
    eprintln!("{} convertible messages, {} bytes of JSON per pass", msgs.len(), out_bytes);
    let mut g = c.benchmark_group("hl7v2_to_fhir");
    g.throughput(Throughput::Elements(msgs.len() as u64));
    g.bench_function("corpus_messages", |b| {
        b.iter(|| {
            for m in &msgs {
                let _ = std::hint::black_box(mapper.map(m, now));
            }
        })
    });
    g.throughput(Throughput::Bytes(out_bytes as u64));
    g.bench_function("corpus_to_json_bytes", |b| {
        b.iter(|| {
            for m in &msgs {
                if let Ok(c) = mapper.map(m, now) {
                    let _ = std::hint::black_box(serde_json::to_vec(&c.bundle));
                }
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
