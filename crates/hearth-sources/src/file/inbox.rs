//! The file inbox: polls a directory, takes each file once it has settled, journals it in chunks, then writes
//! its report and moves both to `done/` (or `error/` when the file as a whole was refused).
//!
//! Crash safety comes from the order of the steps and the chunk dedup keys: the report is written (to a
//! temporary name, then renamed) into the target directory before the file is moved there. A file still in the
//! inbox after a restart, however far it got, is simply read again: every chunk already journaled is a
//! duplicate (stored once), and the report is written again with the same totals.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use hearth_store::Journal;
use tokio_util::sync::CancellationToken;

use super::config::FilePlan;
use super::ingest::{CsvChannel, IngestError, IngestReport, ingest};

/// Suffix of the report written beside each processed file.
pub const REPORT_SUFFIX: &str = ".report.json";

/// Why the inbox could not start.
#[derive(Debug, thiserror::Error)]
#[error("file channel {channel}: {path}: {source}")]
pub struct InboxError {
    pub channel: String,
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// A polled directory of CSV files.
#[derive(Debug)]
pub struct FileInbox {
    ch: CsvChannel,
    plan: FilePlan,
    journal: Journal,
}

/// A file seen in the inbox: its size and modification time, and since when they have not changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    len: u64,
    modified: Option<SystemTime>,
    since: Instant,
}

impl FileInbox {
    /// Creates the inbox, `done` and `error` directories if needed (a path that cannot be a directory fails
    /// start-up rather than every poll).
    pub fn new(ch: CsvChannel, plan: FilePlan, journal: Journal) -> Result<FileInbox, InboxError> {
        for dir in [&plan.inbox, &plan.done_dir, &plan.error_dir] {
            std::fs::create_dir_all(dir).map_err(|source| InboxError {
                channel: ch.name.clone(),
                path: dir.clone(),
                source,
            })?;
        }
        Ok(FileInbox { ch, plan, journal })
    }

    /// Polls until `shutdown`. A file being journaled when shutdown comes is left in the inbox (the next start
    /// finishes it).
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), InboxError> {
        let mut seen: HashMap<PathBuf, Seen> = HashMap::new();
        while !shutdown.is_cancelled() {
            for path in self.settled(&mut seen).await {
                if shutdown.is_cancelled() {
                    break;
                }
                if self.take(&path, &shutdown).await {
                    seen.remove(&path);
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.plan.poll) => {}
                () = shutdown.cancelled() => {}
            }
        }
        Ok(())
    }

    /// The files that have not changed for `settle`, in name order; updates `seen`.
    async fn settled(&self, seen: &mut HashMap<PathBuf, Seen>) -> Vec<PathBuf> {
        let now = Instant::now();
        let listed = match list(&self.plan.inbox).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(channel = %self.ch.name, error = %e, "file inbox: cannot list the directory");
                return Vec::new();
            }
        };
        seen.retain(|p, _| listed.iter().any(|(q, _)| q == p));
        let mut ready = Vec::new();
        for (path, meta) in listed {
            let (len, modified) = (meta.len(), meta.modified().ok());
            let entry = seen.entry(path.clone()).or_insert(Seen { len, modified, since: now });
            if (entry.len, entry.modified) != (len, modified) {
                *entry = Seen { len, modified, since: now };
            }
            if now.duration_since(entry.since) >= self.plan.settle {
                ready.push(path);
            }
        }
        ready.sort();
        ready
    }

    /// Journals one file and files it away. `true` once the file has left the inbox.
    async fn take(&self, path: &Path, shutdown: &CancellationToken) -> bool {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let started = Instant::now();
        let outcome = self.journal_file(path, &name, shutdown).await;
        let (report, dir) = match outcome {
            Ok(report) => (report, &self.plan.done_dir),
            Err(IngestError::Refused(report)) => (*report, &self.plan.error_dir),
            Err(IngestError::Stopped) => return false,
            Err(IngestError::Journal(e)) => {
                // Nothing is lost: the file stays and is read again at the next poll (duplicates are ignored).
                tracing::warn!(channel = %self.ch.name, error = %e, "file inbox: journal failed; the file will be retried");
                return false;
            }
        };
        tracing::info!(
            channel = %self.ch.name,
            status = report.status,
            rows_read = report.rows_read,
            rows_rejected = report.rows_rejected,
            chunks = report.chunks,
            ms = started.elapsed().as_millis() as u64,
            "file inbox: file processed"
        );
        match file_away(path, &name, &report, dir).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(channel = %self.ch.name, error = %e, dir = %dir.display(), "file inbox: cannot move the file");
                false
            }
        }
    }

    async fn journal_file(
        &self,
        path: &Path,
        name: &str,
        shutdown: &CancellationToken,
    ) -> Result<IngestReport, IngestError> {
        let len = tokio::fs::metadata(path).await.map(|m| m.len()).unwrap_or(0);
        if len > self.plan.max_file_bytes {
            let report = IngestReport {
                channel: self.ch.name.clone(),
                file: name.to_owned(),
                profile: self.ch.converter.profile().name().to_owned(),
                status: "refused",
                reason: Some(format!("{len} bytes is more than max_file_bytes = {}", self.plan.max_file_bytes)),
                ..IngestReport::default()
            };
            return Err(IngestError::Refused(Box::new(report)));
        }
        let owned = path.to_owned();
        ingest(&self.ch, &self.journal, name, move || std::fs::File::open(&owned), shutdown).await
    }
}

/// Regular, visible files of the inbox that are not reports.
async fn list(dir: &Path) -> std::io::Result<Vec<(PathBuf, std::fs::Metadata)>> {
    let mut out = Vec::new();
    let mut rd = tokio::fs::read_dir(dir).await?;
    while let Some(entry) = rd.next_entry().await? {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.ends_with(REPORT_SUFFIX) || name.ends_with(".tmp") {
            continue;
        }
        let Ok(meta) = entry.metadata().await else { continue };
        if meta.is_file() {
            out.push((entry.path(), meta));
        }
    }
    Ok(out)
}

/// Writes the report into `dir`, then moves the file there. A name already taken in `dir` (an earlier file of
/// the same name) gets a numbered suffix rather than being overwritten.
async fn file_away(path: &Path, name: &str, report: &IngestReport, dir: &Path) -> std::io::Result<()> {
    let mut target = name.to_owned();
    let mut n = 1;
    while tokio::fs::try_exists(dir.join(&target)).await? {
        target = format!("{name}.{n}");
        n += 1;
    }
    let json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    let report_path = dir.join(format!("{target}{REPORT_SUFFIX}"));
    let tmp = dir.join(format!(".{target}{REPORT_SUFFIX}.tmp"));
    tokio::fs::write(&tmp, &json).await?;
    tokio::fs::rename(&tmp, &report_path).await?;
    move_file(path, &dir.join(&target)).await
}

/// `rename`, or copy and remove when `to` is on another file system.
async fn move_file(from: &Path, to: &Path) -> std::io::Result<()> {
    match tokio::fs::rename(from, to).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
            tokio::fs::copy(from, to).await?;
            tokio::fs::remove_file(from).await
        }
        Err(e) => Err(e),
    }
}
