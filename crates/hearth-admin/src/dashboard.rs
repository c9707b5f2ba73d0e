//! The operations dashboard: one page and its scripts and style, compiled into the binary (hospitals run
//! offline: no CDN). The page holds no data itself; it asks for a token once and polls `/api/v1` every 2 s
//! (the charts, `/api/v1/stats`, every 10 s).

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AdminState;

const INDEX: &str = include_str!("../assets/index.html");
const SCRIPT: &str = include_str!("../assets/dashboard.js");
const STYLE: &str = include_str!("../assets/dashboard.css");
const CHARTS: &str = include_str!("../assets/charts.js");
// uPlot 1.6.32 (MIT, LICENSE beside it), from the npm registry: https://registry.npmjs.org/uplot/-/uplot-1.6.32.tgz
// (dist/uPlot.iife.min.js and dist/uPlot.min.css, unchanged; see assets/vendor/uplot/README.md).
const UPLOT_JS: &str = include_str!("../assets/vendor/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../assets/vendor/uplot/uPlot.min.css");

/// Only our own script and style; nothing may frame the page.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

pub(crate) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/", get(|| async { asset(INDEX, "text/html; charset=utf-8") }))
        .route("/assets/dashboard.js", get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }))
        .route("/assets/dashboard.css", get(|| async { asset(STYLE, "text/css; charset=utf-8") }))
        .route("/assets/charts.js", get(|| async { asset(CHARTS, "text/javascript; charset=utf-8") }))
        .route("/assets/uplot.js", get(|| async { asset(UPLOT_JS, "text/javascript; charset=utf-8") }))
        .route("/assets/uplot.css", get(|| async { asset(UPLOT_CSS, "text/css; charset=utf-8") }))
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}
