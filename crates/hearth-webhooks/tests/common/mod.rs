//! Shared by the integration tests: the corpus, the schema, fixed clocks.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use hearth_fhir::schema::{R4Schema, corpus_dir};
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::datetime;

pub const NOW: OffsetDateTime = datetime!(2025-06-03 14:03:22 UTC);

/// The webhooks corpus, or `None` (said plainly) when it is absent; absent under `CI=true` fails.
pub fn webhooks_corpus() -> Option<PathBuf> {
    let dir = corpus_dir().join("webhooks");
    if dir.is_dir() {
        return Some(dir);
    }
    hearth_testkit::unavailable(
        "webhooks corpus",
        &format!("the webhooks corpus is absent at {} (set HEARTH_CORPUS)", dir.display()),
    )
}

/// HL7's R4 schema, with the same absent-corpus rule.
pub fn schema() -> Option<&'static R4Schema> {
    hearth_testkit::require("R4 schema", R4Schema::shared().map_err(|e| e.to_string()))
}

pub fn assert_valid(what: &str, bundle: &Value) {
    if let Some(Err(errs)) = schema().map(|s| s.validate(bundle)) {
        panic!("{what}: not valid R4:\n{}\n{bundle:#}", errs.join("\n"));
    }
}
