//! Compares Hearth's conversions with Microsoft's FHIR-Converter expected bundles, sample by sample.
//!
//!     cargo run --example coverage -p hearth-map [-- CORPUS_DIR] > coverage.md
//!
//! For each sample of `<corpus>/hl7v2/ms-fhir-converter/samples/*.hl7` (corpus from the argument, `HEARTH_CORPUS`,
//! or `../shared/corpus`), it converts every message of the file with the default options and prints a Markdown
//! table: the resource types and counts of Microsoft's `expected/<TYPE>/<sample>-expected.json` against ours,
//! what each side has that the other lacks, and whether our Bundle passes HL7's R4 JSON schema. A summary per
//! message structure follows. The output is pasted into docs/mapping-coverage.md.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a developer tool over a fixed corpus

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hearth_map::hl7v2::{Hl7v2Mapper, MapOptions};

type Counts = BTreeMap<String, usize>;

struct Row {
    sample: String,
    structure: String,
    theirs: Option<Counts>,
    ours: Result<Counts, String>,
    schema: Result<(), String>,
}

fn main() {
    let corpus = std::env::args_os().nth(1).map(PathBuf::from).unwrap_or_else(hearth_fhir::schema::corpus_dir);
    let base = corpus.join("hl7v2/ms-fhir-converter");
    let mut samples: Vec<PathBuf> = std::fs::read_dir(base.join("samples"))
        .unwrap_or_else(|e| panic!("{}: {e} (pass the corpus directory or set HEARTH_CORPUS)", base.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "hl7"))
        .collect();
    samples.sort();
    let expected = index_expected(&base.join("expected"));
    let schema = hearth_fhir::schema::R4Schema::shared().ok();
    let mapper = Hl7v2Mapper::new(MapOptions::default());
    let now = time::OffsetDateTime::UNIX_EPOCH;

    let rows: Vec<Row> = samples.iter().map(|p| convert_sample(p, &expected, &mapper, now, schema)).collect();
    print!("{}", render(&rows, schema.is_some()));
}

/// `<sample stem>` → expected bundle path, over every `expected/<TYPE>/` folder.
fn index_expected(dir: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    for sub in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(sub.path()).into_iter().flatten().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix("-expected.json") {
                out.insert(stem.to_owned(), f.path());
            }
        }
    }
    out
}

fn count_types(bundle: &serde_json::Value, into: &mut Counts) {
    for e in bundle["entry"].as_array().into_iter().flatten() {
        if let Some(t) = e["resource"]["resourceType"].as_str() {
            *into.entry(t.to_owned()).or_default() += 1;
        }
    }
}

fn convert_sample(
    path: &Path,
    expected: &BTreeMap<String, PathBuf>,
    mapper: &Hl7v2Mapper,
    now: time::OffsetDateTime,
    schema: Option<&hearth_fhir::schema::R4Schema>,
) -> Row {
    let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
    let theirs = expected.get(&stem).map(|p| {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        let mut c = Counts::new();
        count_types(&v, &mut c);
        c
    });
    let bytes = std::fs::read(path).unwrap();
    let mut structure = String::from("?");
    let mut schema_result = Ok(());
    let ours = (|| {
        let batch = hearth_hl7v2::split_batch(&bytes).map_err(|e| e.to_string())?;
        let mut counts = Counts::new();
        for (n, raw) in batch.message_bytes(&bytes).enumerate() {
            let msg = hearth_hl7v2::parse(raw, &Default::default()).map_err(|e| format!("parse: {e}"))?;
            let h = msg.header();
            if n == 0 {
                structure = format!("{} ({}^{})", h.structure, h.message_code, h.trigger_event);
            }
            let conv = mapper.map(&msg, now).map_err(|e| e.to_string())?;
            if let Err(e) = hearth_fhir::validate_bundle(&conv.bundle) {
                schema_result = Err(format!("fhirbolt: {e}"));
            } else if let Some(s) = schema
                && let Err(errs) = s.validate(&conv.bundle)
            {
                schema_result = Err(format!("{} schema error(s), first: {}", errs.len(), errs[0]));
            }
            count_types(&conv.bundle, &mut counts);
        }
        Ok(counts)
    })();
    Row { sample: stem, structure, theirs, ours, schema: schema_result }
}

fn fmt_counts(c: &Counts) -> String {
    if c.is_empty() {
        return "—".into();
    }
    c.iter().map(|(t, n)| if *n == 1 { t.clone() } else { format!("{t} ×{n}") }).collect::<Vec<_>>().join(", ")
}

/// Types one side has and the other lacks (counts ignored).
fn diff(theirs: &Counts, ours: &Counts) -> String {
    let missing: Vec<&str> = theirs.keys().filter(|t| !ours.contains_key(*t)).map(String::as_str).collect();
    let extra: Vec<&str> = ours.keys().filter(|t| !theirs.contains_key(*t)).map(String::as_str).collect();
    let mut s = String::new();
    if !missing.is_empty() {
        let _ = write!(s, "only MS: {}", missing.join(", "));
    }
    if !extra.is_empty() {
        if !s.is_empty() {
            s.push_str("; ");
        }
        let _ = write!(s, "only Hearth: {}", extra.join(", "));
    }
    if s.is_empty() { "same types".into() } else { s }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn render(rows: &[Row], schema_checked: bool) -> String {
    let mut out = String::new();
    let converted = rows.iter().filter(|r| r.ours.is_ok()).count();
    let valid = rows.iter().filter(|r| r.ours.is_ok() && r.schema.is_ok()).count();
    let _ = writeln!(out, "<!-- generated by `cargo run --example coverage -p hearth-map`; do not edit by hand -->\n");
    let _ = writeln!(
        out,
        "{converted} of {} samples converted; {valid} of them valid ({}).\n",
        rows.len(),
        if schema_checked { "fhirbolt model and HL7 R4 JSON schema" } else { "fhirbolt model only: schema not found" }
    );

    // Per structure.
    let mut by_structure: BTreeMap<&str, (usize, usize, Counts, Counts)> = BTreeMap::new();
    for r in rows {
        let key = r.structure.split(' ').next().unwrap_or("?");
        let e = by_structure.entry(key).or_default();
        e.0 += 1;
        if let Ok(ours) = &r.ours {
            e.1 += 1;
            for (t, n) in ours {
                *e.3.entry(t.clone()).or_default() += n;
            }
        }
        for (t, n) in r.theirs.iter().flatten() {
            *e.2.entry(t.clone()).or_default() += n;
        }
    }
    let _ = writeln!(out, "### Per structure (counts summed over the samples)\n");
    let _ = writeln!(out, "| Structure | Samples | Converted | Microsoft | Hearth | Types |");
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for (s, (n, ok, theirs, ours)) in &by_structure {
        let _ = writeln!(
            out,
            "| {s} | {n} | {ok} | {} | {} | {} |",
            fmt_counts(theirs),
            fmt_counts(ours),
            if *ok == 0 { "not converted".into() } else { diff(theirs, ours) }
        );
    }

    let _ = writeln!(out, "\n### Per sample\n");
    let _ = writeln!(out, "| Sample | Structure | Microsoft | Hearth | Types | Valid |");
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for r in rows {
        let theirs = r.theirs.as_ref().map_or_else(|| "(no expected bundle)".into(), fmt_counts);
        let (ours, types) = match &r.ours {
            Ok(c) => (fmt_counts(c), r.theirs.as_ref().map_or_else(String::new, |t| diff(t, c))),
            Err(e) => (format!("error: {}", cell(e)), String::new()),
        };
        let valid = match (&r.ours, &r.schema) {
            (Err(_), _) => "—".to_owned(),
            (Ok(_), Ok(())) => "yes".to_owned(),
            (Ok(_), Err(e)) => format!("no: {}", cell(e)),
        };
        let _ = writeln!(out, "| {} | {} | {theirs} | {ours} | {types} | {valid} |", r.sample, r.structure);
    }
    out
}
