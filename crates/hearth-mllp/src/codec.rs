use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::MllpError;

/// Byte that opens a frame (vertical tab).
pub const START_BLOCK: u8 = 0x0B;
/// First byte of the end marker (file separator).
pub const END_BLOCK: u8 = 0x1C;
/// Second byte of the end marker (carriage return).
pub const END_LINE: u8 = 0x0D;

/// Default maximum payload size: 10 MiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 10 * 1024 * 1024;

/// One decoded unit of an MLLP stream.
///
/// The enum is deliberately exhaustive: a source must decide what to answer for every case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete frame; the payload excludes the framing bytes and may be empty.
    Message(Bytes),
    /// A frame whose payload exceeded the maximum. Its bytes were dropped as they arrived.
    ///
    /// Normally yielded when the end marker arrives, so the connection stays usable and the
    /// caller can answer with a negative ACK. Also yielded by `decode_eof` when the stream ends
    /// inside an oversized frame (the verdict, too large, is the same and nothing is left to keep).
    Oversized {
        /// Payload bytes dropped (framing bytes excluded).
        discarded_bytes: usize,
    },
    /// The stream ended inside a frame (after `0x0B`, before `0x1C 0x0D`); holds the partial
    /// payload so the caller can journal it as rejected. Only yielded by `decode_eof`.
    Truncated(Bytes),
}

/// MLLP decoder and encoder with a maximum payload size. See the crate docs for its policies.
#[derive(Debug, Clone)]
pub struct MllpCodec {
    max_frame_bytes: usize,
    state: State,
    junk_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Outside a frame: skipping bytes until `0x0B`.
    Seeking,
    /// Inside a frame whose start byte was consumed: the buffer begins with the payload, and
    /// `scanned` bytes of it are known to hold no start byte and no end marker.
    InFrame { scanned: usize },
    /// Inside an oversized frame: the `discarded` payload bytes so far were dropped.
    Discarding { discarded: usize },
}

/// What one decoding step achieved.
#[derive(Debug)]
enum Step {
    Yield(Frame),
    /// The state changed and the rest of the buffer must be looked at in the new state.
    Continue,
    /// Every buffered byte has been dealt with; wait for more input.
    NeedMore,
}

/// Where the first framing event in a buffer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// `0x1C 0x0D` starts at this index.
    End(usize),
    /// `0x0B` is at this index.
    Restart(usize),
    /// Nothing found; bytes before this index need not be scanned again.
    NeedMore(usize),
}

impl MllpCodec {
    /// A codec that accepts payloads of at most `max_frame_bytes` bytes.
    #[must_use]
    pub fn new(max_frame_bytes: usize) -> Self {
        Self { max_frame_bytes, state: State::Seeking, junk_bytes: 0 }
    }

    /// The maximum payload size this codec accepts.
    #[must_use]
    pub fn max_frame_bytes(&self) -> usize {
        self.max_frame_bytes
    }

    /// Bytes skipped since this codec was created: bytes outside any frame, and frames abandoned
    /// because a new `0x0B` arrived before their end marker (start byte included).
    #[must_use]
    pub fn junk_bytes(&self) -> u64 {
        self.junk_bytes
    }

    fn add_junk(&mut self, n: usize) {
        self.junk_bytes = self.junk_bytes.saturating_add(n as u64);
    }

    /// Consumes leading bytes up to and including the next `0x0B`, if any.
    fn seek_start(&mut self, buf: &mut BytesMut) -> Step {
        match buf.iter().position(|&b| b == START_BLOCK) {
            Some(at) => {
                self.add_junk(at);
                buf.advance(at + 1);
                self.state = State::InFrame { scanned: 0 };
                Step::Continue
            }
            None => {
                self.add_junk(buf.len());
                buf.clear();
                Step::NeedMore
            }
        }
    }

    fn decode_in_frame(&mut self, buf: &mut BytesMut, scanned: usize) -> Step {
        match scan(buf, scanned) {
            Scan::End(at) => {
                self.state = State::Seeking;
                if at > self.max_frame_bytes {
                    buf.advance(at + 2);
                    return Step::Yield(Frame::Oversized { discarded_bytes: at });
                }
                let payload = buf.split_to(at).freeze();
                buf.advance(2);
                Step::Yield(Frame::Message(payload))
            }
            Scan::Restart(at) => {
                self.add_junk(1 + at);
                buf.advance(at + 1);
                self.state = State::InFrame { scanned: 0 };
                Step::Continue
            }
            Scan::NeedMore(upto) if upto > self.max_frame_bytes => {
                buf.advance(upto);
                self.state = State::Discarding { discarded: upto };
                Step::Continue
            }
            Scan::NeedMore(upto) => {
                self.state = State::InFrame { scanned: upto };
                Step::NeedMore
            }
        }
    }

    fn decode_discarding(&mut self, buf: &mut BytesMut, discarded: usize) -> Step {
        match scan(buf, 0) {
            Scan::End(at) => {
                buf.advance(at + 2);
                self.state = State::Seeking;
                Step::Yield(Frame::Oversized { discarded_bytes: discarded.saturating_add(at) })
            }
            Scan::Restart(at) => {
                self.add_junk(discarded.saturating_add(1 + at));
                buf.advance(at + 1);
                self.state = State::InFrame { scanned: 0 };
                Step::Continue
            }
            Scan::NeedMore(upto) => {
                buf.advance(upto);
                self.state = State::Discarding { discarded: discarded.saturating_add(upto) };
                Step::NeedMore
            }
        }
    }
}

impl Default for MllpCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_BYTES)
    }
}

impl Decoder for MllpCodec {
    type Item = Frame;
    type Error = MllpError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, MllpError> {
        loop {
            let step = match self.state {
                State::Seeking => self.seek_start(buf),
                State::InFrame { scanned } => self.decode_in_frame(buf, scanned),
                State::Discarding { discarded } => self.decode_discarding(buf, discarded),
            };
            match step {
                Step::Yield(frame) => return Ok(Some(frame)),
                Step::Continue => {}
                Step::NeedMore => return Ok(None),
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, MllpError> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        let frame = match self.state {
            State::Seeking => None,
            State::InFrame { .. } => Some(Frame::Truncated(buf.split().freeze())),
            State::Discarding { discarded } => {
                Some(Frame::Oversized { discarded_bytes: discarded.saturating_add(buf.len()) })
            }
        };
        buf.clear();
        self.state = State::Seeking;
        Ok(frame)
    }
}

impl<B: AsRef<[u8]>> Encoder<B> for MllpCodec {
    type Error = MllpError;

    fn encode(&mut self, payload: B, dst: &mut BytesMut) -> Result<(), MllpError> {
        let payload = payload.as_ref();
        if let Some(offset) = find_control(payload) {
            let byte = payload.get(offset).copied().unwrap_or(START_BLOCK);
            return Err(MllpError::PayloadContainsControlByte { byte, offset });
        }
        dst.reserve(payload.len() + 3);
        dst.put_u8(START_BLOCK);
        dst.put_slice(payload);
        dst.put_slice(&[END_BLOCK, END_LINE]);
        Ok(())
    }
}

/// Finds the first start byte or complete end marker in `buf[from..]`.
fn scan(buf: &[u8], from: usize) -> Scan {
    let mut pos = from;
    loop {
        let Some(off) = buf.get(pos..).and_then(find_control) else {
            return Scan::NeedMore(buf.len());
        };
        let at = pos + off;
        match (buf.get(at), buf.get(at + 1)) {
            (Some(&START_BLOCK), _) => return Scan::Restart(at),
            (Some(&END_BLOCK), Some(&END_LINE)) => return Scan::End(at),
            // A trailing 0x1C may be the first half of an end marker: look again next time.
            (Some(&END_BLOCK), None) => return Scan::NeedMore(at),
            // A 0x1C not followed by 0x0D is payload.
            _ => pos = at + 1,
        }
    }
}

/// Index of the first `0x0B` or `0x1C`.
///
/// Checks fixed-size blocks with a branch-free fold first, which the compiler vectorises; a
/// plain `position` stops at every byte and runs several times slower on large frames.
fn find_control(hay: &[u8]) -> Option<usize> {
    const BLOCK: usize = 32;
    let is_control = |b: u8| b == START_BLOCK || b == END_BLOCK;
    let mut base = 0;
    for block in hay.chunks_exact(BLOCK) {
        if block.iter().fold(false, |hit, &b| hit | is_control(b)) {
            break;
        }
        base += BLOCK;
    }
    hay.get(base..)?.iter().position(|&b| is_control(b)).map(|off| base + off)
}

#[cfg(test)]
mod tests;
