//! A blocking MLLP client for tests, framed by `hearth_mllp`'s codec (the same framing the listener decodes):
//! tests never build frames by hand.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::BytesMut;
use hearth_mllp::{Frame, MllpCodec};
use tokio_util::codec::{Decoder, Encoder};

/// One MLLP connection.
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    codec: MllpCodec,
    buf: BytesMut,
}

impl Client {
    /// Connects; every reply is awaited at most `timeout`.
    pub fn connect(addr: &str, timeout: Duration) -> std::io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(timeout))?;
        Ok(Client { stream, codec: MllpCodec::new(16 * 1024 * 1024), buf: BytesMut::new() })
    }

    /// Sends one message and returns the reply's payload (the ACK), or the error that ended the exchange (the
    /// peer closed, the timeout passed).
    pub fn send(&mut self, message: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut frame = BytesMut::new();
        self.codec.encode(message, &mut frame).map_err(std::io::Error::other)?;
        self.stream.write_all(&frame)?;
        let mut chunk = [0u8; 4096];
        loop {
            match self.codec.decode(&mut self.buf).map_err(std::io::Error::other)? {
                Some(Frame::Message(reply)) => return Ok(reply.to_vec()),
                Some(_) => return Err(std::io::Error::other("the reply was not a complete frame")),
                None => {}
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Sends each message over one connection and returns the ACK texts.
///
/// # Panics
/// When the connection fails (a test's precondition).
pub fn send_all(addr: &str, messages: &[Vec<u8>]) -> Vec<String> {
    #[allow(clippy::expect_used)]
    let mut client = Client::connect(addr, Duration::from_secs(20)).expect("connect to the MLLP listener");
    messages
        .iter()
        .map(|m| {
            #[allow(clippy::expect_used)]
            let ack = client.send(m).expect("an ACK");
            String::from_utf8_lossy(&ack).into_owned()
        })
        .collect()
}
