//! Where `hearth send` sends: `mllp://` over plain TCP or `mllps://` (MLLP over TLS), one connection per worker.

use std::path::PathBuf;
use std::time::Duration;

use hearth_mllp::MllpCodec;
use hearth_sources::mllp::{AckSummary, Sender};
use hearth_tls::tokio_rustls::client::TlsStream;
use hearth_tls::{ClientSettings, ClientTls};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

/// ACKs are small, but be generous: some receivers echo the whole message back.
const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// The TLS options of `hearth send`.
#[derive(Debug, Default)]
pub struct TlsArgs {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub insecure: bool,
}

impl TlsArgs {
    fn any(&self) -> bool {
        self.ca.is_some() || self.cert.is_some() || self.key.is_some() || self.insecure
    }
}

/// A destination parsed from the command line.
#[derive(Debug)]
pub enum Target {
    Plain(String),
    Tls { addr: String, tls: ClientTls },
}

impl Target {
    /// `mllp://HOST:PORT` or `mllps://HOST:PORT` with the TLS options. The error is the message for stderr.
    pub fn parse(url: &str, tls: TlsArgs) -> Result<Self, String> {
        let addr = |rest: &str| rest.trim_end_matches('/').to_owned();
        if let Some(rest) = url.strip_prefix("mllp://") {
            if tls.any() {
                return Err("--ca, --cert, --key and --insecure are for mllps:// destinations".into());
            }
            return Ok(Self::Plain(addr(rest)));
        }
        let Some(rest) = url.strip_prefix("mllps://") else {
            return Err(format!("the destination must look like mllp://HOST:PORT or mllps://HOST:PORT, got {url:?}"));
        };
        if tls.insecure {
            eprintln!(
                "hearth send: WARNING: --insecure: the server's certificate is NOT verified; anyone can pose as \
                 the receiver. Use it for tests only."
            );
        }
        let settings = ClientSettings {
            ca_file: tls.ca,
            cert_file: tls.cert,
            key_file: tls.key,
            insecure_accept_any_server_certificate: tls.insecure,
            server_name: None,
        };
        let tls = ClientTls::new(&settings).map_err(|e| e.to_string())?;
        Ok(Self::Tls { addr: addr(rest), tls })
    }
}

/// One open connection.
#[derive(Debug)]
pub enum Conn {
    Plain(Sender),
    Tls { framed: Box<Framed<TlsStream<TcpStream>, MllpCodec>>, timeout: Duration },
}

impl Conn {
    /// Connects (and, for `mllps://`, completes the handshake) within `timeout`.
    pub async fn connect(target: &Target, timeout: Duration) -> Result<Self, String> {
        match target {
            Target::Plain(addr) => Sender::connect(addr, timeout).await.map(Conn::Plain).map_err(|e| e.to_string()),
            Target::Tls { addr, tls } => {
                let stream = tls.connect(addr, timeout).await.map_err(|e| format!("{addr}: {e}"))?;
                Ok(Conn::Tls { framed: Box::new(Framed::new(stream, MllpCodec::new(MAX_REPLY_BYTES))), timeout })
            }
        }
    }

    /// Sends one message and waits for its ACK.
    pub async fn send(&mut self, payload: &[u8]) -> Result<AckSummary, String> {
        match self {
            Conn::Plain(sender) => sender.send(payload).await.map_err(|e| e.to_string()),
            Conn::Tls { framed, timeout } => {
                let reply = tokio::time::timeout(*timeout, hearth_mllp::send_and_receive(framed, payload))
                    .await
                    .map_err(|_| format!("no ACK within {timeout:?}"))?
                    .map_err(|e| format!("mllp: {e}"))?;
                Ok(AckSummary::parse(&reply))
            }
        }
    }
}
