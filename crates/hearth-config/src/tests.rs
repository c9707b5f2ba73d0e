use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn built_in_default_matches_the_contract() {
    let plan = load_str(DEFAULT_TOML, &[]).unwrap();
    assert_eq!(plan.http.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(plan.channels.len(), 1);
    assert_eq!(plan.channels[0].listen.to_string(), "0.0.0.0:2575");
    let SourcePlan::Mllp(m) = &plan.channels[0].source;
    assert_eq!(m.max_frame_bytes, 10 * 1024 * 1024);
    let JournalPlan::Sqlite { path, .. } = &plan.journal;
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
    let JournalPlan::Sqlite { path, .. } = &plan.journal;
    assert_eq!(path, &PathBuf::from("/tmp/other.db"));
    assert_eq!(plan.http.listen.port(), 9999);
    let SourcePlan::Mllp(m) = &plan.channels[0].source;
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
    let SourcePlan::Mllp(adt) = &plan.channels[0].source;
    assert_eq!(adt.mapping.bundle_type, BundleKind::Message);
    assert_eq!(adt.mapping.facility_timezone.as_deref(), Some("America/Chicago"));
    assert_eq!(adt.mapping.vocabulary, Some(PathBuf::from("/etc/hearth/vocab")));
    let SourcePlan::Mllp(lab) = &plan.channels[1].source;
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
    let JournalPlan::Sqlite { max_batch, max_size_bytes, .. } = &plan.journal;
    assert_eq!((*max_batch, *max_size_bytes), (64, Some(1_048_576)));
    let SourcePlan::Mllp(m) = &plan.channels[0].source;
    assert_eq!((m.max_frame_bytes, m.max_connections, m.idle_timeout), (4096, 7, Duration::from_millis(1500)));
    assert_eq!(plan.shutdown_timeout, Duration::from_millis(2500));
}
