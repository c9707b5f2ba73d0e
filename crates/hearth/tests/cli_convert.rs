#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure with its message
//! `hearth convert` with the real binary: one message → one Bundle, a batch → NDJSON, stdin, a refused message →
//! one located line on stderr (exit 3 when others converted, 2 when nothing did), `--report` on stderr, times
//! without offset in `--timezone` or the host's zone. Every Bundle validates against HL7's R4 JSON schema.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::*;

fn convert(args: &[&str], stdin: Option<&[u8]>) -> Output {
    convert_env(args, stdin, &[])
}

fn convert_env(args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(BIN)
        .arg("convert")
        .envs(env.iter().copied())
        .args(args)
        .env("HEARTH_LOG", "warn")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn check_bundle(b: &serde_json::Value) {
    assert_eq!(b["resourceType"], "Bundle");
    hearth_fhir::validate_bundle(b).unwrap();
    let schema = hearth_fhir::schema::R4Schema::shared().map_err(|e| e.to_string());
    if let Some(schema) = hearth_testkit::require("check_bundle: R4 schema", schema) {
        schema.validate(b).unwrap();
    }
}

fn resource_types(b: &serde_json::Value) -> Vec<String> {
    b["entry"].as_array().unwrap().iter().map(|e| e["resource"]["resourceType"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn one_message_gives_one_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a01.hl7");
    std::fs::write(&file, adt("CLI-1")).unwrap();
    let out = convert(&["--from", "hl7v2", file.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let b: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    check_bundle(&b);
    assert!(resource_types(&b).contains(&"Patient".to_owned()));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn batch_file_gives_ndjson() {
    let file = fixtures().join("batch-adt.hl7");
    let out = convert(&["--from", "hl7v2", file.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "one Bundle a line");
    for l in lines {
        let b: serde_json::Value = serde_json::from_str(l).unwrap();
        check_bundle(&b);
        assert!(resource_types(&b).contains(&"Patient".to_owned()));
    }
}

#[test]
fn stdin_and_report() {
    let mut two = adt("CLI-2");
    two.extend_from_slice(&adt("CLI-3"));
    let out = convert(&["--from", "hl7v2", "--report", "-"], Some(&two));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 2);
    let stderr = String::from_utf8(out.stderr).unwrap();
    let reports: Vec<serde_json::Value> = stderr.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(reports.len(), 2, "{stderr}");
    assert_eq!(reports[1]["message"], 2);
    assert!(reports[0]["report"]["mapping"].as_str().unwrap().starts_with("hearth-hl7v2-fhir-r4"));
    assert!(reports[0]["report"]["warnings"].is_array());
}

#[test]
fn one_bad_message_does_not_stop_the_file() {
    // Messages 2 and 4 are refused (an invalid segment name, an unsupported structure); 1 and 3 convert.
    let mut input = adt("CLI-4");
    input.extend_from_slice(b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01^ADT_A01|CLI-5|P|2.5.1\rPID|1\rp!d|x\r");
    input.extend_from_slice(&adt("CLI-6"));
    input.extend_from_slice(b"MSH|^~\\&|A|B|C|D|20260101||ZZZ^Z99^ZZZ_Z99|CLI-7|P|2.5.1\rPID|1||X^^^NS^MR\r");
    let out = convert(&["--from", "hl7v2", "-"], Some(&input));
    assert_eq!(out.status.code(), Some(3), "partly converted");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let bundles: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(bundles.len(), 2, "the good messages, in input order");
    assert_eq!(bundles[0]["identifier"]["value"], "CLI-4");
    assert_eq!(bundles[1]["identifier"]["value"], "CLI-6");
    bundles.iter().for_each(check_bundle);
    let err = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "one line per refused message and a total: {err}");
    assert!(lines[0].contains("message 2") && lines[0].contains("segment 3"), "{err}");
    assert!(lines[1].contains("message 4") && lines[1].contains("unsupported"), "{err}");
    assert!(lines[2].contains("2 messages converted, 2 refused"), "{err}");
}

#[test]
fn nothing_converted_exits_2_with_a_located_error() {
    let out = convert(
        &["--from", "hl7v2", "-"],
        Some(b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01^ADT_A01|CLI-8|P|2.5.1\rPID|1\rp!d|x\r"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("message 1") && err.contains("segment 3"), "{err}");

    let out = convert(&["--from", "hl7v2", "-"], Some(b"this is not HL7"));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8(out.stderr).unwrap().lines().count(), 1);

    let out = convert(&["--from", "hl7v2", "/nonexistent/file.hl7"], None);
    assert_eq!(out.status.code(), Some(2));

    let out = convert(&["--from", "hl7v2", "--timezone", "Mars/Olympus_Mons", "-"], Some(&adt("CLI-9")));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("--timezone"));
}

#[test]
fn times_without_offset_take_the_host_zone_or_the_timezone_argument() {
    // adt() sends 20260101120000 (no offset) in MSH-7 and EVN-2.
    let start = |out: &Output| -> serde_json::Value {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let b: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        check_bundle(&b);
        b["timestamp"].clone()
    };
    let host = convert_env(&["--from", "hl7v2", "-"], Some(&adt("CLI-10")), &[("TZ", "America/Chicago")]);
    assert_eq!(start(&host), "2026-01-01T12:00:00-06:00", "the host's zone (TZ)");
    let given = convert_env(
        &["--from", "hl7v2", "--timezone", "Europe/Paris", "-"],
        Some(&adt("CLI-11")),
        &[("TZ", "America/Chicago")],
    );
    assert_eq!(start(&given), "2026-01-01T12:00:00+01:00", "--timezone wins over the host's zone");
}

#[test]
fn csv_and_webhook_need_a_profile() {
    for from in ["csv", "webhook"] {
        let out = convert(&["--from", from, "-"], Some(b"a,b\n1,2\n"));
        assert_eq!(out.status.code(), Some(2), "--from {from} without --profile is bad input");
        assert!(!out.stderr.is_empty());
        assert!(out.stdout.is_empty());
    }
}
