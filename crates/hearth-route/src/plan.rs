//! Planning: which routes a converted message matches and the deliveries they make.

use std::cell::OnceCell;
use std::collections::HashMap;

use hearth_core::MAPPING_SYSTEM;
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

/// One payload for one destination: the engine stores it as an outbox row as it is. `content_id` is computed
/// as [`RouteSet::plan`] says.
pub use hearth_core::PlannedDelivery as Delivery;

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
                            let rendered = render_task(&task, &d.projection);
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
    entries: Vec<Entry<'a>>,
    patient: Option<&'a Value>,
    encounter: Option<&'a Value>,
    refs: OnceCell<HashMap<&'a str, String>>,
    /// Per entry: the resource alone (references rewritten), unprojected.
    split: Vec<OnceCell<Rendered>>,
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
        let resource = self.entries[i].resource;
        let refs = self.refs.get_or_init(|| reference_map(self.bundle));
        if !projection.touches(resource) {
            return self.split[i].get_or_init(|| render_alone(resource, refs)).clone();
        }
        let mut copy = resource.clone();
        projection.apply(&mut copy);
        render_alone(&copy, refs)
    }

    /// The whole Bundle for a destination with `projection` (applied to every entry resource).
    fn bundle_for(&self, projection: &Projection) -> Rendered {
        let touched = self.entries.iter().any(|e| projection.touches(e.resource));
        if !touched {
            return self.whole.get_or_init(|| render_bundle(self.bundle)).clone();
        }
        let mut copy = self.bundle.clone();
        if let Some(Value::Array(entries)) = copy.get_mut("entry") {
            entries.iter_mut().filter_map(|e| e.get_mut("resource")).for_each(|r| projection.apply(r));
        }
        render_bundle(&copy)
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

/// A resource serialised with its `reference`s to other entries rewritten on the way out (no copy of the
/// resource: this is the hot path), optionally without one top-level key (for the content id).
#[derive(Debug, Clone, Copy)]
struct Alone<'a> {
    value: &'a Value,
    refs: Option<&'a HashMap<&'a str, String>>,
    skip: Option<&'a str>,
}

impl serde::Serialize for Alone<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        let child = |value| Alone { value, refs: self.refs, skip: None };
        match self.value {
            Value::Object(obj) => {
                let mut map = ser.serialize_map(None)?;
                for (key, v) in obj.iter().filter(|(k, _)| Some(k.as_str()) != self.skip) {
                    // Only `reference` values are references: a `urn:uuid:` identifier system is data and stays.
                    match v.as_str().filter(|_| key == "reference").and_then(|r| self.refs?.get(r)) {
                        Some(target) => map.serialize_entry(key, target)?,
                        None => map.serialize_entry(key, &child(v))?,
                    }
                }
                map.end()
            }
            Value::Array(items) => {
                let mut seq = ser.serialize_seq(Some(items.len()))?;
                items.iter().try_for_each(|v| seq.serialize_element(&child(v)))?;
                seq.end()
            }
            other => other.serialize(ser),
        }
    }
}

/// A resource published alone: references rewritten; the content id leaves out a conversion Provenance's
/// `recorded`.
fn render_alone(resource: &Value, refs: &HashMap<&str, String>) -> Rendered {
    let body = to_json(&Alone { value: resource, refs: Some(refs), skip: None });
    let content_id = if conversion_provenance(resource) {
        sha256_hex(to_json(&Alone { value: resource, refs: Some(refs), skip: Some("recorded") }).as_bytes())
    } else {
        sha256_hex(body.as_bytes())
    };
    Rendered { body, content_id }
}

/// Serialising a `Value` (string keys only) cannot fail; an empty body would be refused downstream anyway.
fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// A Task this crate made, for a destination with `projection`; the content id leaves out `authoredOn`, the
/// planning time.
fn render_task(task: &Value, projection: &Projection) -> Rendered {
    let projected;
    let task = if projection.touches(task) {
        let mut copy = task.clone();
        projection.apply(&mut copy);
        projected = copy;
        &projected
    } else {
        task
    };
    let body = to_json(task);
    let content_id = sha256_hex(to_json(&Alone { value: task, refs: None, skip: Some("authoredOn") }).as_bytes());
    Rendered { body, content_id }
}

/// A whole Bundle; the content id leaves out `Bundle.timestamp` and a conversion Provenance's `recorded`.
fn render_bundle(bundle: &Value) -> Rendered {
    let body = to_json(bundle);
    Rendered { body, content_id: sha256_hex(to_json(&Stable::Bundle(bundle)).as_bytes()) }
}

/// The bytes a content id digests, written without copying the Bundle: the Bundle as if `timestamp` had been
/// removed from it, and from each conversion Provenance `recorded`, with `serde_json::Map::remove`. The ids are
/// stored with every delivery (a reprocessing compares them), so these bytes must stay those of that removal,
/// which moves the map's last key into the removed one's place when serde_json keeps insertion order.
#[derive(Debug, Clone, Copy)]
enum Stable<'a> {
    Bundle(&'a Value),
    Entries(&'a [Value]),
    Entry(&'a Value),
    Resource(&'a Value),
}

impl serde::Serialize for Stable<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match *self {
            Stable::Bundle(Value::Object(obj)) => {
                let entries = without(obj, "timestamp");
                let mut map = ser.serialize_map(Some(entries.len()))?;
                for (key, v) in entries {
                    match v {
                        Value::Array(items) if key == "entry" => map.serialize_entry(key, &Stable::Entries(items))?,
                        _ => map.serialize_entry(key, v)?,
                    }
                }
                map.end()
            }
            Stable::Entries(items) => {
                let mut seq = ser.serialize_seq(Some(items.len()))?;
                items.iter().try_for_each(|e| seq.serialize_element(&Stable::Entry(e)))?;
                seq.end()
            }
            Stable::Entry(Value::Object(obj)) => {
                let mut map = ser.serialize_map(Some(obj.len()))?;
                for (key, v) in obj {
                    match key.as_str() {
                        "resource" => map.serialize_entry(key, &Stable::Resource(v))?,
                        _ => map.serialize_entry(key, v)?,
                    }
                }
                map.end()
            }
            Stable::Resource(resource @ Value::Object(obj)) if conversion_provenance(resource) => {
                let entries = without(obj, "recorded");
                let mut map = ser.serialize_map(Some(entries.len()))?;
                entries.into_iter().try_for_each(|(key, v)| map.serialize_entry(key, v))?;
                map.end()
            }
            Stable::Bundle(v) | Stable::Entry(v) | Stable::Resource(v) => v.serialize(ser),
        }
    }
}

/// An object's entries in the order `Map::remove(key)` leaves them.
fn without<'a>(obj: &'a serde_json::Map<String, Value>, key: &str) -> Vec<(&'a String, &'a Value)> {
    let mut entries: Vec<_> = obj.iter().collect();
    if let Some(i) = entries.iter().position(|(k, _)| k.as_str() == key) {
        if keeps_insertion_order() {
            entries.swap_remove(i);
        } else {
            entries.remove(i);
        }
    }
    entries
}

/// Whether serde_json keeps keys in insertion order (its `preserve_order` feature, which fhirbolt turns on for
/// every build of the engine); a crate built alone may have sorted maps instead.
fn keeps_insertion_order() -> bool {
    static ORDER: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ORDER.get_or_init(|| {
        let mut probe = serde_json::Map::new();
        probe.insert("b".to_owned(), Value::Null);
        probe.insert("a".to_owned(), Value::Null);
        probe.keys().next().map(String::as_str) == Some("b")
    })
}

/// The mapper's transformation Provenance: its agent is the Hearth mapping, and its `recorded` is the conversion
/// time (Bundle.timestamp is the message's own time, MSH-7), so a reconversion differs only there.
fn conversion_provenance(resource: &Value) -> bool {
    resource.get("resourceType").and_then(Value::as_str) == Some("Provenance")
        && resource.get("agent").and_then(Value::as_array).is_some_and(|agents| {
            agents.iter().any(|a| a.pointer("/who/identifier/system").and_then(Value::as_str) == Some(MAPPING_SYSTEM))
        })
}

fn sha256_hex(bytes: &[u8]) -> String {
    let mut out = [0u8; 64];
    // `encode_to_slice` is the table-driven encoder (the iterator behind `hex::encode` is several times slower);
    // 64 bytes always fit 32 bytes of digest, so the error case cannot happen.
    match hex::encode_to_slice(Sha256::digest(bytes), &mut out) {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(_) => hex::encode(Sha256::digest(bytes)),
    }
}

#[cfg(test)]
mod content_id_tests {
    use serde_json::json;

    use super::*;

    /// The content id as it was first computed (and is stored in journals): a copy with the keys removed.
    fn by_copy(bundle: &Value) -> String {
        let mut stable = bundle.clone();
        if let Some(obj) = stable.as_object_mut() {
            obj.remove("timestamp");
        }
        if let Some(Value::Array(entries)) = stable.get_mut("entry") {
            for r in entries.iter_mut().filter_map(|e| e.get_mut("resource")) {
                if conversion_provenance(r) {
                    r.as_object_mut().map(|obj| obj.remove("recorded"));
                }
            }
        }
        sha256_hex(to_json(&stable).as_bytes())
    }

    #[test]
    fn the_content_id_is_that_of_the_copy_with_keys_removed() {
        let provenance = |system: &str, recorded_first: bool| {
            let mut p = serde_json::Map::new();
            p.insert("resourceType".into(), json!("Provenance"));
            if recorded_first {
                p.insert("recorded".into(), json!("2026-01-01T00:00:00Z"));
            }
            p.insert("target".into(), json!([{ "reference": "urn:uuid:1" }]));
            if !recorded_first {
                p.insert("recorded".into(), json!("2026-01-01T00:00:00Z"));
            }
            p.insert("agent".into(), json!([{ "who": { "identifier": { "system": system, "value": "v2" } } }]));
            p.insert("activity".into(), json!({ "text": "x" }));
            Value::Object(p)
        };
        let bundles = [
            json!({ "resourceType": "Bundle", "timestamp": "t", "type": "transaction", "entry": [
                { "fullUrl": "urn:uuid:1", "resource": { "resourceType": "Patient", "id": "1" } },
                { "resource": provenance(MAPPING_SYSTEM, true), "request": { "method": "POST" } },
                { "resource": provenance("urn:other", true) },
                { "request": { "method": "DELETE" } },
                "not an entry",
            ], "total": 3 }),
            json!({ "resourceType": "Bundle", "type": "batch", "entry": [
                { "resource": provenance(MAPPING_SYSTEM, false) },
            ], "timestamp": "t" }),
            json!({ "resourceType": "Bundle", "entry": "not a list", "timestamp": "t", "id": "x" }),
            json!({ "resourceType": "Bundle" }),
            json!(["not", "a", "Bundle"]),
        ];
        for b in &bundles {
            assert_eq!(render_bundle(b).content_id, by_copy(b), "{b}");
        }
        // The ids ignore the conversion time and nothing else.
        let mut later = bundles[0].clone();
        later["timestamp"] = json!("u");
        later["entry"][1]["resource"]["recorded"] = json!("2027-01-01T00:00:00Z");
        assert_eq!(render_bundle(&later).content_id, render_bundle(&bundles[0]).content_id);
        later["entry"][2]["resource"]["recorded"] = json!("2027-01-01T00:00:00Z");
        assert_ne!(render_bundle(&later).content_id, render_bundle(&bundles[0]).content_id);
    }
}
