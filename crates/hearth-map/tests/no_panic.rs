//! `map` never panics on a message `hearth_hl7v2::parse` accepts: corpus and fixture messages mutated by
//! proptest (bytes replaced, delimiters inserted, fields truncated or duplicated).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use hearth_hl7v2::{ParseOptions, parse};
use hearth_map::hl7v2::{BundleType, Hl7v2Mapper, MapOptions};
use proptest::prelude::*;

fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    SEEDS.get_or_init(load)
}

fn load() -> Vec<Vec<u8>> {
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/hl7v2")];
    let corpus = hearth_testkit::corpus_dir();
    dirs.push(corpus.join("hl7v2/ms-fhir-converter/samples"));
    let mut out = Vec::new();
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        let mut files: Vec<PathBuf> =
            rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "hl7")).collect();
        files.sort();
        for f in files {
            if let Ok(b) = std::fs::read(&f)
                && parse(&b, &ParseOptions::default()).is_ok()
            {
                out.push(b);
            }
        }
    }
    out
}

const PIECES: &[&[u8]] = &[
    b"|",
    b"^",
    b"~",
    b"&",
    b"\\",
    b"\\X0A\\",
    b"\"\"",
    b"20241399",
    b"2024",
    b"+9999",
    b"-",
    b".",
    b"\xc3\xa9",
    b"0",
    b"ZZZ|1",
    b"",
    b"99999999999999999999",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]
    #[test]
    fn never_panics(seed in any::<prop::sample::Index>(), edits in prop::collection::vec((any::<prop::sample::Index>(), 0..PIECES.len(), 0usize..4), 1..12), bt in 0usize..3) {
        let seeds = seeds();
        prop_assume!(!seeds.is_empty());
        let mut bytes = seeds[seed.index(seeds.len())].clone();
        for (at, piece, len) in edits {
            // Keep MSH (the first 12 bytes) intact so that many mutants still parse.
            if bytes.len() <= 12 { break; }
            let i = 12 + at.index(bytes.len() - 12);
            let end = (i + len).min(bytes.len());
            bytes.splice(i..end, PIECES[piece].iter().copied());
        }
        if let Ok(msg) = parse(&bytes, &ParseOptions::default()) {
            let opts = MapOptions {
                bundle_type: [BundleType::Transaction, BundleType::Message, BundleType::Collection][bt],
                ..MapOptions::default()
            };
            let mapper = Hl7v2Mapper::new(opts);
            if let Ok(c) = mapper.map(&msg, time::OffsetDateTime::UNIX_EPOCH) {
                prop_assert!(c.bundle["entry"].as_array().is_some_and(|e| !e.is_empty()));
            }
        }
    }
}
