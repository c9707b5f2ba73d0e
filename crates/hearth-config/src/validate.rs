//! Raw configuration → [`Plan`]: each section validated, cross-references checked (routes name destinations,
//! alerts and retention name channels), every problem collected.

use std::time::Duration;

use hearth_core::config::{Problems, socket_addr};

use crate::raw::RawConfig;
use crate::{ConfigError, HttpPlan, Plan, journal, ops, telemetry};

/// Validate raw configuration into a plan. Pure.
pub fn validate(raw: RawConfig) -> Result<Plan, ConfigError> {
    let mut problems = Problems::default();
    let journal = journal::validate(raw.journal.unwrap_or_default(), &mut problems);
    let http_raw = raw.http.unwrap_or_default();
    let http_listen =
        socket_addr(&http_raw.listen.unwrap_or_else(|| "0.0.0.0:8080".into()), "http.listen", &mut problems);
    let http_tls = http_raw.tls.map(|t| hearth_sources::tls::validate(t, "http.tls", &mut problems));
    let health_listen = http_raw.health_listen.map(|h| socket_addr(&h, "http.health_listen", &mut problems));
    if health_listen == Some(http_listen) {
        problems.add("http.health_listen", "must differ from http.listen");
    }
    let channels = hearth_sources::registry::validate(raw.channels.unwrap_or_default(), &mut problems);
    if channels.iter().any(|c| c.source.listen() == Some(http_listen)) {
        problems.add("http.listen", format!("{http_listen} is also a channel's listen address"));
    }
    let shutdown_timeout = Duration::from_millis(raw.shutdown_timeout_ms.unwrap_or(10_000));
    let destinations = hearth_sinks::registry::validate(raw.destinations, &mut problems);
    let views: Vec<hearth_route::DestinationView<'_>> =
        destinations.iter().map(|d| hearth_route::DestinationView { name: &d.name, exclude: &d.exclude }).collect();
    let routes =
        hearth_route::RouteSet::compile(&raw.routing.unwrap_or_default(), &raw.routes.unwrap_or_default(), &views)
            .map_err(|route_problems| {
                for p in route_problems {
                    problems.add(p.path, p.message);
                }
            })
            .ok();
    let max_outbox_pending = raw.outbox.unwrap_or_default().max_pending.unwrap_or(100_000);
    if max_outbox_pending == 0 {
        problems.add("outbox.max_pending", "must be at least 1");
    }
    let channel_names: Vec<&str> = channels.iter().map(|c| c.name.as_str()).collect();
    let destination_names: Vec<&str> = destinations.iter().map(|d| d.name.as_str()).collect();
    let ops = ops::validate(raw.admin, raw.alerts, raw.retention, (&channel_names, &destination_names), &mut problems);
    let tracing = telemetry::validate(raw.tracing, &mut problems);

    match routes {
        Some(routes) if problems.is_empty() => Ok(Plan {
            journal,
            http: HttpPlan { listen: http_listen, tls: http_tls, health_listen },
            channels,
            destinations,
            routes: std::sync::Arc::new(routes),
            max_outbox_pending,
            shutdown_timeout,
            ops,
            tracing,
        }),
        _ => Err(ConfigError::Invalid(problems.into_vec())),
    }
}
