//! `[journal] type = "postgres"`: keys, defaults, problems, topology, and the store configuration it gives.

use hearth_core::config::SecretSource;

use super::*;

const PG: &str = r#"
[journal]
type = "postgres"
url = "postgres://hearth@db.example:5432/hearth?sslmode=require"
password_env = "HEARTH_TEST_PG_PASSWORD_SCALEOUT"
pool_size = 4
statement_timeout_ms = 10000
node_lease_ms = 9000

[channels.adt]
type = "mllp"
listen = "127.0.0.1:2575"
"#;

#[test]
fn postgres_journal_validates_with_its_knobs() {
    let plan = load_str(PG, &[]).unwrap();
    let JournalPlan::Postgres(p) = &plan.journal else { panic!("postgres") };
    assert_eq!(p.url, "postgres://hearth@db.example:5432/hearth?sslmode=require");
    assert_eq!(p.password, SecretSource::Env("HEARTH_TEST_PG_PASSWORD_SCALEOUT".into()));
    assert_eq!((p.pool_size, p.statement_timeout_ms, p.node_lease_ms), (4, 10_000, 9_000));
    assert_eq!(p.connect_timeout_ms, 5_000, "default");
    assert_eq!(plan.journal.node_lease(), Duration::from_millis(9_000));
    let topology = plan.topology();
    assert!(
        topology.starts_with(
            "journal  postgres postgres://hearth@db.example:5432/hearth?sslmode=require (pool 4, statement timeout \
             10000 ms, node lease 9000 ms, group commit up to 512, password from $HEARTH_TEST_PG_PASSWORD_SCALEOUT)"
        ),
        "{topology}"
    );
}

#[test]
fn postgres_password_is_read_when_the_store_config_is_made_and_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pg-password");
    std::fs::write(&file, "s3cret-pg\n").unwrap();
    let text = PG.replace(
        "password_env = \"HEARTH_TEST_PG_PASSWORD_SCALEOUT\"",
        &format!("password_file = \"{}\"", file.display()),
    );
    let plan = load_str(&text, &[]).unwrap();
    let hearth_store::JournalConfig::Postgres(cfg) = plan.journal.store_config().unwrap() else { panic!("postgres") };
    assert_eq!(cfg.password.as_deref(), Some("s3cret-pg"));
    assert_eq!((cfg.max_connections, cfg.statement_timeout_ms), (4, 10_000));
    assert!(!plan.topology().contains("s3cret"));
    assert!(!format!("{cfg:?}").contains("s3cret"));

    // A password variable that is not set fails when the engine starts, naming the variable only.
    let plan = load_str(PG, &[]).unwrap();
    let err = plan.journal.store_config().unwrap_err().to_string();
    assert_eq!(err, "environment variable HEARTH_TEST_PG_PASSWORD_SCALEOUT is not set");
}

#[test]
fn postgres_journal_problems_name_their_keys() {
    let bad = r#"
[journal]
type = "postgres"
url = "mysql://u:pw@h/db"
password_env = "A"
password_file = "/run/b"
schema = "Bad-Schema"
pool_size = 0
node_lease_ms = 10
"#;
    let Err(ConfigError::Invalid(problems)) = load_str(bad, &[]) else { panic!("invalid") };
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        ["journal.url", "journal.password_env", "journal.schema", "journal.pool_size", "journal.node_lease_ms"]
    );
    let shown = ConfigError::Invalid(problems).to_string();
    assert!(!shown.contains("pw@"), "the URL (and its password) is not repeated: {shown}");
    let unknown = load_str("[journal]\ntype = \"postgres\"\nurl = \"postgres://h/d\"\npasword_env = \"X\"\n", &[]);
    assert!(matches!(unknown, Err(ConfigError::Load(m)) if m.contains("pasword_env")));
}

#[test]
fn sqlite_stays_the_default_journal() {
    let plan = Plan::default_plan().unwrap();
    assert!(matches!(plan.journal, JournalPlan::Sqlite { .. }));
    assert_eq!(plan.journal.node_lease(), Duration::from_millis(DEFAULT_NODE_LEASE_MS));
}

#[test]
fn the_shipped_scale_out_configuration_is_valid_with_its_per_node_overrides() {
    let shared = include_str!("../../../../deploy/scale-out/hearth.toml");
    for env_file in [
        include_str!("../../../../deploy/scale-out/node-a.env"),
        include_str!("../../../../deploy/scale-out/node-b.env"),
    ] {
        let vars: Vec<(String, String)> = env_file
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains('='))
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect();
        let plan = load_str(shared, &vars).unwrap_or_else(|e| panic!("deploy/scale-out/hearth.toml: {e}"));
        let JournalPlan::Postgres(p) = &plan.journal else { panic!("postgres") };
        assert_eq!(p.password, SecretSource::Env("HEARTH_PG_PASSWORD".into()));
        let DestinationKind::Amqp(d) = &plan.destinations[0].kind else { panic!("amqp") };
        assert_eq!(d.endpoint.fallbacks.len(), 2, "three broker nodes");
        let listen = vars.iter().find(|(k, _)| k == "HEARTH__HTTP__LISTEN").map(|(_, v)| v.as_str());
        assert_eq!(Some(plan.http.listen.to_string().as_str()), listen);
    }
}
