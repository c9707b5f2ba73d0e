//! The engine's outbound HTTP client (alert webhooks): reqwest over rustls with the ring provider, system
//! trust roots, a timeout for the whole request.

use std::time::Duration;

/// A client whose requests (connect, send, answer) take at most `timeout`.
pub fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    // reqwest is built without a default crypto provider (the workspace uses ring only); install it once for
    // the process. A second call finds it installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("hearth/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}
