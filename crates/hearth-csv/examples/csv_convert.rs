//! Converts a CSV file with a built-in profile and prints NDJSON Bundles; the report goes to stderr.
//! `cargo run -p hearth-csv --example csv_convert -- charges fixtures/csv/charges/good.csv`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use hearth_csv::{ConvertContext, Converter, Profile};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, profile, path] = args.as_slice() else {
        eprintln!("usage: convert PROFILE FILE");
        std::process::exit(2);
    };
    let profile = Profile::builtin(profile).unwrap();
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let ctx = ConvertContext { source: path, line_offset: 0, now: time::OffsetDateTime::now_utc() };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let report = Converter::new(&profile)
        .convert(file, &ctx, |o| {
            serde_json::to_writer(&mut out, &o.bundle).unwrap();
            out.write_all(b"\n").unwrap();
        })
        .unwrap_or_else(|e| {
            eprintln!("{path}: {e}");
            std::process::exit(2);
        });
    out.flush().unwrap();
    eprintln!("{}", serde_json::to_string_pretty(&report).unwrap());
}
