//! Contact-center webhooks: `POST /webhooks/{channel}`, authenticated by the vendor's signature scheme, journaled
//! before the 2xx (the pure part is `hearth_webhooks`).

mod config;
mod handler;
#[cfg(test)]
mod integration_tests;

pub use config::{
    BUILTIN_PROFILES, DEFAULT_MAX_BODY_BYTES, DEFAULT_WINDOW_S, RawWebhook, WebhookAuth, WebhookChannel, WebhookPlan,
    WebhookProfile, validate,
};
pub use handler::{dedup_key, event_meta, router};
