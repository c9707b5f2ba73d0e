//! Precedence-climbing parser: tokens → [`Expr`] tree, with functions resolved and regexes compiled.
//!
//! Longer than the usual 500 lines on purpose: the grammar (precedence table, terms, function arity and
//! argument checks) is one recursive-descent unit that reads top to bottom.

use crate::error::{CompileError, CompileErrorKind};
use crate::lexer::{Tok, Token};
use crate::types::TypeSpec;
use crate::value::Temporal;
use crate::{MAX_DEPTH, MAX_REGEX_BYTES};

#[derive(Debug, Clone)]
pub(crate) struct Expr {
    pub kind: Kind,
    pub depth: usize,
}

#[derive(Debug, Clone)]
pub(crate) enum Lit {
    Empty,
    Bool(bool),
    Int(i64),
    Dec(f64),
    Str(String),
    Date(Temporal),
    DateTime(Temporal),
    Time(Temporal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Var {
    Resource,
    Context,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Union,
    In,
    Contains,
    And,
    Or,
    Xor,
    Implies,
    Equiv,
    NotEquiv,
    Add,
    Sub,
    Mul,
    Div,
    IntDiv,
    Mod,
    Concat,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Lit(Lit),
    This,
    Var(Var),
    /// `base.name`, or `name` on `$this` when `base` is `None`.
    Member(Option<Box<Expr>>, String),
    Call(Option<Box<Expr>>, Func, Vec<Expr>),
    Index(Box<Expr>, Box<Expr>),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Is(Box<Expr>, TypeSpec),
    As(Box<Expr>, TypeSpec),
}

#[derive(Debug, Clone)]
pub(crate) enum Func {
    Where,
    Select,
    Exists,
    All,
    Empty,
    First,
    Last,
    Tail,
    Skip,
    Take,
    Single,
    Count,
    Distinct,
    OfType(TypeSpec),
    Is(TypeSpec),
    As(TypeSpec),
    Not,
    HasValue,
    Iif,
    Lower,
    Upper,
    Length,
    StartsWith,
    EndsWith,
    Contains,
    Substring,
    /// The pattern, compiled at load when it is a string literal.
    Matches(Option<regex::Regex>),
    MatchesFull(Option<regex::Regex>),
    AllTrue,
    AnyTrue,
    AllFalse,
    AnyFalse,
    ToString,
    Union,
    Combine,
    Children,
    ToInteger,
    ConvertsToInteger,
    ToDecimal,
    ConvertsToDecimal,
    ToBoolean,
    ConvertsToBoolean,
    ConvertsToString,
    ToDate,
    ConvertsToDate,
    ToDateTime,
    ConvertsToDateTime,
    ToTime,
    ConvertsToTime,
    Abs,
    Ceiling,
    Floor,
    Truncate,
    Round,
    Sqrt,
    Exp,
    Ln,
    Log,
    Power,
    /// The pattern, compiled at load when it is a string literal.
    ReplaceMatches(Option<regex::Regex>),
    IndexOf,
    LastIndexOf,
    Trim,
    Replace,
    Split,
    Join,
    ToChars,
    Exclude,
    Intersect,
    SubsetOf,
    SupersetOf,
    IsDistinct,
    Extension,
    Descendants,
    Repeat,
    Trace,
}

/// (name, min args, max args)
const FUNCTIONS: &[(&str, usize, usize)] = &[
    ("where", 1, 1),
    ("select", 1, 1),
    ("exists", 0, 1),
    ("all", 1, 1),
    ("empty", 0, 0),
    ("first", 0, 0),
    ("last", 0, 0),
    ("tail", 0, 0),
    ("skip", 1, 1),
    ("take", 1, 1),
    ("single", 0, 0),
    ("count", 0, 0),
    ("distinct", 0, 0),
    ("ofType", 1, 1),
    ("is", 1, 1),
    ("as", 1, 1),
    ("not", 0, 0),
    ("hasValue", 0, 0),
    ("iif", 2, 3),
    ("lower", 0, 0),
    ("upper", 0, 0),
    ("length", 0, 0),
    ("startsWith", 1, 1),
    ("endsWith", 1, 1),
    ("contains", 1, 1),
    ("substring", 1, 2),
    ("matches", 1, 1),
    ("matchesFull", 1, 1),
    ("allTrue", 0, 0),
    ("anyTrue", 0, 0),
    ("allFalse", 0, 0),
    ("anyFalse", 0, 0),
    ("toString", 0, 0),
    ("union", 1, 1),
    ("combine", 1, 1),
    ("children", 0, 0),
    ("toInteger", 0, 0),
    ("convertsToInteger", 0, 0),
    ("toDecimal", 0, 0),
    ("convertsToDecimal", 0, 0),
    ("toBoolean", 0, 0),
    ("convertsToBoolean", 0, 0),
    ("convertsToString", 0, 0),
    ("toDate", 0, 0),
    ("convertsToDate", 0, 0),
    ("toDateTime", 0, 0),
    ("convertsToDateTime", 0, 0),
    ("toTime", 0, 0),
    ("convertsToTime", 0, 0),
    ("indexOf", 1, 1),
    ("lastIndexOf", 1, 1),
    ("trim", 0, 0),
    ("replace", 2, 2),
    ("split", 1, 1),
    ("join", 0, 1),
    ("toChars", 0, 0),
    ("exclude", 1, 1),
    ("intersect", 1, 1),
    ("subsetOf", 1, 1),
    ("supersetOf", 1, 1),
    ("isDistinct", 0, 0),
    ("extension", 1, 1),
    ("descendants", 0, 0),
    ("repeat", 1, 1),
    ("trace", 1, 2),
    ("abs", 0, 0),
    ("ceiling", 0, 0),
    ("floor", 0, 0),
    ("truncate", 0, 0),
    ("round", 0, 1),
    ("sqrt", 0, 0),
    ("exp", 0, 0),
    ("ln", 0, 0),
    ("log", 1, 1),
    ("power", 1, 1),
    ("replaceMatches", 2, 2),
];

/// Standard FHIRPath (and FHIR-specific) functions outside the subset: a compile error of kind
/// [`CompileErrorKind::Unsupported`], so a configuration author learns it is real FHIRPath, just not here.
const UNSUPPORTED_FUNCTIONS: &[&str] = &[
    "repeatAll",
    "aggregate",
    "today",
    "now",
    "timeOfDay",
    "convertsToQuantity",
    "toQuantity",
    "encode",
    "decode",
    "escape",
    "unescape",
    "sort",
    "resolve",
    "memberOf",
    "conformsTo",
    "htmlChecks",
    "getValue",
    "type",
    "subsumes",
    "subsumedBy",
    "comparable",
    "lowBoundary",
    "highBoundary",
    "precision",
    "elementDefinition",
    "slice",
    "checkModifiers",
    "defineVariable",
    "yearOf",
    "monthOf",
    "dayOf",
    "hourOf",
    "minuteOf",
    "secondOf",
    "millisecondOf",
    "timezoneOffsetOf",
    "dateOf",
    "timeOf",
    "coalesce",
    "sum",
    "min",
    "max",
    "avg",
];

pub(crate) fn parse(src: &str, tokens: Vec<Token>) -> Result<Expr, CompileError> {
    let mut p = Parser { src, tokens, i: 0, nesting: 0 };
    let e = p.expr(0)?;
    let t = p.peek();
    if t.tok != Tok::Eof {
        return Err(p.err_at(t.pos, "unexpected token after the end of the expression"));
    }
    Ok(e)
}

struct Parser<'s> {
    src: &'s str,
    tokens: Vec<Token>,
    i: usize,
    nesting: usize,
}

fn children(kind: &Kind) -> usize {
    let d = |e: &Expr| e.depth;
    let o = |e: &Option<Box<Expr>>| e.as_ref().map_or(0, |e| e.depth);
    match kind {
        Kind::Lit(_) | Kind::This | Kind::Var(_) => 0,
        Kind::Member(b, _) => o(b),
        Kind::Call(b, _, args) => args.iter().map(d).max().unwrap_or(0).max(o(b)),
        Kind::Index(a, b) | Kind::Bin(_, a, b) => d(a).max(d(b)),
        Kind::Neg(a) | Kind::Is(a, _) | Kind::As(a, _) => d(a),
    }
}

impl Parser<'_> {
    fn peek(&self) -> Token {
        self.tokens.get(self.i).cloned().unwrap_or(Token { tok: Tok::Eof, pos: self.src.len() })
    }

    fn next(&mut self) -> Token {
        let t = self.peek();
        self.i += 1;
        t
    }

    fn err_at(&self, pos: usize, msg: impl Into<String>) -> CompileError {
        CompileError::new(self.src, CompileErrorKind::Syntax, pos, msg)
    }

    fn err_kind(&self, kind: CompileErrorKind, pos: usize, msg: impl Into<String>) -> CompileError {
        CompileError::new(self.src, kind, pos, msg)
    }

    fn mk(&self, kind: Kind, pos: usize) -> Result<Expr, CompileError> {
        let depth = children(&kind) + 1;
        if depth > MAX_DEPTH {
            return Err(self.err_kind(
                CompileErrorKind::TooComplex,
                pos,
                format!("expression nests deeper than {MAX_DEPTH}"),
            ));
        }
        Ok(Expr { kind, depth })
    }

    fn expect(&mut self, want: &Tok, what: &str) -> Result<(), CompileError> {
        let t = self.next();
        if &t.tok == want { Ok(()) } else { Err(self.err_at(t.pos, format!("expected {what}"))) }
    }

    /// The binary operator at the cursor and its binding power.
    fn binop(&self) -> Option<(&'static str, u8)> {
        let t = self.peek();
        let op: &'static str = match &t.tok {
            Tok::Op(op) => op,
            Tok::Ident(id) => match id.as_str() {
                "and" => "and",
                "or" => "or",
                "xor" => "xor",
                "implies" => "implies",
                "in" => "in",
                "contains" => "contains",
                "is" => "is",
                "as" => "as",
                "div" => "div",
                "mod" => "mod",
                _ => return None,
            },
            _ => return None,
        };
        let bp = match op {
            "implies" => 1,
            "or" | "xor" => 2,
            "and" => 3,
            "in" | "contains" => 4,
            "=" | "~" | "!=" | "!~" => 5,
            "<" | ">" | "<=" | ">=" => 6,
            "|" => 7,
            "is" | "as" => 8,
            "+" | "-" | "&" => 9,
            _ => 10, // * / div mod
        };
        Some((op, bp))
    }

    /// Count one level of parser recursion; refuse past [`MAX_DEPTH`] so hostile input cannot exhaust the stack.
    fn enter(&mut self) -> Result<(), CompileError> {
        self.nesting += 1;
        if self.nesting > MAX_DEPTH {
            let pos = self.peek().pos;
            return Err(self.err_kind(
                CompileErrorKind::TooComplex,
                pos,
                format!("expression nests deeper than {MAX_DEPTH}"),
            ));
        }
        Ok(())
    }

    fn expr(&mut self, min_bp: u8) -> Result<Expr, CompileError> {
        self.enter()?;
        let mut lhs = self.unary()?;
        while let Some((op, bp)) = self.binop() {
            if bp < min_bp {
                break;
            }
            let op_pos = self.next().pos;
            lhs = match op {
                "is" | "as" => {
                    let ts = self.type_spec()?;
                    let kind = if op == "is" { Kind::Is(Box::new(lhs), ts) } else { Kind::As(Box::new(lhs), ts) };
                    self.mk(kind, op_pos)?
                }
                _ => {
                    let rhs = self.expr(bp + 1)?;
                    let bin = match op {
                        "=" => BinOp::Eq,
                        "!=" => BinOp::Ne,
                        "<" => BinOp::Lt,
                        ">" => BinOp::Gt,
                        "<=" => BinOp::Le,
                        ">=" => BinOp::Ge,
                        "|" => BinOp::Union,
                        "in" => BinOp::In,
                        "contains" => BinOp::Contains,
                        "and" => BinOp::And,
                        "or" => BinOp::Or,
                        "xor" => BinOp::Xor,
                        "implies" => BinOp::Implies,
                        "~" => BinOp::Equiv,
                        "!~" => BinOp::NotEquiv,
                        "+" => BinOp::Add,
                        "-" => BinOp::Sub,
                        "*" => BinOp::Mul,
                        "/" => BinOp::Div,
                        "div" => BinOp::IntDiv,
                        "mod" => BinOp::Mod,
                        _ => BinOp::Concat,
                    };
                    self.mk(Kind::Bin(bin, Box::new(lhs), Box::new(rhs)), op_pos)?
                }
            };
        }
        self.nesting -= 1;
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, CompileError> {
        let t = self.peek();
        match t.tok {
            Tok::Op("-") => {
                self.next();
                self.enter()?;
                let inner = self.unary()?;
                self.nesting -= 1;
                match inner.kind {
                    Kind::Lit(Lit::Int(i)) => self.mk(Kind::Lit(Lit::Int(-i)), t.pos),
                    Kind::Lit(Lit::Dec(d)) => self.mk(Kind::Lit(Lit::Dec(-d)), t.pos),
                    _ => self.mk(Kind::Neg(Box::new(inner)), t.pos),
                }
            }
            Tok::Op("+") => {
                self.next();
                self.enter()?;
                let inner = self.unary()?;
                self.nesting -= 1;
                Ok(inner)
            }
            _ => self.postfix(),
        }
    }

    fn postfix(&mut self) -> Result<Expr, CompileError> {
        let mut e = self.term()?;
        loop {
            let t = self.peek();
            match t.tok {
                Tok::Dot => {
                    self.next();
                    let name_tok = self.next();
                    let name = match name_tok.tok {
                        Tok::Ident(s) | Tok::Delimited(s) => s,
                        _ => return Err(self.err_at(name_tok.pos, "expected a name after `.`")),
                    };
                    e = self.invocation(Some(e), name, name_tok.pos)?;
                }
                Tok::LBracket => {
                    self.next();
                    let idx = self.expr(0)?;
                    self.expect(&Tok::RBracket, "`]`")?;
                    e = self.mk(Kind::Index(Box::new(e), Box::new(idx)), t.pos)?;
                }
                _ => return Ok(e),
            }
        }
    }

    /// `name` or `name(args)` applied to `base` (or to `$this`).
    fn invocation(&mut self, base: Option<Expr>, name: String, pos: usize) -> Result<Expr, CompileError> {
        let base = base.map(Box::new);
        if self.peek().tok != Tok::LParen {
            return self.mk(Kind::Member(base, name), pos);
        }
        self.next();
        let mut args = Vec::new();
        if self.peek().tok != Tok::RParen {
            loop {
                args.push(self.expr(0)?);
                let t = self.next();
                match t.tok {
                    Tok::Comma => {}
                    Tok::RParen => break,
                    _ => return Err(self.err_at(t.pos, "expected `,` or `)` in argument list")),
                }
            }
        } else {
            self.next();
        }
        let func = self.resolve(&name, &mut args, pos)?;
        self.mk(Kind::Call(base, func, args), pos)
    }

    fn resolve(&self, name: &str, args: &mut Vec<Expr>, pos: usize) -> Result<Func, CompileError> {
        let Some(&(_, min, max)) = FUNCTIONS.iter().find(|(n, _, _)| *n == name) else {
            let kind = if UNSUPPORTED_FUNCTIONS.contains(&name) {
                CompileErrorKind::Unsupported
            } else {
                CompileErrorKind::UnknownFunction
            };
            let msg = if kind == CompileErrorKind::Unsupported {
                format!("function `{name}` is not in the supported FHIRPath subset")
            } else {
                format!("unknown function `{name}`")
            };
            return Err(self.err_kind(kind, pos, msg));
        };
        if args.len() < min || args.len() > max {
            let want = if min == max { format!("{min}") } else { format!("{min} to {max}") };
            return Err(self.err_kind(
                CompileErrorKind::UnknownFunction,
                pos,
                format!("function `{name}` takes {want} argument(s), got {}", args.len()),
            ));
        }
        let type_arg = |args: &mut Vec<Expr>| -> Result<TypeSpec, CompileError> {
            let arg = args.pop();
            let ts = arg
                .as_ref()
                .and_then(type_of_expr)
                .ok_or_else(|| self.err_at(pos, format!("`{name}` expects a type name")))?;
            ts.check().map_err(|m| self.err_kind(CompileErrorKind::UnknownType, pos, m))?;
            Ok(ts)
        };
        Ok(match name {
            "where" => Func::Where,
            "select" => Func::Select,
            "exists" => Func::Exists,
            "all" => Func::All,
            "empty" => Func::Empty,
            "first" => Func::First,
            "last" => Func::Last,
            "tail" => Func::Tail,
            "skip" => Func::Skip,
            "take" => Func::Take,
            "single" => Func::Single,
            "count" => Func::Count,
            "distinct" => Func::Distinct,
            "ofType" => Func::OfType(type_arg(args)?),
            "is" => Func::Is(type_arg(args)?),
            "as" => Func::As(type_arg(args)?),
            "not" => Func::Not,
            "hasValue" => Func::HasValue,
            "iif" => Func::Iif,
            "lower" => Func::Lower,
            "upper" => Func::Upper,
            "length" => Func::Length,
            "startsWith" => Func::StartsWith,
            "endsWith" => Func::EndsWith,
            "contains" => Func::Contains,
            "substring" => Func::Substring,
            "matches" => Func::Matches(self.literal_regex(args, false, pos)?),
            "matchesFull" => Func::MatchesFull(self.literal_regex(args, true, pos)?),
            "allTrue" => Func::AllTrue,
            "anyTrue" => Func::AnyTrue,
            "allFalse" => Func::AllFalse,
            "anyFalse" => Func::AnyFalse,
            "toString" => Func::ToString,
            "union" => Func::Union,
            "combine" => Func::Combine,
            "toInteger" => Func::ToInteger,
            "convertsToInteger" => Func::ConvertsToInteger,
            "toDecimal" => Func::ToDecimal,
            "convertsToDecimal" => Func::ConvertsToDecimal,
            "toBoolean" => Func::ToBoolean,
            "convertsToBoolean" => Func::ConvertsToBoolean,
            "convertsToString" => Func::ConvertsToString,
            "toDate" => Func::ToDate,
            "convertsToDate" => Func::ConvertsToDate,
            "toDateTime" => Func::ToDateTime,
            "convertsToDateTime" => Func::ConvertsToDateTime,
            "toTime" => Func::ToTime,
            "convertsToTime" => Func::ConvertsToTime,
            "indexOf" => Func::IndexOf,
            "lastIndexOf" => Func::LastIndexOf,
            "trim" => Func::Trim,
            "replace" => Func::Replace,
            "split" => Func::Split,
            "join" => Func::Join,
            "toChars" => Func::ToChars,
            "exclude" => Func::Exclude,
            "intersect" => Func::Intersect,
            "subsetOf" => Func::SubsetOf,
            "supersetOf" => Func::SupersetOf,
            "isDistinct" => Func::IsDistinct,
            "extension" => Func::Extension,
            "descendants" => Func::Descendants,
            "repeat" => Func::Repeat,
            "trace" => Func::Trace,
            "abs" => Func::Abs,
            "ceiling" => Func::Ceiling,
            "floor" => Func::Floor,
            "truncate" => Func::Truncate,
            "round" => Func::Round,
            "sqrt" => Func::Sqrt,
            "exp" => Func::Exp,
            "ln" => Func::Ln,
            "log" => Func::Log,
            "power" => Func::Power,
            "replaceMatches" => Func::ReplaceMatches(self.literal_regex(args, false, pos)?),
            _ => Func::Children,
        })
    }

    fn literal_regex(&self, args: &[Expr], full: bool, pos: usize) -> Result<Option<regex::Regex>, CompileError> {
        match args.first().map(|a| &a.kind) {
            Some(Kind::Lit(Lit::Str(p))) => {
                build_regex(p, full).map(Some).map_err(|m| self.err_kind(CompileErrorKind::Regex, pos, m))
            }
            _ => Ok(None),
        }
    }

    fn type_spec(&mut self) -> Result<TypeSpec, CompileError> {
        let t = self.next();
        let first = match t.tok {
            Tok::Ident(s) | Tok::Delimited(s) => s,
            _ => return Err(self.err_at(t.pos, "expected a type name")),
        };
        let ts = if self.peek().tok == Tok::Dot {
            self.next();
            let t2 = self.next();
            match t2.tok {
                Tok::Ident(s) | Tok::Delimited(s) => TypeSpec { namespace: Some(first), name: s },
                _ => return Err(self.err_at(t2.pos, "expected a type name after `.`")),
            }
        } else {
            TypeSpec { namespace: None, name: first }
        };
        ts.check().map_err(|m| self.err_kind(CompileErrorKind::UnknownType, t.pos, m))?;
        Ok(ts)
    }

    fn term(&mut self) -> Result<Expr, CompileError> {
        let t = self.next();
        let lit = |l| Kind::Lit(l);
        let kind = match t.tok {
            Tok::Str(s) => lit(Lit::Str(s)),
            Tok::Int(i) => return self.maybe_quantity(lit(Lit::Int(i)), t.pos),
            Tok::Dec(d) => return self.maybe_quantity(lit(Lit::Dec(d)), t.pos),
            Tok::Temporal(s) => lit(self.temporal(&s, t.pos)?),
            Tok::LBrace => {
                self.expect(&Tok::RBrace, "`}` (only the empty collection `{}` is a literal)")?;
                lit(Lit::Empty)
            }
            Tok::LParen => {
                let e = self.expr(0)?;
                self.expect(&Tok::RParen, "`)`")?;
                return Ok(e);
            }
            Tok::Env(name) => match name.as_str() {
                "resource" | "rootResource" => Kind::Var(Var::Resource),
                "context" => Kind::Var(Var::Context),
                _ => {
                    return Err(self.err_kind(
                        CompileErrorKind::UnknownVariable,
                        t.pos,
                        format!("unknown variable `%{name}` (supported: %resource, %context)"),
                    ));
                }
            },
            Tok::Dollar(name) => match name.as_str() {
                "this" => Kind::This,
                "index" | "total" => {
                    let msg = format!("`${name}` is not in the supported FHIRPath subset");
                    return Err(self.err_kind(CompileErrorKind::Unsupported, t.pos, msg));
                }
                _ => return Err(self.err_at(t.pos, format!("unknown `${name}`"))),
            },
            Tok::Ident(name) => match name.as_str() {
                "true" => lit(Lit::Bool(true)),
                "false" => lit(Lit::Bool(false)),
                _ => return self.invocation(None, name, t.pos),
            },
            Tok::Delimited(name) => return self.invocation(None, name, t.pos),
            Tok::Eof => return Err(self.err_at(t.pos, "unexpected end of expression")),
            _ => return Err(self.err_at(t.pos, "expected an expression")),
        };
        self.mk(kind, t.pos)
    }

    /// A number followed by a unit string or calendar keyword is a quantity literal: out of the subset.
    fn maybe_quantity(&mut self, kind: Kind, pos: usize) -> Result<Expr, CompileError> {
        let unit = match self.peek().tok {
            Tok::Str(_) => true,
            Tok::Ident(ref s) => matches!(
                s.trim_end_matches('s'),
                "year" | "month" | "week" | "day" | "hour" | "minute" | "second" | "millisecond"
            ),
            _ => false,
        };
        if unit {
            return Err(self.err_kind(
                CompileErrorKind::Unsupported,
                pos,
                "quantity literals are not in the supported FHIRPath subset",
            ));
        }
        self.mk(kind, pos)
    }

    fn temporal(&self, s: &str, pos: usize) -> Result<Lit, CompileError> {
        let bad = || self.err_at(pos, format!("invalid date/time literal `@{s}`"));
        if let Some(time) = s.strip_prefix('T') {
            return Temporal::parse_time(time).map(Lit::Time).ok_or_else(bad);
        }
        let t = Temporal::parse_date_time(s.trim_end_matches('T')).ok_or_else(bad)?;
        Ok(if s.contains('T') { Lit::DateTime(t) } else { Lit::Date(t) })
    }
}

/// `Name` or `NS.Name` written as an argument expression (for `ofType(Quantity)`, `is(FHIR.string)`).
fn type_of_expr(e: &Expr) -> Option<TypeSpec> {
    match &e.kind {
        Kind::Member(None, name) => Some(TypeSpec { namespace: None, name: name.clone() }),
        Kind::Member(Some(base), name) => match &base.kind {
            Kind::Member(None, ns) => Some(TypeSpec { namespace: Some(ns.clone()), name: name.clone() }),
            _ => None,
        },
        _ => None,
    }
}

pub(crate) fn build_regex(pattern: &str, full: bool) -> Result<regex::Regex, String> {
    if pattern.len() > MAX_REGEX_BYTES {
        return Err(format!("regular expression longer than {MAX_REGEX_BYTES} bytes"));
    }
    let pat = if full { format!("^(?:{pattern})$") } else { pattern.to_string() };
    regex::RegexBuilder::new(&pat)
        .dot_matches_new_line(true)
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 20)
        .build()
        .map_err(|e| format!("invalid regular expression: {e}"))
}
