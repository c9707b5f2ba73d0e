//! The codec over a real TCP connection on the loopback interface.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use hearth_mllp::{Frame, MllpCodec, MllpError, send_and_receive};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_util::codec::Framed;

const LIMIT: Duration = Duration::from_secs(10);

/// A tiny MLLP server: answers every frame with `ACK:<payload>`, a NAK for oversized frames.
async fn echo_server(listener: TcpListener) -> Vec<Frame> {
    let (socket, _) = listener.accept().await.unwrap();
    let mut framed = Framed::new(socket, MllpCodec::new(1024));
    let mut seen = Vec::new();
    while let Some(frame) = framed.next().await {
        let frame = frame.unwrap();
        let reply = match &frame {
            Frame::Message(p) => [b"ACK:", &p[..]].concat(),
            Frame::Oversized { .. } => b"NAK:too large".to_vec(),
            Frame::Truncated(_) => break,
        };
        seen.push(frame);
        framed.send(reply).await.unwrap();
    }
    seen
}

#[tokio::test]
async fn frames_flow_both_ways_over_tcp() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(echo_server(listener));

    let socket = TcpStream::connect(addr).await.unwrap();
    let mut client = Framed::new(socket, MllpCodec::new(2048));
    let big = vec![b'x'; 300_000];
    let messages: [&[u8]; 4] = [b"MSH|1", b"", &big[..1024], b"MSH|4\rPID|1"];

    // Several frames in one direction before reading any reply, then the replies in order.
    for m in messages {
        client.feed(m).await.unwrap();
    }
    SinkExt::<&[u8]>::flush(&mut client).await.unwrap();
    for m in messages {
        let reply = timeout(LIMIT, client.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(reply, Frame::Message(Bytes::from([b"ACK:", m].concat())));
    }

    // An oversized frame is refused and the connection stays usable.
    let reply = timeout(LIMIT, send_and_receive(&mut client, &big[..])).await.unwrap().unwrap();
    assert_eq!(&reply[..], b"NAK:too large");
    let reply = timeout(LIMIT, send_and_receive(&mut client, "MSH|6")).await.unwrap().unwrap();
    assert_eq!(&reply[..], b"ACK:MSH|6");

    drop(client);
    let seen = timeout(LIMIT, server).await.unwrap().unwrap();
    assert_eq!(seen.len(), 6);
    assert_eq!(seen.get(4), Some(&Frame::Oversized { discarded_bytes: big.len() }));
}

#[tokio::test]
async fn send_and_receive_reports_a_closed_peer() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut framed = Framed::new(socket, MllpCodec::default());
        let _ = framed.next().await;
        // Close without replying.
    });
    let socket = TcpStream::connect(addr).await.unwrap();
    let mut client = Framed::new(socket, MllpCodec::default());
    let result = timeout(LIMIT, send_and_receive(&mut client, "MSH|1")).await.unwrap();
    assert!(matches!(result, Err(MllpError::ConnectionClosed)), "{result:?}");
    assert!(result.unwrap_err().is_transient());
    server.await.unwrap();
}
