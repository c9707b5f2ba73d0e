//! Parse + validate throughput: the whole corpus (bytes/s and messages/s) and one message with
//! a 2 MB base64 OBX-5. `hl7-parser` 0.3 runs beside ours as a reference point.
//!
//! `cargo bench -p hearth-hl7v2 --bench parse -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hearth_hl7v2::{ParseOptions, parse};

#[path = "../tests/common/mod.rs"]
mod common;

fn corpus(c: &mut Criterion) {
    let samples = match common::load_hl7v2_samples() {
        Ok(s) if !s.is_empty() => s,
        Ok(_) => return eprintln!("corpus empty, skipping the corpus benchmarks"),
        Err(why) => return eprintln!("corpus absent, skipping the corpus benchmarks ({why})"),
    };
    let opts = ParseOptions::default();
    let bytes: u64 = samples.iter().map(|(_, b)| b.len() as u64).sum();
    let count = samples.len() as u64;
    let parse_all = || {
        for (_, sample) in &samples {
            let _ = black_box(parse(black_box(sample), &opts));
        }
    };
    // hl7-parser needs &str without BOM: prepared outside the timed loop, to its advantage.
    let texts: Vec<&str> = samples
        .iter()
        .filter_map(|(_, b)| std::str::from_utf8(b).ok())
        .map(|s| s.trim_start_matches('\u{feff}'))
        .collect();

    let mut group = c.benchmark_group("corpus_bytes");
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("hearth_parse", |b| b.iter(parse_all));
    group.bench_function("hl7_parser_0_3_reference", |b| {
        b.iter(|| {
            for text in &texts {
                let _ = black_box(hl7_parser::parse_message_with_lenient_newlines(black_box(text)));
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("corpus_messages");
    group.throughput(Throughput::Elements(count));
    group.bench_function("hearth_parse", |b| b.iter(parse_all));
    group.finish();
}

fn large_field(c: &mut Criterion) {
    let payload = "JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K".repeat(2 * 1024 * 1024 / 64);
    let message = format!(
        "MSH|^~\\&|LAB|NORTH|HEARTH|HUB|20240101120000||ORU^R01|BIG-1|P|2.5.1\r\
         PID|1||123^^^HOSP^MR||DOE^JANE\r\
         OBR|1||ORD1|PDF^Report\r\
         OBX|1|ED|PDF^Report||^application^pdf^Base64^{payload}||||||F\r"
    );
    let opts = ParseOptions::default();
    let mut group = c.benchmark_group("large_obx5_2mb");
    group.throughput(Throughput::Bytes(message.len() as u64));
    group.bench_function("hearth_parse", |b| b.iter(|| black_box(parse(black_box(message.as_bytes()), &opts)).is_ok()));
    group.bench_function("hl7_parser_0_3_reference", |b| {
        b.iter(|| black_box(hl7_parser::parse_message(black_box(&message))).is_ok())
    });
    group.finish();
}

criterion_group!(benches, corpus, large_field);
criterion_main!(benches);
