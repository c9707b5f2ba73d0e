//! File inbox and HTTP ingest channels, loaded through the whole configuration.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::Duration;

use hearth_sources::file::CsvProfileRef;
use hearth_sources::http_ingest::{DEFAULT_MAX_CSV_BODY_BYTES, HttpPayload};

use crate::{ConfigError, SourcePlan, load_str};

fn problems(toml: &str) -> Vec<(String, String)> {
    match load_str(toml, &[]) {
        Err(ConfigError::Invalid(p)) => p.into_iter().map(|p| (p.path, p.message)).collect(),
        other => panic!("expected invalid, got {other:?}"),
    }
}

#[test]
fn file_channel_defaults() {
    let plan =
        load_str("[channels.billing]\ntype = \"file\"\ninbox = \"/srv/in\"\nprofile = \"charges\"\n", &[]).unwrap();
    let SourcePlan::File(f) = &plan.channels[0].source else { panic!("not a file channel") };
    assert_eq!(f.profile, CsvProfileRef::Builtin("charges".into()));
    assert_eq!((f.done_dir.as_path(), f.error_dir.as_path()), (Path::new("/srv/in/done"), Path::new("/srv/in/error")));
    assert_eq!((f.poll, f.settle, f.max_file_bytes), (Duration::from_secs(1), Duration::from_secs(2), 1 << 32));
    assert_eq!(plan.channels[0].source.conversion().0, crate::PayloadKind::Csv);
    assert!(plan.topology().contains("channel  billing      file /srv/in (profile charges"), "{}", plan.topology());
}

use std::path::Path;

#[test]
fn file_channel_keys_and_profile_path() {
    let plan = load_str(
        "[channels.billing]\ntype = \"file\"\ninbox = \"in\"\nprofile = \"/etc/hearth/mine.toml\"\npoll_ms = 50\n\
         settle_ms = 0\ndone_dir = \"ok\"\nerror_dir = \"bad\"\nmax_file_bytes = 1000\n",
        &[],
    )
    .unwrap();
    let SourcePlan::File(f) = &plan.channels[0].source else { panic!("not a file channel") };
    assert_eq!(f.profile, CsvProfileRef::File("/etc/hearth/mine.toml".into()));
    assert_eq!((f.poll, f.settle), (Duration::from_millis(50), Duration::ZERO));
    assert_eq!((f.done_dir.to_str(), f.error_dir.to_str(), f.max_file_bytes), (Some("ok"), Some("bad"), 1000));
}

#[test]
fn file_channel_problems_name_their_keys() {
    let p = problems(
        "[channels.billing]\ntype = \"file\"\ninbox = \"in\"\nprofile = \"chargez\"\npoll_ms = 1\n\
         done_dir = \"x\"\nerror_dir = \"x\"\nmax_file_bytes = 0\n",
    );
    let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "channels.billing.profile",
            "channels.billing.poll_ms",
            "channels.billing.max_file_bytes",
            "channels.billing.error_dir"
        ]
    );
    assert!(p[0].1.contains("charges, claims, price-transparency"), "{}", p[0].1);
    let unknown = load_str("[channels.b]\ntype = \"file\"\ninbox = \"in\"\nprofile = \"charges\"\nwatch = 1\n", &[]);
    assert!(matches!(unknown, Err(ConfigError::Load(m)) if m.contains("watch")));
}

#[test]
fn http_channel_csv_and_hl7v2() {
    let plan = load_str(
        "[channels.upload]\ntype = \"http\"\npayload = \"csv\"\nprofile = \"claims\"\n\
         [channels.lab]\ntype = \"http\"\npayload = \"hl7v2\"\nmax_body_bytes = 2048\n",
        &[],
    )
    .unwrap();
    let by_name = |n: &str| plan.channels.iter().find(|c| c.name == n).unwrap().source.clone();
    let SourcePlan::Http(up) = by_name("upload") else { panic!("not http") };
    assert_eq!(up.payload, HttpPayload::Csv { profile: CsvProfileRef::Builtin("claims".into()) });
    assert_eq!(up.max_body_bytes, DEFAULT_MAX_CSV_BODY_BYTES);
    let lab = by_name("lab");
    assert_eq!(lab.conversion().0, crate::PayloadKind::Hl7v2);
    let SourcePlan::Http(lab) = lab else { panic!("not http") };
    assert!(
        matches!(lab.payload, HttpPayload::Hl7v2 { ref ack_sending_application, .. } if ack_sending_application == "HEARTH")
    );
    assert_eq!(lab.max_body_bytes, 2048);
    assert!(plan.topology().contains("POST /ingest/upload (csv, profile claims"), "{}", plan.topology());
}

#[test]
fn http_channel_problems() {
    let p = problems("[channels.up]\ntype = \"http\"\npayload = \"csv\"\ndefault_charset = \"ASCII\"\n");
    let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["channels.up.profile", "channels.up.default_charset"]);
    let p = problems("[channels.up]\ntype = \"http\"\npayload = \"x12\"\nmax_body_bytes = 10\n");
    let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["channels.up.payload", "channels.up.max_body_bytes"]);
    let p = problems("[channels.up]\ntype = \"http\"\npayload = \"hl7v2\"\nprofile = \"charges\"\n");
    assert_eq!(p[0].0, "channels.up.profile");
}

#[test]
fn env_overrides_reach_file_channels() {
    let env = [("HEARTH__CHANNELS__BILLING__POLL_MS".to_owned(), "250".to_owned())];
    let plan = load_str("[channels.billing]\ntype = \"file\"\ninbox = \"in\"\nprofile = \"charges\"\n", &env).unwrap();
    let SourcePlan::File(f) = &plan.channels[0].source else { panic!("not a file channel") };
    assert_eq!(f.poll, Duration::from_millis(250));
}
