//! The FHIRPath subset that Hearth's route rules use: compiled once when configuration loads,
//! evaluated over FHIR R4 JSON (`serde_json::Value`) for every message.
//!
//! This crate owns the grammar, the function table and the evaluation rules; it knows nothing about routes. A
//! syntax error, an unknown function or a bad `matches()` pattern is a [`CompileError`] carrying the byte
//! position (and line/column), so `hearth check` can point at the mistake. Standard FHIRPath features outside
//! the subset are rejected at load with [`CompileErrorKind::Unsupported`] rather than misbehaving at run time.
//! See `docs/fhirpath.md` for the subset, the semantic choices and the official test-suite results.
//!
//! ```
//! use serde_json::json;
//!
//! let rule = hearth_fhirpath::compile(
//!     "Bundle.entry.resource.ofType(Patient).where(birthDate < @2000-01-01).name.given.first() = 'Peter'",
//! )?;
//! let bundle = json!({
//!     "resourceType": "Bundle",
//!     "entry": [{ "resource": {
//!         "resourceType": "Patient",
//!         "birthDate": "1974-12-25",
//!         "name": [{ "given": ["Peter", "James"], "family": "Chalmers" }]
//!     }}]
//! });
//! assert!(rule.evaluate_bool(&bundle)?);
//!
//! let given = hearth_fhirpath::compile("Patient.name.given")?;
//! let patient = &bundle["entry"][0]["resource"];
//! assert_eq!(given.evaluate(patient)?.len(), 2);
//!
//! let err = hearth_fhirpath::compile("Patient.name.foo()").unwrap_err();
//! assert_eq!(err.position, 13);
//! assert!(err.to_string().starts_with("unknown function `foo` at 13"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod error;
mod eval;
mod lexer;
mod parser;
mod types;

#[cfg(test)]
mod tests;
mod value;

pub use error::{CompileError, CompileErrorKind, EvalError};
pub use value::{Item, Temporal};

/// Longest expression accepted, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 8 * 1024;
/// Deepest nesting accepted (parentheses, operator chains, invocation chains, function arguments).
pub const MAX_DEPTH: usize = 64;
/// Longest `matches()` pattern accepted, in bytes.
pub const MAX_REGEX_BYTES: usize = 1024;
/// Largest intermediate collection an evaluation may build.
pub const MAX_ITEMS: usize = 100_000;

/// A compiled FHIRPath expression: parse once, evaluate many times. Cheap to share (`Send + Sync`).
#[derive(Debug, Clone)]
pub struct Expression {
    source: String,
    root: parser::Expr,
}

/// Compile `expr` into an [`Expression`]; see the crate docs for the supported subset.
pub fn compile(expr: &str) -> Result<Expression, CompileError> {
    if expr.len() > MAX_EXPRESSION_BYTES {
        return Err(CompileError::new(
            "",
            CompileErrorKind::TooComplex,
            0,
            format!("expression longer than {MAX_EXPRESSION_BYTES} bytes"),
        ));
    }
    let tokens = lexer::tokenize(expr)?;
    let root = parser::parse(expr, tokens)?;
    Ok(Expression { source: expr.to_string(), root })
}

impl Expression {
    /// The expression text as compiled.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluate against `resource` (a resource or a Bundle), which is also `%resource`, `%context` and the
    /// initial `$this`. JSON primitives in the result come back as system items ([`Item::String`],
    /// [`Item::Integer`], …); objects as [`Item::Json`].
    pub fn evaluate<'a>(&self, resource: &'a serde_json::Value) -> Result<Vec<Item<'a>>, EvalError> {
        eval::run(&self.root, resource)
    }

    /// Evaluate as a routing condition. FHIRPath singleton evaluation, with empty read as `false`:
    /// empty → `false`; one boolean → its value; one item of another type → `true`; several items → error
    /// ([`EvalError::NotSingleton`]; write `exists()`, `all()` or `first()` to say what you mean).
    pub fn evaluate_bool(&self, resource: &serde_json::Value) -> Result<bool, EvalError> {
        let out = self.evaluate(resource)?;
        Ok(eval::to_bool(&out, "a route condition")?.unwrap_or(false))
    }
}

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
