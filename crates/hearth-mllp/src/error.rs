use std::io;

/// Everything that can go wrong while framing or exchanging MLLP frames.
#[derive(Debug, thiserror::Error)]
pub enum MllpError {
    /// Reading or writing the underlying stream failed.
    #[error("MLLP stream i/o failed: {0}")]
    Io(#[from] io::Error),

    /// A payload handed to the encoder contains a byte that would break the framing.
    #[error("payload contains MLLP control byte 0x{byte:02X} at offset {offset}")]
    PayloadContainsControlByte {
        /// `0x0B` or `0x1C`.
        byte: u8,
        /// Position of the first such byte in the payload.
        offset: usize,
    },

    /// The peer closed the connection (possibly in the middle of a frame) before replying.
    #[error("MLLP peer closed the connection before replying")]
    ConnectionClosed,

    /// The peer's reply was longer than this codec's maximum frame size.
    #[error("MLLP reply exceeded the maximum frame size ({discarded_bytes} bytes discarded)")]
    ReplyOversized {
        /// Payload bytes that were dropped.
        discarded_bytes: usize,
    },
}

impl MllpError {
    /// Whether retrying the same operation later may succeed (`true`), or the same input will
    /// fail again and belongs in a dead letter (`false`).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Io(_) | Self::ConnectionClosed => true,
            Self::PayloadContainsControlByte { .. } | Self::ReplyOversized { .. } => false,
        }
    }
}
