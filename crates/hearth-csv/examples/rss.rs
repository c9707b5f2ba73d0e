//! Memory stays flat: generates N synthetic charge rows on the fly (never held in memory), streams them through
//! the splitter or the converter, and prints peak RSS (VmHWM from /proc/self/status).
//! `cargo run --release -p hearth-csv --example rss -- 2000000 [convert|split]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;

use hearth_csv::{ConvertContext, Converter, Profile, Splitter};

/// Produces a charges file of `rows` rows lazily, one line at a time.
struct Generated {
    rows: u64,
    next: u64,
    line: Vec<u8>,
    pos: usize,
}

const HEADER: &str = "charge_id,mrn,visit_number,account_number,service_date,cpt_hcpcs,modifier_1,modifier_2,\
revenue_code,units,unit_price,amount,performing_npi,payer\n";

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.line.len() {
            if self.next > self.rows {
                return Ok(0);
            }
            self.line.clear();
            if self.next == 0 {
                self.line.extend_from_slice(HEADER.as_bytes());
            } else {
                let i = self.next;
                let line = format!(
                    "C{i},MRN{:06},V{:07},A{:07},2025-0{}-1{},99213,25,,0510,{},125.{:02},{}.00,1234567893,PAYER{:02}\n",
                    i % 50_000,
                    i % 200_000,
                    i % 100_000,
                    1 + i % 9,
                    i % 10,
                    1 + i % 3,
                    i % 100,
                    125 * (1 + i % 3),
                    i % 20
                );
                self.line.extend_from_slice(line.as_bytes());
            }
            self.pos = 0;
            self.next += 1;
        }
        let n = buf.len().min(self.line.len() - self.pos);
        buf[..n].copy_from_slice(&self.line[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn peak_rss_kib() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find(|l| l.starts_with("VmHWM")).unwrap_or("VmHWM: unknown").to_owned()
}

fn main() {
    let rows: u64 = std::env::args().nth(1).map_or(1_000_000, |s| s.parse().unwrap());
    let mode = std::env::args().nth(2).unwrap_or_else(|| "convert".to_owned());
    let input = Generated { rows, next: 0, line: Vec::new(), pos: 0 };
    let profile = Profile::builtin("charges").unwrap();
    let start = std::time::Instant::now();
    let (mut groups, mut bytes) = (0u64, 0u64);
    if mode == "split" {
        for chunk in Splitter::new(&profile, input).unwrap() {
            bytes += chunk.unwrap().raw.len() as u64;
            groups += 1;
        }
    } else {
        let ctx = ConvertContext { source: "generated.csv", line_offset: 0, now: time::OffsetDateTime::now_utc() };
        let report = Converter::new(&profile)
            .convert(input, &ctx, |o| {
                groups += 1;
                bytes += o.bundle["entry"].as_array().map_or(0, Vec::len) as u64;
            })
            .unwrap();
        assert_eq!(report.rows_converted, rows);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{mode}: {rows} rows, {groups} groups, {bytes} bytes or entries out, {:.0} rows/s (wall clock), {}",
        rows as f64 / secs,
        peak_rss_kib()
    );
}
