//! `hearth convert --from hl7v2 [--report] FILE|-`: convert messages to FHIR R4 without running the engine.
//!
//! Output (stdout): one pretty-printed Bundle for one input message; NDJSON (one compact Bundle per line, in input
//! order) for several (a batch file, or several messages in one file). With `--report`, the conversion reports
//! go to stderr as NDJSON, one `{"message": N, "report": {...}}` line per message, so stdout stays pure FHIR.
//!
//! One bad message does not stop a file: every message that converts is printed (in input order), and each
//! refused message gets one line on stderr naming where (`FILE: message 2: segment 3 (PID), field 5: ...`).
//! Exit code: 0 all converted; 3 ([`EXIT_PARTIAL`]) some converted, some refused; 2 nothing converted (or bad
//! arguments, an unreadable file).
//!
//! Times sent without an offset are read in `--timezone ZONE` (an IANA name), else in the host's zone (`TZ`,
//! else `/etc/localtime`), as the engine does for a channel without `timezone`.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use hearth_map::hl7v2::{Hl7v2Mapper, MapOptions};
use hearth_map::vocab::Vocabulary;

/// Largest input read (a batch file of many messages still fits; a runaway pipe does not).
const MAX_INPUT_BYTES: u64 = 512 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum From {
    Hl7v2,
    Csv,
    Webhook,
}

#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// Input format.
    #[arg(long, value_enum)]
    from: From,
    /// Input profile (CSV export or webhook vendor); not used for hl7v2.
    #[arg(long)]
    profile: Option<String>,
    /// Mapping data. For hl7v2: vocabulary overrides, a CSV file or a directory of them (as a channel's
    /// `mapping.vocabulary`).
    #[arg(long)]
    mapping: Option<PathBuf>,
    /// Print each message's conversion report to stderr, one JSON line per message.
    #[arg(long)]
    report: bool,
    /// hl7v2: the facility time zone (IANA name, e.g. America/Chicago) of times sent without an offset.
    /// Default: the host's zone (TZ, else /etc/localtime).
    #[arg(long, value_name = "ZONE")]
    timezone: Option<String>,
    /// The input file, or `-` for standard input.
    input: String,
}

/// The exit code of a file of which some messages (or rows) converted and others were refused.
pub const EXIT_PARTIAL: u8 = 3;

/// What a conversion that ran came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything converted.
    Complete,
    /// Some input converted, some was refused (each refusal has its line on stderr).
    Partial,
}

/// Runs the command; the exit code is 0, [`EXIT_PARTIAL`], or 2 for bad input or arguments.
pub fn run(args: ConvertArgs) -> ExitCode {
    match convert(&args) {
        Ok(Outcome::Complete) => ExitCode::SUCCESS,
        Ok(Outcome::Partial) => ExitCode::from(EXIT_PARTIAL),
        Err(e) => {
            eprintln!("hearth convert: {e}");
            ExitCode::from(2)
        }
    }
}

fn convert(args: &ConvertArgs) -> Result<Outcome, String> {
    if args.timezone.is_some() && args.from != From::Hl7v2 {
        return Err("--timezone applies to hl7v2 input".into());
    }
    match args.from {
        From::Hl7v2 => {}
        From::Webhook => {
            let (bundle, report) =
                crate::convert_webhook::convert(args.profile.as_deref(), args.mapping.as_deref(), &args.input)?;
            let mut w = std::io::BufWriter::new(std::io::stdout().lock());
            emit(&mut w, &bundle, args.report.then_some(&report)).and_then(|()| w.flush()).map_err(write_err)?;
            return Ok(Outcome::Complete);
        }
        From::Csv => {
            crate::convert_csv::convert(args.profile.as_deref(), args.mapping.as_deref(), &args.input)?;
            return Ok(Outcome::Complete);
        }
    }
    if args.profile.is_some() {
        return Err("--profile applies to csv and webhook input, not hl7v2".into());
    }
    let mut opts = MapOptions::default();
    if let Some(path) = &args.mapping {
        let vocab = Vocabulary::load_overrides(path, &Vocabulary::builtin()).map_err(|e| format!("--mapping: {e}"))?;
        opts.vocabulary = Arc::new(vocab);
    }
    // Without --timezone the host's zone, as the engine does for a channel without `timezone`.
    let opts = opts.with_timezone_or_host(args.timezone.as_deref()).map_err(|e| format!("--timezone: {e}"))?;
    let mapper = Hl7v2Mapper::new(opts);
    let (label, bytes) = read_input(&args.input)?;
    let batch = hearth_hl7v2::split_batch(&bytes).map_err(|e| format!("{label}: {e}"))?;
    let messages: Vec<&[u8]> = batch.message_bytes(&bytes).collect();
    if messages.is_empty() {
        return Err(format!("{label}: no HL7 v2 message found"));
    }
    let now = time::OffsetDateTime::now_utc();
    // A file has no ACK to send nor duplicates to suppress: a message without MSH-10 converts too.
    let parse = hearth_hl7v2::ParseOptions { require_control_id: false, ..hearth_hl7v2::ParseOptions::default() };
    // Each Bundle is written as soon as it is converted (memory stays flat whatever the file's size); its report,
    // with --report, goes to stderr right after it.
    let mut w = std::io::BufWriter::new(std::io::stdout().lock());
    let mut converted_count = 0usize;
    let mut refused = Vec::new();
    for (n, raw) in messages.iter().enumerate() {
        let at = |e: &dyn std::fmt::Display| format!("{label}: message {}: {e}", n + 1);
        let converted = hearth_hl7v2::parse(raw, &parse).map_err(|e| at(&e)).and_then(|msg| {
            let conv = mapper.map(&msg, now).map_err(|e| at(&e))?;
            let bundle = if messages.len() == 1 {
                hearth_fhir::bundle_to_json_pretty(&conv.bundle)
            } else {
                hearth_fhir::bundle_to_json(&conv.bundle)
            }
            .map_err(|e| at(&format!("the mapping produced an invalid Bundle: {e}")))?;
            Ok((bundle, conv.report))
        });
        match converted {
            Ok((bundle, report)) => {
                converted_count += 1;
                let line = args.report.then(|| serde_json::json!({ "message": n + 1, "report": report }));
                emit(&mut w, &bundle, line.as_ref()).map_err(write_err)?;
            }
            Err(e) => refused.push(e),
        }
    }
    w.flush().map_err(write_err)?;
    match (converted_count == 0, refused.len()) {
        (_, 0) => Ok(Outcome::Complete),
        (true, 1) => Err(refused.remove(0)),
        (true, n) => {
            print_refused(&refused);
            Err(format!("{label}: none of the {n} messages converted"))
        }
        (false, n) => {
            print_refused(&refused);
            eprintln!("hearth convert: {label}: {converted_count} messages converted, {n} refused");
            Ok(Outcome::Partial)
        }
    }
}

fn print_refused(refused: &[String]) {
    let mut e = std::io::stderr().lock();
    for r in refused {
        let _ = writeln!(e, "hearth convert: {r}");
    }
}

/// Writes one Bundle as a line of `out` and, with `--report`, its report as a line of stderr right after it.
fn emit(out: &mut impl Write, bundle: &str, report: Option<&serde_json::Value>) -> std::io::Result<()> {
    writeln!(out, "{bundle}")?;
    if let Some(report) = report {
        out.flush()?;
        writeln!(std::io::stderr().lock(), "{report}")?;
    }
    Ok(())
}

fn write_err(e: std::io::Error) -> String {
    format!("cannot write the output: {e}")
}

fn read_input(input: &str) -> Result<(String, Vec<u8>), String> {
    let mut bytes = Vec::new();
    let label = if input == "-" {
        std::io::stdin().lock().take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes).map_err(|e| format!("stdin: {e}"))?;
        "stdin".to_owned()
    } else {
        let f = std::fs::File::open(input).map_err(|e| format!("{input}: {e}"))?;
        f.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes).map_err(|e| format!("{input}: {e}"))?;
        input.to_owned()
    };
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(format!("{label}: larger than {MAX_INPUT_BYTES} bytes"));
    }
    Ok((label, bytes))
}
