//! Retention: prunes message content per channel after its configured age, in small group-committed batches
//! beside ingest (see `hearth_store`'s retention module). Between batches it yields, so ingest commits in
//! between; once a channel's walk caught up it waits for the next round. Each round also deletes the
//! dashboard's per-minute buckets older than `stats_days` (one small delete: the buckets are indexed by minute).

use std::collections::HashMap;
use std::time::Duration;

use hearth_config::ops::RetentionPlan;
use hearth_store::Journal;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// Pause between two batches of the same channel: leaves the writer to ingest.
const BETWEEN_BATCHES: Duration = Duration::from_millis(50);

/// Runs until `shutdown`.
pub async fn run(journal: Journal, plan: RetentionPlan, shutdown: CancellationToken) {
    // Per channel, the last message id the walk passed (starts over after a restart).
    let mut cursors: HashMap<String, i64> = HashMap::new();
    let mut tick = tokio::time::interval(plan.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let stats_cutoff = OffsetDateTime::now_utc() - Duration::from_secs(u64::from(plan.stats_days) * 86_400);
        match journal.prune_minutes(stats_cutoff).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "retention: old per-minute stats deleted"),
            Err(e) => {
                tracing::warn!(error = %e, "retention: deleting old per-minute stats failed; retrying next round")
            }
        }
        for (channel, days) in &plan.content_days {
            let cutoff = OffsetDateTime::now_utc() - Duration::from_secs(u64::from(*days) * 86_400);
            let cursor = cursors.entry(channel.clone()).or_insert(0);
            if !prune_channel(&journal, channel, cutoff, cursor, plan.batch, &shutdown).await {
                return;
            }
        }
    }
}

/// Prunes one channel's batches until caught up. `false` when shutdown came meanwhile.
async fn prune_channel(
    journal: &Journal,
    channel: &str,
    cutoff: OffsetDateTime,
    cursor: &mut i64,
    batch: u32,
    shutdown: &CancellationToken,
) -> bool {
    let mut pruned = 0;
    loop {
        match journal.prune_content(channel, cutoff, *cursor, batch).await {
            Ok(p) => {
                *cursor = p.cursor;
                pruned += p.pruned;
                if p.caught_up {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(channel, error = %e, "retention: pruning failed; retrying next round");
                break;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(BETWEEN_BATCHES) => {}
            () = shutdown.cancelled() => return false,
        }
    }
    if pruned > 0 {
        tracing::info!(channel, pruned, "retention: message content pruned");
    }
    true
}
