//! The dashboard's time series: per-minute buckets per channel and per destination (migration 0009).
//!
//! The engine counts in memory ([`hearth_core::minutes`]) and writes what accumulated with
//! [`Journal::record_minutes`](crate::Journal::record_minutes): one upsert per (channel or destination,
//! minute) and per non-empty latency bucket, group committed like every write. Counts add to what the bucket
//! holds (several flushes, several nodes); sampled figures keep the larger sample. Reads
//! ([`Journal::stats_minutes`](crate::Journal::stats_minutes)) read buckets, never messages, so they cost the
//! same on a journal of a thousand messages or of millions.

pub use hearth_core::minutes::{ChannelMinute, DestinationMinute, Minutes};

use crate::StoreError;
use crate::rows::non_negative;

/// Which buckets [`Journal::stats_minutes`](crate::Journal::stats_minutes) reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsQuery {
    /// First minute (unix seconds, a multiple of 60), included.
    pub from_minute: i64,
    /// Last minute, included.
    pub to_minute: i64,
    /// What to read: every channel and destination, or one of them.
    pub subject: StatsSubject,
}

/// A whole journal's series or one channel's or one destination's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StatsSubject {
    #[default]
    All,
    Channel(String),
    Destination(String),
}

impl StatsSubject {
    pub(crate) fn channels(&self) -> Option<Option<&str>> {
        match self {
            StatsSubject::All => Some(None),
            StatsSubject::Channel(c) => Some(Some(c)),
            StatsSubject::Destination(_) => None,
        }
    }

    pub(crate) fn destinations(&self) -> Option<Option<&str>> {
        match self {
            StatsSubject::All => Some(None),
            StatsSubject::Destination(d) => Some(Some(d)),
            StatsSubject::Channel(_) => None,
        }
    }
}

/// A `stats_channel_minutes` row.
pub(crate) type ChannelRow = (String, i64, i64, i64, i64, i64, i64);
/// A `stats_ack_latency_minutes` row.
pub(crate) type LatencyRow = (String, i64, i64, i64);
/// A `stats_destination_minutes` row.
pub(crate) type DestinationRow = (String, i64, i64, i64, i64, Option<i64>, Option<i64>);

/// Builds the answer from the rows both backends read alike.
pub(crate) fn assemble(
    channels: Vec<ChannelRow>,
    latencies: Vec<LatencyRow>,
    destinations: Vec<DestinationRow>,
) -> Result<Minutes, StoreError> {
    let mut out = Minutes::default();
    for (name, minute, received, processed, filtered, error, rejected) in channels {
        out.channels.insert(
            (name, minute),
            ChannelMinute {
                received: non_negative(received, "count")?,
                processed: non_negative(processed, "count")?,
                filtered: non_negative(filtered, "count")?,
                error: non_negative(error, "count")?,
                rejected: non_negative(rejected, "count")?,
                ack_latency: Default::default(),
            },
        );
    }
    for (name, minute, bucket, count) in latencies {
        let bucket =
            u16::try_from(bucket).map_err(|_| StoreError::InvalidData("latency bucket out of range".into()))?;
        let count = non_negative(count, "count")?;
        *out.channels.entry((name, minute)).or_default().ack_latency.entry(bucket).or_default() += count;
    }
    for (name, minute, sent, failed, dead, depth, oldest) in destinations {
        out.destinations.insert(
            (name, minute),
            DestinationMinute {
                sent: non_negative(sent, "count")?,
                failed: non_negative(failed, "count")?,
                dead: non_negative(dead, "count")?,
                depth: depth.map(|d| non_negative(d, "depth")).transpose()?,
                oldest_pending_ms: oldest.map(|d| non_negative(d, "age")).transpose()?,
            },
        );
    }
    Ok(out)
}

/// A count as the database stores it (counts beyond i64 cannot happen in a minute; saturate rather than fail).
pub(crate) fn db(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
