//! Sinks: drain the journal outbox to destinations (AMQP first), with retries, backoff and dead letters.
#![forbid(unsafe_code)]
