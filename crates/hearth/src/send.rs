//! `hearth send mllp://HOST:PORT FILE...` (or `mllps://` for MLLP over TLS): send every message in the files,
//! print each ACK, summarise.

mod conn;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hearth_sources::mllp::AckSummary;
use tokio::sync::Mutex;

use self::conn::{Conn, Target, TlsArgs};

#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// Where to send: mllp://HOST:PORT, or mllps://HOST:PORT for MLLP over TLS.
    url: String,
    /// Files holding one or more HL7 v2 messages (batch files with FHS/BHS included).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Number of concurrent connections.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Send the whole set this many times.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// How long to wait for each ACK.
    #[arg(long, default_value_t = 30_000)]
    timeout_ms: u64,
    /// Print one line per message even in load mode (--concurrency or --repeat above 1).
    #[arg(long)]
    verbose: bool,
    /// Pace the load: at most this many messages per second in total (open loop: latency is measured from
    /// each message's scheduled time, so a slow receiver cannot hide its queueing).
    #[arg(long)]
    rate: Option<f64>,
    /// Make every message new: append `.N` to MSH-10 so that repeats are not duplicates (load testing).
    #[arg(long)]
    unique_ids: bool,
    /// mllps: the CA certificate(s) (PEM) the receiver's certificate must chain to (default: the system's).
    #[arg(long, value_name = "PEM")]
    ca: Option<PathBuf>,
    /// mllps: a client certificate (PEM) to present, for receivers that require mutual TLS. Needs --key.
    #[arg(long, value_name = "PEM")]
    cert: Option<PathBuf>,
    /// mllps: the client certificate's private key (PEM).
    #[arg(long, value_name = "PEM")]
    key: Option<PathBuf>,
    /// mllps, FOR TESTS ONLY: do not verify the receiver's certificate at all (still encrypted, but to anyone).
    #[arg(long)]
    insecure: bool,
}

struct Item {
    label: String,
    payload: Vec<u8>,
}

#[derive(Default)]
struct Tally {
    accepted: usize,
    not_accepted: usize,
    failed: usize,
    latencies: Vec<Duration>,
}

pub async fn run(args: SendArgs) -> ExitCode {
    let tls = TlsArgs { ca: args.ca.clone(), cert: args.cert.clone(), key: args.key.clone(), insecure: args.insecure };
    let target = match Target::parse(&args.url, tls) {
        Ok(t) => Arc::new(t),
        Err(e) => {
            eprintln!("hearth send: {e}");
            return ExitCode::from(2);
        }
    };
    if args.concurrency == 0 || args.repeat == 0 {
        eprintln!("hearth send: --concurrency and --repeat must be at least 1");
        return ExitCode::from(2);
    }
    let items = match load_items(&args.files) {
        Ok(items) => Arc::new(items),
        Err(e) => {
            eprintln!("hearth send: {e}");
            return ExitCode::from(2);
        }
    };
    let load_mode = args.concurrency > 1 || args.repeat > 1;
    let per_line = !load_mode || args.verbose;
    let total = items.len() * args.repeat;
    let next = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let timeout = Duration::from_millis(args.timeout_ms);
    let started = Instant::now();

    let interval = args.rate.filter(|r| *r > 0.0).map(|r| Duration::from_secs_f64(1.0 / r));
    let unique = args.unique_ids;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.min(total.max(1)) {
        let (items, next, tally, target) = (items.clone(), next.clone(), tally.clone(), target.clone());
        workers.spawn(async move {
            let mut conn: Option<Conn> = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let item = &items[i % items.len()];
                let payload = if unique { with_unique_id(&item.payload, i) } else { item.payload.clone() };
                let t0 = match interval {
                    Some(iv) => {
                        let scheduled = started + iv.mul_f64(i as f64);
                        tokio::time::sleep_until(scheduled.into()).await;
                        scheduled
                    }
                    None => Instant::now(),
                };
                let result = match conn.as_mut() {
                    Some(c) => c.send(&payload).await,
                    None => match Conn::connect(&target, timeout).await {
                        Ok(c) => conn.insert(c).send(&payload).await,
                        Err(e) => Err(e),
                    },
                };
                let latency = t0.elapsed();
                let mut t = tally.lock().await;
                match result {
                    Ok(ack) => {
                        t.latencies.push(latency);
                        if ack.accepted() {
                            t.accepted += 1;
                        } else {
                            t.not_accepted += 1;
                        }
                        if per_line {
                            println!("{}\t{}", item.label, describe(&ack));
                        }
                    }
                    Err(e) => {
                        t.failed += 1;
                        conn = None; // reconnect for the next message
                        if per_line {
                            println!("{}\tFAILED\t{e}", item.label);
                        }
                    }
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let mut t = tally.lock().await;
    summarise(&mut t, total, elapsed, load_mode);
    if t.accepted == total { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

fn describe(ack: &AckSummary) -> String {
    let mut s = format!("{}\t{}", ack.code, ack.control_id);
    if let Some(c) = &ack.error_code {
        s.push_str(&format!("\tERR {c}"));
    }
    if !ack.text.is_empty() {
        s.push_str(&format!("\t{}", ack.text));
    }
    s
}

fn summarise(t: &mut Tally, total: usize, elapsed: Duration, load_mode: bool) {
    t.latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if t.latencies.is_empty() {
            return 0.0;
        }
        let idx = ((t.latencies.len() as f64 * p).ceil() as usize).clamp(1, t.latencies.len()) - 1;
        t.latencies[idx].as_secs_f64() * 1000.0
    };
    let secs = elapsed.as_secs_f64().max(1e-9);
    let line = format!(
        "sent {total}: {} accepted, {} not accepted, {} failed in {:.3} s ({:.0} msg/s); ACK latency ms p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}",
        t.accepted,
        t.not_accepted,
        t.failed,
        secs,
        total as f64 / secs,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0)
    );
    if load_mode { println!("{line}") } else { eprintln!("{line}") }
}

/// Every message of every file, with line endings normalised to the HL7 segment terminator (CR).
fn load_items(files: &[PathBuf]) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let batch = hearth_hl7v2::split_batch(&bytes).map_err(|e| format!("{}: {e}", f.display()))?;
        let messages: Vec<&[u8]> = batch.message_bytes(&bytes).collect();
        if messages.is_empty() {
            return Err(format!("{}: no HL7 v2 message found", f.display()));
        }
        let many = messages.len() > 1;
        for (n, m) in messages.into_iter().enumerate() {
            let label = if many { format!("{}#{}", f.display(), n + 1) } else { f.display().to_string() };
            items.push(Item { label, payload: normalise_segments(m) });
        }
    }
    Ok(items)
}

/// The message with `.n` appended to MSH-10 (the tenth field of the first segment).
fn with_unique_id(msg: &[u8], n: usize) -> Vec<u8> {
    let Some(&sep) = msg.get(3) else { return msg.to_vec() };
    let seg_end = msg.iter().position(|&b| b == b'\r').unwrap_or(msg.len());
    // MSH-1 is the separator itself, so MSH-10 ends at the 10th separator of the segment.
    let Some((end, _)) = msg[..seg_end].iter().enumerate().filter(|&(_, &b)| b == sep).nth(9) else {
        return msg.to_vec();
    };
    let mut out = Vec::with_capacity(msg.len() + 12);
    out.extend_from_slice(&msg[..end]);
    out.extend_from_slice(format!(".{n}").as_bytes());
    out.extend_from_slice(&msg[end..]);
    out
}

fn normalise_segments(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len());
    let mut i = 0;
    while i < msg.len() {
        match msg[i] {
            b'\r' if msg.get(i + 1) == Some(&b'\n') => {
                out.push(b'\r');
                i += 1;
            }
            b'\n' => out.push(b'\r'),
            b => out.push(b),
        }
        i += 1;
    }
    while out.ends_with(b"\r\r") {
        out.pop();
    }
    if !out.ends_with(b"\r") {
        out.push(b'\r');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_ids_go_into_msh10() {
        let m = b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|CTRL|P|2.5.1\rPID|1\r";
        assert_eq!(with_unique_id(m, 7), b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|CTRL.7|P|2.5.1\rPID|1\r");
        let short = b"MSH|^~\\&|A\r";
        assert_eq!(with_unique_id(short, 1), short);
        assert_eq!(with_unique_id(b"", 1), b"");
    }

    #[test]
    fn normalises_line_endings() {
        assert_eq!(normalise_segments(b"MSH|a\nPID|b\r\nPV1|c\n\n"), b"MSH|a\rPID|b\rPV1|c\r");
        assert_eq!(normalise_segments(b"MSH|a"), b"MSH|a\r");
    }
}
