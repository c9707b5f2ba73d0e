//! `RouteSet::plan` on a converted Bundle: the per-message cost on the engine's hot path.
#![allow(clippy::unwrap_used)] // fixed repository inputs: a failure here is a broken checkout, not a runtime path

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use hearth_route::{DestinationView, MessageContext, RawRoute, RawRouting, RouteSet};

fn fixture(name: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/hl7v2").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    doc["bundle"].clone()
}

fn ctx() -> MessageContext<'static> {
    MessageContext {
        channel: "adt",
        message_code: Some("ADT"),
        trigger_event: Some("A03"),
        message_key: "bench-1",
        now: time::macros::datetime!(2025-01-01 00:00 UTC),
    }
}

fn bench(c: &mut Criterion) {
    let bundle = fixture("adt-a03-discharge.expected.json");
    let fhir = [DestinationView { name: "fhir", exclude: &[] }];
    let default_only = RouteSet::compile(&RawRouting::default(), &BTreeMap::new(), &fhir).unwrap();
    let n = bundle["entry"].as_array().map_or(0, Vec::len);
    c.bench_function(&format!("plan default route, A03 bundle ({n} resources)"), |b| {
        b.iter(|| default_only.plan(&ctx(), black_box(&bundle)).unwrap())
    });

    let bar = fixture("bar-p01.expected.json");
    let m = bar["entry"].as_array().map_or(0, Vec::len);
    c.bench_function(&format!("plan default route, BAR^P01 bundle ({m} resources)"), |b| {
        b.iter(|| default_only.plan(&ctx(), black_box(&bar)).unwrap())
    });

    let exclude = vec!["Patient.telecom".to_string(), "Patient.address".to_string()];
    let dests = [
        DestinationView { name: "fhir", exclude: &[] },
        DestinationView { name: "billing", exclude: &exclude },
        DestinationView { name: "outreach", exclude: &[] },
    ];
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../mappings/routes/discharge-followup.toml"),
    )
    .unwrap();
    #[derive(serde::Deserialize)]
    struct Fragment {
        routes: BTreeMap<String, RawRoute>,
    }
    let mut routes = toml::from_str::<Fragment>(&text).unwrap().routes;
    routes.insert(
        "billing".into(),
        RawRoute {
            condition: Some("Bundle.entry.resource.ofType(Encounter).status = 'finished'".into()),
            destinations: vec!["billing".into()],
            ..RawRoute::default()
        },
    );
    let full = RouteSet::compile(&RawRouting::default(), &routes, &dests).unwrap();
    c.bench_function(&format!("plan default + billing (projected) + task, A03 bundle ({n} resources)"), |b| {
        b.iter(|| full.plan(&ctx(), black_box(&bundle)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
