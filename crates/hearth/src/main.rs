//! `hearth`: the command-line binary. Parses arguments, wires libraries, maps errors to exit codes. Nothing else.
//!
//! Exit codes: 0 success; 1 runtime failure (or, for `send`, a message that was not accepted); 2 bad input or
//! configuration; 3 (`convert`) a file partly converted: some messages refused, each named on stderr.
#![forbid(unsafe_code)]

mod cfgtest;
mod convert;
mod convert_csv;
mod convert_webhook;
mod messages;
mod replay;
mod send;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

/// Built with `--features mimalloc`: mimalloc instead of the system allocator (measured in docs/performance.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "hearth", version, about = "A FHIR-native healthcare integration engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the engine. Without --config: MLLP on 0.0.0.0:2575, HTTP on 0.0.0.0:8080, journal ./data/hearth.db.
    Run {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Validate a configuration without touching the network and print the topology.
    Check {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Apply the journal's schema migrations (SQLite or PostgreSQL) and exit. Nodes also migrate when they
    /// start; run this first when upgrading several nodes (docs/scale-out.md).
    Migrate {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Send HL7 v2 messages over MLLP (mllp://) or MLLP over TLS (mllps://) and print each ACK (a test tool and
    /// load generator).
    Send(send::SendArgs),
    /// Convert messages to FHIR R4 JSON: one Bundle for one message, NDJSON for several. With --report, each
    /// message's conversion report goes to stderr as one JSON line. Each refused message (or CSV row) gets one
    /// located line on stderr. Exit code: 0 all converted, 3 partly converted, 2 nothing converted or bad input.
    Convert(convert::ConvertArgs),
    /// Run configuration test files (docs/config-testing.md): inputs through the configuration's conversion and
    /// routing, checked against expected FHIR values, deliveries, projections and warnings. Exit code: 0 all
    /// passed, 1 a test failed, 2 a file or configuration could not be used.
    Test(cfgtest::TestArgs),
    /// Run journaled messages through a candidate configuration without delivering anything, and print what
    /// would change against what was planned (docs/config-testing.md). Read-only on the journal.
    Replay(replay::ReplayArgs),
    /// Look into the journal: list and show messages and deliveries, reprocess messages, resend deliveries.
    Messages(messages::MessagesArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Check { config } => match load_plan(config.as_deref()) {
            Ok(plan) => {
                print!("{}", plan.topology());
                if check_tls(&plan) { ExitCode::SUCCESS } else { ExitCode::from(2) }
            }
            Err(e) => {
                eprintln!("hearth: {e}");
                ExitCode::from(2)
            }
        },
        Command::Run { config } => {
            let plan = match load_plan(config.as_deref()) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("hearth: {e}");
                    return ExitCode::from(2);
                }
            };
            with_runtime(async move {
                let shutdown = CancellationToken::new();
                tokio::spawn(wait_for_signal(shutdown.clone()));
                match hearth_engine::run_file(plan, config, shutdown).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("hearth: {e}");
                        ExitCode::from(1)
                    }
                }
            })
        }
        Command::Migrate { config } => with_runtime(migrate(config)),
        Command::Send(args) => with_runtime(send::run(args)),
        Command::Convert(args) => convert::run(args),
        Command::Messages(args) => with_runtime(messages::run(args)),
        Command::Test(args) => cfgtest::run(args),
        Command::Replay(args) => with_runtime(replay::run(args)),
    }
}

/// `hearth migrate`: 0 migrated (or already current), 2 bad configuration, 1 the journal refused or failed.
async fn migrate(config: Option<PathBuf>) -> ExitCode {
    let cfg = match load_plan(config.as_deref())
        .map_err(|e| e.to_string())
        .and_then(|plan| plan.journal.store_config().map_err(|e| format!("journal password: {e}")))
    {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("hearth: {e}");
            return ExitCode::from(2);
        }
    };
    match hearth_store::Journal::migrate(&cfg).await {
        Ok(report) => {
            let from = report.from.map_or_else(|| "none (new journal)".to_owned(), |v| v.to_string());
            if report.changed() {
                println!("journal schema migrated from {from} to version {}", report.to);
            } else {
                println!("journal schema is current (version {})", report.to);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hearth: migrate: {e}");
            ExitCode::from(1)
        }
    }
}

/// `hearth check`'s TLS part: each listener's TLS mode, and for TLS listeners the files checked (readable, key
/// matching the certificate, not expired) and the certificate's expiry. False when a file is unusable.
fn check_tls(plan: &hearth_config::Plan) -> bool {
    use hearth_sources::tls::{FileCheck, mode};
    let now = std::time::SystemTime::now();
    let mut ok = true;
    let mllp = plan.channels.iter().filter_map(|ch| match &ch.source {
        hearth_sources::SourcePlan::Mllp(m) => Some((format!("channels.{}", ch.name), m.tls.as_ref())),
        _ => None,
    });
    for (key, tls) in std::iter::once(("http".to_owned(), plan.http.tls.as_ref())).chain(mllp) {
        let line = match tls {
            None => mode(None),
            Some(t) => match FileCheck::run(t, now) {
                Ok(found) => format!("{}; {}", mode(Some(t)), found.describe(now)),
                Err(e) => {
                    ok = false;
                    eprintln!("hearth: {key}.tls: {e}");
                    format!("{} (files NOT usable)", mode(Some(t)))
                }
            },
        };
        println!("tls      {key:<20} {line}");
    }
    ok
}

fn load_plan(path: Option<&std::path::Path>) -> Result<hearth_config::Plan, hearth_config::ConfigError> {
    match path {
        Some(p) => hearth_config::load_file(p),
        None => hearth_config::Plan::default_plan(),
    }
}

fn with_runtime(fut: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt.block_on(fut),
        Err(e) => {
            eprintln!("hearth: cannot start the async runtime: {e}");
            ExitCode::from(1)
        }
    }
}

/// Directives added after `HEARTH_LOG`, whatever it says: lapin logs a returned (unroutable) message whole at
/// `warn`, body included, and its frames at `trace`; a body is FHIR with patient data, and Hearth records the
/// return itself (as the delivery's failure, without the body).
const NO_PAYLOAD_LOGS: [&str; 2] = ["lapin=info", "lapin::returned_messages=error"];

fn init_logging() {
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("HEARTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    for directive in NO_PAYLOAD_LOGS {
        if let Ok(d) = directive.parse() {
            filter = filter.add_directive(d);
        }
    }
    // Colour only for a person at a terminal: a file or a pipe gets plain text (docs/operations.md).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match std::env::var("HEARTH_LOG_FORMAT").as_deref() {
        Ok("json") => builder.json().init(),
        Ok("text") | Err(_) => builder.init(),
        Ok(other) => {
            builder.init();
            tracing::warn!(format = other, "HEARTH_LOG_FORMAT is neither `text` nor `json`; logging as text");
        }
    }
}

async fn wait_for_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
    shutdown.cancel();
}
