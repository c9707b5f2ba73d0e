#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use super::*;

mod csv;
mod endpoints;
mod journal;
mod webhook;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn built_in_default_matches_the_contract() {
    let plan = load_str(DEFAULT_TOML, &[]).unwrap();
    assert_eq!(plan.http.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(plan.channels.len(), 1);
    let SourcePlan::Mllp(m) = &plan.channels[0].source else { panic!("mllp") };
    assert_eq!(m.listen.to_string(), "0.0.0.0:2575");
    assert_eq!(m.max_frame_bytes, 10 * 1024 * 1024);
    let JournalPlan::Sqlite { path, .. } = &plan.journal else { panic!("sqlite") };
    assert_eq!(path, &PathBuf::from("./data/hearth.db"));
}

#[test]
fn environment_overrides_keys() {
    let plan = load_str(
        DEFAULT_TOML,
        &env(&[
            ("HEARTH__JOURNAL__PATH", "/tmp/other.db"),
            ("HEARTH__HTTP__LISTEN", "127.0.0.1:9999"),
            ("HEARTH__CHANNELS__HL7V2__MAX_FRAME_BYTES", "2048"),
            ("UNRELATED", "x"),
        ]),
    )
    .unwrap();
    let JournalPlan::Sqlite { path, .. } = &plan.journal else { panic!("sqlite") };
    assert_eq!(path, &PathBuf::from("/tmp/other.db"));
    assert_eq!(plan.http.listen.port(), 9999);
    let SourcePlan::Mllp(m) = &plan.channels[0].source else { panic!("mllp") };
    assert_eq!(m.max_frame_bytes, 2048);
}

#[test]
fn unknown_keys_are_errors() {
    let err = load_str("[http]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n", &[]).unwrap_err();
    assert!(err.to_string().contains("lisen"), "{err}");
    let err = load_str("[channels.a]\ntype = \"mllp\"\nlisten = \"127.0.0.1:1\"\nmax_frame = 3\n", &[]).unwrap_err();
    assert!(err.to_string().contains("max_frame"), "{err}");
    let err = load_str("bogus = 1\n", &[]).unwrap_err();
    assert!(err.to_string().contains("bogus"), "{err}");
    let err = load_str("[channels.a]\ntype = \"smtp\"\nlisten = \"127.0.0.1:1\"\n", &[]).unwrap_err();
    assert!(err.to_string().contains("smtp"), "{err}");
}

#[test]
fn problems_name_the_key_path() {
    let err = load_str(
        "[http]\nlisten = \"nowhere\"\n[channels.adt]\ntype = \"mllp\"\nlisten = \"127.0.0.1:2575\"\nmax_frame_bytes = 10\ndefault_charset = \"EBCDIC\"\n[channels.BAD]\ntype = \"mllp\"\nlisten = \"127.0.0.1:2575\"\n",
        &[],
    )
    .unwrap_err();
    let ConfigError::Invalid(p) = err else { panic!("expected Invalid") };
    let paths: Vec<_> = p.iter().map(|p| p.path.as_str()).collect();
    assert!(paths.contains(&"http.listen"), "{paths:?}");
    assert!(paths.contains(&"channels.adt.max_frame_bytes"), "{paths:?}");
    assert!(paths.contains(&"channels.adt.default_charset"), "{paths:?}");
    assert!(paths.contains(&"channels.BAD"), "{paths:?}");
    assert!(p.iter().any(|p| p.message.contains("already used by channel")), "{p:?}");
}

#[test]
fn topology_lists_every_component() {
    let plan = load_str(DEFAULT_TOML, &[]).unwrap();
    let t = plan.topology();
    assert!(t.contains("journal  sqlite ./data/hearth.db"), "{t}");
    assert!(t.contains("channel  hl7v2"), "{t}");
    assert!(t.contains("0.0.0.0:2575"), "{t}");
}

#[test]
fn mapping_options_per_channel() {
    let toml = r#"
        [channels.adt]
        type = "mllp"
        listen = "127.0.0.1:2575"
        [channels.adt.mapping]
        bundle_type = "message"
        facility_timezone = "America/Chicago"
        vocabulary = "/etc/hearth/vocab"

        [channels.lab]
        type = "mllp"
        listen = "127.0.0.1:2576"
    "#;
    let plan = load_str(toml, &env(&[("HEARTH__CHANNELS__LAB__MAPPING__BUNDLE_TYPE", "collection")])).unwrap();
    let SourcePlan::Mllp(adt) = &plan.channels[0].source else { panic!("mllp") };
    assert_eq!(adt.mapping.bundle_type, BundleKind::Message);
    assert_eq!(adt.mapping.facility_timezone.as_deref(), Some("America/Chicago"));
    assert_eq!(adt.mapping.vocabulary, Some(PathBuf::from("/etc/hearth/vocab")));
    let SourcePlan::Mllp(lab) = &plan.channels[1].source else { panic!("mllp") };
    assert_eq!(lab.mapping, MappingPlan { bundle_type: BundleKind::Collection, ..MappingPlan::default() });
}

#[test]
fn bad_mapping_options_name_their_keys() {
    let toml = r#"
        [channels.adt]
        type = "mllp"
        listen = "127.0.0.1:2575"
        [channels.adt.mapping]
        bundle_type = "batch"
        facility_timezone = "Mars/Olympus_Mons"
        vocabulary = ""
    "#;
    let ConfigError::Invalid(problems) = load_str(toml, &[]).unwrap_err() else { panic!("not a validation error") };
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "channels.adt.mapping.bundle_type",
            "channels.adt.mapping.facility_timezone",
            "channels.adt.mapping.vocabulary"
        ]
    );
    let unknown = load_str(
        "[channels.adt]\ntype = \"mllp\"\nlisten = \"127.0.0.1:1\"\n[channels.adt.mapping]\nbundle = \"x\"\n",
        &[],
    );
    assert!(unknown.is_err());
}

/// fhirbolt turns on serde_json's `arbitrary_precision` for the whole build, which breaks numbers inside
/// `#[serde(untagged)]`/`#[serde(flatten)]` types deserialised from serde_json. Configuration goes through the
/// `config` crate's own value type, not serde_json, and its internally tagged enums (`type = "..."`) hold
/// numbers: this pins that they survive, from TOML and from the environment.
#[test]
fn numbers_survive_arbitrary_precision() {
    let toml = r#"
        shutdown_timeout_ms = 2500
        [journal]
        type = "sqlite"
        path = "/tmp/x.db"
        max_batch = 64
        max_size_bytes = 1048576
        [channels.adt]
        type = "mllp"
        listen = "127.0.0.1:2575"
        max_frame_bytes = 4096
        idle_timeout_ms = 1500
    "#;
    let plan = load_str(toml, &env(&[("HEARTH__CHANNELS__ADT__MAX_CONNECTIONS", "7")])).unwrap();
    let JournalPlan::Sqlite { max_batch, max_size_bytes, .. } = &plan.journal else { panic!("sqlite") };
    assert_eq!((*max_batch, *max_size_bytes), (64, Some(1_048_576)));
    let SourcePlan::Mllp(m) = &plan.channels[0].source else { panic!("mllp") };
    assert_eq!((m.max_frame_bytes, m.max_connections, m.idle_timeout), (4096, 7, Duration::from_millis(1500)));
    assert_eq!(plan.shutdown_timeout, Duration::from_millis(2500));
}

#[test]
fn without_destinations_the_built_in_amqp_destination_and_default_route_exist() {
    let plan = load_str(DEFAULT_TOML, &[]).unwrap();
    assert_eq!(plan.destinations.len(), 1);
    let d = &plan.destinations[0];
    assert_eq!(d.name, "fhir");
    let DestinationKind::Amqp(a) = &d.kind else { panic!("amqp") };
    assert_eq!(a.endpoint.uri, DEFAULT_AMQP_ENDPOINT);
    assert_eq!(a.exchange, "hearth.fhir");
    assert_eq!(a.exchange_type, "topic");
    let topo = plan.topology();
    assert!(topo.contains("dest     fhir") && topo.contains("guest:***@"), "{topo}");
    assert!(topo.contains("route    "), "{topo}");
}

const ROUTED: &str = r##"
[channels.adt]
type = "mllp"
listen = "127.0.0.1:2575"

[channels.upstream]
type = "amqp"
queue = "inbound.hl7"
prefetch = 16

[destinations.fhir]
type = "amqp"
exchange = "hearth.fhir"
[[destinations.fhir.queues]]
name = "all-fhir"
bind = ["#"]

[destinations.billing]
type = "amqp"
endpoint = "amqp://hearth@mq.example:5672/%2f"
password_env = "HEARTH_MQ_PASSWORD"
exchange = "billing"
exchange_type = "direct"
exclude = ["Patient.telecom"]
max_attempts = 3
retry_initial_ms = 100
retry_max_ms = 1000

[routes.discharges]
events = ["ADT^A03"]
payload = "bundle"
destinations = ["billing"]
condition = "Bundle.entry.resource.ofType(Encounter).exists()"
"##;

#[test]
fn destinations_routes_and_amqp_channels_validate() {
    let plan = load_str(ROUTED, &[]).unwrap();
    assert_eq!(plan.destinations.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["billing", "fhir"]);
    let billing = &plan.destinations[0];
    assert_eq!(billing.exclude, ["Patient.telecom"]);
    assert_eq!(
        billing.retry,
        RetryPlan { max_attempts: 3, initial: Duration::from_millis(100), max: Duration::from_secs(1) }
    );
    let DestinationKind::Amqp(a) = &billing.kind else { panic!("amqp") };
    assert_eq!(a.endpoint.password, SecretSource::Env("HEARTH_MQ_PASSWORD".into()));
    let DestinationKind::Amqp(fhir) = &plan.destinations[1].kind else { panic!("amqp") };
    assert_eq!(fhir.queues[0].bind, ["#"]);
    assert_eq!(fhir.queues[0].exchange, "hearth.fhir");
    let upstream = plan.channels.iter().find(|c| c.name == "upstream").unwrap();
    let SourcePlan::Amqp(src) = &upstream.source else { panic!("amqp") };
    assert_eq!((src.queue.as_str(), src.prefetch, src.payload), ("inbound.hl7", 16, PayloadKind::Hl7v2));
    let topo = plan.topology();
    assert!(topo.contains("discharges"), "{topo}");
    assert!(topo.contains("amqp amqp://hearth@mq.example"), "{topo}");
}

#[test]
fn a_bad_fhirpath_condition_is_reported_with_its_key_path_and_position() {
    let bad = ROUTED.replace(".exists()", ".exist()");
    let err = load_str(&bad, &[]).unwrap_err().to_string();
    assert!(err.contains("routes.discharges.condition"), "{err}");
    assert!(err.contains("unknown function `exist`") && err.contains("at 40 (line 1, column 41)"), "{err}");
}

#[test]
fn routes_and_destinations_problems_name_their_keys() {
    let bad = ROUTED
        .replace("destinations = [\"billing\"]", "destinations = [\"nowhere\"]")
        .replace("exchange_type = \"direct\"", "exchange_type = \"fan\"")
        .replace("max_attempts = 3", "max_attempts = 0")
        .replace(
            "type = \"amqp\"\nexchange = \"hearth.fhir\"",
            "type = \"amqp\"\nendpoint = \"mqtt://x\"\nexchange = \"hearth.fhir\"",
        );
    let err = load_str(&bad, &[]).unwrap_err();
    let ConfigError::Invalid(problems) = err else { panic!("{err}") };
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    for want in
        ["destinations.billing.exchange_type", "destinations.billing.max_attempts", "destinations.fhir.endpoint"]
    {
        assert!(paths.contains(&want), "{want} missing from {paths:?}");
    }
    assert!(paths.iter().any(|p| p.starts_with("routes.discharges.destinations")), "{paths:?}");
}

#[test]
fn the_shipped_example_and_route_files_are_valid() {
    let example = include_str!("../../../../deploy/hearth.example.toml");
    let plan = load_str(example, &[]).unwrap_or_else(|e| panic!("deploy/hearth.example.toml: {e}"));
    assert_eq!(plan.destinations.len(), 3);
    assert!(plan.destinations.iter().any(|d| matches!(d.kind, DestinationKind::Fhir(_))), "the FHIR example");
    let followup = include_str!("../../../../mappings/routes/discharge-followup.toml");
    let with_outreach = format!(
        "{followup}\n[destinations.fhir]\ntype = \"amqp\"\n[destinations.outreach]\ntype = \"amqp\"\nexchange = \"outreach\"\n"
    );
    let plan = load_str(&with_outreach, &[]).unwrap_or_else(|e| panic!("discharge-followup.toml: {e}"));
    assert!(plan.topology().contains("discharge_followup"));
}
