//! Evaluation of a compiled [`Expr`] over FHIR JSON.
//!
//! Longer than the usual 500 lines on purpose: one `match` per operator and function of the supported FHIRPath
//! subset, with the collection semantics they share; split, the dispatch would be spread over files without a seam.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;

use crate::MAX_ITEMS;
use crate::error::EvalError;
use crate::parser::{BinOp, Expr, Func, Kind, Lit, Var, build_regex};
use crate::types::{CHOICE_TYPES, TypeSpec, fhir_type_of_suffix};
use crate::value::{Cmp, Item, compare, equal};

type Coll<'a> = Vec<Item<'a>>;

/// Largest string `replace()`/`replaceMatches()` may build.
const MAX_STRING_BYTES: usize = 1 << 20;
type Res<'a> = Result<Coll<'a>, EvalError>;

pub(crate) struct Ctx<'a> {
    pub resource: &'a Value,
}

fn root(v: &Value) -> Item<'_> {
    let type_name = v.get("resourceType").and_then(Value::as_str);
    Item::Json { value: v, type_name }
}

pub(crate) fn run<'a>(e: &Expr, resource: &'a Value) -> Res<'a> {
    let ctx = Ctx { resource };
    let this = vec![root(resource)];
    let out = ctx.eval(e, &this)?;
    Ok(out.iter().map(Item::normalized).collect())
}

/// FHIRPath singleton evaluation of a collection as a boolean: empty → `None`, one boolean → it, one other item
/// → `true`, more than one → error.
pub(crate) fn to_bool(c: &[Item<'_>], what: &str) -> Result<Option<bool>, EvalError> {
    match c {
        [] => Ok(None),
        [one] => Ok(Some(one.as_bool().unwrap_or(true))),
        _ => Err(EvalError::NotSingleton { what: what.to_string(), count: c.len() }),
    }
}

fn singleton<'c, 'a>(c: &'c [Item<'a>], what: &str) -> Result<Option<&'c Item<'a>>, EvalError> {
    match c {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(EvalError::NotSingleton { what: what.to_string(), count: c.len() }),
    }
}

fn bool_coll<'a>(b: Option<bool>) -> Coll<'a> {
    b.map(Item::Boolean).into_iter().collect()
}

fn bounded(c: Coll<'_>) -> Res<'_> {
    if c.len() > MAX_ITEMS { Err(EvalError::TooLarge(MAX_ITEMS)) } else { Ok(c) }
}

fn push_json<'a>(v: &'a Value, type_name: Option<&'a str>, out: &mut Coll<'a>) {
    match v {
        Value::Array(items) => {
            for i in items {
                push_json(i, type_name, out);
            }
        }
        Value::Null => {}
        Value::Object(_) if type_name.is_none() => out.push(root(v)),
        _ => out.push(Item::Json { value: v, type_name }),
    }
}

/// Children named `name` of one item: the item itself when `name` is its resource type, the member `name`,
/// or the choice members `name<Type>`. Keys starting with `_` (primitive extensions) are never returned.
fn member<'a>(item: &Item<'a>, name: &str, out: &mut Coll<'a>) {
    let Item::Json { value: Value::Object(map), .. } = item else { return };
    if name.starts_with('_') {
        return;
    }
    if name.starts_with(|c: char| c.is_ascii_uppercase()) {
        if map.get("resourceType").and_then(Value::as_str) == Some(name) {
            out.push(item.clone());
        }
        return;
    }
    if let Some(v) = map.get(name) {
        push_json(v, None, out);
        return;
    }
    for (k, v) in map {
        if let Some(suffix) = k.strip_prefix(name)
            && CHOICE_TYPES.contains(&suffix)
        {
            push_json(v, Some(suffix), out);
        }
    }
}

/// Does the item have the type `spec`? System values answer to System types (`Boolean`, `System.Boolean`);
/// values read from JSON answer to FHIR types: the choice suffix (`valueQuantity` → `Quantity`, `valueString` →
/// `string`), the `resourceType` (and `Resource`/`DomainResource`), or for primitives without a suffix the JSON
/// kind (`string`, `boolean`, `integer`, `decimal`; there is no model to say a string is a `code`).
fn is_type(item: &Item<'_>, spec: &TypeSpec) -> bool {
    match item {
        Item::Boolean(_) => spec.matches_system("Boolean"),
        Item::Integer(_) => spec.matches_system("Integer"),
        Item::Decimal(_) => spec.matches_system("Decimal"),
        Item::String(_) => spec.matches_system("String"),
        Item::Date(_) => spec.matches_system("Date"),
        Item::DateTime(_) => spec.matches_system("DateTime"),
        Item::Time(_) => spec.matches_system("Time"),
        Item::Json { value, type_name } => {
            if let Some(rt) = value.get("resourceType").and_then(Value::as_str) {
                return spec.matches_fhir(rt) || spec.matches_fhir("Resource") || spec.matches_fhir("DomainResource");
            }
            if let Some(t) = type_name {
                // The Quantity profiles are Quantities.
                let quantity =
                    matches!(*t, "Age" | "Count" | "Distance" | "Duration" | "MoneyQuantity" | "SimpleQuantity");
                return spec.matches_fhir(&fhir_type_of_suffix(t)) || (quantity && spec.matches_fhir("Quantity"));
            }
            match value {
                Value::Bool(_) => spec.matches_fhir("boolean"),
                Value::String(_) => spec.matches_fhir("string"),
                Value::Number(_) => match item.normalized() {
                    Item::Integer(_) => spec.matches_fhir("integer"),
                    _ => spec.matches_fhir("decimal"),
                },
                _ => false,
            }
        }
    }
}

fn string_of(item: &Item<'_>) -> Option<String> {
    Some(match item.normalized() {
        Item::Boolean(b) => b.to_string(),
        Item::Integer(i) => i.to_string(),
        Item::Decimal(d) => format!("{d:?}"),
        Item::String(s) => s.into_owned(),
        Item::Date(t) | Item::DateTime(t) | Item::Time(t) => t.text,
        Item::Json { .. } => return None,
    })
}

fn distinct(c: Coll<'_>) -> Coll<'_> {
    let mut out: Coll<'_> = Vec::with_capacity(c.len());
    for i in c {
        if !out.iter().any(|o| equal(o, &i) == Some(true)) {
            out.push(i);
        }
    }
    out
}

fn eq_coll(a: &[Item<'_>], b: &[Item<'_>]) -> Option<bool> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    if a.len() != b.len() {
        return Some(false);
    }
    let mut result = Some(true);
    for (x, y) in a.iter().zip(b) {
        match equal(x, y) {
            Some(false) => return Some(false),
            None => result = None,
            Some(true) => {}
        }
    }
    result
}

impl<'a> Ctx<'a> {
    fn eval(&self, e: &Expr, this: &[Item<'a>]) -> Res<'a> {
        match &e.kind {
            Kind::Lit(l) => Ok(literal(l)),
            Kind::This => Ok(this.to_vec()),
            Kind::Var(Var::Resource | Var::Context) => Ok(vec![root(self.resource)]),
            Kind::Member(base, name) => {
                let input = match base {
                    Some(b) => self.eval(b, this)?,
                    None => this.to_vec(),
                };
                let mut out = Vec::new();
                for i in &input {
                    member(i, name, &mut out);
                }
                bounded(out)
            }
            Kind::Call(base, f, args) => {
                let input = match base {
                    Some(b) => self.eval(b, this)?,
                    None => this.to_vec(),
                };
                // Arguments see the $this of the enclosing expression; iif() alone evaluates its branches on
                // its input (the official suite's testIif9/testIif11).
                if matches!(f, Func::Iif) {
                    let arg_this = input.clone();
                    self.call(f, input, args, &arg_this)
                } else {
                    self.call(f, input, args, this)
                }
            }
            Kind::Index(base, idx) => {
                let input = self.eval(base, this)?;
                let i = self.int_arg(idx, this, "indexer")?;
                Ok(i.and_then(|i| usize::try_from(i).ok()).and_then(|i| input.into_iter().nth(i)).into_iter().collect())
            }
            Kind::Neg(inner) => {
                let v = self.eval(inner, this)?;
                match singleton(&v, "unary `-`")?.map(Item::normalized) {
                    None => Ok(vec![]),
                    Some(Item::Integer(i)) => Ok(vec![Item::Integer(
                        i.checked_neg().ok_or_else(|| EvalError::Type("integer overflow in unary `-`".into()))?,
                    )]),
                    Some(Item::Decimal(d)) => Ok(vec![Item::Decimal(-d)]),
                    Some(_) => Err(EvalError::Type("unary `-` needs a number".into())),
                }
            }
            Kind::Bin(op, l, r) => self.binary(*op, l, r, this),
            Kind::Is(inner, ts) => {
                let v = self.eval(inner, this)?;
                Ok(singleton(&v, "is")?.map(|i| Item::Boolean(is_type(i, ts))).into_iter().collect())
            }
            Kind::As(inner, ts) => {
                let v = self.eval(inner, this)?;
                Ok(singleton(&v, "as")?.filter(|i| is_type(i, ts)).cloned().into_iter().collect())
            }
        }
    }

    fn int_arg(&self, e: &Expr, this: &[Item<'a>], what: &str) -> Result<Option<i64>, EvalError> {
        let v = self.eval(e, this)?;
        match singleton(&v, what)? {
            None => Ok(None),
            Some(i) => i.as_int().map(Some).ok_or_else(|| EvalError::Type(format!("{what} needs an integer"))),
        }
    }

    fn str_arg(&self, args: &[Expr], this: &[Item<'a>], what: &str) -> Result<Option<String>, EvalError> {
        let Some(e) = args.first() else { return Ok(None) };
        let v = self.eval(e, this)?;
        match singleton(&v, what)? {
            None => Ok(None),
            Some(i) => i
                .as_str()
                .map(|s| Some(s.to_string()))
                .ok_or_else(|| EvalError::Type(format!("{what} needs a string argument"))),
        }
    }

    fn binary(&self, op: BinOp, l: &Expr, r: &Expr, this: &[Item<'a>]) -> Res<'a> {
        let a = self.eval(l, this)?;
        let b = self.eval(r, this)?;
        match op {
            BinOp::Eq => Ok(bool_coll(eq_coll(&a, &b))),
            BinOp::Ne => Ok(bool_coll(eq_coll(&a, &b).map(|x| !x))),
            BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge => {
                let (Some(x), Some(y)) = (singleton(&a, "comparison")?, singleton(&b, "comparison")?) else {
                    return Ok(vec![]);
                };
                let ord = match compare(x, y) {
                    Cmp::Ord(o) => o,
                    Cmp::Empty => return Ok(vec![]),
                    Cmp::Incomparable => {
                        return Err(EvalError::Type("cannot compare values of different types".into()));
                    }
                };
                let res = match op {
                    BinOp::Lt => ord == Ordering::Less,
                    BinOp::Gt => ord == Ordering::Greater,
                    BinOp::Le => ord != Ordering::Greater,
                    _ => ord != Ordering::Less,
                };
                Ok(vec![Item::Boolean(res)])
            }
            BinOp::Union => bounded(distinct(a.into_iter().chain(b).collect())),
            BinOp::Equiv => Ok(vec![Item::Boolean(equiv_coll(&a, &b))]),
            BinOp::NotEquiv => Ok(vec![Item::Boolean(!equiv_coll(&a, &b))]),
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::IntDiv | BinOp::Mod | BinOp::Concat => {
                arithmetic(op, &a, &b)
            }
            BinOp::In => membership(&a, &b, "in"),
            BinOp::Contains => membership(&b, &a, "contains"),
            BinOp::And | BinOp::Or | BinOp::Xor | BinOp::Implies => {
                let (x, y) = (to_bool(&a, "and/or")?, to_bool(&b, "and/or")?);
                let res = match op {
                    BinOp::And => match (x, y) {
                        (Some(false), _) | (_, Some(false)) => Some(false),
                        (Some(true), Some(true)) => Some(true),
                        _ => None,
                    },
                    BinOp::Or => match (x, y) {
                        (Some(true), _) | (_, Some(true)) => Some(true),
                        (Some(false), Some(false)) => Some(false),
                        _ => None,
                    },
                    BinOp::Xor => x.zip(y).map(|(p, q)| p != q),
                    _ => match (x, y) {
                        (Some(false), _) | (_, Some(true)) => Some(true),
                        (Some(true), Some(false)) => Some(false),
                        _ => None,
                    },
                };
                Ok(bool_coll(res))
            }
        }
    }

    fn each_bool(&self, crit: &Expr, item: &Item<'a>, what: &str) -> Result<Option<bool>, EvalError> {
        let v = self.eval(crit, std::slice::from_ref(item))?;
        to_bool(&v, what)
    }

    fn call(&self, f: &Func, input: Coll<'a>, args: &[Expr], this: &[Item<'a>]) -> Res<'a> {
        let arg0 = args.first();
        match f {
            Func::Where | Func::Exists | Func::All if arg0.is_some() => {
                let Some(crit) = arg0 else { return Ok(vec![]) };
                let mut kept = Vec::new();
                let mut all = true;
                for item in input {
                    if self.each_bool(crit, &item, "criteria")? == Some(true) {
                        kept.push(item);
                    } else {
                        all = false;
                    }
                }
                Ok(match f {
                    Func::Where => kept,
                    Func::Exists => vec![Item::Boolean(!kept.is_empty())],
                    _ => vec![Item::Boolean(all)],
                })
            }
            Func::Select => {
                let Some(proj) = arg0 else { return Ok(vec![]) };
                let mut out = Vec::new();
                for item in &input {
                    out.extend(self.eval(proj, std::slice::from_ref(item))?);
                    if out.len() > MAX_ITEMS {
                        return Err(EvalError::TooLarge(MAX_ITEMS));
                    }
                }
                Ok(out)
            }
            Func::Exists => Ok(vec![Item::Boolean(!input.is_empty())]),
            Func::Empty => Ok(vec![Item::Boolean(input.is_empty())]),
            Func::All | Func::Where => Ok(vec![]),
            Func::First => Ok(input.into_iter().take(1).collect()),
            Func::Last => Ok(input.into_iter().last().into_iter().collect()),
            Func::Tail => Ok(input.into_iter().skip(1).collect()),
            Func::Skip | Func::Take => {
                let n = match arg0 {
                    Some(e) => self.int_arg(e, this, "skip/take")?,
                    None => None,
                };
                let n = usize::try_from(n.unwrap_or(0).max(0)).unwrap_or(0);
                Ok(if matches!(f, Func::Skip) {
                    input.into_iter().skip(n).collect()
                } else {
                    input.into_iter().take(n).collect()
                })
            }
            Func::Single => Ok(singleton(&input, "single()")?.cloned().into_iter().collect()),
            Func::Count => Ok(vec![Item::Integer(i64::try_from(input.len()).unwrap_or(i64::MAX))]),
            Func::Distinct => Ok(distinct(input)),
            Func::OfType(ts) => Ok(input.into_iter().filter(|i| is_type(i, ts)).collect()),
            Func::As(ts) => Ok(singleton(&input, "as()")?.filter(|i| is_type(i, ts)).cloned().into_iter().collect()),
            Func::Is(ts) => Ok(singleton(&input, "is()")?.map(|i| Item::Boolean(is_type(i, ts))).into_iter().collect()),
            Func::Not => Ok(bool_coll(to_bool(&input, "not()")?.map(|b| !b))),
            Func::HasValue => Ok(vec![Item::Boolean(matches!(
                input.as_slice(),
                [one] if !matches!(one, Item::Json { value: Value::Object(_) | Value::Array(_), .. })
            ))]),
            Func::Iif => {
                if input.len() > 1 {
                    return Err(EvalError::NotSingleton { what: "iif()".into(), count: input.len() });
                }
                let Some(crit) = arg0 else { return Ok(vec![]) };
                let c = self.eval(crit, this)?;
                let branch = if to_bool(&c, "iif() criterion")? == Some(true) { args.get(1) } else { args.get(2) };
                match branch {
                    Some(b) => self.eval(b, this),
                    None => Ok(vec![]),
                }
            }
            Func::AllTrue | Func::AnyTrue | Func::AllFalse | Func::AnyFalse => {
                let bools: Vec<Option<bool>> = input.iter().map(Item::as_bool).collect();
                if bools.contains(&None) {
                    return Err(EvalError::Type("allTrue()/anyTrue()/allFalse()/anyFalse() need booleans".into()));
                }
                let res = match f {
                    Func::AllTrue => bools.iter().all(|b| *b == Some(true)),
                    Func::AnyTrue => bools.contains(&Some(true)),
                    Func::AllFalse => bools.iter().all(|b| *b == Some(false)),
                    _ => bools.contains(&Some(false)),
                };
                Ok(vec![Item::Boolean(res)])
            }
            Func::ToString => Ok(singleton(&input, "toString()")?
                .and_then(string_of)
                .map(|s| Item::String(Cow::Owned(s)))
                .into_iter()
                .collect()),
            Func::Union | Func::Combine => {
                let other = match arg0 {
                    Some(e) => self.eval(e, this)?,
                    None => vec![],
                };
                let all: Coll<'a> = input.into_iter().chain(other).collect();
                bounded(if matches!(f, Func::Union) { distinct(all) } else { all })
            }
            Func::Children => {
                let mut out = Vec::new();
                for i in &input {
                    if let Item::Json { value: Value::Object(map), .. } = i {
                        for (k, v) in map {
                            if !k.starts_with('_') && k != "resourceType" {
                                push_json(v, None, &mut out);
                            }
                        }
                    }
                }
                bounded(out)
            }
            _ => self.collection_fn(f, input, args, this),
        }
    }

    /// Set operations, extensions, repetition, conversions and math.
    fn collection_fn(&self, f: &Func, input: Coll<'a>, args: &[Expr], this: &[Item<'a>]) -> Res<'a> {
        let arg0 = args.first();
        match f {
            Func::Exclude | Func::Intersect | Func::SubsetOf | Func::SupersetOf => {
                let other = match arg0 {
                    Some(e) => self.eval(e, this)?,
                    None => vec![],
                };
                let within = |i: &Item<'a>, c: &[Item<'a>]| c.iter().any(|o| equal(i, o) == Some(true));
                Ok(match f {
                    Func::Exclude => input.into_iter().filter(|i| !within(i, &other)).collect(),
                    Func::Intersect => distinct(input.into_iter().filter(|i| within(i, &other)).collect()),
                    Func::SubsetOf => vec![Item::Boolean(input.iter().all(|i| within(i, &other)))],
                    _ => vec![Item::Boolean(other.iter().all(|i| within(i, &input)))],
                })
            }
            Func::IsDistinct => {
                let n = input.len();
                Ok(vec![Item::Boolean(distinct(input).len() == n)])
            }
            Func::Extension => {
                let Some(url) = self.str_arg(args, this, "extension()")? else { return Ok(vec![]) };
                let mut exts = Vec::new();
                for i in &input {
                    member(i, "extension", &mut exts);
                }
                Ok(exts
                    .into_iter()
                    .filter(|e| matches!(e, Item::Json { value, .. } if value.get("url").and_then(Value::as_str) == Some(url.as_str())))
                    .collect())
            }
            Func::Descendants | Func::Repeat => self.repeat(f, input, arg0),
            Func::Trace => Ok(input),
            Func::Join => {
                let sep = self.str_arg(args, this, "join()")?.unwrap_or_default();
                let parts: Option<Vec<&str>> = input.iter().map(Item::as_str).collect();
                let parts = parts.ok_or_else(|| EvalError::Type("join() needs strings".into()))?;
                Ok(vec![Item::String(Cow::Owned(parts.join(&sep)))])
            }
            Func::ToInteger
            | Func::ConvertsToInteger
            | Func::ToDecimal
            | Func::ConvertsToDecimal
            | Func::ToBoolean
            | Func::ConvertsToBoolean
            | Func::ConvertsToString
            | Func::ToDate
            | Func::ConvertsToDate
            | Func::ToDateTime
            | Func::ConvertsToDateTime
            | Func::ToTime
            | Func::ConvertsToTime => {
                let Some(item) = singleton(&input, "conversion")? else { return Ok(vec![]) };
                Ok(convert(f, &item.normalized()))
            }
            Func::Abs
            | Func::Ceiling
            | Func::Floor
            | Func::Truncate
            | Func::Round
            | Func::Sqrt
            | Func::Exp
            | Func::Ln
            | Func::Log
            | Func::Power => {
                let Some(x) = singleton(&input, "math function")?.map(Item::normalized) else { return Ok(vec![]) };
                let arg = match arg0 {
                    Some(e) => {
                        let v = self.eval(e, this)?;
                        match singleton(&v, "math function")?.map(Item::normalized) {
                            Some(a) => Some(a),
                            None => return Ok(vec![]),
                        }
                    }
                    None => None,
                };
                math(f, &x, arg.as_ref())
            }
            _ => self.string_fn(f, &input, args, this),
        }
    }

    /// `repeat(projection)` and `descendants()`: apply until nothing new turns up, bounded by [`MAX_ITEMS`].
    fn repeat(&self, f: &Func, input: Coll<'a>, proj: Option<&Expr>) -> Res<'a> {
        let mut out: Coll<'a> = Vec::new();
        let mut frontier = input;
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for item in &frontier {
                let produced = match (f, proj) {
                    (Func::Repeat, Some(p)) => self.eval(p, std::slice::from_ref(item))?,
                    _ => self.call(&Func::Children, vec![item.clone()], &[], &[])?,
                };
                for p in produced {
                    if !out.iter().any(|o| equal(o, &p) == Some(true) && same_node(o, &p)) {
                        out.push(p.clone());
                        next.push(p);
                    }
                }
                if out.len() > MAX_ITEMS {
                    return Err(EvalError::TooLarge(MAX_ITEMS));
                }
            }
            frontier = next;
        }
        Ok(out)
    }

    /// The string functions: a single string input (empty input → empty result).
    fn string_fn(&self, f: &Func, input: &[Item<'a>], args: &[Expr], this: &[Item<'a>]) -> Res<'a> {
        let Some(item) = singleton(input, "string function")? else { return Ok(vec![]) };
        let Some(s) = item.as_str() else {
            return Err(EvalError::Type("string function called on a value that is not a string".into()));
        };
        let str_res = |v: String| Ok(vec![Item::String(Cow::Owned(v))]);
        match f {
            Func::Lower => str_res(s.to_lowercase()),
            Func::Upper => str_res(s.to_uppercase()),
            Func::Length => Ok(vec![Item::Integer(i64::try_from(s.chars().count()).unwrap_or(i64::MAX))]),
            Func::StartsWith | Func::EndsWith | Func::Contains => {
                let Some(arg) = self.str_arg(args, this, "string function")? else { return Ok(vec![]) };
                let res = match f {
                    Func::StartsWith => s.starts_with(&arg),
                    Func::EndsWith => s.ends_with(&arg),
                    _ => s.contains(&arg),
                };
                Ok(vec![Item::Boolean(res)])
            }
            Func::Substring => {
                let Some(start) = (match args.first() {
                    Some(e) => self.int_arg(e, this, "substring()")?,
                    None => None,
                }) else {
                    return Ok(vec![]);
                };
                let len = match args.get(1) {
                    Some(e) => self.int_arg(e, this, "substring()")?,
                    None => None,
                };
                let count = s.chars().count();
                let Ok(start) = usize::try_from(start) else { return Ok(vec![]) };
                if start >= count {
                    return Ok(vec![]);
                }
                let take = len.map_or(count, |l| usize::try_from(l.max(0)).unwrap_or(0));
                str_res(s.chars().skip(start).take(take).collect())
            }
            Func::Matches(re) | Func::MatchesFull(re) => {
                let full = matches!(f, Func::MatchesFull(_));
                let owned;
                let re = match re {
                    Some(re) => re,
                    None => {
                        let Some(p) = self.str_arg(args, this, "matches()")? else { return Ok(vec![]) };
                        owned = build_regex(&p, full).map_err(EvalError::Regex)?;
                        &owned
                    }
                };
                Ok(vec![Item::Boolean(re.is_match(s))])
            }
            Func::IndexOf | Func::LastIndexOf => {
                let Some(sub) = self.str_arg(args, this, "indexOf()")? else { return Ok(vec![]) };
                let found = if matches!(f, Func::IndexOf) { s.find(&sub) } else { s.rfind(&sub) };
                let idx =
                    found.map_or(-1, |b| i64::try_from(s.get(..b).map_or(0, |p| p.chars().count())).unwrap_or(-1));
                Ok(vec![Item::Integer(idx)])
            }
            Func::Trim => str_res(s.trim().to_string()),
            Func::Replace => {
                let Some(pat) = self.str_arg(args, this, "replace()")? else { return Ok(vec![]) };
                let Some(with) = self.str_arg(args.get(1..).unwrap_or_default(), this, "replace()")? else {
                    return Ok(vec![]);
                };
                // Bound the result before building it: the pattern and replacement may both come from the input.
                let hits = if pat.is_empty() { s.chars().count() + 1 } else { s.matches(pat.as_str()).count() };
                if s.len().saturating_add(hits.saturating_mul(with.len())) > MAX_STRING_BYTES {
                    return Err(EvalError::TooLarge(MAX_ITEMS));
                }
                str_res(s.replace(&pat, &with))
            }
            Func::Split => {
                let Some(sep) = self.str_arg(args, this, "split()")? else { return Ok(vec![]) };
                let parts: Coll<'a> = if sep.is_empty() {
                    vec![Item::String(Cow::Owned(s.to_string()))]
                } else {
                    s.split(sep.as_str()).map(|p| Item::String(Cow::Owned(p.to_string()))).collect()
                };
                bounded(parts)
            }
            Func::ReplaceMatches(re) => {
                let owned;
                let re = match re {
                    Some(re) => re,
                    None => {
                        let Some(p) = self.str_arg(args, this, "replaceMatches()")? else { return Ok(vec![]) };
                        owned = build_regex(&p, false).map_err(EvalError::Regex)?;
                        &owned
                    }
                };
                let Some(with) = self.str_arg(args.get(1..).unwrap_or_default(), this, "replaceMatches()")? else {
                    return Ok(vec![]);
                };
                if re.as_str().is_empty() {
                    return str_res(s.to_string());
                }
                let hits = re.find_iter(s).count();
                if s.len().saturating_add(hits.saturating_mul(with.len())) > MAX_STRING_BYTES {
                    return Err(EvalError::TooLarge(MAX_ITEMS));
                }
                str_res(re.replace_all(s, with.as_str()).into_owned())
            }
            Func::ToChars => bounded(s.chars().map(|c| Item::String(Cow::Owned(c.to_string()))).collect()),
            _ => Ok(vec![]),
        }
    }
}

/// `~`: order-independent, case- and whitespace-insensitive strings, decimals at the lesser precision.
fn equiv_coll(a: &[Item<'_>], b: &[Item<'_>]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.iter().any(|y| equivalent(x, y)))
}

fn equivalent(a: &Item<'_>, b: &Item<'_>) -> bool {
    let (a, b) = (a.normalized(), b.normalized());
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    match (&a, &b) {
        (Item::String(x), Item::String(y)) => norm(x) == norm(y),
        (Item::Decimal(_), Item::Integer(_) | Item::Decimal(_)) | (Item::Integer(_), Item::Decimal(_)) => {
            let (x, y) = (as_f64(&a), as_f64(&b));
            let places = decimal_places(&a).min(decimal_places(&b));
            let scale = 10f64.powi(i32::try_from(places).unwrap_or(0));
            (x * scale).round() == (y * scale).round()
        }
        _ => compare(&a, &b) == Cmp::Ord(Ordering::Equal),
    }
}

fn as_f64(i: &Item<'_>) -> f64 {
    match i {
        Item::Integer(v) => *v as f64,
        Item::Decimal(v) => *v,
        _ => f64::NAN,
    }
}

fn round_to(v: f64, places: usize) -> f64 {
    format!("{v:.places$}").parse().unwrap_or(v)
}

/// Digits after the point in the shortest text form of a number.
fn decimal_places(i: &Item<'_>) -> usize {
    match i {
        Item::Decimal(d) => format!("{d:?}").split_once('.').map_or(0, |(_, f)| f.len()),
        _ => 0,
    }
}

/// `+ - * / div mod &` on numbers (and `+`/`&` on strings). Division by zero gives empty, as the spec says.
fn arithmetic<'a>(op: BinOp, a: &[Item<'a>], b: &[Item<'a>]) -> Res<'a> {
    let (x, y) = (singleton(a, "arithmetic")?.map(Item::normalized), singleton(b, "arithmetic")?.map(Item::normalized));
    if op == BinOp::Concat {
        let s = |i: Option<Item<'_>>| i.and_then(|i| i.as_str().map(str::to_string)).unwrap_or_default();
        if x.as_ref().is_some_and(|i| i.as_str().is_none()) || y.as_ref().is_some_and(|i| i.as_str().is_none()) {
            return Err(EvalError::Type("`&` needs strings".into()));
        }
        return Ok(vec![Item::String(Cow::Owned(s(x) + &s(y)))]);
    }
    let (Some(x), Some(y)) = (x, y) else { return Ok(vec![]) };
    let overflow = || EvalError::Type("integer overflow".into());
    let out = match (&x, &y) {
        (Item::String(p), Item::String(q)) if op == BinOp::Add => Item::String(Cow::Owned(format!("{p}{q}"))),
        (Item::Integer(p), Item::Integer(q)) if op != BinOp::Div => {
            let r = match op {
                BinOp::Add => p.checked_add(*q),
                BinOp::Sub => p.checked_sub(*q),
                BinOp::Mul => p.checked_mul(*q),
                _ if *q == 0 => return Ok(vec![]),
                BinOp::IntDiv => p.checked_div(*q),
                _ => p.checked_rem(*q),
            };
            Item::Integer(r.ok_or_else(overflow)?)
        }
        (Item::Integer(_) | Item::Decimal(_), Item::Integer(_) | Item::Decimal(_)) => {
            let (p, q) = (as_f64(&x), as_f64(&y));
            // Decimals are f64 here: round sums, differences and products back to the operands' scale so that
            // `1.8 - 1.2 = 0.6` holds as it does in decimal arithmetic.
            let (dx, dy) = (decimal_places(&x), decimal_places(&y));
            match op {
                BinOp::Add => Item::Decimal(round_to(p + q, dx.max(dy))),
                BinOp::Sub => Item::Decimal(round_to(p - q, dx.max(dy))),
                BinOp::Mul => Item::Decimal(round_to(p * q, dx + dy)),
                _ if q == 0.0 => return Ok(vec![]),
                BinOp::Div => Item::Decimal(p / q),
                BinOp::IntDiv => Item::Integer((p / q).trunc() as i64),
                _ => Item::Decimal(round_to(p % q, dx.max(dy))),
            }
        }
        _ => return Err(EvalError::Type("arithmetic on values that are not numbers (or strings for `+`)".into())),
    };
    Ok(vec![out])
}

/// Two JSON items are the same node (not merely equal); system values compare by value.
fn same_node(a: &Item<'_>, b: &Item<'_>) -> bool {
    match (a, b) {
        (Item::Json { value: x, .. }, Item::Json { value: y, .. }) => std::ptr::eq(*x, *y),
        _ => true,
    }
}

/// The `toX()` / `convertsToX()` functions on one (normalised) item.
fn convert<'a>(f: &Func, item: &Item<'a>) -> Coll<'a> {
    let text = item.as_str();
    let int = || match item {
        Item::Integer(i) => Some(*i),
        Item::Boolean(b) => Some(i64::from(*b)),
        _ => text
            .filter(|t| {
                let d = t.strip_prefix(['+', '-']).unwrap_or(t);
                !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
            })?
            .parse()
            .ok(),
    };
    let dec = || match item {
        Item::Integer(i) => Some(*i as f64),
        Item::Decimal(d) => Some(*d),
        Item::Boolean(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => text
            .filter(|t| {
                let d = t.strip_prefix(['+', '-']).unwrap_or(t);
                let (w, frac) = d.split_once('.').unwrap_or((d, "0"));
                !w.is_empty() && !frac.is_empty() && w.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
            })?
            .parse()
            .ok(),
    };
    let boolean = || match item {
        Item::Boolean(b) => Some(*b),
        Item::Integer(0) => Some(false),
        Item::Integer(1) => Some(true),
        Item::Decimal(d) if *d == 0.0 => Some(false),
        Item::Decimal(d) if *d == 1.0 => Some(true),
        _ => match text?.to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" | "1.0" => Some(true),
            "false" | "f" | "no" | "n" | "0" | "0.0" => Some(false),
            _ => None,
        },
    };
    let date_time = |time: bool, with_t: bool| -> Option<Item<'a>> {
        match item {
            Item::Date(t) if !time && !with_t => Some(Item::Date(t.clone())),
            Item::Date(t) | Item::DateTime(t) if !time && with_t => Some(Item::DateTime(t.clone())),
            Item::Time(t) if time => Some(Item::Time(t.clone())),
            _ => {
                let s = text?;
                if time {
                    return crate::value::Temporal::parse_time(s.trim_start_matches('T')).map(Item::Time);
                }
                let t = crate::value::Temporal::parse_date_time(s.trim_end_matches('T'))?;
                if with_t { Some(Item::DateTime(t)) } else { (!s.contains('T')).then_some(Item::Date(t)) }
            }
        }
    };
    let out = match f {
        Func::ToInteger | Func::ConvertsToInteger => int().map(Item::Integer),
        Func::ToDecimal | Func::ConvertsToDecimal => dec().map(Item::Decimal),
        Func::ToBoolean | Func::ConvertsToBoolean => boolean().map(Item::Boolean),
        Func::ConvertsToString => string_of(item).map(|s| Item::String(Cow::Owned(s))),
        Func::ToDate | Func::ConvertsToDate => date_time(false, false),
        Func::ToTime | Func::ConvertsToTime => date_time(true, false),
        _ => date_time(false, true),
    };
    let converts = matches!(
        f,
        Func::ConvertsToInteger
            | Func::ConvertsToDecimal
            | Func::ConvertsToBoolean
            | Func::ConvertsToString
            | Func::ConvertsToDate
            | Func::ConvertsToDateTime
            | Func::ConvertsToTime
    );
    if converts { vec![Item::Boolean(out.is_some())] } else { out.into_iter().collect() }
}

/// The math functions on one number; results that are not real numbers (`(-1).sqrt()`) are empty.
fn math<'a>(f: &Func, x: &Item<'a>, arg: Option<&Item<'a>>) -> Res<'a> {
    if !matches!(x, Item::Integer(_) | Item::Decimal(_))
        || arg.is_some_and(|a| !matches!(a, Item::Integer(_) | Item::Decimal(_)))
    {
        return Err(EvalError::Type("math functions need numbers".into()));
    }
    let v = as_f64(x);
    let to_int = |r: f64| -> Res<'a> {
        if r.is_finite() && r.abs() < 9.0e18 {
            Ok(vec![Item::Integer(r as i64)])
        } else {
            Err(EvalError::Type("integer overflow".into()))
        }
    };
    let dec = |r: f64| -> Res<'a> { Ok(if r.is_finite() { vec![Item::Decimal(r)] } else { vec![] }) };
    match (f, x) {
        (Func::Abs, Item::Integer(i)) => {
            Ok(vec![Item::Integer(i.checked_abs().ok_or_else(|| EvalError::Type("integer overflow".into()))?)])
        }
        (Func::Abs, _) => dec(v.abs()),
        (Func::Ceiling, _) => to_int(v.ceil()),
        (Func::Floor, _) => to_int(v.floor()),
        (Func::Truncate, _) => to_int(v.trunc()),
        (Func::Round, _) => {
            let places = arg.and_then(Item::as_int).unwrap_or(0);
            let Ok(places) = usize::try_from(places) else {
                return Err(EvalError::Type("round() needs a non-negative precision".into()));
            };
            dec(round_to(v, places.min(15)))
        }
        (Func::Sqrt, _) => dec(if v < 0.0 { f64::NAN } else { v.sqrt() }),
        (Func::Exp, _) => dec(v.exp()),
        (Func::Ln, _) => dec(if v <= 0.0 { f64::NAN } else { v.ln() }),
        (Func::Log, _) => {
            let base = arg.map_or(f64::NAN, as_f64);
            dec(if v <= 0.0 || base <= 0.0 || base == 1.0 { f64::NAN } else { v.ln() / base.ln() })
        }
        (Func::Power, Item::Integer(b)) if matches!(arg, Some(Item::Integer(e)) if *e >= 0) => {
            let e = arg.and_then(Item::as_int).and_then(|e| u32::try_from(e).ok());
            let r = e.and_then(|e| b.checked_pow(e));
            Ok(r.map(Item::Integer).into_iter().collect())
        }
        _ => dec(v.powf(arg.map_or(f64::NAN, as_f64))),
    }
}

fn membership<'a>(needle: &[Item<'a>], hay: &[Item<'a>], what: &str) -> Res<'a> {
    let Some(n) = singleton(needle, what)? else { return Ok(vec![]) };
    Ok(vec![Item::Boolean(hay.iter().any(|h| equal(n, h) == Some(true)))])
}

fn literal<'a>(l: &Lit) -> Coll<'a> {
    vec![match l {
        Lit::Empty => return vec![],
        Lit::Bool(b) => Item::Boolean(*b),
        Lit::Int(i) => Item::Integer(*i),
        Lit::Dec(d) => Item::Decimal(*d),
        Lit::Str(s) => Item::String(Cow::Owned(s.clone())),
        Lit::Date(t) => Item::Date(t.clone()),
        Lit::DateTime(t) => Item::DateTime(t.clone()),
        Lit::Time(t) => Item::Time(t.clone()),
    }]
}
