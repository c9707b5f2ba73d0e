//! Every Bundle the mapper makes from the corpus and the golden fixtures passes fhirbolt's strict reading, takes
//! `hearth_fhir::bundle_to_json`'s element-order writer (no fhirbolt on the hot path) and its fast path, and each
//! gives the same bytes as the reference (whole-Bundle) reading: the engine's output did not change when they came in. Corpus location: `HEARTH_CORPUS`, else `<workspace>/../shared/corpus`; absent → panic
//! under `CI=true`, else only the fixtures are checked, and a line says so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use hearth_hl7v2::{ParseOptions, parse, split_batch};
use hearth_map::hl7v2::{Hl7v2Mapper, MapOptions};

fn hl7_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "hl7"))
        .collect();
    files.sort();
    files
}

#[test]
fn mapped_bundles_take_the_fast_path_with_the_same_bytes() {
    let mut files = hl7_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/hl7v2"));
    let corpus = hearth_fhir::schema::corpus_dir().join("hl7v2/ms-fhir-converter/samples");
    if corpus.is_dir() {
        files.extend(hl7_files(&corpus));
    } else {
        // Fixtures only; under CI=true the corpus is required.
        let _: Option<()> = hearth_testkit::unavailable(
            "mapped_bundles_take_the_fast_path_with_the_same_bytes (corpus samples)",
            &format!("corpus not found at {} (set HEARTH_CORPUS)", corpus.display()),
        );
    }
    let mapper = Hl7v2Mapper::new(MapOptions::default());
    let now = time::macros::datetime!(2025-01-01 00:00:00 UTC);
    let mut checked = 0;
    let mut refused = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let Ok(batch) = split_batch(&bytes) else { continue };
        for m in batch.message_bytes(&bytes) {
            let Ok(msg) = parse(m, &ParseOptions::default()) else { continue };
            let Ok(c) = mapper.map(&msg, now) else { continue };
            // The reference reading is fhirbolt's strict check: every mapped Bundle passes it.
            let reference = hearth_fhir::bundle_to_json_reference(&c.bundle).unwrap();
            // What the engine and `hearth convert` run: the element-order writer, with fhirbolt's bytes.
            match hearth_fhir::bundle_to_json_ordered(&c.bundle) {
                Some(ordered) => assert_eq!(ordered, reference, "{}: element-order writer differs", f.display()),
                None => refused.push(f.display().to_string()),
            }
            let pretty = hearth_fhir::bundle_to_json_pretty(&c.bundle).unwrap();
            assert_eq!(pretty, hearth_fhir::bundle_to_json_pretty_reference(&c.bundle).unwrap(), "{}", f.display());
            let fast = hearth_fhir::bundle_to_json_fast(&c.bundle);
            assert_eq!(fast.as_ref(), Some(&reference), "{}: fast path refused or differs", f.display());
            assert_eq!(hearth_fhir::bundle_to_json(&c.bundle).unwrap(), reference, "{}", f.display());
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} Bundles checked");
    // The writer must do the work: a refusal costs fhirbolt's reading (same bytes, the old price).
    eprintln!("element-order writer refused {} of {checked}: {refused:?}", refused.len());
    assert!(refused.len() * 20 <= checked, "the element-order writer refused {} of {checked}", refused.len());
}
