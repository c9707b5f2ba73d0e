//! Validation and compilation of the raw route configuration into a [`RouteSet`], and its description.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use hearth_fhirpath::Expression;

use crate::error::RouteProblem;
use crate::projection::{ElementPath, Projection, is_resource_type};
use crate::raw::{RawRoute, RawRouting};
use crate::task::TaskSpec;
use crate::template::Template;

/// The default destination of the built-in default route.
pub const DEFAULT_DESTINATION: &str = "fhir";
/// The routing-key template of the default route and of `resources` routes without one.
pub const DEFAULT_ROUTING_KEY: &str = "{channel}.{event}.{resourceType}";
/// The routing-key template of the `unmatched` delivery.
pub const UNMATCHED_ROUTING_KEY: &str = "{channel}.{event}.unmatched";
/// The route name the built-in default route's deliveries carry (reserved: no user route may take it).
pub const DEFAULT_ROUTE_NAME: &str = "default";
/// The route name the `unmatched` delivery carries (reserved as well).
pub const UNMATCHED_ROUTE_NAME: &str = "unmatched";

/// What a destination lets the router know: its name and the elements it must not see.
#[derive(Debug, Clone, Copy)]
pub struct DestinationView<'a> {
    pub name: &'a str,
    /// Element paths such as `"Patient.telecom"`, `"*.text"`.
    pub exclude: &'a [String],
}

/// A validated, compiled set of routes: build it once with [`RouteSet::compile`], share it (`Arc`), and call
/// [`RouteSet::plan`] for every converted message.
#[derive(Debug, Clone)]
pub struct RouteSet {
    pub(crate) routes: Vec<Route>,
    pub(crate) default: Option<Route>,
    pub(crate) unmatched: Option<(usize, Template)>,
    pub(crate) destinations: Vec<Destination>,
}

#[derive(Debug, Clone)]
pub(crate) struct Destination {
    pub name: String,
    pub projection: Projection,
}

#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub name: String,
    pub channels: Option<Vec<String>>,
    pub events: Option<Vec<EventMatch>>,
    pub resource_types: Option<Vec<String>>,
    pub condition: Option<Expression>,
    pub payload: Payload,
    pub destinations: Vec<usize>,
    pub key: Template,
    pub ordered: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Payload {
    Resources,
    Bundle,
    Task(TaskSpec),
}

/// An `events` entry: `ADT^A03` or `A03`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventMatch {
    pub code: Option<String>,
    pub trigger: String,
}

impl EventMatch {
    fn parse(s: &str) -> Result<Self, String> {
        let part_ok = |p: &str| !p.is_empty() && p.len() <= 16 && p.bytes().all(|b| b.is_ascii_alphanumeric());
        match s.split_once('^') {
            Some((code, trigger)) if part_ok(code) && part_ok(trigger) => {
                Ok(Self { code: Some(code.to_owned()), trigger: trigger.to_owned() })
            }
            None if part_ok(s) => Ok(Self { code: None, trigger: s.to_owned() }),
            _ => Err(format!("{s:?} is not an event: write `ADT^A03` (message code ^ trigger) or `A03`")),
        }
    }

    /// HL7 codes are upper case; a lower-case sender or config still means the same event.
    pub fn matches(&self, code: Option<&str>, trigger: Option<&str>) -> bool {
        let same = |a: &str, b: Option<&str>| b.is_some_and(|b| a.eq_ignore_ascii_case(b));
        same(&self.trigger, trigger) && self.code.as_deref().is_none_or(|c| same(c, code))
    }
}

impl std::fmt::Display for EventMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{code}^{}", self.trigger),
            None => f.write_str(&self.trigger),
        }
    }
}

/// Collects problems while compiling; each names its key path.
#[derive(Debug, Default)]
pub(crate) struct Problems(pub Vec<RouteProblem>);

impl Problems {
    pub fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(RouteProblem::new(path, message));
    }

    /// `Some(value)` when `result` is `Ok`; otherwise records the problem under `path`.
    pub fn check<T>(&mut self, path: impl Into<String>, result: Result<T, String>) -> Option<T> {
        result.map_err(|m| self.add(path, m)).ok()
    }
}

/// Route names follow channel names: lowercase letters, digits, `-`, `_`, at most 64 bytes.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl RouteSet {
    /// Validate and compile. Every problem names its key path (`routes.discharge.condition`) and, for FHIRPath,
    /// the position (``unknown function `foo` at 13 (line 1, column 14)``). No IO.
    pub fn compile(
        routing: &RawRouting,
        routes: &BTreeMap<String, RawRoute>,
        destinations: &[DestinationView<'_>],
    ) -> Result<RouteSet, Vec<RouteProblem>> {
        let mut problems = Problems::default();
        let dests = compile_destinations(destinations, &mut problems);
        let find = |name: &str| dests.iter().position(|d| d.name == name);
        let compiled: Vec<Route> =
            routes.iter().filter_map(|(name, raw)| compile_route(name, raw, &find, &mut problems)).collect();
        let default = compile_default(routing, &find, &mut problems);
        let unmatched = routing.unmatched.as_deref().and_then(|name| match find(name) {
            Some(i) => Template::parse(UNMATCHED_ROUTING_KEY).ok().map(|t| (i, t)),
            None => {
                problems.add("routing.unmatched", format!("unknown destination {name:?}"));
                None
            }
        });
        if problems.0.is_empty() {
            Ok(RouteSet { routes: compiled, default, unmatched, destinations: dests })
        } else {
            Err(problems.0)
        }
    }

    /// Human-readable lines for `hearth check`'s topology printout, one per route.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for route in self.default.iter().chain(&self.routes) {
            let _ = writeln!(out, "{}", self.describe_route(route));
        }
        if self.default.is_none() {
            let _ = writeln!(out, "route {DEFAULT_ROUTE_NAME}: off");
        }
        match &self.unmatched {
            Some((d, key)) => {
                let name = &self.destinations[*d].name;
                let _ = writeln!(out, "unmatched messages: whole Bundle -> {name} (routing key {key})");
            }
            None => out.push_str("unmatched messages: not sent anywhere (no routing.unmatched)\n"),
        }
        for d in self.destinations.iter().filter(|d| !d.projection.is_empty()) {
            let paths: Vec<&str> = d.projection.sources().collect();
            let _ = writeln!(out, "destination {} never sees: {}", d.name, paths.join(", "));
        }
        out
    }

    fn describe_route(&self, r: &Route) -> String {
        let list = |v: &Option<Vec<String>>, any: &str| v.as_ref().map_or(any.to_owned(), |v| v.join(", "));
        let events = r
            .events
            .as_ref()
            .map_or("any event".to_owned(), |v| v.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "));
        let payload = match &r.payload {
            Payload::Resources => "each resource".to_owned(),
            Payload::Bundle => "whole Bundle".to_owned(),
            Payload::Task(t) => format!("Task {:?} due in {} h", t.description, t.due_in_hours),
        };
        let dests: Vec<&str> = r.destinations.iter().map(|&i| self.destinations[i].name.as_str()).collect();
        let mut line = format!(
            "route {}: channels {}; events {}; resource types {}",
            r.name,
            list(&r.channels, "any"),
            events,
            list(&r.resource_types, "any")
        );
        if let Some(c) = &r.condition {
            let _ = write!(line, "; when {}", c.source());
        }
        let _ = write!(line, " => {payload} -> {} (routing key {})", dests.join(", "), r.key);
        if r.ordered {
            line.push_str(", ordered per patient");
        }
        line
    }
}

fn compile_destinations(views: &[DestinationView<'_>], problems: &mut Problems) -> Vec<Destination> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(views.len());
    for view in views {
        if !seen.insert(view.name) {
            problems.add(format!("destinations.{}", view.name), "destination listed twice");
            continue;
        }
        let paths = view.exclude.iter().enumerate().filter_map(|(i, p)| {
            problems.check(format!("destinations.{}.exclude[{i}]", view.name), ElementPath::parse(p))
        });
        out.push(Destination { name: view.name.to_owned(), projection: Projection::new(paths.collect()) });
    }
    out
}

fn compile_default(
    routing: &RawRouting,
    find: &dyn Fn(&str) -> Option<usize>,
    problems: &mut Problems,
) -> Option<Route> {
    if !routing.default_route.unwrap_or(true) {
        return None;
    }
    let name = routing.default_destination.as_deref().unwrap_or(DEFAULT_DESTINATION);
    let Some(dest) = find(name) else {
        problems.add(
            "routing.default_destination",
            format!("unknown destination {name:?} (configure it, or set routing.default_route = false)"),
        );
        return None;
    };
    Some(Route {
        name: DEFAULT_ROUTE_NAME.to_owned(),
        channels: None,
        events: None,
        resource_types: None,
        condition: None,
        payload: Payload::Resources,
        destinations: vec![dest],
        key: Template::parse(DEFAULT_ROUTING_KEY).ok()?,
        ordered: false,
    })
}

fn compile_route(
    name: &str,
    raw: &RawRoute,
    find: &dyn Fn(&str) -> Option<usize>,
    problems: &mut Problems,
) -> Option<Route> {
    let at = |key: &str| format!("routes.{name}.{key}");
    let before = problems.0.len();
    if !valid_name(name) {
        problems.add(format!("routes.{name}"), "route names use lowercase letters, digits, '-' and '_' (max 64)");
    } else if name == DEFAULT_ROUTE_NAME || name == UNMATCHED_ROUTE_NAME {
        problems.add(format!("routes.{name}"), format!("{name:?} is reserved for the built-in route"));
    }
    let channels = compile_channels(raw.channels.as_deref(), &at("channels"), problems);
    let events = raw.events.as_ref().map(|evs| {
        let parsed = evs
            .iter()
            .enumerate()
            .filter_map(|(i, e)| problems.check(at(&format!("events[{i}]")), EventMatch::parse(e)));
        parsed.collect::<Vec<_>>()
    });
    check_non_empty(raw.events.as_deref(), &at("events"), problems);
    let resource_types = compile_resource_types(raw.resource_types.as_deref(), &at("resource_types"), problems);
    let condition = raw
        .condition
        .as_deref()
        .and_then(|c| problems.check(at("condition"), hearth_fhirpath::compile(c).map_err(|e| e.to_string())));
    let payload = compile_payload(raw, &at, problems);
    let destinations = compile_route_destinations(&raw.destinations, &at("destinations"), find, problems);
    let key_src = raw.routing_key.as_deref().unwrap_or(DEFAULT_ROUTING_KEY);
    let key = problems.check(at("routing_key"), Template::parse(key_src));
    if problems.0.len() != before {
        return None;
    }
    Some(Route {
        name: name.to_owned(),
        channels,
        events,
        resource_types,
        condition,
        payload: payload?,
        destinations,
        key: key?,
        ordered: raw.ordered.unwrap_or(false),
    })
}

/// An empty list would match nothing, which is never what someone writing it meant.
fn check_non_empty<T>(list: Option<&[T]>, path: &str, problems: &mut Problems) {
    if list.is_some_and(<[T]>::is_empty) {
        problems.add(path, "empty list matches nothing; leave the key out to match any");
    }
}

fn compile_channels(list: Option<&[String]>, path: &str, problems: &mut Problems) -> Option<Vec<String>> {
    check_non_empty(list, path, problems);
    for (i, c) in list.unwrap_or_default().iter().enumerate() {
        if !valid_name(c) {
            problems.add(format!("{path}[{i}]"), format!("{c:?} is not a channel name"));
        }
    }
    list.map(<[String]>::to_vec)
}

fn compile_resource_types(list: Option<&[String]>, path: &str, problems: &mut Problems) -> Option<Vec<String>> {
    check_non_empty(list, path, problems);
    for (i, t) in list.unwrap_or_default().iter().enumerate() {
        if !is_resource_type(t) {
            problems.add(format!("{path}[{i}]"), format!("{t:?} is not a resource type (e.g. \"Patient\")"));
        }
    }
    list.map(<[String]>::to_vec)
}

fn compile_payload(raw: &RawRoute, at: &dyn Fn(&str) -> String, problems: &mut Problems) -> Option<Payload> {
    let kind = raw.payload.as_deref().unwrap_or("resources");
    match (kind, &raw.task) {
        ("resources", None) => Some(Payload::Resources),
        ("bundle", None) => Some(Payload::Bundle),
        ("task", Some(task)) => TaskSpec::compile(task, &at("task"), problems).map(Payload::Task),
        ("task", None) => {
            problems.add(at("task"), "payload = \"task\" needs a [task] table (description, due_in_hours)");
            None
        }
        ("resources" | "bundle", Some(_)) => {
            problems.add(at("task"), "a [task] table needs payload = \"task\"");
            None
        }
        (other, _) => {
            problems
                .add(at("payload"), format!("unknown payload {other:?}; one of \"resources\", \"bundle\", \"task\""));
            None
        }
    }
}

fn compile_route_destinations(
    names: &[String],
    path: &str,
    find: &dyn Fn(&str) -> Option<usize>,
    problems: &mut Problems,
) -> Vec<usize> {
    if names.is_empty() {
        problems.add(path, "a route needs at least one destination");
    }
    let mut out = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        match find(name) {
            Some(d) if out.contains(&d) => problems.add(format!("{path}[{i}]"), format!("{name:?} listed twice")),
            Some(d) => out.push(d),
            None => problems.add(format!("{path}[{i}]"), format!("unknown destination {name:?}")),
        }
    }
    out
}
