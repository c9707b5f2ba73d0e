//! What the operations surface reads: message search (patient identifier included, through its own index),
//! per-channel and per-destination figures for the dashboard and the alerts.

use std::collections::BTreeMap;

use hearth_core::MessageStatus;
use time::OffsetDateTime;

use crate::StoreError;
use crate::rows::from_micros;

/// How many of a channel's latest messages the error rate and the latency percentiles are computed over: a
/// bounded read per poll, whatever the journal's size.
pub const RECENT_WINDOW: u32 = 1_000;

/// A message search; every `Some` narrows. Ids page through the result (see [`SearchPage`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    pub channel: Option<String>,
    pub status: Option<MessageStatus>,
    /// Received at or after.
    pub received_from: Option<OffsetDateTime>,
    /// Received before.
    pub received_to: Option<OffsetDateTime>,
    /// The trigger event (`A01`) or, for messages without one, the message code.
    pub event: Option<String>,
    /// MSH-10, exact.
    pub control_id: Option<String>,
    /// `system|value` of a Patient identifier in the message's Bundle, exact (served by `patient_identifiers`).
    pub patient_identifier: Option<String>,
}

/// One page of a search: ids strictly beyond `cursor` in the page's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchPage {
    /// The last id of the previous page; `None` for the first page.
    pub cursor: Option<i64>,
    /// Newest first (ids descending) or oldest first.
    pub newest_first: bool,
    /// At most this many (and never more than [`MAX_PAGE`]).
    pub limit: u32,
}

/// What the processing stage stores for one converted message (see `Journal::set_outcome_indexed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionOutcome {
    pub status: MessageStatus,
    pub bundle: Option<String>,
    pub report: Option<String>,
    pub reason: Option<String>,
    pub deliveries: Vec<crate::NewDelivery>,
    /// `system|value` of every Patient identifier in the Bundle.
    pub patient_identifiers: Vec<String>,
}

/// A channel at a glance.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelStats {
    pub channel: String,
    /// Messages per status, every status present.
    pub counts: BTreeMap<MessageStatus, u64>,
    pub last_received_at: Option<OffsetDateTime>,
    /// Share of `error` among the channel's latest [`RECENT_WINDOW`] messages (0 with none).
    pub error_rate: f64,
    /// Receive-to-last-status-change time of the latest converted messages, in milliseconds.
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
}

/// A destination's outbox at a glance (without the `sent` count, which would mean counting every row ever sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationStats {
    pub destination: String,
    pub pending: u64,
    pub dead: u64,
    pub oldest_pending: Option<OffsetDateTime>,
}

/// A channel's figures from its per-status counts and its latest messages (status, received at, updated at;
/// newest first), the same computation for both backends.
pub(crate) fn channel_stats(
    channel: &str,
    counts: BTreeMap<MessageStatus, u64>,
    recent: &[(String, i64, i64)],
) -> Result<ChannelStats, StoreError> {
    let last_received_at = recent.first().map(|(_, at, _)| from_micros(*at)).transpose()?;
    let errors = recent.iter().filter(|(s, _, _)| s == MessageStatus::Error.as_str()).count();
    let error_rate = if recent.is_empty() { 0.0 } else { errors as f64 / recent.len() as f64 };
    let converted = [MessageStatus::Processed, MessageStatus::Filtered, MessageStatus::Error];
    let mut latencies: Vec<i64> = recent
        .iter()
        .filter(|(s, _, _)| converted.iter().any(|c| c.as_str() == s))
        .map(|(_, received, updated)| (updated - received).max(0))
        .collect();
    latencies.sort_unstable();
    Ok(ChannelStats {
        channel: channel.to_owned(),
        counts,
        last_received_at,
        error_rate,
        latency_p50_ms: percentile_ms(&latencies, 50),
        latency_p99_ms: percentile_ms(&latencies, 99),
    })
}

/// Nearest-rank percentile of sorted microsecond values, in milliseconds.
fn percentile_ms(sorted_us: &[i64], pct: usize) -> Option<f64> {
    if sorted_us.is_empty() {
        return None;
    }
    let rank = (pct * sorted_us.len()).div_ceil(100).clamp(1, sorted_us.len());
    Some(sorted_us[rank - 1] as f64 / 1_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentile_ms(&[], 50), None);
        assert_eq!(percentile_ms(&[2_000], 99), Some(2.0));
        let v: Vec<i64> = (1..=100).map(|i| i * 1_000).collect();
        assert_eq!(percentile_ms(&v, 50), Some(50.0));
        assert_eq!(percentile_ms(&v, 99), Some(99.0));
    }
}
