//! HL7 v2 over MLLP: the listener (a source) and the client used by `hearth send`.

mod client;
mod listener;

pub use client::{AckSummary, SendError, Sender};
pub use listener::{MllpSource, SourceError};
