//! HL7 v2 over MLLP: the listener (a source) and the client used by `hearth send`.

mod client;
mod config;
mod listener;

pub use client::{AckSummary, SendError, Sender};
pub use config::{DEFAULT_MAX_FRAME_BYTES, MllpPlan, RawMllp, describe, validate};
pub use listener::MllpSource;
