#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn wire(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![START_BLOCK];
    out.extend_from_slice(payload);
    out.extend_from_slice(&[END_BLOCK, END_LINE]);
    out
}

/// Everything the decoder produced for a stream fed in the given chunks, then EOF.
struct Fed {
    frames: Vec<Frame>,
    codec: MllpCodec,
}

fn feed<'a>(max: usize, chunks: impl IntoIterator<Item = &'a [u8]>) -> Fed {
    let mut codec = MllpCodec::new(max);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            frames.push(frame);
        }
        assert!(buf.len() <= max + 1, "buffer {} exceeds max + 1 while idle", buf.len());
    }
    while let Some(frame) = codec.decode_eof(&mut buf).unwrap() {
        frames.push(frame);
    }
    assert!(buf.is_empty(), "decode_eof leaves nothing behind");
    Fed { frames, codec }
}

fn feed_all(max: usize, stream: &[u8]) -> Fed {
    feed(max, [stream])
}

fn msg(payload: &[u8]) -> Frame {
    Frame::Message(Bytes::copy_from_slice(payload))
}

#[test]
fn single_frame() {
    let fed = feed_all(64, &wire(b"MSH|^~\\&|A\rPID|1"));
    assert_eq!(fed.frames, vec![msg(b"MSH|^~\\&|A\rPID|1")]);
    assert_eq!(fed.codec.junk_bytes(), 0);
}

#[test]
fn several_frames_in_one_read() {
    let stream = [wire(b"one"), wire(b"two"), wire(b"three")].concat();
    let fed = feed_all(64, &stream);
    assert_eq!(fed.frames, vec![msg(b"one"), msg(b"two"), msg(b"three")]);
}

#[test]
fn split_at_every_byte_boundary() {
    let stream = [b"zz".to_vec(), wire(b"MSH|a\rPID|b"), b"\r\n".to_vec(), wire(b"MSH|c"), wire(b"")].concat();
    let expected = vec![msg(b"MSH|a\rPID|b"), msg(b"MSH|c"), msg(b"")];
    for cut in 0..=stream.len() {
        let (head, tail) = stream.split_at(cut);
        let fed = feed(64, [head, tail]);
        assert_eq!(fed.frames, expected, "cut at {cut}");
        assert_eq!(fed.codec.junk_bytes(), 4, "cut at {cut}");
    }
    let fed = feed(64, stream.chunks(1));
    assert_eq!(fed.frames, expected, "one byte at a time");
}

#[test]
fn junk_before_start_is_skipped_and_counted() {
    let stream = [b"\x00\xffgarbage\x1c\r".to_vec(), wire(b"MSH|x")].concat();
    let fed = feed_all(64, &stream);
    assert_eq!(fed.frames, vec![msg(b"MSH|x")]);
    assert_eq!(fed.codec.junk_bytes(), 11);
}

#[test]
fn junk_between_frames_is_skipped_and_counted() {
    let stream = [wire(b"a"), b"\r\n".to_vec(), wire(b"b"), b"\n".to_vec(), wire(b"c")].concat();
    let fed = feed_all(64, &stream);
    assert_eq!(fed.frames, vec![msg(b"a"), msg(b"b"), msg(b"c")]);
    assert_eq!(fed.codec.junk_bytes(), 3);
}

#[test]
fn payload_of_exactly_max_is_accepted_and_one_more_is_not() {
    let fed = feed_all(8, &[wire(&[b'x'; 8]), wire(&[b'y'; 9])].concat());
    assert_eq!(fed.frames, vec![msg(&[b'x'; 8]), Frame::Oversized { discarded_bytes: 9 }]);
}

#[test]
fn oversized_frame_then_normal_frame_both_yield_in_order() {
    let stream = [wire(&[b'x'; 100]), wire(b"MSH|ok")].concat();
    let expected = vec![Frame::Oversized { discarded_bytes: 100 }, msg(b"MSH|ok")];
    assert_eq!(feed_all(16, &stream).frames, expected);
    assert_eq!(feed(16, stream.chunks(7)).frames, expected);
}

#[test]
fn oversized_frame_split_across_reads_keeps_memory_bounded() {
    let max = 1000;
    let chunk = 64;
    let stream = [wire(&[b'x'; 50_000]), wire(b"MSH|after")].concat();
    let mut codec = MllpCodec::new(max);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        assert!(buf.len() <= max + 1 + chunk, "buffer {} before decode", buf.len());
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            frames.push(frame);
        }
        assert!(buf.len() <= max + 1, "buffer {} after decode", buf.len());
    }
    assert_eq!(frames, vec![Frame::Oversized { discarded_bytes: 50_000 }, msg(b"MSH|after")]);
    assert_eq!(codec.junk_bytes(), 0);
}

#[test]
fn empty_frame_yields_empty_message() {
    assert_eq!(feed_all(64, &wire(b"")).frames, vec![msg(b"")]);
}

#[test]
fn truncated_frame_at_eof() {
    let stream = [wire(b"whole"), b"\x0bMSH|cut".to_vec()].concat();
    let fed = feed_all(64, &stream);
    assert_eq!(fed.frames, vec![msg(b"whole"), Frame::Truncated(Bytes::from_static(b"MSH|cut"))]);
}

#[test]
fn truncated_frame_missing_only_the_final_cr() {
    let fed = feed_all(64, b"\x0bMSH|x\x1c");
    assert_eq!(fed.frames, vec![Frame::Truncated(Bytes::from_static(b"MSH|x\x1c"))]);
}

#[test]
fn bare_start_byte_at_eof_is_an_empty_truncated_frame() {
    assert_eq!(feed_all(64, b"\x0b").frames, vec![Frame::Truncated(Bytes::new())]);
}

#[test]
fn oversized_partial_at_eof_reports_oversized() {
    let fed = feed(8, [&b"\x0b0123456789"[..], b"ab\x1c"]);
    assert_eq!(fed.frames, vec![Frame::Oversized { discarded_bytes: 13 }]);
}

#[test]
fn junk_at_eof_yields_nothing() {
    let fed = feed_all(64, &[wire(b"a"), b"\r\n\x1c".to_vec()].concat());
    assert_eq!(fed.frames, vec![msg(b"a")]);
    assert_eq!(fed.codec.junk_bytes(), 3);
}

#[test]
fn empty_stream_yields_nothing() {
    assert_eq!(feed(64, []).frames, vec![]);
}

#[test]
fn start_byte_inside_frame_abandons_the_partial_as_junk() {
    let stream = [b"\x0bMSH|dead".to_vec(), wire(b"MSH|resent")].concat();
    let expected = vec![msg(b"MSH|resent")];
    for cut in 0..=stream.len() {
        let fed = feed(64, [&stream[..cut], &stream[cut..]]);
        assert_eq!(fed.frames, expected, "cut at {cut}");
        assert_eq!(fed.codec.junk_bytes(), 9, "cut at {cut}");
    }
}

#[test]
fn start_byte_inside_oversized_frame_abandons_it_as_junk() {
    let stream = [b"\x0b0123456789abc".to_vec(), wire(b"MSH|new")].concat();
    let fed = feed(8, stream.chunks(3));
    assert_eq!(fed.frames, vec![msg(b"MSH|new")]);
    assert_eq!(fed.codec.junk_bytes(), 14);
}

#[test]
fn lone_end_block_is_payload() {
    let stream = wire(b"a\x1cb\x1c\x1c");
    let expected = vec![msg(b"a\x1cb\x1c\x1c")];
    for cut in 0..=stream.len() {
        assert_eq!(feed(64, [&stream[..cut], &stream[cut..]]).frames, expected, "cut at {cut}");
    }
}

#[test]
fn end_block_then_start_byte_abandons_the_frame() {
    let stream = [b"\x0bMSH|x\x1c".to_vec(), wire(b"MSH|y")].concat();
    assert_eq!(feed_all(64, &stream).frames, vec![msg(b"MSH|y")]);
}

#[test]
fn scan_position_is_remembered_between_reads() {
    let mut codec = MllpCodec::new(1 << 20);
    let mut buf = BytesMut::from(&b"\x0babcdef"[..]);
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    assert_eq!(codec.state, State::InFrame { scanned: 6 });
    buf.extend_from_slice(b"gh\x1c");
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    assert_eq!(codec.state, State::InFrame { scanned: 8 }, "a trailing 0x1C is looked at again");
    buf.extend_from_slice(b"\r");
    assert_eq!(codec.decode(&mut buf).unwrap(), Some(msg(b"abcdefgh")));
}

#[test]
fn codec_is_usable_after_eof() {
    let mut codec = MllpCodec::default();
    assert_eq!(codec.max_frame_bytes(), DEFAULT_MAX_FRAME_BYTES);
    let mut buf = BytesMut::from(&b"\x0bcut"[..]);
    assert_eq!(codec.decode_eof(&mut buf).unwrap(), Some(Frame::Truncated("cut".into())));
    assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
    buf.extend_from_slice(&wire(b"next"));
    assert_eq!(codec.decode(&mut buf).unwrap(), Some(msg(b"next")));
}

#[test]
fn find_control_agrees_with_position() {
    for len in 0..100 {
        for at in 0..=len {
            let mut hay = vec![b'a'; len];
            if let Some(b) = hay.get_mut(at) {
                *b = END_BLOCK;
            }
            let expected = hay.iter().position(|&b| b == END_BLOCK);
            assert_eq!(find_control(&hay), expected, "len {len} at {at}");
        }
    }
}

#[test]
fn encoder_round_trip() {
    let mut codec = MllpCodec::new(64);
    let mut buf = BytesMut::new();
    codec.encode(Bytes::from_static(b"MSH|1"), &mut buf).unwrap();
    codec.encode(&b""[..], &mut buf).unwrap();
    codec.encode(b"MSH|2".to_vec(), &mut buf).unwrap();
    assert_eq!(&buf[..], &[wire(b"MSH|1"), wire(b""), wire(b"MSH|2")].concat()[..]);
    let mut frames = Vec::new();
    while let Some(frame) = codec.decode(&mut buf).unwrap() {
        frames.push(frame);
    }
    assert_eq!(frames, vec![msg(b"MSH|1"), msg(b""), msg(b"MSH|2")]);
}

#[test]
fn encoder_rejects_control_bytes() {
    let mut codec = MllpCodec::default();
    let mut buf = BytesMut::new();
    for (payload, byte, offset) in [(&b"ab\x0bc"[..], START_BLOCK, 2), (b"\x1c", END_BLOCK, 0)] {
        match codec.encode(payload, &mut buf) {
            Err(MllpError::PayloadContainsControlByte { byte: b, offset: o }) => {
                assert_eq!((b, o), (byte, offset));
            }
            other => panic!("expected a control byte error, got {other:?}"),
        }
    }
    assert!(buf.is_empty(), "nothing is written for a refused payload");
    // A lone CR is ordinary HL7 content (the segment separator).
    codec.encode(&b"MSH|x\r"[..], &mut buf).unwrap();
}
