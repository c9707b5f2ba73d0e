//! The layering of docs/architecture.md, checked against the real dependency graph: every workspace crate is in
//! the table, each normal dependency on another workspace crate points to a lower layer, and no product crate
//! depends on the test kit. A new crate or a new dependency that breaks the arrows fails here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

/// `crate → layer`, read from the table in docs/architecture.md (`| layer | crate | ... |`).
fn layers() -> BTreeMap<String, u32> {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/architecture.md");
    let text = std::fs::read_to_string(&doc).unwrap_or_else(|e| panic!("{}: {e}", doc.display()));
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if let [_, layer, name, ..] = cells.as_slice()
            && let Ok(layer) = layer.parse::<u32>()
            && name.starts_with("hearth")
        {
            assert!(out.insert((*name).to_owned(), layer).is_none(), "{name} is listed twice");
        }
    }
    assert!(out.len() > 10, "the layer table was not found in {}", doc.display());
    out
}

/// Each workspace crate with its normal (non-dev, non-build) dependencies on other workspace crates.
fn graph() -> BTreeMap<String, Vec<String>> {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = meta["packages"].as_array().unwrap();
    let names: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .filter_map(|d| d["name"].as_str())
                .filter(|d| names.contains(d))
                .map(str::to_owned)
                .collect();
            (p["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

#[test]
fn dependencies_point_to_lower_layers_only() {
    let layers = layers();
    let graph = graph();
    let mut wrong = Vec::new();
    for (name, deps) in &graph {
        let Some(&layer) = layers.get(name) else {
            wrong.push(format!("{name} is not in docs/architecture.md's layer table"));
            continue;
        };
        for dep in deps {
            let dep_layer = layers.get(dep).copied().unwrap_or(u32::MAX);
            if dep == "hearth-testkit" {
                wrong.push(format!("{name} depends on hearth-testkit outside [dev-dependencies]"));
            } else if dep_layer >= layer {
                wrong.push(format!("{name} (layer {layer}) depends on {dep} (layer {dep_layer})"));
            }
        }
    }
    for name in layers.keys().filter(|n| !graph.contains_key(*n)) {
        wrong.push(format!("docs/architecture.md lists {name}, which is not a workspace crate"));
    }
    assert!(wrong.is_empty(), "the layering is broken:\n  {}", wrong.join("\n  "));
}

#[test]
fn the_table_is_read_as_written() {
    let layers = layers();
    assert_eq!(layers.get("hearth-core"), Some(&0));
    assert_eq!(layers.get("hearth"), Some(&6));
    assert!(layers["hearth-sources"] < layers["hearth-config"]);
}
