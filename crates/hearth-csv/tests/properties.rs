//! Properties: no input panics; `rows_read == rows_converted + rows_rejected`; converting chunk by chunk gives
//! what converting the whole file gives, however the reader delivers bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;

use hearth_csv::{ConvertContext, Converter, Profile, Splitter};
use proptest::prelude::*;

const HEADER: &str = "charge_id,mrn,visit_number,account_number,service_date,cpt_hcpcs,modifier_1,modifier_2,\
revenue_code,units,unit_price,amount,performing_npi,payer";

fn ctx(line_offset: u64) -> ConvertContext<'static> {
    ConvertContext { source: "prop.csv", line_offset, now: time::macros::datetime!(2026-01-02 03:04:05 UTC) }
}

/// Whatever happens, nothing panics and the totals add up; returns the outputs' bundles and the row count.
fn run_all(profile: &Profile, bytes: &[u8]) {
    let converter = Converter::new(profile);
    if let Ok(r) = converter.convert(bytes, &ctx(0), |_| {}) {
        assert_eq!(r.rows_read, r.rows_converted + r.rows_rejected);
    }
    if let Ok(split) = Splitter::new(profile, bytes) {
        for chunk in split.take(10_000) {
            let Ok(chunk) = chunk else { continue };
            assert!(chunk.first_line <= chunk.last_line);
            if let Ok(r) = converter.convert(chunk.raw.as_slice(), &ctx(chunk.first_line - 1), |_| {}) {
                assert_eq!(r.rows_read, r.rows_converted + r.rows_rejected);
                assert_eq!(r.rows_read, chunk.rows);
            }
        }
    }
}

/// A reader that hands out at most `step` bytes a call.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// One charge cell: a valid value or a known-bad one; `true` if valid.
fn cell(valid: &'static [&'static str], invalid: &'static [&'static str]) -> impl Strategy<Value = (String, bool)> {
    prop_oneof![
        4 => proptest::sample::select(valid).prop_map(|s| (s.to_owned(), true)),
        1 => proptest::sample::select(invalid).prop_map(|s| (s.to_owned(), false)),
    ]
}

fn charge_row() -> impl Strategy<Value = (Vec<String>, bool)> {
    (
        cell(&["C1", "C-2", "\"C,3\""], &[""]),
        cell(&["MRN1", "\"MRN \"\"2\"\"\""], &["", "\"MR\nN\""]),
        cell(&["V1", ""], &["\"V\r\n1\""]),
        cell(&["2025-01-31", "1/2/2024", "20240229"], &["2023-02-29", "31/01/2025", ""]),
        cell(&["99213", "J1100", "0001F"], &["9921", "99 13"]),
        cell(&["1", "2.5", "0"], &["-1", "one", ""]),
        cell(&["10.00", "-5.25", "$7"], &["\"1,000.00\"", "1e3", ""]),
        cell(&["Payer A", "\"Blue, \"\"Cross\"\"\"", ""], &["\"multi\nline\""]),
    )
        .prop_map(|(id, mrn, visit, date, code, units, amount, payer)| {
            let ok = [&id, &mrn, &visit, &date, &code, &units, &amount, &payer].iter().all(|c| c.1);
            let fields = vec![
                id.0,
                mrn.0,
                visit.0,
                "A1".into(),
                date.0,
                code.0,
                String::new(),
                String::new(),
                "0510".into(),
                units.0,
                "1.00".into(),
                amount.0,
                "1234567893".into(),
                payer.0,
            ];
            (fields, ok)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), which in 0usize..3) {
        let profile = Profile::builtin(hearth_csv::builtin_profiles()[which]).unwrap();
        run_all(&profile, &bytes);
    }

    #[test]
    fn arbitrary_rows_after_a_good_header_never_panic(body in proptest::collection::vec(
        prop_oneof![Just(b','), Just(b'"'), Just(b'\n'), Just(b'\r'), Just(b'1'), Just(b'-'), Just(b'.'), Just(0xE9u8), any::<u8>()],
        0..800,
    )) {
        let mut bytes = format!("{HEADER}\n").into_bytes();
        bytes.extend_from_slice(&body);
        run_all(&Profile::builtin("charges").unwrap(), &bytes);
    }

    #[test]
    fn generated_rows_are_counted_and_chunks_agree(
        rows in proptest::collection::vec(charge_row(), 0..40),
        crlf in any::<bool>(),
        step in 1usize..64,
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut text = format!("{HEADER}{eol}");
        for (fields, _) in &rows {
            text.push_str(&fields.join(","));
            text.push_str(eol);
        }
        let profile = Profile::builtin("charges").unwrap();
        let converter = Converter::new(&profile);
        let mut whole = Vec::new();
        let report = converter.convert(Trickle { data: text.as_bytes(), step }, &ctx(0), |o| whole.push(o.bundle)).unwrap();
        let valid = rows.iter().filter(|r| r.1).count() as u64;
        prop_assert_eq!(report.rows_read, rows.len() as u64);
        prop_assert_eq!(report.rows_converted, valid);
        prop_assert_eq!(report.rows_rejected, rows.len() as u64 - valid);
        let mut chunked = Vec::new();
        let mut errors = Vec::new();
        for chunk in Splitter::new(&profile, Trickle { data: text.as_bytes(), step }).unwrap() {
            let chunk = chunk.unwrap();
            let r = converter.convert(chunk.raw.as_slice(), &ctx(chunk.first_line - 1), |o| chunked.push(o.bundle)).unwrap();
            errors.extend(r.errors);
        }
        prop_assert_eq!(chunked, whole);
        prop_assert_eq!(errors, report.errors);
    }
}
