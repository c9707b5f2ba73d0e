#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure with its message
//! `hearth test` with the real binary: the shipped test files of the example configuration and of the
//! discharge follow-up route pass (this is how CI runs them); a failing file exits 1 with an expected-vs-actual
//! diff; `--format junit` is well-formed XML with the failure in it; CSV and webhook inputs run through their
//! channels' profiles; a broken test file exits 2.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

fn hearth_test(args: &[&str]) -> Output {
    Command::new(BIN).arg("test").args(args).env("HEARTH_LOG", "warn").output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn the_shipped_configuration_tests_pass() {
    let repo = repo();
    let example = repo.join("deploy/hearth.example.toml");
    let out = hearth_test(&["--config", example.to_str().unwrap()]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("hearth.example.test.toml"), "{stdout}");
    assert!(stdout.contains("5 passed, 0 failed"), "{stdout}");

    let routes = repo.join("mappings/routes");
    let out = hearth_test(&[routes.to_str().unwrap()]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("4 passed, 0 failed"), "{}", text(&out.stdout));
}

/// A configuration with an HL7 v2, a CSV and a webhook channel, and a billing route on charges.
fn config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("hearth.toml");
    std::fs::write(
        &path,
        r#"
[journal]
type = "sqlite"
path = "unused.db"

[channels.adt]
type = "mllp"
listen = "127.0.0.1:0"

[channels.charges]
type = "http"
payload = "csv"
profile = "charges"

[channels.calls]
type = "webhook"
profile = "generic"
auth = "hub-signature-256"
secret_env = "NOT_READ_BY_HEARTH_TEST"

[destinations.fhir]
type = "amqp"

[destinations.billing]
type = "amqp"
exchange = "billing"

[routes.charges]
channels = ["charges"]
payload = "bundle"
destinations = ["billing"]
"#,
    )
    .unwrap();
    path
}

const FAILING: &str = r#"
config = "hearth.toml"
now = "2025-03-05T12:00:00Z"

[[test]]
name = "passes: charges go to billing"
channel = "charges"
input.csv_file = "CHARGES"
expect.routes = ["charges", "default"]
expect.deliveries = [{ route = "charges", destination = "billing", routing_key = "charges.charges.Bundle", count = 5 }]

[[test.expect.fhirpath]]
path = "Bundle.entry.resource.ofType(ChargeItem).count()"
equals = 5

[[test]]
name = "fails: the wrong route and a wrong value"
channel = "adt"
input.hl7v2_file = "A01"
expect.routes = ["charges"]

[[test.expect.fhirpath]]
path = "Bundle.entry.resource.ofType(Patient).gender"
equals = "male"

[[test]]
name = "passes: a call event through the webhook profile, unlinked"
channel = "calls"
input.webhook_file = "CALL"
expect.no_deliveries_to = ["billing"]
expect.fhirpath = [{ path = "Bundle.entry.resource.exists()", equals = true }]
"#;

#[test]
fn a_failing_file_exits_1_with_a_diff_and_junit_names_the_failure() {
    let dir = tempfile::tempdir().unwrap();
    config(dir.path());
    let fx = repo().join("fixtures");
    let body = FAILING
        .replace("CHARGES", fx.join("csv/charges/good.csv").to_str().unwrap())
        .replace("A01", fx.join("hl7v2/adt-a01-full.hl7").to_str().unwrap())
        .replace("CALL", fx.join("webhooks/generic__call_ended_mrn_linked.json").to_str().unwrap());
    let file = dir.path().join("mixed.test.toml");
    std::fs::write(&file, body).unwrap();

    let out = hearth_test(&[file.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("ok     passes: charges go to billing"), "{stdout}");
    assert!(stdout.contains("ok     passes: a call event through the webhook profile, unlinked"), "{stdout}");
    assert!(stdout.contains("FAIL   fails: the wrong route and a wrong value"), "{stdout}");
    assert!(stdout.contains("- expected: [\"charges\"]\n"), "{stdout}");
    assert!(stdout.contains("+ actual:   [\"default\"]\n"), "{stdout}");
    assert!(stdout.contains("- expected: [\"male\"]"), "{stdout}");
    assert!(stdout.contains("+ actual:   [\"female\"]"), "{stdout}");
    assert!(stdout.contains("2 passed, 1 failed"), "{stdout}");

    let out = hearth_test(&["--format", "junit", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let (suites, cases, failures) = junit_counts(&out.stdout);
    assert_eq!((suites, cases, failures), (1, 3, 1), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("<testsuites name=\"hearth test\" tests=\"3\" failures=\"1\""));
}

/// Parses the whole document (a malformed one fails) and counts suites, cases and failures.
fn junit_counts(xml: &[u8]) -> (usize, usize, usize) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(xml);
    reader.config_mut().check_end_names = true;
    let (mut suites, mut cases, mut failures) = (0, 0, 0);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).expect("well-formed XML") {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"testsuite" => suites += 1,
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"testcase" => cases += 1,
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"failure" => failures += 1,
            _ => {}
        }
        buf.clear();
    }
    (suites, cases, failures)
}

#[test]
fn an_unusable_test_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    config(dir.path());
    let file = dir.path().join("bad.test.toml");
    std::fs::write(&file, "config = \"hearth.toml\"\n[[test]]\nname = \"x\"\nsurprise = 1\n").unwrap();
    let out = hearth_test(&[file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("unknown field `surprise`"), "{}", text(&out.stdout));
}
