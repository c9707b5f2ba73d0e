use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;

use crate::{Frame, MllpCodec, MllpError};

/// Sends one frame and waits for the next frame from the peer, returning its payload.
///
/// This is the whole MLLP client exchange; interpreting the reply (an HL7 ACK) is the caller's
/// job. There is no timeout here: wrap the call in `tokio::time::timeout`. A reply that is
/// oversized, or cut short by the peer closing the connection, is an error.
pub async fn send_and_receive<S, B>(framed: &mut Framed<S, MllpCodec>, payload: B) -> Result<Bytes, MllpError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    B: AsRef<[u8]>,
{
    framed.send(payload).await?;
    match framed.next().await {
        Some(Ok(Frame::Message(reply))) => Ok(reply),
        Some(Ok(Frame::Oversized { discarded_bytes })) => Err(MllpError::ReplyOversized { discarded_bytes }),
        Some(Ok(Frame::Truncated(_))) | None => Err(MllpError::ConnectionClosed),
        Some(Err(e)) => Err(e),
    }
}
