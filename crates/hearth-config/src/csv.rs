//! `[channels.<name>] type = "file"` (a CSV billing inbox) and `type = "http"` (`POST /ingest/<name>`: a CSV
//! upload or one HL7 v2 message), issue 5.
//!
//! Validation checks shapes only (no IO): a profile file is read, and the inbox directories are created, when
//! the engine starts.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::{Charset, MappingPlan};

/// Default poll interval of an inbox.
pub const DEFAULT_POLL_MS: u64 = 1_000;
/// Default time a file must stay unchanged (size and modification time) before it is taken.
pub const DEFAULT_SETTLE_MS: u64 = 2_000;
/// Default largest inbox file: 4 GiB (the file is streamed; this bounds disk work, not memory).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// Default largest HTTP ingest body: 64 MiB for CSV uploads, 10 MiB for an HL7 v2 message.
pub const DEFAULT_MAX_CSV_BODY_BYTES: usize = 64 * 1024 * 1024;
pub const DEFAULT_MAX_HL7_BODY_BYTES: usize = 10 * 1024 * 1024;

/// `[channels.<name>] type = "file"`, exactly as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub inbox: PathBuf,
    pub profile: String,
    pub poll_ms: Option<u64>,
    pub settle_ms: Option<u64>,
    pub done_dir: Option<PathBuf>,
    pub error_dir: Option<PathBuf>,
    pub max_file_bytes: Option<u64>,
}

/// `[channels.<name>] type = "http"`, exactly as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttpIngest {
    pub payload: String,
    pub profile: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub default_charset: Option<String>,
    pub ack_sending_application: Option<String>,
    pub ack_sending_facility: Option<String>,
    pub mapping: Option<crate::raw::RawMapping>,
}

/// `profile`: a built-in CSV profile (`hearth_csv::builtin_profiles()`) or a path to a profile TOML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsvProfileRef {
    Builtin(String),
    File(PathBuf),
}

impl CsvProfileRef {
    /// The name as configured (for the topology and logs).
    pub fn label(&self) -> String {
        match self {
            CsvProfileRef::Builtin(n) => n.clone(),
            CsvProfileRef::File(p) => p.display().to_string(),
        }
    }
}

/// A validated file inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePlan {
    pub inbox: PathBuf,
    pub profile: CsvProfileRef,
    pub poll: Duration,
    /// A file is taken once its size and modification time have not changed for this long.
    pub settle: Duration,
    /// Where a processed file and its report go (default `<inbox>/done`).
    pub done_dir: PathBuf,
    /// Where a refused file (header drift, unreadable, too big) and its report go (default `<inbox>/error`).
    pub error_dir: PathBuf,
    pub max_file_bytes: u64,
}

/// A validated `POST /ingest/<name>` channel.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpIngestPlan {
    pub payload: HttpPayload,
    pub max_body_bytes: usize,
}

/// What an HTTP ingest channel accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpPayload {
    /// A CSV file in the body, chunked and journaled like an inbox file.
    Csv { profile: CsvProfileRef },
    /// One HL7 v2 message in the body, answered with its ACK.
    Hl7v2 {
        default_charset: Charset,
        ack_sending_application: String,
        ack_sending_facility: String,
        mapping: MappingPlan,
    },
}

/// Validates a file inbox; problems go to `bad` with their key path under `key`.
pub fn validate_file(f: RawFile, key: &str, bad: &mut impl FnMut(String, String)) -> FilePlan {
    if f.inbox.as_os_str().is_empty() {
        bad(format!("{key}.inbox"), "must name a directory".into());
    }
    let profile = validate_profile(&f.profile, &format!("{key}.profile"), bad);
    let poll_ms = f.poll_ms.unwrap_or(DEFAULT_POLL_MS);
    if !(10..=3_600_000).contains(&poll_ms) {
        bad(format!("{key}.poll_ms"), format!("must be between 10 and 3600000, got {poll_ms}"));
    }
    let settle_ms = f.settle_ms.unwrap_or(DEFAULT_SETTLE_MS);
    if settle_ms > 3_600_000 {
        bad(format!("{key}.settle_ms"), format!("must be at most 3600000, got {settle_ms}"));
    }
    let max_file_bytes = f.max_file_bytes.unwrap_or(DEFAULT_MAX_FILE_BYTES);
    if max_file_bytes == 0 {
        bad(format!("{key}.max_file_bytes"), "must be at least 1".into());
    }
    let done_dir = f.done_dir.unwrap_or_else(|| f.inbox.join("done"));
    let error_dir = f.error_dir.unwrap_or_else(|| f.inbox.join("error"));
    for (name, dir) in [("done_dir", &done_dir), ("error_dir", &error_dir)] {
        if dir.as_os_str().is_empty() || *dir == f.inbox {
            bad(format!("{key}.{name}"), "must be a directory other than the inbox".into());
        }
    }
    if done_dir == error_dir {
        bad(format!("{key}.error_dir"), "must differ from done_dir (a report says which way the file went)".into());
    }
    FilePlan {
        inbox: f.inbox,
        profile,
        poll: Duration::from_millis(poll_ms),
        settle: Duration::from_millis(settle_ms),
        done_dir,
        error_dir,
        max_file_bytes,
    }
}

/// Validates an HTTP ingest channel.
pub fn validate_http(h: RawHttpIngest, key: &str, bad: &mut impl FnMut(String, String)) -> HttpIngestPlan {
    let (payload, default_max) = match h.payload.as_str() {
        "csv" => {
            let profile = match &h.profile {
                Some(p) => validate_profile(p, &format!("{key}.profile"), bad),
                None => {
                    bad(format!("{key}.profile"), "payload = \"csv\" needs a profile".into());
                    CsvProfileRef::Builtin(String::new())
                }
            };
            for (name, set) in [
                ("default_charset", h.default_charset.is_some()),
                ("ack_sending_application", h.ack_sending_application.is_some()),
                ("ack_sending_facility", h.ack_sending_facility.is_some()),
                ("mapping", h.mapping.is_some()),
            ] {
                if set {
                    bad(format!("{key}.{name}"), "applies to payload = \"hl7v2\" only".into());
                }
            }
            (HttpPayload::Csv { profile }, DEFAULT_MAX_CSV_BODY_BYTES)
        }
        "hl7v2" => {
            if h.profile.is_some() {
                bad(format!("{key}.profile"), "applies to payload = \"csv\" only".into());
            }
            let payload = HttpPayload::Hl7v2 {
                default_charset: crate::validate_charset(h.default_charset, key, bad),
                ack_sending_application: h.ack_sending_application.unwrap_or_else(|| "HEARTH".into()),
                ack_sending_facility: h.ack_sending_facility.unwrap_or_default(),
                mapping: crate::validate_mapping(h.mapping.unwrap_or_default(), &format!("{key}.mapping"), bad),
            };
            (payload, DEFAULT_MAX_HL7_BODY_BYTES)
        }
        other => {
            bad(format!("{key}.payload"), format!("{other:?} is not one of \"csv\", \"hl7v2\""));
            (HttpPayload::Csv { profile: CsvProfileRef::Builtin(String::new()) }, DEFAULT_MAX_CSV_BODY_BYTES)
        }
    };
    let max_body_bytes = h.max_body_bytes.unwrap_or(default_max);
    if !(1024..=1024 * 1024 * 1024).contains(&max_body_bytes) {
        bad(format!("{key}.max_body_bytes"), format!("must be between 1024 and 1073741824, got {max_body_bytes}"));
    }
    HttpIngestPlan { payload, max_body_bytes }
}

/// The topology line of a file or HTTP ingest channel (`hearth check`).
pub(crate) fn topology(s: &mut String, c: &crate::ChannelPlan) {
    use std::fmt::Write as _;
    let _ = match &c.source {
        crate::SourcePlan::File(f) => writeln!(
            s,
            "channel  {:<12} file {} (profile {}, poll {} ms, settle {} ms, max {} bytes; done {}, error {})",
            c.name,
            f.inbox.display(),
            f.profile.label(),
            f.poll.as_millis(),
            f.settle.as_millis(),
            f.max_file_bytes,
            f.done_dir.display(),
            f.error_dir.display()
        ),
        crate::SourcePlan::Http(h) => match &h.payload {
            HttpPayload::Csv { profile } => writeln!(
                s,
                "channel  {:<12} http POST /ingest/{} (csv, profile {}, max body {} bytes)",
                c.name,
                c.name,
                profile.label(),
                h.max_body_bytes
            ),
            HttpPayload::Hl7v2 { default_charset, .. } => writeln!(
                s,
                "channel  {:<12} http POST /ingest/{} (hl7v2, charset {}, max body {} bytes)",
                c.name,
                c.name,
                default_charset.hl7_name(),
                h.max_body_bytes
            ),
        },
        _ => Ok(()),
    };
}

fn validate_profile(p: &str, key: &str, bad: &mut impl FnMut(String, String)) -> CsvProfileRef {
    if hearth_csv::builtin_profiles().contains(&p) {
        return CsvProfileRef::Builtin(p.to_owned());
    }
    if p.ends_with(".toml") {
        return CsvProfileRef::File(PathBuf::from(p));
    }
    bad(
        key.to_owned(),
        format!(
            "{p:?} is neither a built-in CSV profile ({}) nor a path to a .toml file",
            hearth_csv::builtin_profiles().join(", ")
        ),
    );
    CsvProfileRef::Builtin(p.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
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
        assert_eq!(
            (f.done_dir.as_path(), f.error_dir.as_path()),
            (Path::new("/srv/in/done"), Path::new("/srv/in/error"))
        );
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
        let unknown =
            load_str("[channels.b]\ntype = \"file\"\ninbox = \"in\"\nprofile = \"charges\"\nwatch = 1\n", &[]);
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
        let plan =
            load_str("[channels.billing]\ntype = \"file\"\ninbox = \"in\"\nprofile = \"charges\"\n", &env).unwrap();
        let SourcePlan::File(f) = &plan.channels[0].source else { panic!("not a file channel") };
        assert_eq!(f.poll, Duration::from_millis(250));
    }
}
