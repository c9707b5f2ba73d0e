//! A small MLLP client: one connection, one message at a time, each answered by an ACK. `hearth send` and the
//! end-to-end tests use it.

use std::time::Duration;

use hearth_mllp::{MllpCodec, MllpError};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

/// Why a send failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("no ACK within {0:?}")]
    Timeout(Duration),
    #[error("mllp: {0}")]
    Mllp(#[from] MllpError),
}

/// What an ACK said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckSummary {
    /// MSA-1: AA, AE, AR, CA, CE or CR (or what the peer sent).
    pub code: String,
    /// MSA-2: the control id being acknowledged.
    pub control_id: String,
    /// MSA-3, or ERR-8 when MSA-3 is empty.
    pub text: String,
    /// ERR-3.1, the HL7 table 0357 code, when there is an ERR segment.
    pub error_code: Option<String>,
    /// The whole ACK as received.
    pub raw: String,
}

impl AckSummary {
    /// AA or CA.
    pub fn accepted(&self) -> bool {
        self.code == "AA" || self.code == "CA"
    }

    /// Read an ACK leniently: a sender must be able to print whatever the peer answered.
    pub fn parse(raw: &[u8]) -> AckSummary {
        let text = String::from_utf8_lossy(raw).into_owned();
        let field_sep = text.strip_prefix("MSH").and_then(|r| r.chars().next()).unwrap_or('|');
        let mut s = AckSummary {
            code: String::new(),
            control_id: String::new(),
            text: String::new(),
            error_code: None,
            raw: text.clone(),
        };
        let mut err_text = String::new();
        for seg in text.split(['\r', '\n']) {
            let f: Vec<&str> = seg.split(field_sep).collect();
            match f.first().copied() {
                Some("MSA") => {
                    s.code = f.get(1).copied().unwrap_or_default().to_owned();
                    s.control_id = f.get(2).copied().unwrap_or_default().to_owned();
                    s.text = f.get(3).copied().unwrap_or_default().to_owned();
                }
                Some("ERR") => {
                    s.error_code = f.get(3).and_then(|c| c.split('^').next()).map(str::to_owned);
                    err_text = f.get(8).copied().unwrap_or_default().to_owned();
                }
                _ => {}
            }
        }
        if s.text.is_empty() {
            s.text = err_text;
        }
        s
    }
}

/// One MLLP connection.
#[derive(Debug)]
pub struct Sender {
    framed: Framed<TcpStream, MllpCodec>,
    timeout: Duration,
}

impl Sender {
    /// Connect to `host:port`.
    pub async fn connect(addr: &str, timeout: Duration) -> Result<Sender, SendError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| SendError::Timeout(timeout))?
            .map_err(|source| SendError::Connect { addr: addr.to_owned(), source })?;
        let _ = stream.set_nodelay(true);
        // ACKs are small, but be generous: some receivers echo the whole message back.
        Ok(Sender { framed: Framed::new(stream, MllpCodec::new(64 * 1024 * 1024)), timeout })
    }

    /// Send one message and wait for its ACK.
    pub async fn send(&mut self, payload: &[u8]) -> Result<AckSummary, SendError> {
        let reply = tokio::time::timeout(self.timeout, hearth_mllp::send_and_receive(&mut self.framed, payload))
            .await
            .map_err(|_| SendError::Timeout(self.timeout))??;
        Ok(AckSummary::parse(&reply))
    }

    /// Send one framed message without waiting for an answer (a message whose MSH-15/16 ask for none).
    pub async fn send_without_reply(&mut self, payload: &[u8]) -> Result<(), SendError> {
        use futures::SinkExt;
        tokio::time::timeout(self.timeout, self.framed.send(payload))
            .await
            .map_err(|_| SendError::Timeout(self.timeout))??;
        Ok(())
    }

    /// Send raw bytes without framing (tests of junk handling) and without waiting.
    pub async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), SendError> {
        use tokio::io::AsyncWriteExt;
        self.framed.get_mut().write_all(bytes).await.map_err(MllpError::from)?;
        Ok(())
    }

    /// Wait for the next frame (after [`Sender::write_raw`]).
    pub async fn receive(&mut self) -> Result<AckSummary, SendError> {
        use futures::StreamExt;
        match tokio::time::timeout(self.timeout, self.framed.next()).await {
            Err(_) => Err(SendError::Timeout(self.timeout)),
            Ok(Some(Ok(hearth_mllp::Frame::Message(b)))) => Ok(AckSummary::parse(&b)),
            Ok(Some(Err(e))) => Err(e.into()),
            Ok(_) => Err(SendError::Mllp(MllpError::ConnectionClosed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_ack_with_an_error() {
        let ack = AckSummary::parse(
            b"MSH|^~\\&|HEARTH||LAB||20260101000000||ACK^A01^ACK|H1|P|2.5.1\rMSA|AR|MSG1\rERR||PID^1^5|102^Data type error^HL70357|E||||bad name\r",
        );
        assert_eq!(ack.code, "AR");
        assert_eq!(ack.control_id, "MSG1");
        assert_eq!(ack.text, "bad name");
        assert_eq!(ack.error_code.as_deref(), Some("102"));
        assert!(!ack.accepted());
    }

    #[test]
    fn garbage_ack_does_not_panic() {
        let ack = AckSummary::parse(b"\xff\xfe garbage");
        assert_eq!(ack.code, "");
        assert!(!ack.accepted());
    }
}
