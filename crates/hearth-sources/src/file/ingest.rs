//! Journaling a CSV billing file in chunks, shared by the file inbox and `POST /ingest/{channel}`.
//!
//! Three streaming passes over the input, none holding more than a chunk: hash the whole file (its SHA-256 is
//! in every chunk's dedup key and in the resource ids), then split it into row groups with `hearth_csv::Splitter`
//! on a blocking thread, converting each chunk too (so the report says what every row will give), and journal
//! the chunks from the async side with up to [`APPEND_WINDOW`] appends in flight (they group-commit together;
//! a full journal queue or a paused ingest makes them wait, and the bounded channel makes the splitter wait in
//! turn). A chunk's dedup key is `csv:<channel>:<sha256>:<chunk key>`, so a file read again after a crash
//! journals nothing twice.

use std::io::Read;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use hearth_core::events::{JournalFailed, MessageReceived, ReceiveOutcome};
use hearth_core::trace::now_unix_nanos;
use hearth_core::{Envelope, MessageMeta, MessageStatus, PayloadKind};
use hearth_csv::{Chunk, ConvertContext, Converter, CsvError, FileReport, HeaderReport, MAX_REPORTED_ERRORS, RowError};
use hearth_store::Journal;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::receipt::Receipt;

/// Journal appends in flight for one file.
pub const APPEND_WINDOW: usize = 128;
/// Chunks split ahead of the journal.
const SPLIT_AHEAD: usize = 256;
/// Longest file name kept in a control id.
const MAX_NAME_CHARS: usize = 200;

/// A channel that takes CSV: its name and its profile's converter.
#[derive(Debug, Clone)]
pub struct CsvChannel {
    pub name: String,
    pub converter: Arc<Converter>,
}

/// What happened to one file: written beside it (`<name>.report.json`) or returned by the HTTP upload.
/// `rows_read == rows_converted + rows_rejected` always.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct IngestReport {
    pub channel: String,
    pub file: String,
    pub profile: String,
    /// Hex SHA-256 of the whole file; `None` if it could not be read.
    pub sha256: Option<String>,
    /// `done` (every chunk journaled) or `refused` (the file as a whole: header drift, unreadable, too big).
    pub status: &'static str,
    /// Why the file was refused.
    pub reason: Option<String>,
    pub rows_read: u64,
    pub rows_converted: u64,
    pub rows_rejected: u64,
    /// Each rejected row with its physical line, column and reason (at most `MAX_REPORTED_ERRORS`).
    pub errors: Vec<RowError>,
    pub errors_omitted: u64,
    /// Row groups found; each is one journal message.
    pub chunks: u64,
    /// Of those, already in the journal (the file was read before, e.g. before a crash).
    pub chunks_duplicate: u64,
    pub header: Option<HeaderReport>,
    pub encoding: Option<String>,
}

/// Why a file was not (fully) journaled.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file as a whole is refused; the report says why (header drift, unreadable, too large).
    #[error("file refused: {}", .0.reason.as_deref().unwrap_or("?"))]
    Refused(Box<IngestReport>),
    /// A journal append failed: nothing may be acknowledged; the file can be read again (duplicates are ignored).
    #[error("journal: {0}")]
    Journal(#[from] hearth_store::StoreError),
    /// Shutdown came first; what was journaled stays, the rest is journaled when the file is read again.
    #[error("stopped before the file was fully journaled")]
    Stopped,
}

/// What the splitter thread sends.
enum Item {
    Chunk(Chunk),
    /// A group that could not be decoded: its rows count as rejected.
    Undecodable {
        first_line: u64,
        rows: u64,
        reason: String,
    },
}

/// Journals a whole CSV input as chunks and returns its report. `open` is called twice (hash, then split), on
/// blocking threads; both calls must give the same bytes.
pub async fn ingest<R, F>(
    ch: &CsvChannel,
    journal: &Journal,
    file: &str,
    open: F,
    shutdown: &CancellationToken,
) -> Result<IngestReport, IngestError>
where
    R: Read + Send + 'static,
    F: Fn() -> std::io::Result<R> + Send + Sync + 'static,
{
    let open = Arc::new(open);
    let mut report = IngestReport {
        channel: ch.name.clone(),
        file: file.to_owned(),
        profile: ch.converter.profile().name().to_owned(),
        status: "done",
        ..IngestReport::default()
    };
    let hasher = Arc::clone(&open);
    let hash = match tokio::task::spawn_blocking(move || hash((*hasher)())).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return Err(refuse(report, format!("cannot read the file: {e}"))),
        Err(e) => return Err(refuse(report, format!("hashing failed: {e}"))),
    };
    report.sha256 = Some(hash.clone());
    let (tx, rx) = mpsc::channel(SPLIT_AHEAD);
    let splitter = {
        let converter = Arc::clone(&ch.converter);
        let hash = hash.clone();
        tokio::task::spawn_blocking(move || split(&converter, &hash, open, &tx))
    };
    let journaled = journal_chunks(ch, journal, file, &hash, rx, &mut report, shutdown).await;
    // The receiver is gone once `journal_chunks` returns, so the splitter stops at its next send at the latest.
    let split = splitter.await;
    journaled?;
    match split {
        Ok(Ok(totals)) => Ok(merge(report, totals)),
        Ok(Err(SplitEnd::Refused(refusal))) => {
            let Refusal { header, reason, totals } = *refusal;
            let mut report = merge(report, totals);
            report.header = header.or(report.header);
            Err(refuse(report, reason))
        }
        Ok(Err(SplitEnd::Closed)) => Err(IngestError::Stopped),
        Err(e) => Err(refuse(report, format!("splitting failed: {e}"))),
    }
}

fn refuse(mut report: IngestReport, reason: String) -> IngestError {
    report.status = "refused";
    report.reason = Some(reason);
    IngestError::Refused(Box::new(report))
}

fn hash<R: Read>(reader: std::io::Result<R>) -> std::io::Result<String> {
    let mut reader = reader?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(h.finalize()));
        }
        h.update(&buf[..n]);
    }
}

/// The splitter thread's totals (from converting every chunk).
#[derive(Debug, Default)]
struct Totals {
    report: FileReport,
    encoding: Option<String>,
}

/// Why the splitter refused a file, and what it had counted.
struct Refusal {
    header: Option<HeaderReport>,
    reason: String,
    totals: Totals,
}

enum SplitEnd {
    /// The file stopped being usable: before any row (header drift, no header) or in the middle (an oversized
    /// record, an I/O error). Chunks sent before stay journaled.
    Refused(Box<Refusal>),
    /// The journal side hung up.
    Closed,
}

fn split<R: Read, F: Fn() -> std::io::Result<R>>(
    converter: &Converter,
    hash: &str,
    open: Arc<F>,
    tx: &mpsc::Sender<Item>,
) -> Result<Totals, SplitEnd> {
    let mut totals = Totals::default();
    let refused = |header, e: &dyn std::fmt::Display, totals| {
        SplitEnd::Refused(Box::new(Refusal { header, reason: e.to_string(), totals }))
    };
    let reader = match (*open)() {
        Ok(r) => r,
        Err(e) => return Err(refused(None, &format!("cannot read the file: {e}"), totals)),
    };
    let splitter = match hearth_csv::Splitter::new(converter.profile(), reader) {
        Ok(s) => s,
        Err(CsvError::HeaderDrift(h)) => return Err(refused(Some(*h.clone()), &h, totals)),
        Err(e) => return Err(refused(None, &e, totals)),
    };
    totals.report.header = splitter.header().clone();
    totals.encoding = Some(format!("{:?}", splitter.encoding()));
    for item in splitter {
        let item = match item {
            Ok(chunk) => {
                let ctx = ConvertContext {
                    source: hash,
                    line_offset: chunk.first_line.saturating_sub(1),
                    now: OffsetDateTime::now_utc(),
                };
                match converter.convert(&chunk.raw[..], &ctx, |_| {}) {
                    Ok(r) => add(&mut totals.report, r),
                    Err(e) => add_rejected(&mut totals.report, chunk.first_line, chunk.rows, e.to_string()),
                }
                Item::Chunk(chunk)
            }
            Err(CsvError::UndecodableGroup { first_line, rows, .. }) => {
                let reason = format!("not valid UTF-8 (the file started as UTF-8); {rows} rows not converted");
                Item::Undecodable { first_line, rows, reason }
            }
            Err(e) => return Err(refused(None, &e, totals)),
        };
        if let Item::Undecodable { first_line, rows, reason } = &item {
            add_rejected(&mut totals.report, *first_line, *rows, reason.clone());
        }
        if tx.blocking_send(item).is_err() {
            return Err(SplitEnd::Closed);
        }
    }
    Ok(totals)
}

fn add(total: &mut FileReport, r: FileReport) {
    total.rows_read += r.rows_read;
    total.rows_converted += r.rows_converted;
    total.rows_rejected += r.rows_rejected;
    total.errors_omitted += r.errors_omitted;
    for e in r.errors {
        push_error(total, e);
    }
}

fn add_rejected(total: &mut FileReport, line: u64, rows: u64, reason: String) {
    total.rows_read += rows;
    total.rows_rejected += rows;
    push_error(total, RowError { line, column: None, column_index: None, reason });
}

fn push_error(total: &mut FileReport, e: RowError) {
    if total.errors.len() < MAX_REPORTED_ERRORS {
        total.errors.push(e);
    } else {
        total.errors_omitted += 1;
    }
}

fn merge(mut report: IngestReport, totals: Totals) -> IngestReport {
    let r = totals.report;
    (report.rows_read, report.rows_converted, report.rows_rejected) = (r.rows_read, r.rows_converted, r.rows_rejected);
    (report.errors, report.errors_omitted) = (r.errors, r.errors_omitted);
    report.header = Some(r.header);
    report.encoding = totals.encoding;
    report
}

/// Appends every chunk, [`APPEND_WINDOW`] at a time. Returns at the first journal error or at shutdown.
async fn journal_chunks(
    ch: &CsvChannel,
    journal: &Journal,
    file: &str,
    hash: &str,
    mut rx: mpsc::Receiver<Item>,
    report: &mut IngestReport,
    shutdown: &CancellationToken,
) -> Result<(), IngestError> {
    let name: String = file.chars().take(MAX_NAME_CHARS).collect();
    let mut in_flight = FuturesUnordered::new();
    loop {
        let room = in_flight.len() < APPEND_WINDOW;
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return Err(IngestError::Stopped),
            Some(done) = in_flight.next(), if !in_flight.is_empty() => count(ch, report, done)?,
            item = rx.recv(), if room => match item {
                Some(Item::Chunk(chunk)) => {
                    report.chunks += 1;
                    let env = envelope(ch, &name, hash, chunk);
                    let bytes = env.raw.len();
                    // Each chunk is a message with its own trace; its `receive` ends when it is journaled (the
                    // file's answer comes once every chunk is).
                    let mut receipt = Receipt::with_trace(env.trace_id, now_unix_nanos());
                    let meta = env.meta.clone();
                    let channel = ch.name.as_str();
                    in_flight.push(async move {
                        let appended = journal.append(env).await;
                        match &appended {
                            Ok(app) => {
                                let outcome =
                                    if app.duplicate { ReceiveOutcome::Duplicate } else { ReceiveOutcome::Accepted };
                                receipt.journaled(app.id, outcome, &meta);
                                receipt.answered(channel, "journaled");
                            }
                            Err(_) => {
                                receipt.journal_failed();
                                receipt.answered(channel, "failed");
                            }
                        }
                        (bytes, appended)
                    });
                }
                Some(Item::Undecodable { .. }) => {}
                None => break,
            },
        }
    }
    while let Some(done) = in_flight.next().await {
        count(ch, report, done)?;
    }
    Ok(())
}

fn count(
    ch: &CsvChannel,
    report: &mut IngestReport,
    (bytes, result): (usize, Result<hearth_store::Appended, hearth_store::StoreError>),
) -> Result<(), IngestError> {
    match result {
        Ok(app) => {
            let outcome = if app.duplicate { ReceiveOutcome::Duplicate } else { ReceiveOutcome::Accepted };
            report.chunks_duplicate += u64::from(app.duplicate);
            MessageReceived { channel: &ch.name, outcome, bytes, journal_id: Some(app.id) }.emit();
            Ok(())
        }
        Err(e) => {
            JournalFailed { channel: &ch.name, error: &e.to_string() }.emit();
            Err(e.into())
        }
    }
}

/// The dedup key of one chunk of a file.
pub fn dedup_key(channel: &str, file_sha256: &str, chunk_key: &str) -> String {
    format!("csv:{channel}:{file_sha256}:{chunk_key}")
}

/// One chunk as the processing stage expects it (see `hearth_engine::csv`).
fn envelope(ch: &CsvChannel, file: &str, hash: &str, chunk: Chunk) -> Envelope {
    Envelope {
        channel: ch.name.clone(),
        kind: PayloadKind::Csv,
        received_at: OffsetDateTime::now_utc(),
        raw: chunk.raw,
        status: MessageStatus::Received,
        reason: None,
        dedup_key: Some(dedup_key(&ch.name, hash, &chunk.key)),
        meta: MessageMeta {
            message_code: Some("CSV".into()),
            trigger_event: Some(ch.converter.profile().name().to_owned()),
            control_id: Some(format!("{file}:{}", chunk.first_line)),
            ..MessageMeta::default()
        },
        trace_id: hearth_core::trace::TraceId::random(),
    }
}
