//! Planning: which routes a converted message matches and the deliveries they make.

use std::cell::OnceCell;
use std::collections::HashMap;

use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::error::RouteError;
use crate::projection::{Projection, is_resource_type};
use crate::set::{Destination, Payload, Route, RouteSet, UNMATCHED_ROUTE_NAME};
use crate::task::{fhir_id, is_reference};
use crate::template::{Template, Vars};

/// What the router knows about the message besides its Bundle.
#[derive(Debug, Clone, Copy)]
pub struct MessageContext<'a> {
    /// The channel it arrived on.
    pub channel: &'a str,
    /// `"ADT"` (MSH-9.1), when the source format has one.
    pub message_code: Option<&'a str>,
    /// `"A03"` (MSH-9.2), when the source format has one.
    pub trigger_event: Option<&'a str>,
    /// Stable per source message (dedup key or journal id): the seed of generated Task ids.
    pub message_key: &'a str,
    /// Planning time: a generated Task's `authoredOn`, and its due base when there is no discharge time.
    pub now: OffsetDateTime,
}

/// The deliveries for one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutePlan {
    /// Default route first, then user routes in name order, then `unmatched`.
    pub deliveries: Vec<Delivery>,
    /// User routes that produced at least one delivery, in name order (the default route is not listed).
    pub matched: Vec<String>,
    /// True when no user route produced a delivery and `routing.unmatched` took the Bundle.
    pub unmatched: bool,
    /// User routes that matched but could deliver nothing, with why (e.g. a Task route and no Patient).
    pub skipped: Vec<(String, String)>,
}

/// One payload for one destination: the engine stores it as an outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub route: String,
    pub destination: String,
    pub routing_key: String,
    /// FHIR R4 JSON, compact, with the destination's projection applied.
    pub body: String,
    /// Lowercase hex SHA-256 of the body without its volatile values (see [`RouteSet::plan`]): the AMQP
    /// `message_id`.
    pub content_id: String,
    /// `"Patient"`, `"Bundle"`, `"Task"`, ...
    pub resource_type: String,
    /// The patient's lane when the route is ordered and the message has a Patient.
    pub lane: Option<String>,
}

impl RouteSet {
    /// The deliveries for one converted message (a FHIR Bundle).
    ///
    /// `content_id` hashes the delivered body except the values that only say when the conversion ran:
    /// `Bundle.timestamp`, a `Provenance.recorded` equal to it, and a generated Task's `authoredOn`; so
    /// reprocessing a message gives the same ids. A condition that fails at run time is a [`RouteError`] naming
    /// the route; nothing here panics, whatever the JSON.
    pub fn plan(&self, ctx: &MessageContext<'_>, bundle: &serde_json::Value) -> Result<RoutePlan, RouteError> {
        let msg = Message::read(bundle)?;
        let mut plan = RoutePlan::default();
        if let Some(route) = &self.default {
            self.deliver(route, ctx, &msg, &mut plan);
        }
        for route in &self.routes {
            if route.matches(ctx, &msg)? && self.deliver(route, ctx, &msg, &mut plan) {
                plan.matched.push(route.name.clone());
            }
        }
        if let (true, Some((dest, key))) = (plan.matched.is_empty(), &self.unmatched) {
            let d = &self.destinations[*dest];
            let rendered = msg.bundle_for(&d.projection);
            plan.deliveries.push(delivery(UNMATCHED_ROUTE_NAME, d, key, ctx, rendered, "Bundle", None));
            plan.unmatched = true;
        }
        Ok(plan)
    }

    /// Add `route`'s deliveries; false when it made none.
    fn deliver(&self, route: &Route, ctx: &MessageContext<'_>, msg: &Message<'_>, plan: &mut RoutePlan) -> bool {
        let lane = route.ordered.then(|| msg.patient.and_then(fhir_id).map(str::to_owned)).flatten();
        let before = plan.deliveries.len();
        let dests = route.destinations.iter().map(|&i| &self.destinations[i]);
        match &route.payload {
            Payload::Resources => {
                for (i, entry) in msg.entries.iter().enumerate().filter(|(_, e)| route.wants(e.rtype)) {
                    for d in dests.clone() {
                        let rendered = msg.resource_for(i, &d.projection);
                        let lane = lane.clone();
                        plan.deliveries.push(delivery(&route.name, d, &route.key, ctx, rendered, entry.rtype, lane));
                    }
                }
            }
            Payload::Bundle => {
                for d in dests {
                    let rendered = msg.bundle_for(&d.projection);
                    plan.deliveries.push(delivery(&route.name, d, &route.key, ctx, rendered, "Bundle", lane.clone()));
                }
            }
            Payload::Task(spec) => {
                match spec.build(&route.name, ctx.message_key, ctx.now, msg.patient, msg.encounter) {
                    Ok(task) => {
                        for d in dests {
                            let rendered = render_projected(&task, &d.projection, Volatile::GeneratedTask);
                            plan.deliveries.push(delivery(
                                &route.name,
                                d,
                                &route.key,
                                ctx,
                                rendered,
                                "Task",
                                lane.clone(),
                            ));
                        }
                    }
                    Err(reason) => plan.skipped.push((route.name.clone(), reason.to_owned())),
                }
            }
        }
        plan.deliveries.len() > before
    }
}

fn delivery(
    route: &str,
    dest: &Destination,
    key: &Template,
    ctx: &MessageContext<'_>,
    rendered: Rendered,
    resource_type: &str,
    lane: Option<String>,
) -> Delivery {
    let code = ctx.message_code.filter(|c| !c.is_empty());
    let trigger = ctx.trigger_event.filter(|t| !t.is_empty());
    let vars = Vars {
        channel: ctx.channel,
        event: trigger.or(code).unwrap_or("none"),
        message_code: code.unwrap_or("none"),
        resource_type,
        route,
        destination: &dest.name,
    };
    Delivery {
        route: route.to_owned(),
        destination: dest.name.clone(),
        routing_key: key.render(&vars),
        body: rendered.body,
        content_id: rendered.content_id,
        resource_type: resource_type.to_owned(),
        lane,
    }
}

impl Route {
    fn matches(&self, ctx: &MessageContext<'_>, msg: &Message<'_>) -> Result<bool, RouteError> {
        let channel_ok = self.channels.as_ref().is_none_or(|c| c.iter().any(|c| c == ctx.channel));
        let event_ok =
            self.events.as_ref().is_none_or(|evs| evs.iter().any(|e| e.matches(ctx.message_code, ctx.trigger_event)));
        let types_ok = self.resource_types.is_none() || msg.entries.iter().any(|e| self.wants(e.rtype));
        if !(channel_ok && event_ok && types_ok) {
            return Ok(false);
        }
        let Some(condition) = &self.condition else { return Ok(true) };
        condition.evaluate_bool(msg.bundle).map_err(|source| RouteError::Condition { route: self.name.clone(), source })
    }

    fn wants(&self, rtype: &str) -> bool {
        self.resource_types.as_ref().is_none_or(|types| types.iter().any(|t| t == rtype))
    }
}

/// One entry resource of the Bundle.
#[derive(Debug)]
struct Entry<'a> {
    resource: &'a Value,
    rtype: &'a str,
}

/// A serialised payload and its content id.
#[derive(Debug, Clone)]
struct Rendered {
    body: String,
    content_id: String,
}

/// The Bundle being planned, with what several routes and destinations share computed at most once.
#[derive(Debug)]
struct Message<'a> {
    bundle: &'a Value,
    /// `Bundle.timestamp`: the conversion time, the one volatile value of a converted Bundle.
    converted_at: Option<&'a str>,
    entries: Vec<Entry<'a>>,
    patient: Option<&'a Value>,
    encounter: Option<&'a Value>,
    refs: OnceCell<HashMap<&'a str, String>>,
    /// Per entry: the resource alone (references rewritten) and its unprojected rendering.
    split: Vec<OnceCell<(Value, Rendered)>>,
    whole: OnceCell<Rendered>,
}

impl<'a> Message<'a> {
    fn read(bundle: &'a Value) -> Result<Self, RouteError> {
        let obj = bundle.as_object().ok_or(RouteError::NotABundle("not a JSON object"))?;
        if obj.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
            return Err(RouteError::NotABundle("resourceType is not \"Bundle\""));
        }
        let raw_entries = match obj.get("entry") {
            None => &[][..],
            Some(Value::Array(a)) => a.as_slice(),
            Some(_) => return Err(RouteError::NotABundle("entry is not an array")),
        };
        let mut entries = Vec::with_capacity(raw_entries.len());
        for (index, e) in raw_entries.iter().enumerate() {
            // An entry without a resource (a DELETE request) has nothing to deliver on its own.
            let Some(resource) = e.get("resource") else { continue };
            let rtype = resource.get("resourceType").and_then(Value::as_str).filter(|t| is_resource_type(t));
            let rtype = rtype.ok_or(RouteError::BadEntry { index, reason: "resource without a valid resourceType" })?;
            entries.push(Entry { resource, rtype });
        }
        let first = |t: &str| entries.iter().find(|e| e.rtype == t).map(|e| e.resource);
        let (patient, encounter) = (first("Patient"), first("Encounter"));
        Ok(Self {
            bundle,
            converted_at: obj.get("timestamp").and_then(Value::as_str),
            split: entries.iter().map(|_| OnceCell::new()).collect(),
            entries,
            patient,
            encounter,
            refs: OnceCell::new(),
            whole: OnceCell::new(),
        })
    }

    /// Entry resource `i` as published alone, for a destination with `projection`.
    fn resource_for(&self, i: usize, projection: &Projection) -> Rendered {
        let (alone, plain) = self.split[i].get_or_init(|| {
            let mut alone = self.entries[i].resource.clone();
            rewrite_references(&mut alone, self.refs.get_or_init(|| reference_map(self.bundle)));
            let rendered = render(&alone, Volatile::Resource(self.converted_at));
            (alone, rendered)
        });
        if projection.touches(alone) {
            render_projected(alone, projection, Volatile::Resource(self.converted_at))
        } else {
            plain.clone()
        }
    }

    /// The whole Bundle for a destination with `projection` (applied to every entry resource).
    fn bundle_for(&self, projection: &Projection) -> Rendered {
        let touched = self.entries.iter().any(|e| projection.touches(e.resource));
        if !touched {
            return self.whole.get_or_init(|| render(self.bundle, Volatile::Bundle(self.converted_at))).clone();
        }
        let mut copy = self.bundle.clone();
        if let Some(Value::Array(entries)) = copy.get_mut("entry") {
            entries.iter_mut().filter_map(|e| e.get_mut("resource")).for_each(|r| projection.apply(r));
        }
        render(&copy, Volatile::Bundle(self.converted_at))
    }
}

/// `fullUrl` (`urn:uuid:…`) → `Type/id`, from the resource itself or else a literal `request.url`; a conditional
/// request URL (`Patient?identifier=…`) names no id, so the resource's own id is preferred.
fn reference_map(bundle: &Value) -> HashMap<&str, String> {
    let entries = bundle.get("entry").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let mut refs = HashMap::with_capacity(entries.len());
    for e in entries {
        let Some(full_url) = e.get("fullUrl").and_then(Value::as_str).filter(|u| u.starts_with("urn:uuid:")) else {
            continue;
        };
        let resource = e.get("resource");
        let rtype = resource.and_then(|r| r.get("resourceType")).and_then(Value::as_str);
        let own = rtype.zip(resource.and_then(fhir_id)).map(|(t, id)| format!("{t}/{id}"));
        let request = e.pointer("/request/url").and_then(Value::as_str).filter(|u| is_reference(u));
        if let Some(target) = own.or_else(|| request.map(str::to_owned)) {
            refs.insert(full_url, target);
        }
    }
    refs
}

/// Replace `reference` values that name another entry of the Bundle; other `urn:uuid:` strings (an identifier
/// system, say) are data and stay.
fn rewrite_references(value: &mut Value, refs: &HashMap<&str, String>) {
    match value {
        Value::Object(obj) => {
            for (key, v) in obj.iter_mut() {
                match v {
                    Value::String(s) if key == "reference" => {
                        if let Some(target) = refs.get(s.as_str()) {
                            target.clone_into(s);
                        }
                    }
                    _ => rewrite_references(v, refs),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_references(v, refs)),
        _ => {}
    }
}

/// Which values of a payload say only when it was produced (left out of the content id).
#[derive(Debug, Clone, Copy)]
enum Volatile<'a> {
    /// A resource alone; the Bundle's conversion time.
    Resource(Option<&'a str>),
    /// A whole Bundle; its conversion time.
    Bundle(Option<&'a str>),
    /// A Task this crate made: `authoredOn` is the planning time.
    GeneratedTask,
}

fn render_projected(value: &Value, projection: &Projection, volatile: Volatile<'_>) -> Rendered {
    if !projection.touches(value) {
        return render(value, volatile);
    }
    let mut copy = value.clone();
    projection.apply(&mut copy);
    render(&copy, volatile)
}

fn render(value: &Value, volatile: Volatile<'_>) -> Rendered {
    let body = value.to_string();
    let content_id = match without_volatile(value, volatile) {
        Some(stable) => sha256_hex(stable.to_string().as_bytes()),
        None => sha256_hex(body.as_bytes()),
    };
    Rendered { body, content_id }
}

/// A copy of `value` without its volatile values, or `None` when it has none (hash the body as it is).
fn without_volatile(value: &Value, volatile: Volatile<'_>) -> Option<Value> {
    match volatile {
        Volatile::Resource(at) => conversion_provenance(value, at).then(|| {
            let mut copy = value.clone();
            strip(&mut copy, "recorded");
            copy
        }),
        Volatile::Bundle(at) => {
            let mut copy = value.clone();
            strip(&mut copy, "timestamp");
            if let Some(Value::Array(entries)) = copy.get_mut("entry") {
                for r in entries.iter_mut().filter_map(|e| e.get_mut("resource")) {
                    if conversion_provenance(r, at) {
                        strip(r, "recorded");
                    }
                }
            }
            Some(copy)
        }
        Volatile::GeneratedTask => {
            let mut copy = value.clone();
            strip(&mut copy, "authoredOn");
            Some(copy)
        }
    }
}

/// The mapper's transformation Provenance is `recorded` at the conversion time.
fn conversion_provenance(resource: &Value, converted_at: Option<&str>) -> bool {
    resource.get("resourceType").and_then(Value::as_str) == Some("Provenance")
        && converted_at.is_some()
        && resource.get("recorded").and_then(Value::as_str) == converted_at
}

fn strip(value: &mut Value, key: &str) {
    if let Some(obj) = value.as_object_mut() {
        obj.remove(key);
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
