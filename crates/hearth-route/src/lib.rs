//! Route rules: which destinations a converted message goes to, in what shape, under which routing key.
//!
//! This crate owns the `[routing]` and `[routes.<name>]` configuration (raw serde structs, validated and compiled
//! once into a [`RouteSet`]) and the per-message planning ([`RouteSet::plan`]): matching on channel, event,
//! resource types and a FHIRPath condition ([`hearth_fhirpath`]), splitting a Bundle into standalone resources
//! (references rewritten), per-destination projections, routing-key templates, content ids for deduplication,
//! ordered lanes, and the post-discharge follow-up Task. It is pure: no IO, no clock of its own, no async. The
//! engine stores each [`Delivery`] as an outbox row; sinks publish them. `docs/routing.md` is the user reference.
//!
//! ```
//! use std::collections::BTreeMap;
//! use hearth_route::{DestinationView, MessageContext, RawRoute, RawRouting, RouteSet};
//! use serde_json::json;
//!
//! let billing_exclude = vec!["Patient.telecom".to_string()];
//! let destinations = [
//!     DestinationView { name: "fhir", exclude: &[] },
//!     DestinationView { name: "billing", exclude: &billing_exclude },
//! ];
//! let mut routes = BTreeMap::new();
//! routes.insert("billing".to_string(), RawRoute {
//!     events: Some(vec!["ADT^A03".into()]),
//!     resource_types: Some(vec!["Patient".into()]),
//!     condition: Some("Bundle.entry.resource.ofType(Patient).gender = 'female'".into()),
//!     destinations: vec!["billing".into()],
//!     ..RawRoute::default()
//! });
//! let set = RouteSet::compile(&RawRouting::default(), &routes, &destinations).expect("valid routes");
//!
//! let bundle = json!({ "resourceType": "Bundle", "type": "transaction", "entry": [{
//!     "fullUrl": "urn:uuid:3d0022b6-14ae-5718-af76-1a6000edf9dd",
//!     "resource": { "resourceType": "Patient", "id": "3d0022b6-14ae-5718-af76-1a6000edf9dd",
//!                   "gender": "female", "telecom": [{ "system": "phone", "value": "555-0100" }] },
//!     "request": { "method": "PUT", "url": "Patient/3d0022b6-14ae-5718-af76-1a6000edf9dd" }
//! }]});
//! let ctx = MessageContext {
//!     channel: "adt", message_code: Some("ADT"), trigger_event: Some("A03"),
//!     message_key: "journal-42", now: time::macros::datetime!(2025-01-01 00:00 UTC),
//! };
//! let plan = set.plan(&ctx, &bundle)?;
//! assert_eq!(plan.matched, ["billing"]);
//! let keys: Vec<_> = plan.deliveries.iter().map(|d| (d.destination.as_str(), d.routing_key.as_str())).collect();
//! assert_eq!(keys, [("fhir", "adt.A03.Patient"), ("billing", "adt.A03.Patient")]);
//! assert!(plan.deliveries[0].body.contains("telecom"));
//! assert!(!plan.deliveries[1].body.contains("telecom")); // billing's projection
//!
//! let mut bad = routes.clone();
//! bad.get_mut("billing").unwrap().condition = Some("Bundle.entry.foo()".into());
//! let problems = RouteSet::compile(&RawRouting::default(), &bad, &destinations).unwrap_err();
//! assert_eq!(problems[0].path, "routes.billing.condition");
//! assert_eq!(problems[0].message, "unknown function `foo` at 13 (line 1, column 14)");
//! # Ok::<(), hearth_route::RouteError>(())
//! ```
#![forbid(unsafe_code)]

mod error;
mod plan;
mod projection;
mod raw;
mod set;
mod task;
mod template;

#[cfg(test)]
mod tests;

pub use error::{RouteError, RouteProblem};
pub use plan::{Delivery, MessageContext, RoutePlan};
pub use raw::{RawCoding, RawRoute, RawRouting, RawTask};
pub use set::{
    DEFAULT_DESTINATION, DEFAULT_ROUTE_NAME, DEFAULT_ROUTING_KEY, DestinationView, RouteSet, UNMATCHED_ROUTE_NAME,
    UNMATCHED_ROUTING_KEY,
};
pub use task::MAX_DUE_IN_HOURS;
pub use template::MAX_ROUTING_KEY_BYTES;

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
