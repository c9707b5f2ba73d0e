//! CSV billing files: the inbox channel (`type = "file"`) and the chunked journaling it shares with
//! `POST /ingest/{channel}` (issue 5; the pure part is `hearth_csv`).

mod inbox;
mod ingest;
#[cfg(test)]
mod integration_tests;

pub use inbox::{FileInbox, InboxError, REPORT_SUFFIX};
pub use ingest::{APPEND_WINDOW, CsvChannel, IngestError, IngestReport, dedup_key, ingest};
