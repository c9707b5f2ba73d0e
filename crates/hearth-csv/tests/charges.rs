//! The `charges` profile on synthetic fixtures (fixtures/csv/charges): golden outputs, exact row errors, header
//! drift, encodings, quoting, all-or-nothing, and chunk-by-chunk conversion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use hearth_csv::{ConvertContext, Converter, CsvError, FileReport, Output, Profile, RowError, Splitter};
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/csv/charges")
}

fn read(case: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(case)).unwrap()
}

fn ctx(line_offset: u64) -> ConvertContext<'static> {
    ConvertContext { source: "fixture.csv", line_offset, now: time::macros::datetime!(2026-01-02 03:04:05 UTC) }
}

fn convert_with(profile: &Profile, bytes: &[u8]) -> Result<(FileReport, Vec<Output>), CsvError> {
    let mut out = Vec::new();
    let report = Converter::new(profile).convert(bytes, &ctx(0), |o| out.push(o))?;
    assert_eq!(report.rows_read, report.rows_converted + report.rows_rejected);
    Ok((report, out))
}

fn charges() -> Profile {
    Profile::builtin("charges").unwrap()
}

fn convert(case: &str) -> (FileReport, Vec<Output>) {
    convert_with(&charges(), &read(case)).unwrap()
}

fn schema_check(outputs: &[Output]) {
    let schema = hearth_fhir::schema::R4Schema::shared().map_err(|e| e.to_string());
    let Some(schema) = hearth_testkit::require("schema validation", schema) else { return };
    for o in outputs {
        schema.validate(&o.bundle).unwrap_or_else(|e| panic!("line {}: {e:#?}\n{:#}", o.first_line, o.bundle));
    }
}

/// `<case>.expected.json` holds the report and the bundles; `BLESS=1` rewrites it.
fn golden(case: &str) {
    golden_with(&charges(), case);
}

fn golden_with(profile: &Profile, case: &str) {
    let (report, outputs) = convert_with(profile, &read(case)).unwrap();
    schema_check(&outputs);
    let bundles: Vec<Value> = outputs
        .iter()
        .map(|o| json!({"lines": [o.first_line, o.last_line], "group": o.group, "bundle": o.bundle}))
        .collect();
    let actual = json!({"report": report, "outputs": bundles});
    let path = fixtures().join(format!("{}.expected.json", case.trim_end_matches(".csv")));
    if std::env::var("BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, serde_json::to_string_pretty(&actual).unwrap() + "\n").unwrap();
        return;
    }
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run with BLESS=1 to create it)", path.display())),
    )
    .unwrap();
    assert_eq!(actual, expected, "{case} differs from {} (BLESS=1 rewrites)", path.display());
}

#[test]
fn golden_good() {
    golden("good.csv");
}

#[test]
fn golden_bad_rows() {
    golden("bad_rows.csv");
}

#[test]
fn golden_bad_rows_crlf() {
    golden("bad_rows_crlf.csv");
}

#[test]
fn golden_windows1252_crlf() {
    golden("windows1252_crlf.csv");
}

#[test]
fn golden_bom() {
    golden("bom.csv");
}

#[test]
fn golden_quoted() {
    golden("quoted.csv");
}

fn err(line: u64, col: Option<(&str, usize)>, reason: &str) -> RowError {
    RowError { line, column: col.map(|c| c.0.to_owned()), column_index: col.map(|c| c.1), reason: reason.to_owned() }
}

/// The physical line (1-based; LF, CRLF and a lone CR each end one) where `needle` first appears in `bytes`.
fn line_of(bytes: &[u8], needle: &str) -> u64 {
    let at = bytes.windows(needle.len()).position(|w| w == needle.as_bytes()).unwrap();
    let before = &bytes[..at];
    let lf = before.iter().filter(|&&b| b == b'\n').count();
    let lone_cr = before.windows(2).filter(|w| w[0] == b'\r' && w[1] != b'\n').count()
        + usize::from(before.last() == Some(&b'\r'));
    (lf + lone_cr) as u64 + 1
}

#[test]
fn bad_rows_exact_errors_and_totals() {
    // The same rows with LF, CRLF (a fixture of its own) and lone-CR line ends: each error names the physical line
    // its row starts on, found in the file itself.
    let lf = read("bad_rows.csv");
    let cr: Vec<u8> = lf.iter().map(|&b| if b == b'\n' { b'\r' } else { b }).collect();
    for (name, bytes) in [("LF", lf.clone()), ("CRLF", read("bad_rows_crlf.csv")), ("CR", cr)] {
        let (report, outputs) = convert_with(&charges(), &bytes).unwrap();
        assert_eq!((report.rows_read, report.rows_converted, report.rows_rejected), (10, 2, 8), "{name}");
        let at = |id: &str| line_of(&bytes, id);
        let expected = vec![
            err(at("CHG-2002"), Some(("service_date", 5)), "\"2025-02-30\" is not a date in the profile's formats"),
            err(at("CHG-2003"), Some(("unit_price", 11)), "\"12O.00\" is not a number"),
            err(at("CHG-2003"), Some(("amount", 12)), "\"12O.00\" is not a number"),
            err(at("CHG-2004"), Some(("cpt_hcpcs", 6)), "no charge code: procedure and revenue code are both empty"),
            err(at("CHG-2005"), Some(("units", 10)), "-2 is negative, which this column does not allow"),
            err(at("CHG-2006"), Some(("mrn", 2)), "identifier contains a line break or control character"),
            err(at("CHG-2007"), Some(("mrn", 2)), "required value is empty"),
            err(at("CHG-2008"), None, "has 13 fields, the header has 14"),
            err(at("CHG-2009"), Some(("cpt_hcpcs", 6)), "\"9921\" is neither a CPT nor a HCPCS code"),
        ];
        assert_eq!(report.errors, expected, "{name}");
        let lines: Vec<(u64, u64)> = outputs.iter().map(|o| (o.first_line, o.last_line)).collect();
        assert_eq!(lines, vec![(at("CHG-2001"), at("CHG-2001")), (at("CHG-2010"), at("CHG-2010"))], "{name}");
    }
}

#[test]
fn good_file_maps_every_element() {
    let (report, outputs) = convert("good.csv");
    assert_eq!((report.rows_read, report.rows_converted, report.errors.len()), (5, 5, 0));
    let ci = &outputs[0].bundle["entry"][0]["resource"];
    assert_eq!(ci["subject"]["reference"], "Patient?identifier=urn:hearth:id:mrn|MRN000101");
    // The identifier beside the conditional reference, for consumers that read the resource alone.
    assert_eq!(ci["subject"]["identifier"], json!({ "system": "urn:hearth:id:mrn", "value": "MRN000101" }));
    assert_eq!(ci["account"][0]["identifier"]["value"], "ACCT9001");
    assert_eq!(ci["context"]["reference"], "Encounter?identifier=urn:hearth:id:visit-number|V20250301");
    assert_eq!(ci["account"][0]["reference"], "Account?identifier=urn:hearth:id:account-number|ACCT9001");
    assert_eq!(ci["code"]["coding"][0], json!({"system": "http://www.ama-assn.org/go/cpt", "code": "99213"}));
    assert_eq!(ci["performer"][0]["actor"]["identifier"]["system"], "http://hl7.org/fhir/sid/us-npi");
    assert_eq!((ci["priceOverride"]["value"].as_f64(), &ci["priceOverride"]["currency"]), (Some(125.0), &json!("USD")));
    assert_eq!(outputs[0].bundle["meta"]["tag"][0]["code"], "hearth-csv-charges/1");
    let hcpcs = &outputs[1].bundle["entry"][0]["resource"]["code"]["coding"][0];
    assert_eq!(hcpcs["system"], "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets");
    let revenue_only = &outputs[3].bundle["entry"][0]["resource"];
    assert_eq!(revenue_only["code"]["coding"][0]["system"], "https://www.nubc.org/CodeSystem/RevenueCodes");
    assert_eq!(outputs[2].bundle["entry"][0]["resource"]["occurrenceDateTime"], "2025-03-02");
    assert_eq!(outputs[3].bundle["entry"][0]["resource"]["occurrenceDateTime"], "2025-03-03");
    // Same input, same ids: a re-run creates nothing new.
    let (_, again) = convert("good.csv");
    assert_eq!(again[0].bundle, outputs[0].bundle);
    let ids: std::collections::HashSet<&str> =
        outputs.iter().map(|o| o.bundle["entry"][0]["resource"]["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 5);
}

fn drift(case: &str) -> hearth_csv::HeaderReport {
    match convert_with(&charges(), &read(case)) {
        Err(CsvError::HeaderDrift(h)) => {
            // The splitter refuses the same file before any row.
            assert!(matches!(Splitter::new(&charges(), read(case).as_slice()), Err(CsvError::HeaderDrift(_))));
            *h
        }
        other => panic!("{case}: expected header drift, got {other:?}"),
    }
}

#[test]
fn header_renamed_columns() {
    let h = drift("drift_renamed.csv");
    let renamed: Vec<(&str, &str, usize)> =
        h.renamed.iter().map(|r| (r.expected.as_str(), r.found.as_str(), r.column_index)).collect();
    assert_eq!(renamed, vec![("service_date", "Service Date", 5), ("payer", "insurance_plan", 14)]);
    assert!(h.missing.is_empty() && h.extra.is_empty(), "{h:?}");
    assert_eq!(
        h.to_string(),
        "line 1: header differs from the profile: renamed \"service_date\" -> \"Service Date\" (column 5); \
         renamed \"payer\" -> \"insurance_plan\" (column 14);"
    );
}

#[test]
fn header_missing_column() {
    let h = drift("drift_missing.csv");
    assert_eq!(h.missing, vec!["units"]);
    assert!(h.renamed.is_empty() && h.extra.is_empty());
}

#[test]
fn header_extra_column_ignored_or_refused() {
    let (report, outputs) = convert("drift_extra.csv");
    assert_eq!(report.header.extra, vec!["cost_center"]);
    assert_eq!((report.rows_converted, outputs.len()), (1, 1));
    let strict = include_str!("../../../mappings/csv/charges.toml")
        .replace("extra_columns = \"ignore\"", "extra_columns = \"reject\"");
    let strict = Profile::from_toml(&strict).unwrap();
    match convert_with(&strict, &read("drift_extra.csv")) {
        Err(CsvError::HeaderDrift(h)) => assert_eq!(h.extra, vec!["cost_center"]),
        other => panic!("expected drift, got {other:?}"),
    }
}

#[test]
fn windows_1252_and_crlf() {
    let bytes = read("windows1252_crlf.csv");
    let (report, outputs) = convert("windows1252_crlf.csv");
    assert_eq!(report.encoding.as_deref(), Some("Windows1252"));
    let payer = &outputs[0].bundle["entry"][0]["resource"]["supportingInformation"][0]["identifier"]["value"];
    assert_eq!(payer, "Mutuelle Générale Santé");
    let payer = &outputs[1].bundle["entry"][0]["resource"]["supportingInformation"][0]["identifier"]["value"];
    assert_eq!(payer, "Caisse Française – Sud");
    let chunks: Vec<_> = Splitter::new(&charges(), bytes.as_slice()).unwrap().map(Result::unwrap).collect();
    let text = String::from_utf8(chunks[1].raw.clone()).unwrap();
    assert!(text.ends_with("Caisse Française – Sud\r\n"), "{text:?}");
}

#[test]
fn bom_is_not_part_of_the_first_column() {
    let (report, outputs) = convert("bom.csv");
    assert_eq!(report.encoding.as_deref(), Some("Utf8Bom"));
    assert_eq!(report.header.columns[0], "charge_id");
    assert_eq!(outputs.len(), 1);
}

#[test]
fn quoted_commas_quotes_and_newlines() {
    let (report, outputs) = convert("quoted.csv");
    assert_eq!(report.rows_converted, 1, "{:?}", report.errors);
    // The payer with a newline is an identifier, so that row is refused at the line where it starts.
    assert_eq!(
        report.errors,
        vec![err(2, Some(("payer", 14)), "identifier contains a line break or control character")]
    );
    let r = &outputs[0].bundle["entry"][0]["resource"];
    assert_eq!((outputs[0].first_line, outputs[0].last_line), (4, 4));
    assert_eq!(r["context"]["reference"], "Encounter?identifier=urn:hearth:id:visit-number|V%2C51");
    assert_eq!(r["supportingInformation"][0]["identifier"]["value"], "Plan \"A\", East");
    let chunks: Vec<_> =
        Splitter::new(&charges(), read("quoted.csv").as_slice()).unwrap().map(Result::unwrap).collect();
    let spans: Vec<(u64, u64, &str)> = chunks.iter().map(|c| (c.first_line, c.last_line, c.key.as_str())).collect();
    assert_eq!(spans, vec![(2, 3, "2"), (4, 4, "4")]);
}

#[test]
fn chunks_convert_like_the_whole_file() {
    for case in ["good.csv", "bad_rows.csv", "windows1252_crlf.csv", "bom.csv", "quoted.csv"] {
        let bytes = read(case);
        let (whole, outputs) = convert(case);
        let converter = Converter::new(&charges());
        let (mut errors, mut chunked, mut rows) = (Vec::new(), Vec::new(), 0);
        for chunk in Splitter::new(&charges(), bytes.as_slice()).unwrap() {
            let chunk = chunk.unwrap();
            rows += chunk.rows;
            let r = converter.convert(chunk.raw.as_slice(), &ctx(chunk.first_line - 1), |o| chunked.push(o)).unwrap();
            errors.extend(r.errors);
        }
        assert_eq!(rows, whole.rows_read, "{case}");
        assert_eq!(errors, whole.errors, "{case}");
        let a: Vec<&Value> = chunked.iter().map(|o| &o.bundle).collect();
        let b: Vec<&Value> = outputs.iter().map(|o| &o.bundle).collect();
        assert_eq!(a, b, "{case}");
    }
}

#[test]
fn all_or_nothing_file() {
    let text = include_str!("../../../mappings/csv/charges.toml")
        .replace("all_or_nothing = \"off\"", "all_or_nothing = \"file\"");
    let profile = Profile::from_toml(&text).unwrap();
    let (report, outputs) = convert_with(&profile, &read("bad_rows.csv")).unwrap();
    assert_eq!((report.rows_read, report.rows_converted, report.rows_rejected), (10, 0, 10));
    assert!(outputs.is_empty());
    assert!(report.errors.last().unwrap().reason.contains("all-or-nothing"));
    let (report, outputs) = convert_with(&profile, &read("good.csv")).unwrap();
    assert_eq!((report.rows_converted, outputs.len()), (5, 5));
}

#[test]
fn a_late_non_utf8_line_in_a_utf8_file() {
    let mut bytes = read("good.csv");
    let row = "CHG-9,MRN9,V9,A9,2025-03-01,99213,,,0510,1,10.00,10.00,1234567893,PAYER01\n";
    while bytes.len() < 70_000 {
        bytes.extend_from_slice(row.as_bytes());
    }
    let bad_line = bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    bytes.extend_from_slice(b"CHG-X,MRN9,V9,A9,2025-03-01,99213,,,0510,1,10.00,10.00,1234567893,PAY\xC9R\n");
    bytes.extend_from_slice(row.as_bytes());
    let (report, _) = convert_with(&charges(), &bytes).unwrap();
    assert_eq!(report.encoding.as_deref(), Some("Utf8"));
    assert_eq!(report.rows_rejected, 1);
    assert_eq!(report.errors, vec![err(bad_line, Some(("payer", 14)), "not valid UTF-8 (the file started as UTF-8)")]);
    let items: Vec<_> = Splitter::new(&charges(), bytes.as_slice()).unwrap().collect();
    assert_eq!(items.len() as u64, report.rows_read);
    let bad: Vec<_> = items.iter().filter_map(|i| i.as_ref().err()).collect();
    assert_eq!(bad.len(), 1);
    assert!(matches!(bad[0], CsvError::UndecodableGroup { first_line, rows: 1, .. } if *first_line == bad_line));
    assert!(items.last().unwrap().is_ok(), "iteration goes on after the bad group");
}

#[test]
fn a_users_own_export_with_description_split_codes_and_no_visit_column() {
    let text = std::fs::read_to_string(fixtures().join("own_export.toml")).unwrap();
    // No `identifiers.encounter`, `account` or `payer`: the file has no such column, so none is needed.
    let profile = Profile::from_toml(&text).unwrap();
    golden_with(&profile, "own_export.csv");
    let (report, outputs) = convert_with(&profile, &read("own_export.csv")).unwrap();
    assert_eq!((report.rows_read, report.rows_converted), (3, 3), "{:?}", report.errors);
    let ci = |i: usize| outputs[i].bundle["entry"][0]["resource"].clone();
    let first = ci(0);
    assert_eq!(first["code"]["coding"][0]["code"], "73560");
    assert_eq!(first["code"]["text"], "X-ray knee 1-2 views");
    let modifiers: Vec<&str> = first["extension"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["url"] == "urn:hearth:fhir:extension:procedure-modifier")
        .map(|e| e["valueCoding"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(modifiers, ["26", "RT"], "one cell, two modifiers");
    assert!(first.get("context").is_none(), "no visit column, no Encounter reference");
    assert_eq!(first["subject"]["identifier"]["system"], "urn:oid:2.16.840.1.113883.19.5");
    let third = ci(2);
    let third_mods: Vec<&str> =
        third["extension"].as_array().unwrap().iter().filter_map(|e| e["valueCoding"]["code"].as_str()).collect();
    assert_eq!(third_mods, ["LT", "59"], "blanks around the separator are trimmed");
    assert!(
        ci(1)["extension"]
            .as_array()
            .is_none_or(|e| e.iter().all(|x| x["url"] != "urn:hearth:fhir:extension:procedure-modifier"))
    );
    // `split` is for code columns of a repeating field only.
    let bad = text.replace("split = \",\"", "split = \"\"");
    assert!(Profile::from_toml(&bad).is_err());
    // A visit column without its identifier system is still refused.
    let with_visit =
        format!("{text}\n[[columns]]\nname = \"Visit\"\nfield = \"visit_number\"\ntype = \"identifier\"\n");
    let e = Profile::from_toml(&with_visit).unwrap_err().to_string();
    assert!(e.contains("identifiers.encounter"), "{e}");
}
