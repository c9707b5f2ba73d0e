//! For tests against a real broker, here and in the crates that build on this one: removing what a test
//! declared. Where the broker is, and the rule for a missing one, are `hearth-testkit`'s.

/// Deletes test queues and exchanges (best effort: missing ones are fine).
pub async fn delete(uri: &str, queues: &[&str], exchanges: &[&str]) {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    let Ok(conn) = lapin::Connection::connect(uri, lapin::ConnectionProperties::default()).await else { return };
    if let Ok(ch) = conn.create_channel().await {
        for q in queues {
            let _ = ch.queue_delete(crate::topology::short(q), QueueDeleteOptions::default()).await;
        }
        for x in exchanges {
            let _ = ch.exchange_delete(crate::topology::short(x), ExchangeDeleteOptions::default()).await;
        }
    }
    let _ = conn.close(200, "test cleanup".into()).await;
}
