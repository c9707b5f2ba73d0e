//! The `Journal` handle's methods, by subject. Writes queue for the writer (`crate::writer`); reads go
//! straight to the backend's read pool (`crate::read!`).

mod messages;
mod ops;
mod outbox;
