//! CSV billing files: the inbox channel (`type = "file"`) and the chunked journaling it shares with
//! `POST /ingest/{channel}` (the pure part is `hearth_csv`).

mod config;
mod inbox;
mod ingest;
#[cfg(test)]
mod integration_tests;

pub use config::{
    CsvProfileRef, DEFAULT_MAX_FILE_BYTES, DEFAULT_POLL_MS, DEFAULT_SETTLE_MS, FilePlan, RawFile, validate,
};
pub use inbox::{FileInbox, InboxError, REPORT_SUFFIX};
pub use ingest::{APPEND_WINDOW, CsvChannel, IngestError, IngestReport, dedup_key, ingest};
