//! The crate's two error types: one for loading (compile), one for evaluation.

/// What went wrong while compiling an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CompileErrorKind {
    /// Not valid FHIRPath syntax (including unterminated strings and comments, bad literals).
    Syntax,
    /// A function name that FHIRPath does not define (`foo()`), or a wrong number of arguments.
    UnknownFunction,
    /// A standard FHIRPath feature this subset does not implement (e.g. `aggregate()`, quantities, arithmetic).
    Unsupported,
    /// A type name in `is`, `as` or `ofType()` that is neither a System type, a FHIR primitive, nor capitalised.
    UnknownType,
    /// An unknown `%variable`.
    UnknownVariable,
    /// A `matches()` pattern that is not a valid regular expression or is over the size limit.
    Regex,
    /// The expression is longer than [`crate::MAX_EXPRESSION_BYTES`] or nests deeper than [`crate::MAX_DEPTH`].
    TooComplex,
}

/// A configuration error in a FHIRPath expression, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at {position} (line {line}, column {column})")]
pub struct CompileError {
    /// The class of problem.
    pub kind: CompileErrorKind,
    /// Byte offset into the expression.
    pub position: usize,
    /// 1-based line of `position`.
    pub line: usize,
    /// 1-based column (in characters) of `position`.
    pub column: usize,
    /// Human-readable description, without the position.
    pub message: String,
}

impl CompileError {
    pub(crate) fn new(src: &str, kind: CompileErrorKind, position: usize, message: impl Into<String>) -> Self {
        let before = src.get(..position).unwrap_or(src);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        Self { kind, position, line, column, message: message.into() }
    }
}

/// An error while evaluating a compiled expression against a resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// An operator or function needed a single item and got several.
    #[error("{what} expects a single item, got {count}")]
    NotSingleton {
        /// The operator or function.
        what: String,
        /// How many items it got.
        count: usize,
    },
    /// Operand types that the operator or function cannot combine.
    #[error("{0}")]
    Type(String),
    /// A `matches()` pattern computed at run time that is not a valid, bounded regular expression.
    #[error("invalid regular expression: {0}")]
    Regex(String),
    /// The result grew beyond [`crate::MAX_ITEMS`] items.
    #[error("result larger than {0} items")]
    TooLarge(usize),
}
