//! Unit tests against the real converted fixtures (`fixtures/hl7v2/*.expected.json`) and the shipped route file.
//!
//! Longer than the usual 500 lines on purpose: each test reads a real fixture and the shipped route file,
//! and they share those helpers; they are grouped by topic below.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::*;

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel)
}

/// Every converted Bundle of a fixture (`batch-adt` holds several).
fn fixture_bundles(name: &str) -> Vec<Value> {
    let path = repo_file(&format!("fixtures/hl7v2/{name}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match serde_json::from_str::<Value>(&text).unwrap() {
        Value::Array(docs) => docs.into_iter().map(|d| d["bundle"].clone()).collect(),
        doc => vec![doc["bundle"].clone()],
    }
}

fn fixture(name: &str) -> Value {
    fixture_bundles(name).remove(0)
}

fn all_fixtures() -> Vec<(String, Value)> {
    let dir = repo_file("fixtures/hl7v2");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".expected.json"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "expected the converted fixtures in {}", dir.display());
    names.into_iter().flat_map(|n| fixture_bundles(&n).into_iter().map(move |b| (n.clone(), b))).collect()
}

const NOW: time::OffsetDateTime = time::macros::datetime!(2025-06-01 12:00 UTC);

fn ctx<'a>(code: Option<&'a str>, trigger: Option<&'a str>) -> MessageContext<'a> {
    MessageContext { channel: "adt", message_code: code, trigger_event: trigger, message_key: "msg-1", now: NOW }
}

const A03: (Option<&str>, Option<&str>) = (Some("ADT"), Some("A03"));

fn a03() -> MessageContext<'static> {
    ctx(A03.0, A03.1)
}

struct Dests(Vec<(String, Vec<String>)>);

impl Dests {
    fn new(list: &[(&str, &[&str])]) -> Self {
        Self(list.iter().map(|(n, ex)| (n.to_string(), ex.iter().map(|s| s.to_string()).collect())).collect())
    }
    fn views(&self) -> Vec<DestinationView<'_>> {
        self.0.iter().map(|(name, exclude)| DestinationView { name, exclude }).collect()
    }
}

fn compile(routing: &RawRouting, routes: &[(&str, RawRoute)], dests: &Dests) -> Result<RouteSet, Vec<RouteProblem>> {
    let routes: BTreeMap<String, RawRoute> = routes.iter().map(|(n, r)| (n.to_string(), r.clone())).collect();
    RouteSet::compile(routing, &routes, &dests.views())
}

fn route(destinations: &[&str]) -> RawRoute {
    RawRoute { destinations: destinations.iter().map(|s| s.to_string()).collect(), ..RawRoute::default() }
}

fn no_default() -> RawRouting {
    RawRouting { default_route: Some(false), ..RawRouting::default() }
}

fn body(d: &Delivery) -> Value {
    serde_json::from_str(&d.body).unwrap()
}

fn entry_types(bundle: &Value) -> Vec<String> {
    bundle["entry"].as_array().unwrap().iter().map(|e| e["resource"]["resourceType"].as_str().unwrap().into()).collect()
}

/// Every `reference` value anywhere in `v`.
fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => o.iter().for_each(|(k, v)| match v {
            Value::String(s) if k == "reference" => out.push(s.clone()),
            _ => references(v, out),
        }),
        Value::Array(a) => a.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

/// The test's own reference rewrite: `urn:uuid:<id>` → the `Type/<id>` among `ids` (all fixture ids are UUIDs).
fn rewrite(v: &mut Value, ids: &[String]) {
    match v {
        Value::Object(o) => o.iter_mut().for_each(|(k, v)| match v {
            Value::String(s) if k == "reference" => {
                if let Some(id) = s.strip_prefix("urn:uuid:") {
                    *s = ids.iter().find(|t| t.ends_with(&format!("/{id}"))).unwrap().clone();
                }
            }
            _ => rewrite(v, ids),
        }),
        Value::Array(a) => a.iter_mut().for_each(|v| rewrite(v, ids)),
        _ => {}
    }
}

#[test]
fn default_route_sends_each_resource_with_its_routing_key() {
    let bundle = fixture("adt-a03-discharge.expected.json");
    let set = compile(&RawRouting::default(), &[], &Dests::new(&[("fhir", &[])])).unwrap();
    let plan = set.plan(&a03(), &bundle).unwrap();
    let types = entry_types(&bundle);
    assert_eq!(plan.deliveries.len(), types.len());
    for (d, t) in plan.deliveries.iter().zip(&types) {
        assert_eq!((d.route.as_str(), d.destination.as_str()), ("default", "fhir"));
        assert_eq!(d.routing_key, format!("adt.A03.{t}"));
        assert_eq!(&d.resource_type, t);
        assert_eq!(body(d)["resourceType"], t.as_str());
        assert_eq!(d.lane, None);
        assert_eq!(d.content_id.len(), 64);
        assert!(d.content_id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }
    assert!(plan.matched.is_empty() && !plan.unmatched && plan.skipped.is_empty());
}

#[test]
fn event_placeholder_falls_back_to_message_code_then_none() {
    let bundle = fixture("adt-a03-discharge.expected.json");
    let set = compile(&RawRouting::default(), &[], &Dests::new(&[("fhir", &[])])).unwrap();
    let key = |c| set.plan(&c, &bundle).unwrap().deliveries[0].routing_key.clone();
    assert_eq!(key(ctx(Some("ADT"), None)), "adt.ADT.Provenance");
    assert_eq!(key(ctx(None, None)), "adt.none.Provenance");
    assert_eq!(key(ctx(Some("ADT"), Some("A.0#3"))), "adt.A_0_3.Provenance", "message text cannot add topic words");
}

#[test]
fn split_resources_have_resolvable_references_and_no_bundle_plumbing() {
    let set = compile(&RawRouting::default(), &[], &Dests::new(&[("fhir", &[])])).unwrap();
    for (name, bundle) in all_fixtures() {
        let plan = set.plan(&a03(), &bundle).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(plan.deliveries.len(), entry_types(&bundle).len(), "{name}");
        let ids: Vec<String> = bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                format!("{}/{}", e["resource"]["resourceType"].as_str().unwrap(), e["resource"]["id"].as_str().unwrap())
            })
            .collect();
        for (d, entry) in plan.deliveries.iter().zip(bundle["entry"].as_array().unwrap()) {
            let v = body(d);
            let mut expected = entry["resource"].clone();
            rewrite(&mut expected, &ids);
            assert_eq!(v, expected, "{name}: the entry resource alone, references rewritten, no Bundle plumbing");
            let mut refs = Vec::new();
            references(&v, &mut refs);
            for r in refs {
                assert!(!r.starts_with("urn:uuid:"), "{name}: {} still references {r}", d.resource_type);
                if r.contains('/') && !r.contains(':') {
                    assert!(ids.contains(&r) || !r.contains('-'), "{name}: {r} names no resource of the message");
                }
            }
        }
    }
}

#[test]
fn a03_references_point_at_the_patient_and_identifier_systems_stay() {
    let bundle = fixture("adt-a03-discharge.expected.json");
    let set = compile(&RawRouting::default(), &[], &Dests::new(&[("fhir", &[])])).unwrap();
    let plan = set.plan(&a03(), &bundle).unwrap();
    let of = |t: &str| body(plan.deliveries.iter().find(|d| d.resource_type == t).unwrap());
    // The Patient's request.url is conditional (`Patient?identifier=…`): the reference uses the resource's own id.
    assert_eq!(of("Encounter")["subject"]["reference"], "Patient/3d0022b6-14ae-5718-af76-1a6000edf9dd");
    assert_eq!(of("Condition")["encounter"]["reference"], "Encounter/4bba7c8c-0f55-5706-bf4c-286389ba493e");
    let coverage = of("Coverage");
    assert_eq!(coverage["payor"][0]["reference"], "Organization/dd214cad-905f-5b81-b6d1-3f3c1306ecb9");
    assert_eq!(
        coverage["identifier"][0]["system"], "urn:uuid:dd214cad-905f-5b81-b6d1-3f3c1306ecb9",
        "data, not a reference"
    );
}

#[test]
fn projection_removes_patient_telecom_for_one_destination_only() {
    let bundle = fixture("adt-a01-full.expected.json");
    let dests = Dests::new(&[("fhir", &[]), ("billing", &["Patient.telecom", "Patient.address.line", "*.meta"])]);
    let routes = [("billing", RawRoute { resource_types: Some(vec!["Patient".into()]), ..route(&["billing"]) })];
    let set = compile(&RawRouting::default(), &routes, &dests).unwrap();
    let plan = set.plan(&ctx(Some("ADT"), Some("A01")), &bundle).unwrap();
    let fhir = plan.deliveries.iter().find(|d| d.destination == "fhir" && d.resource_type == "Patient").unwrap();
    let billing: Vec<&Delivery> = plan.deliveries.iter().filter(|d| d.destination == "billing").collect();
    assert_eq!(billing.len(), 1, "resource_types filters the split");
    let (full, projected) = (body(fhir), body(billing[0]));
    assert!(full["telecom"].is_array() && full["meta"].is_object());
    assert!(projected.get("telecom").is_none() && projected.get("meta").is_none());
    assert!(projected["address"][0].get("line").is_none(), "arrays are traversed");
    assert_eq!(projected["address"][0]["city"], "Springfield");
    assert_eq!(projected["name"], full["name"]);
    assert_ne!(fhir.content_id, billing[0].content_id);
    assert_eq!(billing[0].routing_key, "adt.A01.Patient");
}

#[test]
fn projection_applies_to_bundle_payload_entries_and_primitive_extensions() {
    let dests = Dests::new(&[("billing", &["Patient.birthDate", "Patient.telecom"])]);
    let routes = [("whole", RawRoute { payload: Some("bundle".into()), ..route(&["billing"]) })];
    let set = compile(&no_default(), &routes, &dests).unwrap();
    let mut bundle = fixture("adt-a01-full.expected.json");
    let patient =
        bundle["entry"].as_array_mut().unwrap().iter_mut().find(|e| e["resource"]["resourceType"] == "Patient");
    patient.unwrap()["resource"]["_birthDate"] = json!({ "extension": [{ "url": "urn:x", "valueString": "y" }] });
    let plan = set.plan(&ctx(Some("ADT"), Some("A01")), &bundle).unwrap();
    assert_eq!(plan.deliveries.len(), 1);
    let d = &plan.deliveries[0];
    assert_eq!((d.resource_type.as_str(), d.routing_key.as_str()), ("Bundle", "adt.A01.Bundle"));
    let sent = body(d);
    assert_eq!(sent["entry"].as_array().unwrap().len(), bundle["entry"].as_array().unwrap().len());
    for e in sent["entry"].as_array().unwrap() {
        let r = &e["resource"];
        assert!(r.get("telecom").is_none() || r["resourceType"] != "Patient");
        assert!(r.get("birthDate").is_none() && r.get("_birthDate").is_none() || r["resourceType"] != "Patient");
        assert!(e.get("request").is_some(), "a bundle payload keeps its transaction plumbing");
    }
    assert!(sent["entry"].as_array().unwrap().iter().any(|e| e["resource"]["resourceType"] == "RelatedPerson"));
}

#[test]
fn fan_out_sends_every_resource_to_each_destination() {
    let bundle = fixture("oru-lab.expected.json");
    let dests = Dests::new(&[("fhir", &[]), ("lab-a", &[]), ("lab-b", &[])]);
    let routes = [(
        "labs",
        RawRoute {
            events: Some(vec!["R01".into()]),
            resource_types: Some(vec!["Observation".into(), "DiagnosticReport".into()]),
            routing_key: Some("lab.{destination}.{route}.{messageCode}.{resourceType}".into()),
            ..route(&["lab-a", "lab-b"])
        },
    )];
    let set = compile(&RawRouting::default(), &routes, &dests).unwrap();
    let plan = set.plan(&ctx(Some("ORU"), Some("R01")), &bundle).unwrap();
    let wanted = entry_types(&bundle).iter().filter(|t| *t == "Observation" || *t == "DiagnosticReport").count();
    assert!(wanted >= 2);
    let a: Vec<&Delivery> = plan.deliveries.iter().filter(|d| d.destination == "lab-a").collect();
    let b: Vec<&Delivery> = plan.deliveries.iter().filter(|d| d.destination == "lab-b").collect();
    assert_eq!((a.len(), b.len()), (wanted, wanted));
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((&x.body, &x.content_id), (&y.body, &y.content_id), "no projection: same content, same id");
        assert_eq!(x.routing_key, format!("lab.lab-a.labs.ORU.{}", x.resource_type));
        assert_eq!(y.routing_key, format!("lab.lab-b.labs.ORU.{}", y.resource_type));
    }
    assert_eq!(plan.matched, ["labs"]);
    let default = plan.deliveries.iter().filter(|d| d.route == "default").count();
    assert_eq!(default, entry_types(&bundle).len(), "the default route is planned as well");
}

#[test]
fn unmatched_takes_the_whole_bundle_only_when_no_user_route_matched() {
    let bundle = fixture("adt-a03-discharge.expected.json");
    let dests = Dests::new(&[("fhir", &[]), ("lab", &[]), ("leftovers", &[])]);
    let routing = RawRouting { unmatched: Some("leftovers".into()), ..RawRouting::default() };
    let routes = [("labs", RawRoute { events: Some(vec!["ORU^R01".into()]), ..route(&["lab"]) })];
    let set = compile(&routing, &routes, &dests).unwrap();

    let plan = set.plan(&a03(), &bundle).unwrap();
    assert!(plan.unmatched && plan.matched.is_empty());
    let last = plan.deliveries.last().unwrap();
    assert_eq!(
        (last.route.as_str(), last.destination.as_str(), last.routing_key.as_str(), last.resource_type.as_str()),
        ("unmatched", "leftovers", "adt.A03.unmatched", "Bundle")
    );
    assert_eq!(body(last), bundle, "the Bundle as converted");
    assert_eq!(plan.deliveries.iter().filter(|d| d.destination == "fhir").count(), entry_types(&bundle).len());

    let plan = set.plan(&ctx(Some("ORU"), Some("R01")), &fixture("oru-lab.expected.json")).unwrap();
    assert!(!plan.unmatched && plan.matched == ["labs"]);
    assert!(plan.deliveries.iter().all(|d| d.destination != "leftovers"));
}

#[test]
fn matching_on_channels_events_resource_types_and_condition() {
    let bundle = fixture("adt-a03-discharge.expected.json");
    let dests = Dests::new(&[("x", &[])]);
    let cases: [(RawRoute, bool); 9] = [
        (RawRoute { channels: Some(vec!["adt".into()]), ..route(&["x"]) }, true),
        (RawRoute { channels: Some(vec!["lab".into()]), ..route(&["x"]) }, false),
        (RawRoute { events: Some(vec!["A01".into(), "A03".into()]), ..route(&["x"]) }, true),
        (RawRoute { events: Some(vec!["ORU^A03".into()]), ..route(&["x"]) }, false),
        (RawRoute { events: Some(vec!["adt^a03".into()]), ..route(&["x"]) }, true),
        (
            RawRoute {
                resource_types: Some(vec!["Observation".into()]),
                payload: Some("bundle".into()),
                ..route(&["x"])
            },
            false,
        ),
        (
            RawRoute {
                resource_types: Some(vec!["Procedure".into()]),
                payload: Some("bundle".into()),
                ..route(&["x"])
            },
            true,
        ),
        (
            RawRoute {
                condition: Some(
                    "Bundle.entry.resource.ofType(Encounter).period.end >= @2024-03-05T12:00:00-06:00".into(),
                ),
                ..route(&["x"])
            },
            true,
        ),
        (
            RawRoute {
                condition: Some("Bundle.entry.resource.ofType(Patient).gender = 'male'".into()),
                ..route(&["x"])
            },
            false,
        ),
    ];
    for (i, (raw, expect)) in cases.into_iter().enumerate() {
        let set = compile(&no_default(), &[("r", raw)], &dests).unwrap();
        let plan = set.plan(&a03(), &bundle).unwrap();
        assert_eq!(!plan.matched.is_empty(), expect, "case {i}");
        assert_eq!(!plan.deliveries.is_empty(), expect, "case {i}");
    }
}

#[test]
fn a_condition_failing_at_run_time_names_the_route() {
    let bundle = fixture("adt-a03-discharge.expected.json");
    let routes = [(
        "bad_rule",
        RawRoute { condition: Some("Bundle.entry.resource.id.startsWith('x')".into()), ..route(&["x"]) },
    )];
    let set = compile(&no_default(), &routes, &Dests::new(&[("x", &[])])).unwrap();
    let err = set.plan(&a03(), &bundle).unwrap_err();
    assert!(matches!(&err, RouteError::Condition { route, .. } if route == "bad_rule"), "{err:?}");
    assert!(err.to_string().starts_with("route `bad_rule`: condition failed: "), "{err}");
    assert!(!err.is_transient());
}

#[test]
fn ordered_routes_put_deliveries_in_the_patient_lane() {
    let bundle = fixture("adt-a03-discharge.expected.json");
    let routes = [("ordered", RawRoute { ordered: Some(true), ..route(&["x"]) })];
    let set = compile(
        &RawRouting { default_destination: Some("x".into()), ..RawRouting::default() },
        &routes,
        &Dests::new(&[("x", &[])]),
    )
    .unwrap();
    let plan = set.plan(&a03(), &bundle).unwrap();
    for d in &plan.deliveries {
        let expected = (d.route == "ordered").then(|| "3d0022b6-14ae-5718-af76-1a6000edf9dd".to_string());
        assert_eq!(d.lane, expected, "{}", d.route);
    }
    let no_patient =
        json!({ "resourceType": "Bundle", "entry": [{ "resource": { "resourceType": "Organization", "id": "o1" } }] });
    let plan = set.plan(&a03(), &no_patient).unwrap();
    assert!(plan.deliveries.iter().all(|d| d.lane.is_none()));
}

#[test]
fn content_id_ignores_the_conversion_time_and_follows_the_content() {
    let bundle = fixture("adt-a03-discharge.expected.json");
    let routes = [("whole", RawRoute { payload: Some("bundle".into()), ..route(&["fhir"]) })];
    let set = compile(&RawRouting::default(), &routes, &Dests::new(&[("fhir", &[])])).unwrap();
    let first = set.plan(&a03(), &bundle).unwrap();

    // Reconverting later changes only Bundle.timestamp and the transformation Provenance's `recorded`.
    let later =
        serde_json::to_string(&bundle).unwrap().replace("2025-01-01T00:00:00+00:00", "2025-02-02T10:00:00+00:00");
    let later: Value = serde_json::from_str(&later).unwrap();
    assert_ne!(later, bundle);
    let again = set.plan(&a03(), &later).unwrap();
    assert_eq!(first.deliveries.len(), again.deliveries.len());
    for (a, b) in first.deliveries.iter().zip(&again.deliveries) {
        assert_eq!(a.content_id, b.content_id, "{} {}", a.route, a.resource_type);
    }
    assert!(first.deliveries.iter().zip(&again.deliveries).any(|(a, b)| a.body != b.body));

    let mut changed = bundle.clone();
    changed["entry"][1]["resource"]["gender"] = json!("male");
    let changed = set.plan(&a03(), &changed).unwrap();
    let ids = |p: &RoutePlan| p.deliveries.iter().map(|d| d.content_id.clone()).collect::<Vec<_>>();
    let (x, y) = (ids(&first), ids(&changed));
    assert_eq!(x.iter().zip(&y).filter(|(a, b)| a != b).count(), 2, "the Patient and the whole Bundle changed");
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RoutesFragment {
    routes: BTreeMap<String, RawRoute>,
}

fn discharge_routes() -> BTreeMap<String, RawRoute> {
    let path = repo_file("mappings/routes/discharge-followup.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    toml::from_str::<RoutesFragment>(&text).unwrap().routes
}

#[test]
fn discharge_followup_file_plans_one_task_for_an_a03() {
    let routes = discharge_routes();
    assert_eq!(routes.keys().collect::<Vec<_>>(), ["discharge_followup"]);
    let dests = Dests::new(&[("fhir", &[]), ("outreach", &[])]);
    let set = RouteSet::compile(&RawRouting::default(), &routes, &dests.views()).unwrap();
    let plan = set.plan(&a03(), &fixture("adt-a03-discharge.expected.json")).unwrap();
    assert_eq!(plan.matched, ["discharge_followup"]);
    let tasks: Vec<&Delivery> = plan.deliveries.iter().filter(|d| d.destination == "outreach").collect();
    assert_eq!(tasks.len(), 1);
    let d = tasks[0];
    assert_eq!((d.resource_type.as_str(), d.routing_key.as_str()), ("Task", "adt.A03.Task"));
    assert_eq!(d.lane.as_deref(), Some("3d0022b6-14ae-5718-af76-1a6000edf9dd"));
    let task = body(d);
    assert_eq!(task["resourceType"], "Task");
    assert_eq!(
        (&task["status"], &task["intent"], &task["priority"]),
        (&json!("requested"), &json!("order"), &json!("routine"))
    );
    assert_eq!(task["description"], "Post-discharge check-in");
    assert_eq!(task["code"], json!({ "text": "Post-discharge check-in" }));
    assert_eq!(task["for"]["reference"], "Patient/3d0022b6-14ae-5718-af76-1a6000edf9dd");
    assert_eq!(task["for"]["identifier"]["value"], "MRN12345");
    assert_eq!(task["encounter"]["reference"], "Encounter/4bba7c8c-0f55-5706-bf4c-286389ba493e");
    assert_eq!(task["focus"], task["encounter"]);
    assert_eq!(task["authoredOn"], "2025-06-01T12:00:00Z");
    // Discharged 2024-03-05T16:00:00-06:00 (Encounter.period.end); due 48 h later, in the same offset.
    assert_eq!(task["restriction"]["period"]["end"], "2024-03-07T16:00:00-06:00");
    assert_eq!(task["owner"]["reference"], "CareTeam/care-team-outreach");
    let id = task["id"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 5);

    // A resend (same message key) makes the same Task, even routed later; another message makes another Task.
    let later = MessageContext { now: NOW + time::Duration::hours(3), ..a03() };
    let resend = set.plan(&later, &fixture("adt-a03-discharge.expected.json")).unwrap();
    let again = resend.deliveries.iter().find(|d| d.destination == "outreach").unwrap();
    assert_eq!((body(again)["id"].as_str(), &again.content_id), (Some(id), &d.content_id));
    let other = MessageContext { message_key: "msg-2", ..a03() };
    let other = set.plan(&other, &fixture("adt-a03-discharge.expected.json")).unwrap();
    assert_ne!(body(other.deliveries.iter().find(|d| d.destination == "outreach").unwrap())["id"].as_str(), Some(id));

    let a01 = set.plan(&ctx(Some("ADT"), Some("A01")), &fixture("adt-a01-full.expected.json")).unwrap();
    assert!(a01.matched.is_empty() && a01.deliveries.iter().all(|d| d.destination == "fhir"));
}

#[test]
fn a_task_route_without_a_patient_is_skipped_and_says_why() {
    let mut routes = discharge_routes();
    routes.get_mut("discharge_followup").unwrap().task.as_mut().unwrap().code =
        Some(RawCoding { system: Some("urn:example:tasks".into()), code: "pdc".into(), display: None });
    let dests = Dests::new(&[("outreach", &[])]);
    let set = RouteSet::compile(&no_default(), &routes, &dests.views()).unwrap();
    let bundle = json!({ "resourceType": "Bundle", "entry": [{ "resource": {
        "resourceType": "Encounter", "id": "e1", "period": { "end": "2024-03-05" } } }] });
    let plan = set.plan(&a03(), &bundle).unwrap();
    assert!(plan.deliveries.is_empty() && plan.matched.is_empty());
    assert_eq!(plan.skipped, [("discharge_followup".to_string(), "no Patient in the message".to_string())]);

    // With a Patient but a date-only discharge, the due time counts from planning time; the configured code is used.
    let mut bundle = bundle;
    bundle["entry"].as_array_mut().unwrap().push(json!({ "resource": { "resourceType": "Patient", "id": "p1" } }));
    let plan = set.plan(&a03(), &bundle).unwrap();
    let task = body(&plan.deliveries[0]);
    assert_eq!(task["restriction"]["period"]["end"], "2025-06-03T12:00:00Z");
    assert_eq!(task["code"], json!({ "coding": [{ "system": "urn:example:tasks", "code": "pdc" }] }));
    assert!(task["for"].get("identifier").is_none());
}

fn problems(routing: &RawRouting, routes: &[(&str, RawRoute)], dests: &Dests) -> Vec<String> {
    compile(routing, routes, dests).unwrap_err().iter().map(ToString::to_string).collect()
}

#[test]
fn compile_reports_fhirpath_errors_with_key_path_and_position() {
    let dests = Dests::new(&[("fhir", &[])]);
    let cases = [
        ("Bundle.entry.foo()", "routes.r.condition: unknown function `foo` at 13 (line 1, column 14)"),
        ("Bundle.entry.where(\n  resource.id = )", "routes.r.condition: "),
    ];
    for (expr, expected) in cases {
        let p = problems(
            &RawRouting::default(),
            &[("r", RawRoute { condition: Some(expr.into()), ..route(&["fhir"]) })],
            &dests,
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with(expected), "{p:?}");
        assert!(p[0].contains("(line "), "{p:?}");
    }
}

#[test]
fn compile_reports_every_problem_with_its_key_path() {
    let dests = Dests::new(&[("fhir", &[]), ("billing", &["patient.telecom", "Patient", "Patient.Telecom"])]);
    let routes = [
        ("Bad Name", route(&["fhir"])),
        ("default", route(&["fhir"])),
        (
            "r",
            RawRoute {
                channels: Some(vec![]),
                events: Some(vec!["ADT^".into(), "A03".into()]),
                resource_types: Some(vec!["patient".into()]),
                payload: Some("resources".into()),
                routing_key: Some("{channel}.{evnt}".into()),
                task: Some(RawTask { description: "x".into(), due_in_hours: 1, ..RawTask::default() }),
                ..route(&["fhir", "nowhere", "fhir"])
            },
        ),
        ("t", RawRoute { payload: Some("task".into()), ..route(&[]) }),
        (
            "u",
            RawRoute {
                payload: Some("task".into()),
                task: Some(RawTask {
                    description: " ".into(),
                    due_in_hours: 100_000,
                    priority: Some("soon".into()),
                    owner: Some("care team".into()),
                    code: Some(RawCoding::default()),
                }),
                ..route(&["fhir"])
            },
        ),
        ("v", RawRoute { payload: Some("ndjson".into()), routing_key: Some("a b".into()), ..route(&["fhir"]) }),
    ];
    let routing = RawRouting {
        default_destination: Some("server".into()),
        unmatched: Some("void".into()),
        ..RawRouting::default()
    };
    let p = problems(&routing, &routes, &dests);
    let expected = [
        "destinations.billing.exclude[0]: ",
        "destinations.billing.exclude[1]: ",
        "destinations.billing.exclude[2]: ",
        "routes.Bad Name: ",
        "routes.default: \"default\" is reserved",
        "routes.r.channels: empty list",
        "routes.r.events[0]: ",
        "routes.r.resource_types[0]: ",
        "routes.r.task: a [task] table needs payload = \"task\"",
        "routes.r.destinations[1]: unknown destination \"nowhere\"",
        "routes.r.destinations[2]: \"fhir\" listed twice",
        "routes.r.routing_key: unknown placeholder `{evnt}` at 10",
        "routes.t.task: payload = \"task\" needs",
        "routes.t.destinations: a route needs at least one destination",
        "routes.u.task.description: ",
        "routes.u.task.due_in_hours: ",
        "routes.u.task.priority: ",
        "routes.u.task.owner: ",
        "routes.u.task.code.code: ",
        "routes.v.payload: unknown payload \"ndjson\"",
        "routes.v.routing_key: ' ' at 1",
        "routing.default_destination: unknown destination \"server\"",
        "routing.unmatched: unknown destination \"void\"",
    ];
    for e in expected {
        assert!(p.iter().any(|p| p.starts_with(e)), "missing {e:?} in {p:#?}");
    }
    assert_eq!(p.len(), expected.len(), "{p:#?}");
}

#[test]
fn default_route_off_needs_no_default_destination() {
    let set = compile(&no_default(), &[], &Dests::new(&[])).unwrap();
    let plan = set.plan(&a03(), &fixture("adt-a03-discharge.expected.json")).unwrap();
    assert_eq!(plan, RoutePlan::default());
    assert!(set.describe().contains("route default: off"));
}

#[test]
fn routing_keys_stay_within_the_amqp_limit() {
    let long = "c".repeat(300);
    let routes = [(
        "r",
        RawRoute { routing_key: Some(format!("{}.{{channel}}.{{event}}", "x".repeat(200))), ..route(&["fhir"]) },
    )];
    let set = compile(&no_default(), &routes, &Dests::new(&[("fhir", &[])])).unwrap();
    let c = MessageContext { channel: &long, trigger_event: Some("é".repeat(100).leak()), ..a03() };
    let plan = set.plan(&c, &fixture("adt-a03-discharge.expected.json")).unwrap();
    for d in &plan.deliveries {
        assert_eq!(d.routing_key.len(), MAX_ROUTING_KEY_BYTES);
        assert!(d.routing_key.is_ascii());
    }
    let too_long = [("r", RawRoute { routing_key: Some("x".repeat(256)), ..route(&["fhir"]) })];
    assert_eq!(problems(&no_default(), &too_long, &Dests::new(&[("fhir", &[])])).len(), 1);
}

#[test]
fn describe_prints_the_topology() {
    let dests = Dests::new(&[("fhir", &[]), ("outreach", &[]), ("billing", &["Patient.telecom"]), ("left", &[])]);
    let routing = RawRouting { unmatched: Some("left".into()), ..RawRouting::default() };
    let set = RouteSet::compile(&routing, &discharge_routes(), &dests.views()).unwrap();
    let text = set.describe();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].starts_with("route default: channels any; events any event;")
            && lines[0].ends_with("-> fhir (routing key {channel}.{event}.{resourceType})"),
        "{text}"
    );
    assert!(lines[1].contains("route discharge_followup: channels any; events ADT^A03;"), "{text}");
    assert!(lines[1].contains("Task \"Post-discharge check-in\" due in 48 h -> outreach"), "{text}");
    assert!(lines[1].ends_with("ordered per patient"), "{text}");
    assert_eq!(lines[2], "unmatched messages: whole Bundle -> left (routing key {channel}.{event}.unmatched)");
    assert_eq!(lines[3], "destination billing never sees: Patient.telecom");
}

#[test]
fn not_a_bundle_is_an_error_not_a_panic() {
    let set = compile(&RawRouting::default(), &[], &Dests::new(&[("fhir", &[])])).unwrap();
    for bad in
        [json!(null), json!([]), json!({ "resourceType": "Patient" }), json!({ "resourceType": "Bundle", "entry": {} })]
    {
        assert!(matches!(set.plan(&a03(), &bad), Err(RouteError::NotABundle(_))), "{bad}");
    }
    let bad_entry = json!({ "resourceType": "Bundle", "entry": [{ "resource": { "id": "x" } }] });
    assert_eq!(
        set.plan(&a03(), &bad_entry),
        Err(RouteError::BadEntry { index: 0, reason: "resource without a valid resourceType" })
    );
    let empty =
        json!({ "resourceType": "Bundle", "entry": [{ "request": { "method": "DELETE", "url": "Patient/1" } }] });
    assert!(set.plan(&a03(), &empty).unwrap().deliveries.is_empty());
}

#[test]
fn route_set_is_send_sync_and_raw_config_rejects_unknown_keys() {
    fn shareable<T: Send + Sync + std::fmt::Debug>() {}
    shareable::<RouteSet>();
    let err =
        toml::from_str::<RoutesFragment>("[routes.x]\ndestinations = [\"a\"]\ncondtion = \"true\"\n").unwrap_err();
    assert!(err.to_string().contains("condtion"), "{err}");
    let routing: RawRouting = toml::from_str("default_route = false\nunmatched = \"u\"").unwrap();
    assert_eq!(
        routing,
        RawRouting { default_route: Some(false), default_destination: None, unmatched: Some("u".into()) }
    );
}

mod props {
    use proptest::prelude::*;

    use super::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            prop_oneof![
                Just("Patient".to_string()),
                Just("Encounter".to_string()),
                Just("urn:uuid:1".to_string()),
                Just("2024-03-05T16:00:00-06:00".to_string()),
                "[a-zA-Z0-9:/._-]{0,12}",
                any::<String>(),
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 64, 6, |inner| {
            let keys = prop_oneof![
                Just("resourceType".to_string()),
                Just("id".to_string()),
                Just("reference".to_string()),
                Just("resource".to_string()),
                Just("entry".to_string()),
                Just("fullUrl".to_string()),
                Just("telecom".to_string()),
                Just("contained".to_string()),
                Just("period".to_string()),
                Just("end".to_string()),
                Just("identifier".to_string()),
                "[a-z]{1,6}",
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(keys, inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn bundle_like() -> impl Strategy<Value = Value> {
        let rtype = prop_oneof![Just("Patient"), Just("Encounter"), Just("Provenance"), Just("Observation"), Just("x")];
        let resource = (rtype, json_value(), "[a-z0-9-]{0,8}").prop_map(|(t, mut v, id)| {
            if let Value::Object(o) = &mut v {
                o.insert("resourceType".into(), t.into());
                o.insert("id".into(), id.into());
            }
            v
        });
        let entry = (resource, "[a-z0-9]{0,3}")
            .prop_map(|(r, id)| json!({ "fullUrl": format!("urn:uuid:{id}"), "resource": r }));
        prop_oneof![
            prop::collection::vec(entry, 0..6)
                .prop_map(|e| json!({ "resourceType": "Bundle", "timestamp": "t", "entry": e })),
            json_value(),
        ]
    }

    fn busy_set() -> RouteSet {
        let dests = Dests::new(&[
            ("fhir", &[]),
            ("billing", &["Patient.telecom", "*.period.end"]),
            ("outreach", &[]),
            ("left", &[]),
        ]);
        let mut routes = discharge_routes();
        routes.insert("whole".into(), RawRoute { payload: Some("bundle".into()), ..route(&["billing", "fhir"]) });
        routes.insert(
            "cond".into(),
            RawRoute {
                condition: Some(
                    "Bundle.entry.resource.ofType(Patient).exists() and %resource.entry.count() < 5".into(),
                ),
                ordered: Some(true),
                ..route(&["billing"])
            },
        );
        let routing = RawRouting { unmatched: Some("left".into()), ..RawRouting::default() };
        RouteSet::compile(&routing, &routes, &dests.views()).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn plan_never_panics_and_bodies_are_json(bundle in bundle_like()) {
            let set = busy_set();
            if let Ok(plan) = set.plan(&a03(), &bundle) {
                for d in &plan.deliveries {
                    let v: Value = serde_json::from_str(&d.body).unwrap();
                    prop_assert!(v.is_object());
                    prop_assert!(d.routing_key.len() <= MAX_ROUTING_KEY_BYTES);
                }
            }
        }

        #[test]
        fn templates_parse_or_fail_without_panicking(src in ".{0,40}") {
            let _ = crate::template::Template::parse(&src);
        }
    }
}
