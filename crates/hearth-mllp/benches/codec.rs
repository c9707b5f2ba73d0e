//! Decode throughput for small and large frames arriving in 8 KiB reads, as from a socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hearth_mllp::{Frame, MllpCodec};
use tokio_util::codec::{Decoder, Encoder};

const READ_BYTES: usize = 8 * 1024;

/// `count` frames of `size` bytes of HL7-looking text.
fn stream(size: usize, count: usize) -> Vec<u8> {
    let segment = b"OBX|1|TX|^^^||some observation text, nothing special|||||F\r";
    let payload: Vec<u8> = segment.iter().copied().cycle().take(size).collect();
    let mut codec = MllpCodec::default();
    let mut out = BytesMut::new();
    for _ in 0..count {
        codec.encode(&payload[..], &mut out).unwrap();
    }
    out.to_vec()
}

fn decode_all(stream: &[u8]) -> usize {
    let mut codec = MllpCodec::default();
    let mut buf = BytesMut::with_capacity(READ_BYTES);
    let mut payload_bytes = 0;
    for read in stream.chunks(READ_BYTES) {
        buf.extend_from_slice(read);
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            if let Frame::Message(payload) = frame {
                payload_bytes += payload.len();
            }
        }
    }
    payload_bytes
}

fn decode_throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_8k_reads");
    for (name, size, count) in [("1KB", 1024, 8 * 1024), ("2MB", 2 * 1024 * 1024, 4)] {
        let input = stream(size, count);
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &input, |b, input| {
            b.iter(|| black_box(decode_all(black_box(input))));
        });
    }
    group.finish();
}

criterion_group!(benches, decode_throughput);
criterion_main!(benches);
