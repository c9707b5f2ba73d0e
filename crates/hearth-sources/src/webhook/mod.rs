//! Contact-center webhooks: `POST /webhooks/{channel}`, authenticated by the vendor's signature scheme, journaled
//! before the 2xx (issue 6; the pure part is `hearth_webhooks`).

mod config;
mod handler;
#[cfg(test)]
mod integration_tests;

pub use config::WebhookChannel;
pub use handler::{dedup_key, router};
