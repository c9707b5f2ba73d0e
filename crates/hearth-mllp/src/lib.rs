//! MLLP framing as a tokio-util codec.
//!
//! MLLP (Minimal Lower Layer Protocol) is the transport HL7 v2 uses over TCP: each message is
//! sent as `0x0B <payload> 0x1C 0x0D`. This crate owns only that framing. It knows nothing about
//! HL7 content: a payload is opaque bytes, and refusing an empty, oversized or truncated frame
//! (with a negative ACK, a journal entry, ...) is the caller's job.
//!
//! [`MllpCodec`] is a [`Decoder`](tokio_util::codec::Decoder) and an
//! [`Encoder`](tokio_util::codec::Encoder), so it plugs into `Framed`, `FramedRead` and
//! `FramedWrite`. The decoder
//!
//! - bounds memory: a payload longer than the configured maximum is dropped as it arrives, never
//!   buffered, and reported once as [`Frame::Oversized`] when its end marker arrives; the
//!   connection stays usable for the next frame;
//! - resynchronises: bytes outside a frame are skipped and counted in
//!   [`MllpCodec::junk_bytes`];
//! - scans every byte once, however the stream is chunked.
//!
//! # Policies for malformed input
//!
//! | input | result |
//! | --- | --- |
//! | bytes before a `0x0B` | skipped, counted as junk |
//! | `0x0B` inside an unfinished frame | the partial frame (with its start byte) is counted as junk and a new frame starts at this `0x0B`: a sender that died mid-frame and resent must not get its resend glued to the fragment |
//! | `0x1C` not followed by `0x0D` | an ordinary payload byte (the end marker is exactly `0x1C 0x0D`); the HL7 layer rejects such a payload, since HL7 never contains `0x1C` |
//! | `0x0B 0x1C 0x0D` | [`Frame::Message`] with an empty payload |
//! | EOF inside a frame | [`Frame::Truncated`] with the partial payload (or [`Frame::Oversized`] if the partial was already too long); EOF outside a frame yields nothing |
//!
//! # Example
//!
//! ```
//! use bytes::BytesMut;
//! use hearth_mllp::{Frame, MllpCodec};
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! # fn main() -> Result<(), hearth_mllp::MllpError> {
//! let mut codec = MllpCodec::new(16);
//! let mut wire = BytesMut::new();
//! wire.extend_from_slice(b"\r\n"); // stray bytes between frames
//! codec.encode(&b"MSH|^~\\&|A"[..], &mut wire)?;
//! codec.encode(&[b'x'; 20][..], &mut wire)?; // longer than the maximum of 16
//! codec.encode(&b"MSH|^~\\&|B"[..], &mut wire)?;
//!
//! assert_eq!(codec.decode(&mut wire)?, Some(Frame::Message("MSH|^~\\&|A".into())));
//! assert_eq!(codec.decode(&mut wire)?, Some(Frame::Oversized { discarded_bytes: 20 }));
//! assert_eq!(codec.decode(&mut wire)?, Some(Frame::Message("MSH|^~\\&|B".into())));
//! assert_eq!(codec.decode(&mut wire)?, None);
//! assert_eq!(codec.junk_bytes(), 2);
//!
//! // Encoding a payload that contains a framing byte is refused.
//! assert!(codec.encode(&b"bad\x1cpayload"[..], &mut wire).is_err());
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod client;
mod codec;
mod error;

pub use client::send_and_receive;
pub use codec::{DEFAULT_MAX_FRAME_BYTES, END_BLOCK, END_LINE, Frame, MllpCodec, START_BLOCK};
pub use error::MllpError;

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
