//! Per-minute counters behind the dashboard's charts, kept in memory between two flushes to the journal.
//!
//! The events of [`crate::events`] that count messages, conversions, deliveries and ACKs also add to the
//! current minute here. The engine turns this on ([`enable`]) and, every few seconds, takes what accumulated
//! ([`take`]) and writes it to the journal as one upsert per (channel or destination, minute), never one write
//! per message. Until [`enable`] is called (a one-shot `hearth convert`, a library user) nothing is kept.
//!
//! Minutes are unix seconds at the start of the minute (a multiple of 60), UTC.
//!
//! ACK latency is kept as a histogram in quarter-octave buckets ([`latency_bucket`]): histograms from several
//! flushes and several nodes add up, so p50/p99 over a minute stay right however many nodes answered in it.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::MessageStatus;

/// More keys than this (channel or destination × minute) are not kept between two flushes: only a journal
/// that refuses writes for a long time gets there, and the counts are for charts.
const MAX_KEYS: usize = 20_000;

/// Largest latency bucket: 2^(160/4) µs, about 12.7 days; slower ACKs land in it.
pub const MAX_LATENCY_BUCKET: u16 = 160;

/// One channel's counts in one minute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelMinute {
    /// Messages taken in and journaled (duplicates included: each was answered), not refused at the door.
    pub received: u64,
    pub processed: u64,
    pub filtered: u64,
    pub error: u64,
    /// Refused at the door (negative ACK / 4xx).
    pub rejected: u64,
    /// ACK latency histogram: bucket (see [`latency_bucket`]) → count.
    pub ack_latency: BTreeMap<u16, u64>,
}

/// One destination's counts in one minute, and the outbox as last sampled in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationMinute {
    pub sent: u64,
    /// Attempts that failed and will be retried.
    pub failed: u64,
    /// Deliveries that went to `dead`.
    pub dead: u64,
    /// Pending deliveries, sampled (the largest sample of the minute).
    pub depth: Option<u64>,
    /// Age of the oldest pending delivery in milliseconds, sampled (the largest sample of the minute).
    pub oldest_pending_ms: Option<u64>,
}

/// What accumulated since the last [`take`], keyed by (name, minute).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Minutes {
    pub channels: BTreeMap<(String, i64), ChannelMinute>,
    pub destinations: BTreeMap<(String, i64), DestinationMinute>,
}

impl Minutes {
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.destinations.is_empty()
    }

    /// The counts of `channel` in `minute`, created if there is room.
    pub fn channel(&mut self, channel: &str, minute: i64) -> Option<&mut ChannelMinute> {
        entry(&mut self.channels, channel, minute)
    }

    /// The counts of `destination` in `minute`, created if there is room.
    pub fn destination(&mut self, destination: &str, minute: i64) -> Option<&mut DestinationMinute> {
        entry(&mut self.destinations, destination, minute)
    }

    /// Adds `other` in (counts add, samples keep the larger).
    pub fn merge(&mut self, other: Minutes) {
        for ((name, minute), c) in other.channels {
            if let Some(mine) = self.channel(&name, minute) {
                mine.received += c.received;
                mine.processed += c.processed;
                mine.filtered += c.filtered;
                mine.error += c.error;
                mine.rejected += c.rejected;
                for (bucket, n) in c.ack_latency {
                    *mine.ack_latency.entry(bucket).or_default() += n;
                }
            }
        }
        for ((name, minute), d) in other.destinations {
            if let Some(mine) = self.destination(&name, minute) {
                mine.sent += d.sent;
                mine.failed += d.failed;
                mine.dead += d.dead;
                mine.depth = mine.depth.max(d.depth);
                mine.oldest_pending_ms = mine.oldest_pending_ms.max(d.oldest_pending_ms);
            }
        }
    }
}

fn entry<'a, T: Default>(map: &'a mut BTreeMap<(String, i64), T>, name: &str, minute: i64) -> Option<&'a mut T> {
    let key = (name.to_owned(), minute);
    if map.len() >= MAX_KEYS && !map.contains_key(&key) {
        return None;
    }
    Some(map.entry(key).or_default())
}

/// `None` until [`enable`]: nothing is kept.
static CURRENT: Mutex<Option<Minutes>> = Mutex::new(None);

/// Starts keeping counts (idempotent).
pub fn enable() {
    CURRENT.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert_with(Minutes::default);
}

/// What accumulated since the last call (empty when not enabled).
pub fn take() -> Minutes {
    CURRENT.lock().unwrap_or_else(PoisonError::into_inner).as_mut().map(std::mem::take).unwrap_or_default()
}

/// Puts counts back that could not be written (the next flush tries again).
pub fn restore(minutes: Minutes) {
    if let Some(current) = CURRENT.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
        let newer = std::mem::replace(current, minutes);
        current.merge(newer);
    }
}

/// The start of the current minute, unix seconds.
pub fn current_minute() -> i64 {
    minute_of(time::OffsetDateTime::now_utc().unix_timestamp())
}

/// The start of the minute holding unix second `s`.
pub fn minute_of(s: i64) -> i64 {
    s.div_euclid(60) * 60
}

fn with(update: impl FnOnce(&mut Minutes, i64)) {
    let minute = current_minute();
    if let Some(current) = CURRENT.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
        update(current, minute);
    }
}

/// A message of `channel` reached `status` (received at the door, or the processing stage's outcome).
pub fn count_status(channel: &str, status: MessageStatus) {
    with(|m, minute| {
        if let Some(c) = m.channel(channel, minute) {
            match status {
                MessageStatus::Received => c.received += 1,
                MessageStatus::Rejected => c.rejected += 1,
                MessageStatus::Processed => c.processed += 1,
                MessageStatus::Filtered => c.filtered += 1,
                MessageStatus::Error => c.error += 1,
            }
        }
    });
}

/// An ACK went back on `channel` after `latency`.
pub fn count_ack(channel: &str, latency: Duration) {
    with(|m, minute| {
        if let Some(c) = m.channel(channel, minute) {
            *c.ack_latency.entry(latency_bucket(latency)).or_default() += 1;
        }
    });
}

/// A sink's outcomes for one batch of `destination`.
pub fn count_deliveries(destination: &str, sent: u64, failed: u64, dead: u64) {
    with(|m, minute| {
        if let Some(d) = m.destination(destination, minute) {
            d.sent += sent;
            d.failed += failed;
            d.dead += dead;
        }
    });
}

/// The outbox of `destination` as sampled now.
pub fn sample_outbox(destination: &str, depth: u64, oldest_pending_ms: Option<u64>) {
    with(|m, minute| {
        if let Some(d) = m.destination(destination, minute) {
            d.depth = d.depth.max(Some(depth));
            d.oldest_pending_ms = d.oldest_pending_ms.max(oldest_pending_ms);
        }
    });
}

/// The histogram bucket of a latency: `ceil(4 · log2(µs))`, so bucket `b` holds latencies up to
/// [`bucket_upper_ms`]`(b)` and above the bucket before (about 19 % wide).
pub fn latency_bucket(latency: Duration) -> u16 {
    let us = latency.as_micros().max(1) as f64;
    let b = (us.log2() * 4.0).ceil();
    if b >= f64::from(MAX_LATENCY_BUCKET) { MAX_LATENCY_BUCKET } else { b.max(0.0) as u16 }
}

/// The upper bound of a latency bucket, in milliseconds.
pub fn bucket_upper_ms(bucket: u16) -> f64 {
    2f64.powf(f64::from(bucket) / 4.0) / 1000.0
}

/// The `q` quantile (0 < q ≤ 1) of a latency histogram, as its bucket's upper bound in milliseconds; `None`
/// when the histogram is empty.
pub fn quantile_ms(histogram: &BTreeMap<u16, u64>, q: f64) -> Option<f64> {
    let total: u64 = histogram.values().sum();
    if total == 0 {
        return None;
    }
    // The rank of the quantile, 1-based: the smallest count reaching q of the total.
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (bucket, n) in histogram {
        seen += n;
        if seen >= rank {
            return Some(bucket_upper_ms(*bucket));
        }
    }
    histogram.keys().next_back().map(|b| bucket_upper_ms(*b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_bound_their_latencies() {
        for us in [1u64, 2, 3, 999, 1000, 1001, 12_345, 250_000, 3_000_000] {
            let b = latency_bucket(Duration::from_micros(us));
            let upper_us = bucket_upper_ms(b) * 1000.0;
            assert!(us as f64 <= upper_us + 1e-6, "{us} µs in bucket {b} (up to {upper_us})");
            assert!(b == 0 || us as f64 > bucket_upper_ms(b - 1) * 1000.0 - 1e-6, "{us} µs: bucket {b} too high");
        }
        assert_eq!(latency_bucket(Duration::ZERO), 0);
        assert_eq!(latency_bucket(Duration::from_secs(10_000_000)), MAX_LATENCY_BUCKET);
    }

    #[test]
    fn quantiles_come_from_the_histogram() {
        let mut h = BTreeMap::new();
        assert_eq!(quantile_ms(&h, 0.5), None);
        // 98 fast ACKs (~1 ms) and 2 slow ones (~100 ms).
        h.insert(latency_bucket(Duration::from_millis(1)), 98);
        h.insert(latency_bucket(Duration::from_millis(100)), 2);
        let p50 = quantile_ms(&h, 0.5).unwrap_or_default();
        let p99 = quantile_ms(&h, 0.99).unwrap_or_default();
        assert!((1.0..1.2).contains(&p50), "{p50}");
        assert!((100.0..120.0).contains(&p99), "{p99}");
    }

    #[test]
    fn merging_adds_counts_and_keeps_the_larger_sample() {
        let mut a = Minutes::default();
        if let Some(c) = a.channel("adt", 60) {
            c.received = 2;
            c.ack_latency.insert(3, 1);
        }
        if let Some(d) = a.destination("fhir", 60) {
            d.sent = 1;
            d.depth = Some(5);
        }
        let mut b = a.clone();
        if let Some(d) = b.destination("fhir", 60) {
            d.depth = Some(9);
            d.oldest_pending_ms = Some(10);
        }
        a.merge(b);
        assert_eq!(a.channels[&("adt".into(), 60)].received, 4);
        assert_eq!(a.channels[&("adt".into(), 60)].ack_latency[&3], 2);
        let d = &a.destinations[&("fhir".into(), 60)];
        assert_eq!((d.sent, d.depth, d.oldest_pending_ms), (2, Some(9), Some(10)));
        assert_eq!(minute_of(119), 60);
        assert_eq!(minute_of(-1), -60);
    }
}
