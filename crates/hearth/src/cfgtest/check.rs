//! Runs a test's messages through the configuration and compares what comes out with what the test expects.

use std::collections::BTreeSet;

use hearth_engine::process::Outcome;
use hearth_engine::process::offline::Offline;
use hearth_store::NewDelivery;
use serde_json::{Value, json};

use super::file::{Expect, TestCase};
use super::input::Msg;

/// One unmet expectation: what was checked, what the test expected, what came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub what: String,
    pub expected: String,
    pub actual: String,
}

impl Failure {
    pub fn new(what: &str, expected: &str, actual: &str) -> Failure {
        Failure { what: what.to_owned(), expected: expected.to_owned(), actual: actual.to_owned() }
    }

    /// `what`, then `- expected` / `+ actual` lines, indented.
    pub fn render(&self, indent: &str) -> String {
        format!(
            "{indent}{}\n{indent}  - expected: {}\n{indent}  + actual:   {}\n",
            self.what, self.expected, self.actual
        )
    }
}

/// What the messages of one input became, put together.
struct Result_ {
    /// The first conversion error, if any.
    error: Option<String>,
    bundle: Value,
    warnings: Vec<String>,
    unmapped: Vec<String>,
    unmatched: bool,
    skipped: Vec<String>,
    deliveries: Vec<NewDelivery>,
}

pub fn run(case: &TestCase, offline: &Offline, msgs: &[Msg]) -> Vec<Failure> {
    let result = convert(offline, msgs);
    compare(&case.expect, &result)
}

fn convert(offline: &Offline, msgs: &[Msg]) -> Result_ {
    let mut r = Result_ {
        error: None,
        bundle: Value::Null,
        warnings: Vec::new(),
        unmapped: Vec::new(),
        unmatched: false,
        skipped: Vec::new(),
        deliveries: Vec::new(),
    };
    let mut entries = Vec::new();
    for msg in msgs {
        match offline.run(&msg.input()) {
            Outcome::Failed(e) => {
                r.error.get_or_insert_with(|| e.to_string());
            }
            Outcome::Routed(routed) => {
                let bundle: Value = serde_json::from_str(&routed.bundle).unwrap_or(Value::Null);
                let report: Value = serde_json::from_str(&routed.report).unwrap_or(Value::Null);
                for w in report["warnings"].as_array().into_iter().flatten() {
                    let loc = w["location"].as_str().unwrap_or_default();
                    r.warnings.push(format!("{loc} {}", w["kind"].as_str().unwrap_or_default()));
                }
                r.unmapped.extend(strings(&report["unmapped"]));
                r.unmatched |= report["routing"]["unmatched"].as_bool().unwrap_or(false);
                for s in report["routing"]["skipped"].as_array().into_iter().flatten() {
                    r.skipped.extend(s["route"].as_str().map(str::to_owned));
                }
                r.deliveries.extend(routed.deliveries);
                if msgs.len() == 1 {
                    r.bundle = bundle;
                } else {
                    entries.extend(bundle["entry"].as_array().cloned().unwrap_or_default());
                }
            }
        }
    }
    if msgs.len() > 1 {
        // Several row groups: one Bundle holding every group's entries, in file order.
        r.bundle = json!({ "resourceType": "Bundle", "type": "collection", "entry": entries });
    }
    r
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_owned)).collect()
}

fn sorted(v: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = v.into_iter().collect();
    v.sort();
    v
}

fn list(v: &[String]) -> String {
    format!("[{}]", v.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", "))
}

fn compare(e: &Expect, r: &Result_) -> Vec<Failure> {
    let mut f = Vec::new();
    let status = match (&r.error, r.deliveries.is_empty()) {
        (Some(_), _) => "error",
        (None, true) => "filtered",
        (None, false) => "processed",
    };
    let want_status = e.status.as_deref().or(e.error.as_ref().map(|_| "error"));
    // Without an expected status, a conversion error is a failure in itself.
    let want_status = want_status.unwrap_or(if r.error.is_some() { "processed or filtered" } else { status });
    if want_status != status && !(want_status == "processed or filtered" && status != "error") {
        let actual = match &r.error {
            Some(err) => format!("error: {err}"),
            None => status.to_owned(),
        };
        f.push(Failure::new("status", want_status, &actual));
    }
    if let Some(want) = &e.error {
        let got = r.error.clone().unwrap_or_else(|| "no error".into());
        if !got.contains(want.as_str()) {
            f.push(Failure::new("error", &format!("containing {want:?}"), &got));
        }
    }
    if r.error.is_some() {
        return f;
    }
    for fp in &e.fhirpath {
        f.extend(fhirpath(fp, &r.bundle));
    }
    let routes: BTreeSet<String> = r.deliveries.iter().map(|d| d.route.clone()).collect();
    if let Some(want) = &e.routes {
        let (want, got) = (sorted(want.iter().cloned()), sorted(routes.iter().cloned()));
        if want != got {
            f.push(Failure::new("routes", &list(&want), &list(&got)));
        }
    }
    for d in &e.deliveries {
        let matching: Vec<&NewDelivery> = r
            .deliveries
            .iter()
            .filter(|x| {
                x.destination == d.destination
                    && d.route.as_ref().is_none_or(|v| *v == x.route)
                    && d.routing_key.as_ref().is_none_or(|v| *v == x.routing_key)
                    && d.resource_type.as_ref().is_none_or(|v| *v == x.resource_type)
            })
            .collect();
        for x in &matching {
            let body: Value = serde_json::from_str(&x.body).unwrap_or(Value::Null);
            for fp in &d.fhirpath {
                for mut fail in fhirpath(fp, &body) {
                    fail.what = format!("delivery {} → {} {}: {}", x.route, x.destination, x.routing_key, fail.what);
                    f.push(fail);
                }
            }
        }
        let n = matching.len();
        let ok = d.count.map_or(n > 0, |c| c == n);
        if !ok {
            let want = format!(
                "{} deliver{} to {}{}{}{}",
                d.count.map_or("at least one".to_owned(), |c| c.to_string()),
                if d.count == Some(1) || d.count.is_none() { "y" } else { "ies" },
                d.destination,
                d.route.as_ref().map_or(String::new(), |v| format!(" by route {v}")),
                d.routing_key.as_ref().map_or(String::new(), |v| format!(" with key {v}")),
                d.resource_type.as_ref().map_or(String::new(), |v| format!(" of {v}")),
            );
            f.push(Failure::new("deliveries", &want, &describe(&r.deliveries)));
        }
    }
    for dest in &e.no_deliveries_to {
        let n = r.deliveries.iter().filter(|x| &x.destination == dest).count();
        if n > 0 {
            f.push(Failure::new(
                &format!("no deliveries to {dest}"),
                "0",
                &format!("{n}: {}", describe(&r.deliveries)),
            ));
        }
    }
    if let Some(want) = e.unmatched
        && want != r.unmatched
    {
        f.push(Failure::new("unmatched", &want.to_string(), &r.unmatched.to_string()));
    }
    if let Some(want) = &e.skipped {
        let (want, got) = (sorted(want.iter().cloned()), sorted(r.skipped.iter().cloned()));
        if want != got {
            f.push(Failure::new("skipped", &list(&want), &list(&got)));
        }
    }
    for x in &e.excluded {
        f.extend(excluded(&x.destination, &x.path, r));
    }
    if let Some(want) = &e.warnings {
        let (want, got) = (sorted(want.iter().cloned()), sorted(r.warnings.iter().cloned()));
        if want != got {
            f.push(Failure::new("warnings", &list(&want), &list(&got)));
        }
    }
    if let Some(want) = &e.unmapped {
        let (want, got) = (sorted(want.iter().cloned()), sorted(r.unmapped.iter().cloned()));
        if want != got {
            f.push(Failure::new("unmapped", &list(&want), &list(&got)));
        }
    }
    f
}

/// `route → destination key (type)` per delivery, counted.
fn describe(ds: &[NewDelivery]) -> String {
    let mut seen: Vec<(String, usize)> = Vec::new();
    for d in ds {
        let k = format!("{} → {} {} ({})", d.route, d.destination, d.routing_key, d.resource_type);
        match seen.iter_mut().find(|(s, _)| *s == k) {
            Some((_, n)) => *n += 1,
            None => seen.push((k, 1)),
        }
    }
    if seen.is_empty() {
        return "no deliveries".into();
    }
    seen.iter().map(|(k, n)| if *n > 1 { format!("{k} ×{n}") } else { k.clone() }).collect::<Vec<_>>().join("; ")
}

fn fhirpath(fp: &super::file::FhirPathExpect, bundle: &Value) -> Vec<Failure> {
    let what = format!("fhirpath {}", fp.path);
    let expr = match hearth_fhirpath::compile(&fp.path) {
        Ok(e) => e,
        Err(e) => return vec![Failure::new(&what, "a valid expression", &e.to_string())],
    };
    let items = match expr.evaluate(bundle) {
        Ok(items) => items,
        Err(e) => return vec![Failure::new(&what, "an evaluation", &format!("error: {e}"))],
    };
    let got: Vec<Value> = items.iter().map(|i| i.normalized().to_json()).collect();
    let got_text = Value::Array(got.clone()).to_string();
    let mut f = Vec::new();
    if let Some(want) = &fp.equals {
        let want = match toml_to_json(want) {
            Value::Array(a) => a,
            one => vec![one],
        };
        if !same(&want, &got) {
            f.push(Failure::new(&what, &Value::Array(want).to_string(), &got_text));
        }
    }
    if let Some(want) = fp.exists
        && want == got.is_empty()
    {
        f.push(Failure::new(&format!("{what} exists"), &want.to_string(), &format!("{} ({got_text})", !want)));
    }
    if let Some(want) = fp.count
        && want != got.len()
    {
        f.push(Failure::new(&format!("{what} count"), &want.to_string(), &format!("{} ({got_text})", got.len())));
    }
    f
}

/// Equal item by item; numbers compare by value (TOML `1` and a FHIR decimal `1.0`).
fn same(want: &[Value], got: &[Value]) -> bool {
    want.len() == got.len()
        && want.iter().zip(got).all(|(w, g)| match (w.as_f64(), g.as_f64()) {
            (Some(a), Some(b)) => a == b,
            _ => w == g,
        })
}

fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => json!(i),
        toml::Value::Float(x) => json!(x),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(t.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect()),
    }
}

/// The path finds something in the converted Bundle's resources, and nothing in any delivery to `dest`.
fn excluded(dest: &str, path: &str, r: &Result_) -> Vec<Failure> {
    let what = format!("excluded {path} for {dest}");
    let expr = match hearth_fhirpath::compile(path) {
        Ok(e) => e,
        Err(e) => return vec![Failure::new(&what, "a valid expression", &e.to_string())],
    };
    let count = |v: &Value| -> usize {
        // A Bundle body: each entry resource; a resource body: itself.
        let resources: Vec<&Value> = match v.get("resourceType").and_then(Value::as_str) {
            Some("Bundle") => v["entry"].as_array().into_iter().flatten().map(|e| &e["resource"]).collect(),
            _ => vec![v],
        };
        resources.iter().map(|res| expr.evaluate(res).map(|i| i.len()).unwrap_or(0)).sum()
    };
    let ds: Vec<&NewDelivery> = r.deliveries.iter().filter(|d| d.destination == dest).collect();
    if ds.is_empty() {
        return vec![Failure::new(&what, &format!("deliveries to {dest}"), "none")];
    }
    let in_source = count(&r.bundle);
    let leaked: usize = ds.iter().map(|d| serde_json::from_str::<Value>(&d.body).map(|b| count(&b)).unwrap_or(0)).sum();
    let mut f = Vec::new();
    if in_source == 0 {
        f.push(Failure::new(&what, "present in the converted Bundle (else the test proves nothing)", "absent"));
    }
    if leaked > 0 {
        f.push(Failure::new(&what, "absent from every delivery", &format!("{leaked} found")));
    }
    f
}
