//! Properties of the decoder over generated streams and chunkings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::{Bytes, BytesMut};
use hearth_mllp::{END_BLOCK, END_LINE, Frame, MllpCodec, START_BLOCK};
use proptest::prelude::*;
use tokio_util::codec::Decoder;

const MAX: usize = 64;

/// Splits `stream` into reads whose sizes cycle through `sizes` (each at least 1).
fn chunks<'a>(stream: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = stream;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (head, tail) = rest.split_at((*size).clamp(1, rest.len()));
        out.push(head);
        rest = tail;
    }
    out
}

/// What `decode_eof` produced, kept apart so byte accounting can tell it from `decode`'s frames.
struct Decoded {
    frames: Vec<Frame>,
    at_eof: Vec<Frame>,
    codec: MllpCodec,
}

/// Feeds the reads, checking the memory bound around every `decode`, then signals EOF.
fn decode_reads(max: usize, reads: &[&[u8]]) -> Result<Decoded, TestCaseError> {
    let mut codec = MllpCodec::new(max);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for read in reads {
        buf.extend_from_slice(read);
        prop_assert!(buf.len() <= max + 1 + read.len(), "buffer {} before decode", buf.len());
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            frames.push(frame);
        }
        prop_assert!(buf.len() <= max + 1, "buffer {} after decode", buf.len());
    }
    let mut at_eof = Vec::new();
    while let Some(frame) = codec.decode_eof(&mut buf).unwrap() {
        at_eof.push(frame);
    }
    prop_assert!(at_eof.len() <= 1);
    prop_assert!(buf.is_empty());
    Ok(Decoded { frames, at_eof, codec })
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    let byte = any::<u8>().prop_filter("no framing byte", |b| *b != START_BLOCK && *b != END_BLOCK);
    // Up to twice the maximum, so oversized frames are common too.
    prop::collection::vec(byte, 0..=2 * MAX)
}

fn junk() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        Just(b'\r'),
        Just(b'\n'),
        Just(END_BLOCK),
        Just(END_LINE),
        any::<u8>().prop_filter("no start byte", |b| *b != START_BLOCK),
    ];
    prop::collection::vec(byte, 0..8)
}

fn expected_frame(payload: &[u8]) -> Frame {
    if payload.len() > MAX {
        Frame::Oversized { discarded_bytes: payload.len() }
    } else {
        Frame::Message(Bytes::copy_from_slice(payload))
    }
}

proptest! {
    /// Any chunking of a stream of frames, with junk between them, decodes to the same frames.
    #[test]
    fn any_chunking_decodes_to_the_same_frames(
        framed in prop::collection::vec((junk(), payload()), 0..12),
        trailing_junk in junk(),
        sizes in prop::collection::vec(1..=3 * MAX, 1..16),
    ) {
        let mut stream = Vec::new();
        let mut junk_len = trailing_junk.len();
        for (junk, payload) in &framed {
            junk_len += junk.len();
            stream.extend_from_slice(junk);
            stream.push(START_BLOCK);
            stream.extend_from_slice(payload);
            stream.extend_from_slice(&[END_BLOCK, END_LINE]);
        }
        stream.extend_from_slice(&trailing_junk);

        let decoded = decode_reads(MAX, &chunks(&stream, &sizes))?;
        let expected: Vec<Frame> = framed.iter().map(|(_, p)| expected_frame(p)).collect();
        prop_assert_eq!(decoded.frames, expected);
        prop_assert!(decoded.at_eof.is_empty());
        prop_assert_eq!(decoded.codec.junk_bytes(), junk_len as u64);
    }

    /// Arbitrary bytes in arbitrary reads never panic, stay within the memory bound, and every
    /// input byte is accounted for exactly once: as junk, in a frame, or in what EOF reported.
    #[test]
    fn arbitrary_input_is_bounded_and_accounted_for(
        stream in prop::collection::vec(
            prop_oneof![
                Just(START_BLOCK), Just(END_BLOCK), Just(END_LINE), any::<u8>(), any::<u8>()
            ],
            0..600,
        ),
        sizes in prop::collection::vec(1..=40usize, 1..16),
        max in 0..=32usize,
    ) {
        let decoded = decode_reads(max, &chunks(&stream, &sizes))?;
        let mut accounted = decoded.codec.junk_bytes();
        for frame in &decoded.frames {
            accounted += match frame {
                Frame::Message(p) => {
                    prop_assert!(p.len() <= max);
                    p.len() + 3
                }
                Frame::Oversized { discarded_bytes } => {
                    prop_assert!(*discarded_bytes > max);
                    discarded_bytes + 3
                }
                Frame::Truncated(_) => {
                    return Err(TestCaseError::fail("Truncated before EOF"));
                }
            } as u64;
        }
        for frame in &decoded.at_eof {
            accounted += match frame {
                Frame::Message(_) => return Err(TestCaseError::fail("Message at EOF")),
                Frame::Oversized { discarded_bytes } => discarded_bytes + 1,
                Frame::Truncated(p) => p.len() + 1,
            } as u64;
        }
        prop_assert_eq!(accounted, stream.len() as u64);
    }
}
