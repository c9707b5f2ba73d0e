//! The dashboard's time series: every `[retention] stats_flush_ms` this node samples its destinations'
//! outboxes and adds the minute counters it kept in memory (`hearth_core::minutes`) into the journal's
//! per-minute buckets, one upsert per channel or destination and minute. Every node flushes its own counts
//! (buckets add up); retention of old buckets is the retention task's.

use std::time::Duration;

use hearth_core::minutes;
use hearth_store::Journal;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// Runs until `shutdown`, then flushes what is left.
pub async fn run(journal: Journal, destinations: Vec<String>, every: Duration, shutdown: CancellationToken) {
    minutes::enable();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => break,
        }
        sample(&journal, &destinations).await;
        flush(&journal).await;
    }
    flush(&journal).await;
}

/// Records each destination's outbox depth and oldest pending age in the current minute (index reads).
async fn sample(journal: &Journal, destinations: &[String]) {
    let now = OffsetDateTime::now_utc();
    for name in destinations {
        match journal.destination_stats(name).await {
            Ok(s) => {
                let age_ms =
                    s.oldest_pending.map(|t| u64::try_from((now - t).whole_milliseconds().max(0)).unwrap_or(0));
                minutes::sample_outbox(name, s.pending, age_ms);
            }
            Err(e) => tracing::debug!(destination = %name, error = %e, "stats: could not sample the outbox"),
        }
    }
}

/// Writes what accumulated; on failure keeps it for the next flush.
pub async fn flush(journal: &Journal) {
    let taken = minutes::take();
    if taken.is_empty() {
        return;
    }
    if let Err(e) = journal.record_minutes(taken.clone()).await {
        tracing::warn!(error = %e, "stats: could not write the minute counters; keeping them for the next flush");
        minutes::restore(taken);
    }
}
