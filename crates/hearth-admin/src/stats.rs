//! `GET /api/v1/stats`: the dashboard's time series, one point per minute over the last hour or day, read
//! from the journal's per-minute buckets (never from messages: as fast on millions of messages as on ten).
//!
//! Every series is an array aligned with `time` (the minutes' starts, unix seconds). Counts are 0 for a
//! minute without a bucket; sampled figures (outbox depth, oldest pending age) and ACK percentiles are `null`
//! where nothing was sampled or answered.

use axum::extract::{RawQuery, State};
use hearth_core::minutes::{ChannelMinute, DestinationMinute, Minutes, current_minute, quantile_ms};
use hearth_store::{StatsQuery, StatsSubject};
use serde_json::{Value, json};

use crate::AdminState;
use crate::api::{ApiResult, bad_request, json_ok, parse_query, store_error};

/// The windows the API offers: name and number of minutes.
const WINDOWS: [(&str, i64); 2] = [("1h", 60), ("24h", 1_440)];

pub(crate) async fn stats(State(st): State<AdminState>, RawQuery(raw): RawQuery) -> ApiResult {
    let q = parse_query(raw.as_deref(), &["window", "channel", "destination"])?;
    let window = q.get("window").map_or("1h", String::as_str);
    let Some((window, minutes)) = WINDOWS.into_iter().find(|(name, _)| *name == window) else {
        return Err(bad_request("window must be 1h or 24h"));
    };
    let subject = match (q.get("channel"), q.get("destination")) {
        (Some(_), Some(_)) => return Err(bad_request("give channel or destination, not both")),
        (Some(c), None) if !st.channels.contains(c) => return Err(not_found("no such channel")),
        (None, Some(d)) if !st.destinations.iter().any(|(n, _)| n == d) => {
            return Err(not_found("no such destination"));
        }
        (Some(c), None) => StatsSubject::Channel(c.clone()),
        (None, Some(d)) => StatsSubject::Destination(d.clone()),
        (None, None) => StatsSubject::All,
    };
    let to_minute = current_minute();
    let from_minute = to_minute - (minutes - 1) * 60;
    let query = StatsQuery { from_minute, to_minute, subject: subject.clone() };
    let data = st.journal.stats_minutes(&query).await.map_err(|e| store_error(&e))?;
    let time: Vec<i64> = (0..minutes).map(|i| from_minute + i * 60).collect();

    let channels: Vec<&String> = match &subject {
        StatsSubject::All => st.channels.iter().collect(),
        StatsSubject::Channel(c) => st.channels.iter().filter(|n| *n == c).collect(),
        StatsSubject::Destination(_) => Vec::new(),
    };
    let destinations: Vec<&String> = match &subject {
        StatsSubject::All => st.destinations.iter().map(|(n, _)| n).collect(),
        StatsSubject::Destination(d) => st.destinations.iter().map(|(n, _)| n).filter(|n| *n == d).collect(),
        StatsSubject::Channel(_) => Vec::new(),
    };
    let channels: Vec<Value> = channels.into_iter().map(|name| channel_series(&data, name, &time)).collect();
    let destinations: Vec<Value> =
        destinations.into_iter().map(|name| destination_series(&data, name, &time)).collect();
    Ok(json_ok(&json!({
        "window": window,
        "step_s": 60,
        "time": time,
        "channels": channels,
        "destinations": destinations,
    })))
}

fn not_found(message: &str) -> crate::AdminError {
    crate::AdminError::new(axum::http::StatusCode::NOT_FOUND, "not_found", message)
}

fn channel_series(data: &Minutes, name: &str, time: &[i64]) -> Value {
    let empty = ChannelMinute::default();
    let at = |t: &i64| data.channels.get(&(name.to_owned(), *t)).unwrap_or(&empty);
    let counts = |f: fn(&ChannelMinute) -> u64| time.iter().map(|t| f(at(t))).collect::<Vec<_>>();
    let quantile = |q: f64| time.iter().map(|t| quantile_ms(&at(t).ack_latency, q)).collect::<Vec<_>>();
    json!({
        "name": name,
        "received": counts(|c| c.received),
        "processed": counts(|c| c.processed),
        "filtered": counts(|c| c.filtered),
        "error": counts(|c| c.error),
        "rejected": counts(|c| c.rejected),
        "acks": counts(|c| c.ack_latency.values().sum()),
        "ack_p50_ms": quantile(0.5),
        "ack_p99_ms": quantile(0.99),
    })
}

fn destination_series(data: &Minutes, name: &str, time: &[i64]) -> Value {
    let empty = DestinationMinute::default();
    let at = |t: &i64| data.destinations.get(&(name.to_owned(), *t)).unwrap_or(&empty);
    let counts = |f: fn(&DestinationMinute) -> u64| time.iter().map(|t| f(at(t))).collect::<Vec<_>>();
    let samples = |f: fn(&DestinationMinute) -> Option<f64>| time.iter().map(|t| f(at(t))).collect::<Vec<_>>();
    json!({
        "name": name,
        "sent": counts(|d| d.sent),
        "failed": counts(|d| d.failed),
        "dead": counts(|d| d.dead),
        "depth": samples(|d| d.depth.map(|n| n as f64)),
        "oldest_pending_s": samples(|d| d.oldest_pending_ms.map(|ms| ms as f64 / 1000.0)),
    })
}
