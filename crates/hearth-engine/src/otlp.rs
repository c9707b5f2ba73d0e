//! The trace exporter (docs/operations.md, "Traces"): OTLP over HTTP with the JSON encoding of the OTLP
//! protobuf messages, written here on reqwest rather than with the OpenTelemetry SDK.
//!
//! Finished spans (`hearth_core::trace`) go into a bounded queue with `try_send`: a full queue drops the span and
//! counts it (`hearth_trace_spans_dropped_total{reason="queue_full"}`), so tracing never slows or blocks a
//! message. One task takes them out in batches of at most `batch_size`, sent when a batch is full or every
//! `export_interval`, as one `ExportTraceServiceRequest` POSTed to `{otlp_endpoint}/v1/traces`. A batch the
//! collector does not take (down, refusing, too slow) is dropped and counted (`reason="export_failed"`), not
//! retried: the next batch is newer. A collector that stays down is logged once per condition and interval
//! (`LogLimiter`), with the count of failures left out, and once more when it takes spans again.

use std::time::Duration;

use hearth_config::TracingPlan;
use hearth_core::events::Metric;
use hearth_core::log_limit::{Admitted, LogLimiter};
use hearth_core::trace::{AttrValue, SpanData, SpansDropped};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The log condition of a failing export.
const EXPORT_FAILED: &str = "otlp_export_failed";

/// How long one export request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The resource every span of this process belongs to: `service.name`, `service.version`, `hearth.node`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub service_name: String,
    pub service_version: String,
    pub node: String,
}

/// Starts exporting when `plan` names an endpoint: installs the process's span hook and spawns the export task,
/// which flushes what is queued and returns once `stop` is cancelled. `None` when traces are off.
pub fn start(plan: &TracingPlan, node: &str, stop: CancellationToken) -> Result<Option<JoinHandle<()>>, String> {
    let Some(url) = plan.traces_url() else { return Ok(None) };
    let client = crate::http::client(REQUEST_TIMEOUT)?;
    let (tx, rx) = mpsc::channel::<SpanData>(plan.queue_capacity);
    if !hearth_core::trace::install(Box::new(move |span| tx.try_send(span).is_ok())) {
        return Err("a trace exporter is already installed in this process".into());
    }
    let resource = Resource {
        service_name: plan.service_name.clone(),
        service_version: env!("CARGO_PKG_VERSION").to_owned(),
        node: node.to_owned(),
    };
    tracing::info!(%url, batch_size = plan.batch_size, interval_ms = plan.export_interval.as_millis() as u64, "exporting traces (OTLP/HTTP, JSON)");
    let export = Export { client, url, resource, log: LogLimiter::default() };
    Ok(Some(tokio::spawn(export.run(rx, plan.batch_size, plan.export_interval, stop))))
}

struct Export {
    client: reqwest::Client,
    url: String,
    resource: Resource,
    log: LogLimiter,
}

impl Export {
    async fn run(self, mut rx: mpsc::Receiver<SpanData>, batch_size: usize, every: Duration, stop: CancellationToken) {
        let mut batch: Vec<SpanData> = Vec::with_capacity(batch_size);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let room = batch_size - batch.len();
            tokio::select! {
                n = rx.recv_many(&mut batch, room) => {
                    if n == 0 {
                        break;
                    }
                    if batch.len() < batch_size {
                        continue;
                    }
                }
                _ = tick.tick() => {
                    if batch.is_empty() {
                        continue;
                    }
                }
                () = stop.cancelled() => break,
            }
            self.send(std::mem::take(&mut batch)).await;
        }
        // Stopping: what is queued now goes out too (the engine stops this last, after the sinks).
        while let Ok(span) = rx.try_recv() {
            batch.push(span);
            if batch.len() >= batch_size {
                self.send(std::mem::take(&mut batch)).await;
            }
        }
        if !batch.is_empty() {
            self.send(batch).await;
        }
    }

    /// One request; the batch is gone either way.
    async fn send(&self, spans: Vec<SpanData>) {
        let count = spans.len() as u64;
        let body = encode(&self.resource, &spans).to_string();
        let sent = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let failure = match sent {
            Ok(resp) if resp.status().is_success() => None,
            Ok(resp) => Some(format!("the collector answered {}", resp.status())),
            Err(e) => Some(format!("the collector could not be reached: {e}")),
        };
        match failure {
            None => {
                metrics::counter!(Metric::TraceSpansExportedTotal.name()).increment(count);
                if let Some(suppressed) = self.log.clear(EXPORT_FAILED) {
                    tracing::info!(url = %self.url, suppressed, "trace export works again");
                }
            }
            Some(error) => {
                SpansDropped { reason: "export_failed", count }.emit();
                if let Some(Admitted { suppressed }) = self.log.admit(EXPORT_FAILED) {
                    tracing::warn!(url = %self.url, %error, dropped = count, suppressed, "trace export failed; spans dropped");
                }
            }
        }
    }
}

/// An `ExportTraceServiceRequest` in OTLP's JSON encoding: `resourceSpans` → `scopeSpans` → `spans`, ids as
/// lowercase hex, times as decimal strings of unix nanoseconds, enums as numbers, 64-bit integers as strings.
pub fn encode(resource: &Resource, spans: &[SpanData]) -> Value {
    let resource_attrs = [
        ("service.name", AttrValue::Str(resource.service_name.clone())),
        ("service.version", AttrValue::Str(resource.service_version.clone())),
        ("hearth.node", AttrValue::Str(resource.node.clone())),
    ];
    json!({
        "resourceSpans": [{
            "resource": { "attributes": attributes(resource_attrs.iter().map(|(k, v)| (*k, v))) },
            "scopeSpans": [{
                "scope": { "name": "hearth", "version": resource.service_version },
                "spans": spans.iter().map(span).collect::<Vec<_>>(),
            }],
        }],
    })
}

fn span(s: &SpanData) -> Value {
    let status = match &s.error {
        Some(message) => json!({ "code": 2, "message": message }),
        None => json!({}),
    };
    let mut v = json!({
        "traceId": s.trace_id.to_hex(),
        "spanId": s.span_id.to_hex(),
        "name": s.name,
        "kind": s.kind as i32,
        "startTimeUnixNano": s.start_unix_nanos.to_string(),
        "endTimeUnixNano": s.end_unix_nanos.to_string(),
        "attributes": attributes(s.attributes.iter().map(|(k, v)| (*k, v))),
        "status": status,
    });
    if let (Some(parent), Some(obj)) = (s.parent, v.as_object_mut()) {
        obj.insert("parentSpanId".into(), Value::String(parent.to_hex()));
    }
    v
}

fn attributes<'a>(attrs: impl Iterator<Item = (&'a str, &'a AttrValue)>) -> Vec<Value> {
    attrs
        .map(|(key, value)| {
            let value = match value {
                AttrValue::Str(s) => json!({ "stringValue": s }),
                AttrValue::Int(n) => json!({ "intValue": n.to_string() }),
            };
            json!({ "key": key, "value": value })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use hearth_core::trace::{SpanId, SpanKind, TraceId};

    use super::*;

    fn resource() -> Resource {
        Resource { service_name: "hearth-test".into(), service_version: "1.2.3".into(), node: "node-a".into() }
    }

    fn trace() -> TraceId {
        TraceId::parse("4bf92f3577b34da6a3ce929d0e0e4736").unwrap_or_else(|| unreachable!("a valid trace id"))
    }

    #[test]
    fn a_request_nests_resource_scope_and_spans() {
        let t = trace();
        let root = SpanData {
            trace_id: t,
            span_id: t.root_span(),
            parent: None,
            name: "receive",
            kind: SpanKind::Server,
            start_unix_nanos: 1_700_000_000_000_000_001,
            end_unix_nanos: 1_700_000_000_500_000_000,
            attributes: vec![
                ("hearth.channel", AttrValue::Str("adt".into())),
                ("hearth.message_id", AttrValue::Int(42)),
            ],
            error: None,
        };
        let v = encode(&resource(), &[root]);
        let rs = &v["resourceSpans"][0];
        let attrs = rs["resource"]["attributes"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            attrs,
            vec![
                json!({"key": "service.name", "value": {"stringValue": "hearth-test"}}),
                json!({"key": "service.version", "value": {"stringValue": "1.2.3"}}),
                json!({"key": "hearth.node", "value": {"stringValue": "node-a"}}),
            ]
        );
        assert_eq!(rs["scopeSpans"][0]["scope"], json!({"name": "hearth", "version": "1.2.3"}));
        let s = &rs["scopeSpans"][0]["spans"][0];
        assert_eq!(s["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(s["spanId"], "6fa5491b80f54f40");
        assert!(s.get("parentSpanId").is_none(), "a root has no parent: {s}");
        assert_eq!(s["name"], "receive");
        assert_eq!(s["kind"], 2);
        // 64-bit numbers as strings (the protobuf JSON mapping): no precision lost in JavaScript readers.
        assert_eq!(s["startTimeUnixNano"], "1700000000000000001");
        assert_eq!(s["endTimeUnixNano"], "1700000000500000000");
        assert_eq!(
            s["attributes"],
            json!([
                {"key": "hearth.channel", "value": {"stringValue": "adt"}},
                {"key": "hearth.message_id", "value": {"intValue": "42"}},
            ])
        );
        assert_eq!(s["status"], json!({}));
    }

    #[test]
    fn children_name_their_parent_and_errors_their_status() {
        let t = trace();
        let child = SpanData {
            trace_id: t,
            span_id: SpanId::random(),
            parent: Some(t.root_span()),
            name: "publish",
            kind: SpanKind::Producer,
            start_unix_nanos: 10,
            end_unix_nanos: 20,
            attributes: Vec::new(),
            error: Some("the destination did not take the delivery; it will be retried".into()),
        };
        let v = encode(&resource(), &[child.clone(), child]);
        let spans = v["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().cloned().unwrap_or_default();
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0]["parentSpanId"], "6fa5491b80f54f40");
        assert_eq!(spans[0]["kind"], 4);
        assert_eq!(spans[0]["attributes"], json!([]));
        assert_eq!(
            spans[0]["status"],
            json!({"code": 2, "message": "the destination did not take the delivery; it will be retried"})
        );
    }
}
