//! The third-party corpus (Tuva claims, CMS price transparency) converts to Bundles that pass HL7's R4 JSON
//! schema and the strict FHIR validator (value sets of required bindings, instant/dateTime formats; installed by
//! scripts/test.sh, NOT RUN without it, a failure under `CI=true`), and converting chunk by chunk gives exactly
//! what converting the whole file gives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use hearth_csv::{ConvertContext, Converter, FileReport, Output, Profile, Splitter};
use hearth_fhir::schema::{R4Schema, corpus_dir};

/// The corpus is third-party data outside the repo: say so when it is absent, and fail under CI.
fn corpus_file(rel: &str) -> Option<PathBuf> {
    let path = corpus_dir().join(rel);
    if path.is_file() {
        return Some(path);
    }
    hearth_testkit::unavailable(rel, &format!("corpus file {} not found (set HEARTH_CORPUS)", path.display()))
}

fn schema() -> &'static R4Schema {
    R4Schema::shared().unwrap_or_else(|e| panic!("{e}"))
}

fn ctx(source: &str, line_offset: u64) -> ConvertContext<'_> {
    ConvertContext { source, line_offset, now: time::macros::datetime!(2026-01-02 03:04:05 UTC) }
}

fn convert_file(profile: &str, bytes: &[u8], source: &str) -> (FileReport, Vec<Output>) {
    let profile = Profile::builtin(profile).unwrap();
    let mut out = Vec::new();
    let report = Converter::new(&profile).convert(bytes, &ctx(source, 0), |o| out.push(o)).unwrap();
    (report, out)
}

/// Splits the file and converts each chunk alone; returns the outputs and the summed report counts.
fn convert_chunks(profile: &str, bytes: &[u8], source: &str) -> (u64, u64, u64, Vec<Output>) {
    let profile = Profile::builtin(profile).unwrap();
    let converter = Converter::new(&profile);
    let (mut read, mut ok, mut bad, mut out) = (0, 0, 0, Vec::new());
    for chunk in Splitter::new(&profile, bytes).unwrap() {
        let chunk = chunk.unwrap();
        let mut n = 0;
        let r = converter
            .convert(chunk.raw.as_slice(), &ctx(source, chunk.first_line - 1), |o| {
                assert_eq!(
                    (o.first_line, o.last_line, o.group.as_str()),
                    (chunk.first_line, chunk.last_line, chunk.key.as_str())
                );
                n += 1;
                out.push(o);
            })
            .unwrap();
        assert_eq!(r.rows_read, chunk.rows);
        assert!(n <= 1, "a chunk is one group");
        (read, ok, bad) = (read + r.rows_read, ok + r.rows_converted, bad + r.rows_rejected);
    }
    (read, ok, bad, out)
}

fn check(test: &str, profile: &str, rel: &str, expect_rows: u64, expect_groups: usize) {
    let Some(path) = corpus_file(rel) else { return };
    let bytes = std::fs::read(&path).unwrap();
    let (report, outputs) = convert_file(profile, &bytes, rel);
    assert_eq!(report.rows_read, expect_rows, "{rel}: {report:#?}");
    assert_eq!(report.rows_rejected, 0, "{rel}: {:#?}", report.errors);
    assert_eq!(report.rows_read, report.rows_converted + report.rows_rejected);
    assert_eq!(outputs.len(), expect_groups, "{rel}");
    for o in &outputs {
        if let Err(errors) = schema().validate(&o.bundle) {
            panic!("{rel} lines {}-{}: {errors:#?}\n{:#}", o.first_line, o.last_line, o.bundle);
        }
    }
    strict_validate(test, &outputs);
    let (read, ok, bad, chunked) = convert_chunks(profile, &bytes, rel);
    assert_eq!((read, ok, bad), (report.rows_read, report.rows_converted, report.rows_rejected));
    assert_eq!(chunked.len(), outputs.len());
    for (a, b) in chunked.iter().zip(&outputs) {
        assert_eq!(a.bundle, b.bundle, "chunked and whole-file conversion differ at line {}", a.first_line);
    }
}

/// Every Bundle through the strict validator, as NDJSON.
fn strict_validate(test: &str, outputs: &[Output]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{test}.ndjson"));
    let mut text = String::new();
    for o in outputs {
        text.push_str(&format!("{}\n", o.bundle));
    }
    std::fs::write(&path, text).unwrap();
    let Some(result) = hearth_testkit::strict_fhir_validate(test, &[&path]) else { return };
    match result {
        Ok(summary) => eprintln!("{}", summary.trim()),
        Err(findings) => panic!("strict FHIR validation failed:\n{findings}"),
    }
}

#[test]
fn tuva_medical_claims() {
    check("tuva_medical_claims", "claims", "billing/tuva/medical_claim_sample.csv", 6075, 3538);
}

#[test]
fn cms_price_transparency_v3_tall() {
    check(
        "cms_price_transparency_v3_tall",
        "price-transparency",
        "billing/cms-hospital-price-transparency/examples/CSV/Tall Format Examples/V3.0.0_Tall_CSV_Format_Example.csv",
        45,
        25,
    );
}

#[test]
fn cms_price_transparency_v2_tall() {
    check(
        "cms_price_transparency_v2_tall",
        "price-transparency",
        "billing/cms-hospital-price-transparency/archive/examples/CSV/Tall Format Examples/V2.0.0_Tall_CSV_Format_Example.csv",
        31,
        17,
    );
}
