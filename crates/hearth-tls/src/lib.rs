//! The one place Hearth builds TLS configurations: rustls 0.23 with the ring provider, TLS 1.3 and 1.2 only.
//!
//! - **Servers** (MLLP listeners, the HTTP listener): [`ServerSettings`] → [`ServerTls`], a configuration that
//!   can be replaced while the listener runs. [`ServerTls::reload`] (on SIGHUP) and [`ServerTls::watch`] (polls
//!   the files) swap in new certificates for new handshakes; open connections keep their session; broken new
//!   files are refused with a [`TlsError`] naming the file and the old configuration stays.
//! - **Mutual TLS**: with `client_ca_file` a client must present a certificate chained to it; with
//!   `allowed_subjects` its CN or a DNS/URI SAN must be one of them. Anything else fails the handshake (the
//!   client gets a TLS alert) and [`ServerTls::accept`] returns [`TlsError::Refused`] with the certificate's
//!   subject, for a log line with the peer address. No message content is ever involved. With
//!   [`ClientAuth::Optional`] a client may also connect without a certificate, and the application decides per
//!   request ([`Accepted::client_certificate`] is `None`).
//! - **Handshake timeout**: [`ServerTls::accept`] gives up after `handshake_timeout`; run it in the
//!   connection's task so a silent or garbage-sending peer costs that task only.
//! - **Clients** (`hearth send mllps://`, `amqps://`, HTTPS): [`ClientSettings`] → [`client_config`] (a
//!   `rustls::ClientConfig` for lapin or reqwest) or [`ClientTls`] (with a connect helper).
//! - **Certificate facts** for `hearth check` and the expiry metric: [`check_key_pair`],
//!   [`inspect_certificate_file`], [`CertFacts`].
//! - **Tests**: the `testing` feature makes a throwaway CA and certificates ([`testing::TestCa`]).
//!
//! # Example
//!
//! A mutual-TLS echo over loopback, with certificates made on the spot:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use hearth_tls::testing::TestCa;
//! use hearth_tls::{ClientSettings, ClientTls, ServerSettings, ServerTls};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let dir = tempfile::tempdir()?;
//! let ca = TestCa::new("Example CA");
//! let (cert_file, key_file) = ca.server(&["localhost"]).write(dir.path(), "server");
//! let (client_cert, client_key) = ca.client("lab-feed", &[]).write(dir.path(), "client");
//! let ca_file = ca.write(dir.path(), "ca");
//!
//! let mut settings = ServerSettings::new(cert_file, key_file);
//! settings.client_ca_file = Some(ca_file.clone());
//! settings.allowed_subjects = vec!["lab-feed".into()];
//! let server = ServerTls::new(settings)?;
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! let serve = async move {
//!     let (tcp, _peer) = listener.accept().await?;
//!     let mut accepted = server.accept(tcp).await?;
//!     let cn = accepted.client_certificate.and_then(|c| c.common_name);
//!     assert_eq!(cn.as_deref(), Some("lab-feed"));
//!     let mut buf = [0u8; 5];
//!     accepted.stream.read_exact(&mut buf).await?;
//!     accepted.stream.write_all(&buf).await?;
//!     accepted.stream.shutdown().await?;
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
//! };
//! let server_task = tokio::spawn(serve);
//!
//! let client = ClientTls::new(&ClientSettings {
//!     ca_file: Some(ca_file),
//!     cert_file: Some(client_cert),
//!     key_file: Some(client_key),
//!     server_name: Some("localhost".into()),
//!     ..ClientSettings::default()
//! })?;
//! let mut stream = client.connect(&addr.to_string(), std::time::Duration::from_secs(5)).await?;
//! stream.write_all(b"hello").await?;
//! let mut echoed = Vec::new();
//! stream.read_to_end(&mut echoed).await?;
//! assert_eq!(echoed, b"hello");
//! server_task.await?.map_err(|e| e.to_string())?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod accept;
mod client;
mod error;
mod facts;
mod pem;
mod server;
#[cfg(feature = "testing")]
pub mod testing;
mod verify;

pub use accept::Accepted;
pub use client::{ClientSettings, ClientTls, client_config};
pub use error::TlsError;
pub use facts::{CertFacts, check_key_pair, inspect_certificate_file};
pub use server::{ClientAuth, Reload, ServerSettings, ServerTls};

/// The rustls this crate builds with, so that dependents name the same types (`ClientConfig`, `ServerConfig`).
pub use rustls;
/// The tokio adapter of that rustls (`server::TlsStream`, `client::TlsStream`).
pub use tokio_rustls;
