//! Arbitrary bytes, in arbitrary reads, through the MLLP decoder.
//!
//! The first byte picks how many of the following bytes are read sizes; the rest is the stream.
//! Checks: no panic, no error, the buffer stays within `max + 1` between reads, and every input
//! byte is accounted for exactly once (junk, a frame, or what EOF reported).
#![no_main]

use bytes::BytesMut;
use hearth_mllp::{Frame, MllpCodec};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

const MAX: usize = 256;

fn frame_bytes(frame: &Frame, at_eof: bool) -> usize {
    // Start byte, plus the end marker for frames that were complete.
    let framing = if at_eof { 1 } else { 3 };
    match frame {
        Frame::Message(p) => {
            assert!(!at_eof && p.len() <= MAX);
            p.len() + framing
        }
        Frame::Oversized { discarded_bytes } => {
            assert!(*discarded_bytes > MAX);
            discarded_bytes + framing
        }
        Frame::Truncated(p) => {
            assert!(at_eof);
            p.len() + framing
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (head, rest) = data.split_first().unwrap_or((&0, &[]));
    let (sizes, stream) = rest.split_at(usize::from(*head % 16).min(rest.len()));
    let sizes: Vec<usize> = if sizes.is_empty() {
        vec![stream.len().max(1)]
    } else {
        sizes.iter().map(|s| usize::from(*s) * 4 + 1).collect()
    };

    let mut codec = MllpCodec::new(MAX);
    let mut buf = BytesMut::new();
    let mut accounted = 0usize;
    let mut rest = stream;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (read, tail) = rest.split_at((*size).min(rest.len()));
        rest = tail;
        buf.extend_from_slice(read);
        while let Some(frame) = codec.decode(&mut buf).expect("decode never fails") {
            accounted += frame_bytes(&frame, false);
        }
        assert!(buf.len() <= MAX + 1, "buffer {} after decode", buf.len());
    }
    let mut eof_frames = 0;
    while let Some(frame) = codec.decode_eof(&mut buf).expect("decode_eof never fails") {
        accounted += frame_bytes(&frame, true);
        eof_frames += 1;
    }
    assert!(eof_frames <= 1 && buf.is_empty());
    let junk = usize::try_from(codec.junk_bytes()).unwrap_or(usize::MAX);
    assert_eq!(accounted + junk, stream.len());
});
