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
