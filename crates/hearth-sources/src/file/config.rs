//! `[channels.<name>] type = "file"`: a CSV billing inbox (a directory polled for files), and the CSV profile
//! reference it shares with `type = "http"` uploads.
//!
//! Validation checks shapes only (no IO): a profile file is read, and the inbox directories are created, when
//! the engine starts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hearth_core::config::{Problems, check_range};
use hearth_csv::{Converter, Profile};
use serde::Deserialize;

/// Default poll interval of an inbox.
pub const DEFAULT_POLL_MS: u64 = 1_000;
/// Default time a file must stay unchanged (size and modification time) before it is taken.
pub const DEFAULT_SETTLE_MS: u64 = 2_000;
/// Default largest inbox file: 4 GiB (the file is streamed; this bounds disk work, not memory).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 4 * 1024 * 1024 * 1024;

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

    /// Validates a `profile` key.
    pub fn validate(p: &str, key: &str, problems: &mut Problems) -> CsvProfileRef {
        if hearth_csv::builtin_profiles().contains(&p) {
            return CsvProfileRef::Builtin(p.to_owned());
        }
        if p.ends_with(".toml") {
            return CsvProfileRef::File(PathBuf::from(p));
        }
        problems.add(
            key,
            format!(
                "{p:?} is neither a built-in CSV profile ({}) nor a path to a .toml file",
                hearth_csv::builtin_profiles().join(", ")
            ),
        );
        CsvProfileRef::Builtin(p.to_owned())
    }

    /// Reads the profile: a built-in, or a profile TOML (the IO happens at start-up, not in validation).
    pub fn load(&self) -> Result<Profile, String> {
        match self {
            CsvProfileRef::Builtin(name) => Profile::builtin(name).map_err(|e| e.to_string()),
            CsvProfileRef::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
                Profile::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))
            }
        }
    }

    /// The profile's converter.
    pub fn converter(&self) -> Result<Arc<Converter>, String> {
        Ok(Arc::new(Converter::new(&self.load()?)))
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

/// Validates a file inbox; problems are named under `key`.
pub fn validate(f: RawFile, key: &str, problems: &mut Problems) -> FilePlan {
    if f.inbox.as_os_str().is_empty() {
        problems.add(format!("{key}.inbox"), "must name a directory");
    }
    let profile = CsvProfileRef::validate(&f.profile, &format!("{key}.profile"), problems);
    let poll_ms = f.poll_ms.unwrap_or(DEFAULT_POLL_MS);
    check_range(poll_ms, 10..=3_600_000, &format!("{key}.poll_ms"), problems);
    let settle_ms = f.settle_ms.unwrap_or(DEFAULT_SETTLE_MS);
    if settle_ms > 3_600_000 {
        problems.add(format!("{key}.settle_ms"), format!("must be at most 3600000, got {settle_ms}"));
    }
    let max_file_bytes = f.max_file_bytes.unwrap_or(DEFAULT_MAX_FILE_BYTES);
    if max_file_bytes == 0 {
        problems.add(format!("{key}.max_file_bytes"), "must be at least 1");
    }
    let done_dir = f.done_dir.unwrap_or_else(|| f.inbox.join("done"));
    let error_dir = f.error_dir.unwrap_or_else(|| f.inbox.join("error"));
    for (name, dir) in [("done_dir", &done_dir), ("error_dir", &error_dir)] {
        if dir.as_os_str().is_empty() || *dir == f.inbox {
            problems.add(format!("{key}.{name}"), "must be a directory other than the inbox");
        }
    }
    if done_dir == error_dir {
        problems.add(format!("{key}.error_dir"), "must differ from done_dir (a report says which way the file went)");
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

impl FilePlan {
    /// The topology line (`hearth check`).
    pub fn describe(&self) -> String {
        format!(
            "file {} (profile {}, poll {} ms, settle {} ms, max {} bytes; done {}, error {})",
            self.inbox.display(),
            self.profile.label(),
            self.poll.as_millis(),
            self.settle.as_millis(),
            self.max_file_bytes,
            self.done_dir.display(),
            self.error_dir.display()
        )
    }
}
