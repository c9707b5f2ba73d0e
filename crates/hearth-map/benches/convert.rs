//! Converts the whole sample corpus (`<corpus>/hl7v2/ms-fhir-converter/samples`): time per message and JSON output
//! throughput. Target: ≥ 5,000 messages/s on one core (≤ 200 µs/message) for the mapping; ≤ 300 µs/message for
//! what the engine's processing stage does per message (parse + map + `hearth_fhir::bundle_to_json`). The `_fhirbolt`
//! and `_reference` variants write through fhirbolt's model as `bundle_to_json` did before (issue 17), for a same-run
//! before/after.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hearth_map::hl7v2::{Hl7v2Mapper, MapOptions};

/// The raw bytes of every sample that parses and maps.
fn samples(mapper: &Hl7v2Mapper, now: time::OffsetDateTime) -> Vec<Vec<u8>> {
    let dir = hearth_testkit::corpus_dir().join("hl7v2/ms-fhir-converter/samples");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        // A benchmark measures; it does not gate. Say plainly that nothing was measured.
        eprintln!("skipped: corpus not found at {} (set HEARTH_CORPUS)", dir.display());
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let Ok(bytes) = std::fs::read(e.path()) else { continue };
        if let Ok(m) = hearth_hl7v2::parse(&bytes, &Default::default())
            && mapper.map(&m, now).is_ok()
        {
            out.push(bytes);
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let mapper = Hl7v2Mapper::new(MapOptions::default());
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let raw = samples(&mapper, now);
    if raw.is_empty() {
        return;
    }
    let msgs: Vec<_> = raw.iter().map(|b| hearth_hl7v2::parse(b, &Default::default()).unwrap()).collect();
    let bundles: Vec<_> = msgs.iter().map(|m| mapper.map(m, now).unwrap().bundle).collect();
    let out_bytes: usize = bundles.iter().map(|b| serde_json::to_vec(b).map(|v| v.len()).unwrap_or(0)).sum();
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
    g.bench_function("corpus_parse", |b| {
        b.iter(|| {
            for r in &raw {
                let _ = std::hint::black_box(hearth_hl7v2::parse(r, &Default::default()));
            }
        })
    });
    g.bench_function("corpus_bundle_to_json", |b| {
        b.iter(|| {
            for v in &bundles {
                let _ = std::hint::black_box(hearth_fhir::bundle_to_json(v));
            }
        })
    });
    // bundle_to_json before the element-order writer (issue 17): fhirbolt's fast reading, then its writer.
    g.bench_function("corpus_bundle_to_json_fhirbolt", |b| {
        b.iter(|| {
            for v in &bundles {
                let _ = std::hint::black_box(hearth_fhir::bundle_to_json_fast(v));
            }
        })
    });
    // The whole-Bundle reading bundle_to_json used before its fast path: the "before" figure, in the same run.
    g.bench_function("corpus_bundle_to_json_reference", |b| {
        b.iter(|| {
            for v in &bundles {
                let _ = std::hint::black_box(hearth_fhir::bundle_to_json_reference(v));
            }
        })
    });
    // What the engine's processing stage does per HL7 v2 message before routing: parse, map, check and write.
    for (name, write) in [
        ("corpus_parse_map_write", hearth_fhir::bundle_to_json as fn(&serde_json::Value) -> _),
        ("corpus_parse_map_write_fhirbolt", |v: &serde_json::Value| {
            hearth_fhir::bundle_to_json_fast(v)
                .ok_or_else(|| hearth_fhir::FhirError::Json(<serde_json::Error as serde::de::Error>::custom("refused")))
        }),
        ("corpus_parse_map_write_reference", hearth_fhir::bundle_to_json_reference),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                for r in &raw {
                    let Ok(m) = hearth_hl7v2::parse(r, &Default::default()) else { continue };
                    if let Ok(c) = mapper.map(&m, now) {
                        let _ = std::hint::black_box(write(&c.bundle));
                    }
                }
            })
        });
    }
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
