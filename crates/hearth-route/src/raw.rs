//! The raw configuration pieces, as serde reads them from TOML (`[routing]`, `[routes.<name>]`). Nothing here is
//! validated; [`crate::RouteSet::compile`] turns them into a route set that cannot be invalid.

use serde::Deserialize;

/// `[routing]`: the built-in default route and the `unmatched` catch-all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouting {
    /// Send every resource of every message to `default_destination` (default `true`).
    pub default_route: Option<bool>,
    /// Where the default route sends (default `"fhir"`).
    pub default_destination: Option<String>,
    /// Destination for the whole Bundle of a message that matched no user route (default: none).
    pub unmatched: Option<String>,
}

/// `[routes.<name>]`: one user route.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// Channel names to match (absent: any channel).
    pub channels: Option<Vec<String>>,
    /// `"ADT^A03"` (message code ^ trigger event) or `"A03"` (trigger only); absent: any event.
    pub events: Option<Vec<String>>,
    /// The Bundle must hold one of these resource types; a `resources` payload delivers only these.
    pub resource_types: Option<Vec<String>>,
    /// FHIRPath over the whole Bundle (`%resource` is the Bundle); the route matches when it is true.
    pub condition: Option<String>,
    /// `"resources"` (default: each entry resource alone), `"bundle"` or `"task"`.
    pub payload: Option<String>,
    /// One delivery per destination (at least one).
    pub destinations: Vec<String>,
    /// Routing-key template; default `"{channel}.{event}.{resourceType}"`.
    pub routing_key: Option<String>,
    /// Deliver in order per (destination, patient).
    pub ordered: Option<bool>,
    /// What the Task says; required iff `payload = "task"`.
    pub task: Option<RawTask>,
}

/// `[routes.<name>.task]`: the FHIR Task a `task` payload creates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTask {
    /// `Task.description`, and `Task.code.text` when no `code` is configured.
    pub description: String,
    /// `Task.code.coding[0]`.
    pub code: Option<RawCoding>,
    /// Due this many hours after the discharge (Encounter.period.end) or, without one, after planning time.
    pub due_in_hours: u32,
    /// `routine` (default), `urgent`, `asap` or `stat`.
    pub priority: Option<String>,
    /// `Task.owner`: a reference such as `"CareTeam/outreach-team"`.
    pub owner: Option<String>,
}

/// A FHIR Coding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCoding {
    pub system: Option<String>,
    pub code: String,
    pub display: Option<String>,
}
