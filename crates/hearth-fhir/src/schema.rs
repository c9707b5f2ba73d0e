//! Validation against HL7's official FHIR R4 JSON schema (`fhir.r4.schema.json`), for tests and tools.
//!
//! The schema checks more than fhirbolt's model does (string patterns of primitives: dates, ids, codes, uris;
//! `const` resource types), still not terminology bindings or invariants. Errors carry the JSON pointer of the
//! failing instance, e.g. `/entry/0/resource/birthDate: "1980-13-01" does not match "^..."`.
//!
//! The schema is not part of Hearth (it lives in the shared corpus): [`schema_path`] finds it through
//! `HEARTH_CORPUS`, else `<workspace>/../shared/corpus`.
//!
//! ```no_run
//! let schema = hearth_fhir::schema::R4Schema::shared().unwrap();
//! schema.validate(&serde_json::json!({"resourceType": "Patient", "gender": "female"})).unwrap();
//! ```

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, ValidationError, Validator};
use serde_json::Value;

/// Why the schema could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not JSON: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("{path}: not a usable JSON schema: {reason}")]
    Compile { path: PathBuf, reason: String },
    #[error(
        "the FHIR R4 JSON schema was not found at {0} (set HEARTH_CORPUS to the corpus directory, which holds \
         fhir/fhir.r4.schema.json)"
    )]
    NotFound(PathBuf),
}

/// The compiled R4 schema. Compiling takes a while (the schema is 3 MB): build it once, share it.
pub struct R4Schema {
    validator: Validator,
}

impl std::fmt::Debug for R4Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("R4Schema").finish_non_exhaustive()
    }
}

/// Most errors one validation reports: a broken mapping tends to repeat the same mistake in every entry.
const MAX_ERRORS: usize = 50;

impl R4Schema {
    /// Loads and compiles the schema file.
    pub fn load(path: &Path) -> Result<Self, SchemaError> {
        let text = std::fs::read_to_string(path).map_err(|source| SchemaError::Io { path: path.into(), source })?;
        let schema: Value =
            serde_json::from_str(&text).map_err(|source| SchemaError::Json { path: path.into(), source })?;
        let validator = jsonschema::options()
            .with_draft(Draft::Draft6)
            .build(&schema)
            .map_err(|e| SchemaError::Compile { path: path.into(), reason: e.to_string() })?;
        Ok(R4Schema { validator })
    }

    /// The corpus schema ([`schema_path`]), compiled once per process.
    pub fn shared() -> Result<&'static R4Schema, String> {
        static SHARED: OnceLock<Result<R4Schema, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let path = schema_path();
                if !path.is_file() {
                    return Err(SchemaError::NotFound(path).to_string());
                }
                R4Schema::load(&path).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Validates a resource (a Bundle or any other). Each error is `<instance path>: <reason>`; where the schema
    /// says "not valid under any of the resource types" the error of the resource's own type is reported
    /// instead, so the path reaches the element at fault.
    pub fn validate(&self, v: &Value) -> Result<(), Vec<String>> {
        if self.validator.is_valid(v) {
            return Ok(());
        }
        let mut out = Vec::new();
        for e in self.validator.iter_errors(v) {
            explain(&e, &mut out);
            if out.len() >= MAX_ERRORS {
                break;
            }
        }
        out.truncate(MAX_ERRORS);
        if out.is_empty() {
            out.push("/: invalid (no detail from the validator)".to_owned());
        }
        Err(out)
    }
}

/// Flattens an error: for a `oneOf` over resource types, descends into the alternative for the instance's own
/// `resourceType` (the one whose errors are not about `resourceType` itself).
fn explain(e: &ValidationError<'_>, out: &mut Vec<String>) {
    if let ValidationErrorKind::OneOfNotValid { context } = e.kind() {
        let own: Vec<&Vec<ValidationError<'static>>> = context
            .iter()
            .filter(|alt| !alt.iter().any(|a| a.instance_path().as_str().ends_with("/resourceType")))
            .collect();
        if own.len() == 1 {
            for inner in own[0] {
                explain(inner, out);
            }
            return;
        }
        if own.is_empty() {
            let found = e.instance().get("resourceType").map(ToString::to_string).unwrap_or_default();
            out.push(format!("{}/resourceType: not an R4 resource type: {found}", e.instance_path()));
            return;
        }
    }
    let mut reason = e.to_string();
    if reason.chars().count() > 300 {
        reason = reason.chars().take(300).collect::<String>() + "...";
    }
    let path = e.instance_path().as_str();
    out.push(format!("{}: {reason}", if path.is_empty() { "/" } else { path }));
}

/// The corpus directory: `HEARTH_CORPUS`, else `<workspace>/../shared/corpus`.
pub fn corpus_dir() -> PathBuf {
    match std::env::var_os("HEARTH_CORPUS") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
    }
}

/// Where the R4 JSON schema should be: `<corpus>/fhir/fhir.r4.schema.json`.
pub fn schema_path() -> PathBuf {
    corpus_dir().join("fhir").join("fhir.r4.schema.json")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The schema is third-party data: without it, skip, except under CI where it must be there.
    fn schema() -> Option<&'static R4Schema> {
        hearth_testkit::require("R4 schema", R4Schema::shared().map_err(|e| e.to_string()))
    }

    #[test]
    fn valid_and_invalid_resource() {
        let Some(s) = schema() else { return };
        s.validate(&json!({"resourceType": "Patient", "gender": "female", "birthDate": "1980-02-29"})).unwrap();
        let errs = s.validate(&json!({"resourceType": "Patient", "birthDate": "29.02.1980"})).unwrap_err();
        assert!(errs.iter().any(|e| e.starts_with("/birthDate:")), "{errs:?}");
        let errs = s.validate(&json!({"resourceType": "NoSuchThing"})).unwrap_err();
        assert!(errs[0].contains("resourceType"), "{errs:?}");
    }

    #[test]
    fn valid_and_invalid_bundle() {
        let Some(s) = schema() else { return };
        let mut b = json!({
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient", "gender": "female"}},
                {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                              "valueQuantity": {"value": 1.50}}}
            ]
        });
        s.validate(&b).unwrap();
        b["entry"][1]["resource"]["unknownElement"] = json!(true);
        b["entry"][0]["resource"]["gender"] = json!("fe male");
        let errs = s.validate(&b).unwrap_err();
        assert!(errs.iter().any(|e| e.starts_with("/entry/0/resource/gender:")), "{errs:?}");
        assert!(errs.iter().any(|e| e.starts_with("/entry/1/resource:") && e.contains("unknownElement")), "{errs:?}");
    }

    #[test]
    fn missing_file() {
        let e = R4Schema::load(Path::new("/nonexistent/fhir.r4.schema.json")).unwrap_err();
        assert!(matches!(e, SchemaError::Io { .. }));
    }
}
