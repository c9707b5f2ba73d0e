#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure with its message
//! `hearth convert` with the real binary: one message → one Bundle, a batch → NDJSON, stdin, bad input → exit 2
//! with a located one-line error, `--report` on stderr. Every Bundle validates against HL7's R4 JSON schema.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::*;

fn convert(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(BIN)
        .arg("convert")
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
    match hearth_fhir::schema::R4Schema::shared() {
        Ok(schema) => schema.validate(b).unwrap(),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => panic!("{e}"),
        Err(e) => eprintln!("schema check skipped: {e}"),
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
fn bad_input_exits_2_with_a_located_error() {
    // The second message has an invalid segment name: nothing on stdout, one line naming message and segment.
    let mut input = adt("CLI-4");
    input.extend_from_slice(b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01^ADT_A01|CLI-5|P|2.5.1\rPID|1\rp!d|x\r");
    let out = convert(&["--from", "hl7v2", "-"], Some(&input));
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("message 2") && err.contains("segment 3"), "{err}");

    let out = convert(&["--from", "hl7v2", "-"], Some(b"this is not HL7"));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8(out.stderr).unwrap().lines().count(), 1);

    let out = convert(&["--from", "hl7v2", "/nonexistent/file.hl7"], None);
    assert_eq!(out.status.code(), Some(2));
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
