//! `[tracing]`: OpenTelemetry traces, off by default (docs/operations.md, "Traces"). With `otlp_endpoint` set,
//! each message's spans (`receive`, `journal`, `map`, `route`, `publish`) are POSTed in batches to
//! `{otlp_endpoint}/v1/traces` as OTLP/HTTP with the JSON encoding. Every message gets a trace id in the journal
//! whether or not export is on; `trace_url` makes the dashboard link a message to its trace.
//!
//! ```toml
//! [tracing]
//! otlp_endpoint = "http://127.0.0.1:4318"
//! service_name = "hearth"
//! export_interval_ms = 1000
//! batch_size = 512
//! queue_capacity = 8192
//! trace_url = "https://jaeger.example/trace/{trace_id}"
//! ```

use std::time::Duration;

use hearth_core::config::{Problems, is_http_url};
use serde::Deserialize;

/// The placeholder `trace_url` must contain.
pub const TRACE_ID_PLACEHOLDER: &str = "{trace_id}";

/// `[tracing]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTracing {
    pub otlp_endpoint: Option<String>,
    pub service_name: Option<String>,
    pub export_interval_ms: Option<u64>,
    pub batch_size: Option<usize>,
    pub queue_capacity: Option<usize>,
    pub trace_url: Option<String>,
}

/// `[tracing]` validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracingPlan {
    /// The collector's base URL (`http://127.0.0.1:4318`); `None`: spans are not exported.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` resource attribute.
    pub service_name: String,
    /// How often the spans gathered since the last export are sent (a full batch goes at once).
    pub export_interval: Duration,
    /// Spans per request at most.
    pub batch_size: usize,
    /// Finished spans waiting for export at most; beyond it spans are dropped (and counted), never waited for.
    pub queue_capacity: usize,
    /// A link to a trace in the tracing UI, `{trace_id}` replaced by the message's trace id.
    pub trace_url: Option<String>,
}

impl Default for TracingPlan {
    fn default() -> Self {
        TracingPlan {
            otlp_endpoint: None,
            service_name: "hearth".into(),
            export_interval: Duration::from_millis(1_000),
            batch_size: 512,
            queue_capacity: 8_192,
            trace_url: None,
        }
    }
}

impl TracingPlan {
    /// Where spans are POSTed: `{otlp_endpoint}/v1/traces`; `None` when export is off.
    pub fn traces_url(&self) -> Option<String> {
        self.otlp_endpoint.as_ref().map(|e| format!("{}/v1/traces", e.trim_end_matches('/')))
    }

    /// The link to one trace, when `trace_url` is set.
    pub fn link(&self, trace_id: &str) -> Option<String> {
        self.trace_url.as_ref().map(|t| t.replace(TRACE_ID_PLACEHOLDER, trace_id))
    }

    /// `hearth check`'s line.
    pub fn describe(&self) -> String {
        match self.traces_url() {
            Some(url) => format!(
                "traces   otlp/http json {url} service {} every {} ms, batch {}, queue {}\n",
                self.service_name,
                self.export_interval.as_millis(),
                self.batch_size,
                self.queue_capacity
            ),
            None => "traces   not exported (trace ids kept in the journal)\n".to_owned(),
        }
    }
}

pub(crate) fn validate(raw: Option<RawTracing>, problems: &mut Problems) -> TracingPlan {
    let raw = raw.unwrap_or_default();
    let default = TracingPlan::default();
    if let Some(e) = &raw.otlp_endpoint
        && (!is_http_url(e) || e.contains(['?', '#']))
    {
        problems.add("tracing.otlp_endpoint", "must be an http:// or https:// URL without query or fragment");
    }
    let service_name = raw.service_name.unwrap_or(default.service_name);
    if service_name.trim().is_empty() || service_name.len() > 255 || service_name.chars().any(char::is_control) {
        problems.add("tracing.service_name", "must be 1 to 255 characters, no control characters");
    }
    let interval_ms = raw.export_interval_ms.unwrap_or(1_000);
    if !(100..=60_000).contains(&interval_ms) {
        problems.add("tracing.export_interval_ms", "must be 100 to 60000");
    }
    let batch_size = raw.batch_size.unwrap_or(default.batch_size);
    if !(1..=10_000).contains(&batch_size) {
        problems.add("tracing.batch_size", "must be 1 to 10000");
    }
    let queue_capacity = raw.queue_capacity.unwrap_or(default.queue_capacity);
    if !(1..=1_000_000).contains(&queue_capacity) || queue_capacity < batch_size {
        problems.add("tracing.queue_capacity", "must be 1 to 1000000 and at least batch_size");
    }
    if let Some(t) = &raw.trace_url
        && (!is_http_url(t) || !t.contains(TRACE_ID_PLACEHOLDER))
    {
        problems.add("tracing.trace_url", "must be an http:// or https:// URL containing {trace_id}");
    }
    TracingPlan {
        otlp_endpoint: raw.otlp_endpoint,
        service_name,
        export_interval: Duration::from_millis(interval_ms),
        batch_size,
        queue_capacity,
        trace_url: raw.trace_url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(toml: &str) -> Result<TracingPlan, String> {
        crate::load_str(&format!("[journal]\ntype = \"sqlite\"\npath = \"/tmp/t.db\"\n{toml}"), &[])
            .map(|p| p.tracing)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn off_by_default() {
        let p = plan("").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p, TracingPlan::default());
        assert_eq!(p.traces_url(), None);
        assert!(p.describe().contains("not exported"));
    }

    #[test]
    fn endpoint_and_link() {
        let p = plan(
            "[tracing]\notlp_endpoint = \"http://127.0.0.1:4318/\"\nservice_name = \"hearth-a\"\n\
             export_interval_ms = 500\nbatch_size = 10\nqueue_capacity = 100\n\
             trace_url = \"https://jaeger.example/trace/{trace_id}\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.traces_url().as_deref(), Some("http://127.0.0.1:4318/v1/traces"));
        assert_eq!(p.export_interval, Duration::from_millis(500));
        assert_eq!(p.link("abc").as_deref(), Some("https://jaeger.example/trace/abc"));
        assert!(p.describe().contains("http://127.0.0.1:4318/v1/traces service hearth-a"), "{}", p.describe());
    }

    #[test]
    fn problems_name_their_keys() {
        let e = plan(
            "[tracing]\notlp_endpoint = \"grpc://collector:4317\"\nservice_name = \"\"\nexport_interval_ms = 5\n\
             batch_size = 0\nqueue_capacity = 0\ntrace_url = \"https://jaeger.example/trace/\"\n",
        )
        .err()
        .unwrap_or_default();
        for key in [
            "tracing.otlp_endpoint",
            "tracing.service_name",
            "tracing.export_interval_ms",
            "tracing.batch_size",
            "tracing.queue_capacity",
            "tracing.trace_url",
        ] {
            assert!(e.contains(key), "{key} not named in {e}");
        }
        let unknown = plan("[tracing]\nendpoint = \"http://x\"\n").err().unwrap_or_default();
        assert!(unknown.contains("endpoint"), "{unknown}");
    }
}
