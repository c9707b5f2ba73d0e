//! Serving the HTTP surface: plaintext through `axum::serve`, or HTTPS (`[http] tls`) with hearth-tls's
//! reloadable configuration, each handshake in its connection's task (a silent or garbage-sending client costs
//! that task until the handshake timeout); and the optional plaintext `/healthz`-only listener.
//!
//! With `client_certificates = "api"` on `[http] tls`, the handshake asks for a client certificate but admits
//! clients without one (webhook senders, browsers); a request to `/api/v1` on a connection without a verified
//! client certificate is answered 403 `client_certificate_required` before it reaches the API (tokens are
//! still checked after it). See docs/security.md.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use hearth_tls::{ClientAuth, ServerTls};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Serves `app` on `listener` until `shutdown`, over TLS when `tls` is given.
pub async fn http(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<ServerTls>>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let Some(tls) = tls else {
        return axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await }).await;
    };
    let api_needs_certificate = tls.settings().client_auth == ClientAuth::Optional;
    let connections = TaskTracker::new();
    loop {
        let (tcp, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!(error = %e, "https accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let (tls, app, shutdown) = (Arc::clone(&tls), app.clone(), shutdown.clone());
        connections.spawn(async move {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => return,
                a = tls.accept(tcp) => a,
            };
            let (stream, certified) = match accepted {
                Ok(a) => (a.stream, a.client_certificate.is_some()),
                Err(e) => return hearth_sources::tls::handshake_failed("http", peer, &e),
            };
            let refuse_api = api_needs_certificate && !certified;
            let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let app = app.clone();
                async move {
                    if refuse_api && is_api(req.uri().path()) {
                        return Ok(hearth_admin::error_response(
                            axum::http::StatusCode::FORBIDDEN,
                            "client_certificate_required",
                            "this listener requires a client certificate for /api/v1",
                        ));
                    }
                    match app.oneshot(req.map(axum::body::Body::new)).await {
                        Ok(response) => Ok::<_, Infallible>(response),
                        Err(never) => match never {},
                    }
                }
            });
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => if let Err(e) = r { tracing::debug!(error = %e, "https connection ended with an error") },
                () = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    connections.close();
    connections.wait().await;
    Ok(())
}

/// `/api/v1` and everything under it.
fn is_api(path: &str) -> bool {
    path.strip_prefix("/api/v1").is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The plaintext listener for load balancers: `GET /healthz` only (the process is alive), nothing else.
pub async fn health(listener: TcpListener, shutdown: CancellationToken) -> std::io::Result<()> {
    let app = Router::new().route("/healthz", get(|| async { "ok\n" }));
    axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await }).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_api_is_v1_and_below_only() {
        for api in ["/api/v1", "/api/v1/", "/api/v1/messages", "/api/v1/messages/1/content"] {
            assert!(super::is_api(api), "{api}");
        }
        for other in ["/", "/healthz", "/readyz", "/metrics", "/webhooks/twilio", "/api/v10", "/dashboard", "/api"] {
            assert!(!super::is_api(other), "{other}");
        }
    }
}
