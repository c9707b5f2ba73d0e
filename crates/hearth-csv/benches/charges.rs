//! Rows per second for the `charges` profile on one core: the converter over a whole in-memory file, and the
//! splitter (pass 1). `cargo bench -p hearth-csv --bench charges`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hearth_csv::{ConvertContext, Converter, Profile, Splitter};

const ROWS: u64 = 20_000;

fn file() -> Vec<u8> {
    let mut s = String::from(
        "charge_id,mrn,visit_number,account_number,service_date,cpt_hcpcs,modifier_1,modifier_2,revenue_code,units,\
         unit_price,amount,performing_npi,payer\n",
    );
    for i in 0..ROWS {
        s.push_str(&format!(
            "C{i},MRN{:06},V{:07},A{:07},2025-03-{:02},99213,25,,0510,{},125.50,{}.50,1234567893,PAYER{:02}\n",
            i % 50_000,
            i % 200_000,
            i % 100_000,
            1 + i % 28,
            1 + i % 3,
            125 * (1 + i % 3),
            i % 20
        ));
    }
    s.into_bytes()
}

fn bench(c: &mut Criterion) {
    let data = file();
    let profile = Profile::builtin("charges").unwrap();
    let converter = Converter::new(&profile);
    let ctx = ConvertContext { source: "bench.csv", line_offset: 0, now: time::OffsetDateTime::UNIX_EPOCH };
    let mut g = c.benchmark_group("charges");
    g.throughput(Throughput::Elements(ROWS));
    g.sample_size(20);
    g.bench_function("convert", |b| {
        b.iter(|| {
            let mut n = 0u64;
            let r = converter.convert(data.as_slice(), &ctx, |o| n += o.last_line).unwrap();
            assert_eq!(r.rows_converted, ROWS);
            n
        })
    });
    g.bench_function("convert+serialize", |b| {
        b.iter(|| {
            let mut bytes = 0usize;
            converter
                .convert(data.as_slice(), &ctx, |o| bytes += serde_json::to_vec(&o.bundle).unwrap().len())
                .unwrap();
            bytes
        })
    });
    g.bench_function("split", |b| {
        b.iter(|| Splitter::new(&profile, data.as_slice()).unwrap().map(|c| c.unwrap().raw.len()).sum::<usize>())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
