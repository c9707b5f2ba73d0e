//! `amqps://`: the AMQP connection over TLS, with the rustls configuration hearth-tls builds.
//!
//! lapin's own TLS path (`OwnedTLSConfig`) would add the CA file to a built-in trust store and build its own
//! rustls configuration. Hearth instead hands lapin a transport it connected itself ([`Connection::connector`]):
//! a TCP stream upgraded with exactly the configuration from [`hearth_tls::client_config`] (only the given CA
//! is trusted, server-name verification on, TLS 1.2+, ring). With a client certificate and
//! `?auth_mechanism=external` in the URI, RabbitMQ takes the user from the certificate (EXTERNAL).

use std::sync::Arc;

use hearth_tls::{ClientSettings, ClientTls};
use lapin::tcp::{AMQPUriTcpExt, RustlsConnector};
use lapin::uri::{AMQPScheme, AMQPUri};
use lapin::{Connection, ConnectionProperties};

/// Connects to an `amqps://` URI. The error is a one-line description (certificate and TLS problems included).
pub(crate) async fn connect(
    uri: AMQPUri,
    props: ConnectionProperties,
    settings: &ClientSettings,
) -> Result<Connection, String> {
    // Files are read at every connect, so a renewed client certificate is used from the next reconnect on.
    let client = ClientTls::new(settings).map_err(|e| format!("amqps TLS settings: {e}"))?;
    let server_name = client.server_name_for(&uri.authority.host).map_err(|e| e.to_string())?.to_str().into_owned();
    let connector = Arc::new(RustlsConnector::from(client.config()));
    let runtime = lapin::runtime::default_runtime().map_err(|e| format!("connect: {e}"))?;
    Connection::connector(
        uri,
        runtime,
        async move |uri: AMQPUri, runtime| {
            let mut plain = uri;
            plain.scheme = AMQPScheme::AMQP;
            let tcp = plain.connect_async(&runtime).await?;
            Ok(tcp.into_rustls(&connector, &server_name).await?)
        },
        props,
    )
    .await
    .map_err(|e| format!("connect: {e}"))
}
