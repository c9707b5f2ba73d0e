//! Where the shared test corpus lives; used by the corpus tests and by `benches/parse.rs`.
//!
//! `$HEARTH_CORPUS` (a relative path is taken from the workspace root), else `../shared/corpus`
//! beside the workspace root.

#![allow(dead_code)] // Each includer uses a different subset.

use std::path::PathBuf;

/// The corpus root.
pub fn corpus_root() -> PathBuf {
    hearth_testkit::corpus_dir()
}

/// The HL7 v2 samples directory inside the corpus.
pub fn hl7v2_samples_dir() -> PathBuf {
    corpus_root().join("hl7v2/ms-fhir-converter/samples")
}

/// Every `.hl7` sample as (file name, bytes), sorted by name; `Err` says why when absent.
pub fn load_hl7v2_samples() -> Result<Vec<(String, Vec<u8>)>, String> {
    let dir = hl7v2_samples_dir();
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut samples = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_some_and(|e| e == "hl7") {
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            samples.push((name, bytes));
        }
    }
    samples.sort();
    Ok(samples)
}

/// For tests: the samples, or `None` after a clear line on stderr. Under `CI=true` an absent
/// corpus fails the test instead: CI must never skip silently.
pub fn hl7v2_samples_or_skip(test: &str) -> Option<Vec<(String, Vec<u8>)>> {
    hearth_testkit::require(
        test,
        load_hl7v2_samples().map_err(|why| format!("corpus absent ({why}); set HEARTH_CORPUS")),
    )
}
