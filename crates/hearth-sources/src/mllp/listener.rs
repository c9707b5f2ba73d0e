//! The MLLP listener. One task per connection; each complete frame is parsed (guard layer), journaled, and
//! only then answered. Refused input is journaled as `rejected` with its reason before the negative ACK.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use hearth_core::MessageMeta;
use hearth_core::events::{AckSent, MllpConnection, MllpJunkSkipped};
use hearth_hl7v2::ErrorCode;
use hearth_hl7v2::ack::{AckError, AckSubject, Outcome};
use hearth_hl7v2::{Charset, ParseOptions};
use hearth_mllp::{Frame, MllpCodec};
use hearth_store::Journal;
use hearth_tls::ServerTls;
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::config::MllpPlan;
use crate::SourceError;
use crate::hl7v2_intake::{Acks, journal_and_answer, journal_rejected};
use crate::receipt::Receipt;

/// Frames larger than this are parsed on the blocking pool so one big message never stalls other connections.
const PARSE_INLINE_MAX: usize = 256 * 1024;

/// An MLLP source bound to its listener.
#[derive(Debug)]
pub struct MllpSource {
    ctx: Arc<Ctx>,
    listener: TcpListener,
}

#[derive(Debug)]
struct Ctx {
    channel: String,
    plan: MllpPlan,
    parse: ParseOptions,
    journal: Journal,
    acks: Acks,
    /// MLLP over TLS: the handshake runs in the connection's task, within its timeout.
    tls: Option<Arc<ServerTls>>,
}

impl MllpSource {
    /// A source for `channel` over an already bound listener (binding is the engine's job, so that a port in
    /// use fails start-up instead of a background task).
    pub fn new(channel: &str, plan: MllpPlan, listener: TcpListener, journal: Journal) -> Self {
        let parse = ParseOptions {
            default_charset: plan.default_charset,
            require_control_id: plan.require_control_id,
            ..ParseOptions::default()
        };
        let acks = Acks::new(&plan.ack_sending_application, &plan.ack_sending_facility);
        let ctx = Ctx { channel: channel.to_owned(), plan, parse, journal, acks, tls: None };
        Self { ctx: Arc::new(ctx), listener }
    }

    /// Serves MLLP over TLS with this (reloadable) configuration.
    #[must_use]
    pub fn with_tls(mut self, tls: Arc<ServerTls>) -> Self {
        if let Some(ctx) = Arc::get_mut(&mut self.ctx) {
            ctx.tls = Some(tls);
        }
        self
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accept connections until `shutdown` fires, then wait for every connection to finish the message it is
    /// handling. Returns when all connection tasks have ended.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), SourceError> {
        let limit = Arc::new(Semaphore::new(self.ctx.plan.max_connections));
        let tasks = TaskTracker::new();
        let result = loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break Ok(()) },
            };
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                a = self.listener.accept() => a,
            };
            match accepted {
                Ok((stream, peer)) => {
                    let ctx = self.ctx.clone();
                    let shutdown = shutdown.clone();
                    tasks.spawn(async move {
                        let _permit = permit;
                        connection(ctx, stream, peer, shutdown).await;
                    });
                }
                Err(e) if is_per_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning, keep serving.
                    tracing::error!(channel = %self.ctx.channel, error = %e, "accept failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        };
        drop(self.listener);
        tasks.close();
        tasks.wait().await;
        result
    }
}

fn is_per_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

async fn connection(ctx: Arc<Ctx>, stream: TcpStream, peer: SocketAddr, shutdown: CancellationToken) {
    let _ = stream.set_nodelay(true);
    let Some(tls) = &ctx.tls else { return serve(&ctx, stream, shutdown).await };
    // The handshake is bounded by its own timeout; a shutdown does not wait for it.
    let accepted = tokio::select! {
        _ = shutdown.cancelled() => return,
        a = tls.accept(stream) => a,
    };
    match accepted {
        Ok(a) => serve(&ctx, a.stream, shutdown).await,
        Err(e) => crate::tls::handshake_failed(&format!("channels.{}", ctx.channel), peer, &e),
    }
}

async fn serve<S>(ctx: &Ctx, stream: S, shutdown: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    MllpConnection { channel: &ctx.channel, opened: true }.emit();
    let mut framed = Framed::new(stream, MllpCodec::new(ctx.plan.max_frame_bytes));
    let mut junk_reported = 0u64;
    loop {
        // Only waiting for the next frame is interruptible: a frame already read is journaled and answered
        // before shutdown is looked at again (graceful drain).
        let next = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            n = tokio::time::timeout(ctx.plan.idle_timeout, framed.next()) => n,
        };
        let frame = match next {
            Err(_idle) => break,
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                tracing::debug!(channel = %ctx.channel, error = %e, "mllp connection error");
                break;
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let junk = framed.codec().junk_bytes();
        if junk > junk_reported {
            MllpJunkSkipped { channel: &ctx.channel, bytes: junk - junk_reported }.emit();
            junk_reported = junk;
        }
        let started = Instant::now();
        // The trace's root span starts with the complete frame (the codec does not say when its first byte came).
        let mut receipt = Receipt::new();
        let reply = handle_frame(ctx, frame, &mut receipt).await;
        match reply {
            Some((code, ack)) => {
                if let Err(e) = framed.send(&ack[..]).await {
                    tracing::debug!(channel = %ctx.channel, error = %e, "could not write ACK");
                    receipt.answered(&ctx.channel, "unsent");
                    break;
                }
                AckSent { channel: &ctx.channel, code, latency: started.elapsed() }.emit();
                receipt.answered(&ctx.channel, code);
            }
            None => {
                AckSent { channel: &ctx.channel, code: "none", latency: started.elapsed() }.emit();
                receipt.answered(&ctx.channel, "none");
            }
        }
    }
    MllpConnection { channel: &ctx.channel, opened: false }.emit();
}

/// Journal one frame and build the answer: `Some((MSA-1 code, ACK text))`, or `None` when the sender asked for
/// no answer (MSH-15) or the connection is gone.
async fn handle_frame(ctx: &Ctx, frame: Frame, receipt: &mut Receipt) -> Option<(&'static str, Vec<u8>)> {
    match frame {
        Frame::Message(bytes) => handle_message(ctx, bytes, receipt).await,
        Frame::Oversized { discarded_bytes } => {
            let reason = format!(
                "frame of {discarded_bytes} bytes exceeds max_frame_bytes = {} (content not kept)",
                ctx.plan.max_frame_bytes
            );
            journal_rejected(&ctx.journal, &ctx.channel, Vec::new(), &reason, MessageMeta::default(), receipt).await;
            let err = AckError::new(ErrorCode::ApplicationInternalError, reason);
            build_ack(ctx, AckSubject::default(), Charset::Ascii, &Outcome::Rejected(err))
        }
        Frame::Truncated(partial) => {
            // The peer closed mid-frame: nobody is left to answer, but the bytes are kept for the operator.
            journal_rejected(
                &ctx.journal,
                &ctx.channel,
                partial.to_vec(),
                "connection closed inside an MLLP frame",
                MessageMeta::default(),
                receipt,
            )
            .await;
            None
        }
    }
}

async fn handle_message(ctx: &Ctx, bytes: Bytes, receipt: &mut Receipt) -> Option<(&'static str, Vec<u8>)> {
    let received_at = OffsetDateTime::now_utc();
    let parsed = if bytes.len() > PARSE_INLINE_MAX {
        let opts = ctx.parse.clone();
        let b = bytes.clone();
        match tokio::task::spawn_blocking(move || hearth_hl7v2::parse(&b, &opts)).await {
            Ok(r) => r,
            Err(e) => {
                // Only a bug in the parser gets here (a panic on input): keep the message, refuse it loudly.
                tracing::error!(channel = %ctx.channel, error = %e, "parser task failed");
                let reason = "internal error while parsing (a Hearth bug: please report it)";
                let meta = MessageMeta::default();
                journal_rejected(&ctx.journal, &ctx.channel, bytes.to_vec(), reason, meta, receipt).await;
                let err = AckError::new(ErrorCode::ApplicationInternalError, reason);
                return build_ack(ctx, AckSubject::default(), Charset::Ascii, &Outcome::Error(err));
            }
        }
    } else {
        hearth_hl7v2::parse(&bytes, &ctx.parse)
    };
    let acks = (&ctx.acks, ctx.plan.ack_policy);
    journal_and_answer(&ctx.journal, &ctx.channel, received_at, &bytes, parsed, acks, receipt).await
}

/// The accept acknowledgement for an outcome; `None` when MSH-15 says not to answer this outcome.
fn build_ack(
    ctx: &Ctx,
    subject: AckSubject<'_>,
    charset: Charset,
    outcome: &Outcome,
) -> Option<(&'static str, Vec<u8>)> {
    ctx.acks.respond(subject, charset, outcome, ctx.plan.ack_policy)
}
