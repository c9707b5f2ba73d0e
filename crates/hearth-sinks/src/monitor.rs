//! The ingest gate: while a destination pushes back (its broker blocks publishers) or the outbox holds more than
//! `max_pending` deliveries, new input waits (the journal holds appends) instead of piling up. Also keeps the
//! outbox gauges current.

use std::time::Duration;

use hearth_core::events::Metric;
use hearth_store::Journal;
use tokio_util::sync::CancellationToken;

use crate::outbox::{NotReady, report_pending};
use crate::registry::Publisher;

/// How often the monitor looks at the outbox and the destinations.
const MONITOR_EVERY: Duration = Duration::from_millis(500);

/// Runs until `shutdown`, then lets ingest resume.
pub async fn monitor(
    journal: Journal,
    destinations: Vec<(String, Publisher)>,
    max_pending: u64,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(MONITOR_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut paused = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => {
                journal.resume_ingest();
                return;
            }
        }
        let blocked = destinations.iter().find_map(|(name, p)| match p.ready() {
            Err(NotReady::Blocked(_)) => Some(format!("destination {name} is blocked by its broker")),
            _ => None,
        });
        let pending = match journal.pending_deliveries().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "outbox monitor cannot count pending deliveries");
                continue;
            }
        };
        for (name, _) in &destinations {
            let n = pending.iter().find(|(d, _)| d == name).map_or(0, |(_, n)| *n);
            report_pending(name, n);
        }
        let total: u64 = pending.iter().map(|(_, n)| n).sum();
        let over =
            (total > max_pending).then(|| format!("outbox holds {total} pending deliveries (max {max_pending})"));
        match blocked.or(over) {
            Some(reason) => {
                if !paused {
                    tracing::warn!(reason = %reason, "ingest paused: new input is not acknowledged until destinations catch up");
                }
                journal.pause_ingest(&reason);
                paused = true;
            }
            None if paused => {
                tracing::info!("ingest resumed");
                journal.resume_ingest();
                paused = false;
            }
            None => {}
        }
        metrics::gauge!(Metric::IngestPaused.name()).set(if paused { 1.0 } else { 0.0 });
    }
}
