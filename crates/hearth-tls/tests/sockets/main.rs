//! hearth-tls over real loopback sockets, with the real MLLP codec on top: mutual TLS, handshake floods,
//! certificate rotation, an independent TLS client, and the file checks `hearth check` relies on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod files;
mod flood;
mod independent;
mod mtls;
mod rotation;
