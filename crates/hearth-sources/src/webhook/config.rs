//! One webhook channel as the HTTP source runs it: secrets resolved, profile loaded (by the engine at start).

use hearth_webhooks::{AuthConfig, Profile};

/// A channel's runtime settings.
#[derive(Debug, Clone)]
pub struct WebhookChannel {
    /// The channel name: the path segment of `POST /webhooks/{name}` and the journal's channel.
    pub name: String,
    pub auth: AuthConfig,
    pub profile: Profile,
    /// The URL base the vendor calls, without a trailing `/` (Twilio signs the full URL; Hearth runs behind a
    /// proxy, so the request's own Host is not it). `None` for schemes that do not sign the URL.
    pub public_base_url: Option<String>,
    /// Larger bodies get 413 before anything else is read.
    pub max_body_bytes: usize,
}

impl WebhookChannel {
    /// The URL the vendor called: the public base + the request's path + `?query` exactly as received.
    pub(crate) fn public_url(&self, path: &str, query: Option<&str>) -> String {
        let base = self.public_base_url.as_deref().unwrap_or("");
        match query {
            Some(q) => format!("{base}{path}?{q}"),
            None => format!("{base}{path}"),
        }
    }
}
