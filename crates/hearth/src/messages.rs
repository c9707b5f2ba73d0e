//! `hearth messages …`: look into the journal and act on it (reprocess, resend) from the command line.
//!
//! Works on the journal file named by the configuration, whether or not the engine is running (SQLite in WAL
//! mode lets both write; the engine's sinks pick up resends within a second, its processing stage picks up
//! reprocessed messages within a few).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use hearth_core::MessageStatus;
use hearth_store::{DeliveryFilter, DeliveryStatus, Journal, MessageFilter, ResendTarget};
use serde_json::json;

#[derive(Debug, Args)]
pub struct MessagesArgs {
    /// The configuration whose journal to open (default: the built-in one, ./data/hearth.db).
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// List messages (one line each, oldest first).
    List {
        #[arg(long)]
        channel: Option<String>,
        /// received, rejected, mapped, processed, filtered, error
        #[arg(long)]
        status: Option<String>,
        /// MSH-10
        #[arg(long)]
        control_id: Option<String>,
        /// Only messages with a greater journal id (for paging).
        #[arg(long)]
        after: Option<i64>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One message as JSON: metadata, conversion report, deliveries and their failed attempts. With --content,
    /// the raw message and the FHIR Bundle too (patient data: mind where you print it).
    Show {
        id: i64,
        #[arg(long)]
        content: bool,
    },
    /// Map and route messages again from their raw bytes (after a mapping or route fix).
    Reprocess {
        #[arg(required = true)]
        ids: Vec<i64>,
    },
    /// Put deliveries back into the outbox: one (--delivery ID) or every dead one of a destination (--dead NAME).
    Resend {
        #[arg(long, conflicts_with = "dead", required_unless_present = "dead")]
        delivery: Option<i64>,
        #[arg(long)]
        dead: Option<String>,
    },
    /// List deliveries (one line each).
    Deliveries {
        #[arg(long)]
        destination: Option<String>,
        /// pending, sent, dead, cancelled
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        message: Option<i64>,
        #[arg(long)]
        after: Option<i64>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Outbox counts per destination.
    Outbox,
}

/// Runs one `messages` action. Exit 2 for bad arguments or configuration, 1 for journal failures.
pub async fn run(args: MessagesArgs) -> ExitCode {
    let plan = match crate::load_plan(args.config.as_deref()) {
        Ok(p) => p,
        Err(e) => return fail(2, &e.to_string()),
    };
    let cfg = match plan.journal.store_config() {
        Ok(cfg) => cfg,
        Err(e) => return fail(2, &format!("journal password: {e}")),
    };
    let journal = match Journal::open(&cfg).await {
        Ok(j) => j,
        Err(e) => return fail(1, &format!("cannot open the journal: {e}")),
    };
    let code = match act(&journal, args.action).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(m)) => fail(2, &m),
        Err(Failure::Journal(m)) => fail(1, &m),
    };
    journal.close().await;
    code
}

enum Failure {
    Usage(String),
    Journal(String),
}

impl From<hearth_store::StoreError> for Failure {
    fn from(e: hearth_store::StoreError) -> Self {
        Failure::Journal(e.to_string())
    }
}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("hearth: {message}");
    ExitCode::from(code)
}

async fn act(journal: &Journal, action: Action) -> Result<(), Failure> {
    match action {
        Action::List { channel, status, control_id, after, limit } => {
            let status = status
                .map(|s| {
                    MessageStatus::parse(&s).ok_or_else(|| Failure::Usage(format!("unknown message status {s:?}")))
                })
                .transpose()?;
            let filter = MessageFilter { channel, status, control_id };
            for m in journal.list(&filter, after, limit).await? {
                let event = [m.meta.message_code.as_deref(), m.meta.trigger_event.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("^");
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    m.id,
                    rfc3339(m.received_at),
                    m.channel,
                    m.status,
                    if event.is_empty() { "-" } else { &event },
                    m.reason.as_deref().unwrap_or("")
                );
            }
        }
        Action::Show { id, content } => show(journal, id, content).await?,
        Action::Reprocess { ids } => {
            for id in ids {
                journal.reprocess(id).await?;
                println!("{id}\treprocessing");
            }
        }
        Action::Resend { delivery, dead } => {
            let target = match (delivery, dead) {
                (Some(id), _) => ResendTarget::Delivery(id),
                (None, Some(d)) => ResendTarget::DeadFor(d),
                (None, None) => return Err(Failure::Usage("give --delivery ID or --dead DESTINATION".into())),
            };
            let n = journal.resend(target).await?;
            println!("{n} deliveries back in the outbox");
        }
        Action::Deliveries { destination, status, message, after, limit } => {
            let status = status
                .map(|s| {
                    DeliveryStatus::parse(&s).ok_or_else(|| Failure::Usage(format!("unknown delivery status {s:?}")))
                })
                .transpose()?;
            let filter = DeliveryFilter { destination, status, message_id: message };
            for d in journal.list_deliveries(&filter, after, limit).await? {
                println!(
                    "{}\tmessage {}\t{}\t{}\t{}\tattempts {}\t{}",
                    d.id,
                    d.message_id,
                    d.destination,
                    d.status,
                    d.routing_key,
                    d.attempts,
                    d.last_error.as_deref().unwrap_or("")
                );
            }
        }
        Action::Outbox => {
            for s in journal.outbox_stats().await? {
                println!(
                    "{}\tpending {}\tsent {}\tdead {}\toldest pending {}",
                    s.destination,
                    s.pending,
                    s.sent,
                    s.dead,
                    s.oldest_pending.map_or_else(|| "-".to_owned(), rfc3339)
                );
            }
        }
    }
    Ok(())
}

async fn show(journal: &Journal, id: i64, content: bool) -> Result<(), Failure> {
    let Some(m) = journal.get(id).await? else {
        return Err(Failure::Usage(format!("no message {id}")));
    };
    let s = &m.summary;
    let filter = DeliveryFilter { message_id: Some(id), ..DeliveryFilter::default() };
    let mut deliveries = Vec::new();
    for d in journal.list_deliveries(&filter, None, hearth_store::MAX_PAGE).await? {
        let failures: Vec<_> = journal
            .delivery_failures(d.id)
            .await?
            .into_iter()
            .map(|(attempt, at, error)| json!({ "attempt": attempt, "at": rfc3339(at), "error": error }))
            .collect();
        deliveries.push(json!({
            "id": d.id, "destination": d.destination, "route": d.route, "routing_key": d.routing_key,
            "resource_type": d.resource_type, "content_id": d.content_id, "lane": d.lane, "status": d.status.as_str(),
            "attempts": d.attempts, "last_error": d.last_error, "created_at": rfc3339(d.created_at),
            "sent_at": d.sent_at.map(rfc3339), "failures": failures,
        }));
    }
    let mut out = json!({
        "id": s.id, "channel": s.channel, "kind": s.kind.as_str(), "received_at": rfc3339(s.received_at),
        "status": s.status.as_str(), "reason": s.reason, "duplicates": s.duplicates,
        "message_code": s.meta.message_code, "trigger_event": s.meta.trigger_event, "control_id": s.meta.control_id,
        "sending_application": s.meta.sending_application, "sending_facility": s.meta.sending_facility,
        "raw_bytes": s.raw_len,
        "report": m.report.as_deref().and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok()),
        "deliveries": deliveries,
    });
    if content {
        out["raw"] = json!(m.raw.as_deref().map(|r| String::from_utf8_lossy(r).into_owned()));
        out["bundle"] = json!(m.bundle.as_deref().and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok()));
    }
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    Ok(())
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
