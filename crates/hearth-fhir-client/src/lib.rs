//! FHIR R4 REST wire layer: the only crate that talks HTTP to FHIR servers; the FHIR destination builds on
//! it. It works on bytes and `serde_json` (never on the FHIR model crate, which is slow to compile).
//!
//! - [`FhirClient::send`] delivers one transaction Bundle as the mapper wrote it, either whole
//!   ([`Payload::Bundle`]: `POST [base]`, all or nothing) or as one request per entry
//!   ([`Payload::Resources`]: conditional updates and creates in reference order, with the references
//!   rewritten to what the server assigned). Before sending, conditional updates lose their body `id` and
//!   references by identifier become conditional references, so that a resend changes nothing and the
//!   server's own ids never fight Hearth's (see `prepare.rs`).
//! - Outcomes are read the FHIR way: a transaction-response is checked entry by entry (`"201 Created"`
//!   counts by its leading digits); failures come back as one [`Error`] whose [`ErrorClass`] says what to
//!   do: `Transient` (429, 5xx, network, with [`Error::retry_after`]), `Permanent` (400, 404, 409, 412,
//!   422, with the OperationOutcome in [`Error::outcome`]) or `Unauthorized` (401 after one token
//!   renewal, 403, or the token endpoint refusing us: an alert, not a dead letter).
//! - [`Auth`]: none, basic, static bearer, OAuth 2.0 client credentials with a secret, and SMART Backend
//!   Services (a JWT client assertion signed RS384 or ES384). Tokens are cached, renewed before they
//!   expire, and renewed once when the server answers 401.
//! - At most [`ClientSettings::max_in_flight`] requests are on the wire at once (the client owns the
//!   bound; callers beyond it wait). Each request has a connect and a total timeout.
//! - [`FhirClient::probe`]: `GET [base]/metadata`, for readiness.
//!
//! TLS is rustls with the ring provider: pass a `rustls::ClientConfig` for private CAs or client
//! certificates, or let the client trust the system's roots.
//!
//! ```
//! use hearth_fhir_client::{Auth, ClientSettings, FhirClient, JwtAlg};
//!
//! let mut settings = ClientSettings::new("https://fhir.example.org/r4");
//! settings.request_timeout_ms = 10_000;
//! settings.max_in_flight = 4;
//! settings.headers.push(("X-Tenant".into(), "north".into()));
//! settings.auth = Auth::Bearer { token: "opaque-token".into() };
//! assert!(settings.validate().is_ok());
//!
//! // A SMART key that does not parse is a settings error, found before any request.
//! settings.auth = Auth::SmartBackend {
//!     token_url: "https://auth.example.org/token".into(),
//!     client_id: "hearth".into(),
//!     private_key_pem: "not a key".into(),
//!     alg: JwtAlg::Es384,
//!     kid: None,
//!     scope: Some("system/*.write".into()),
//! };
//! assert!(settings.validate().is_err());
//! ```
//!
//! With a server (`tests/server.rs` runs these against a real one):
//!
//! ```no_run
//! # async fn demo(bundle: &[u8]) -> Result<(), hearth_fhir_client::Error> {
//! use hearth_fhir_client::{ClientSettings, ErrorClass, FhirClient, Payload};
//!
//! let client = FhirClient::new(&ClientSettings::new("http://127.0.0.1:8090/fhir"), None)?;
//! assert!(client.probe().await?.is_r4());
//! match client.send(bundle, Payload::Bundle).await {
//!     Ok(sent) => println!("{} entries stored", sent.entries.len()),
//!     Err(e) if e.class() == ErrorClass::Transient => println!("retry in {:?}", e.retry_after()),
//!     Err(e) => println!("{}: {}", e.class().as_str(), e.failure_text()),
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod auth;
mod client;
mod error;
mod jwt;
mod outcome;
mod prepare;
mod resources;
mod settings;

pub use client::{Capability, FhirClient};
pub use error::{Error, ErrorClass};
pub use outcome::{EntryOutcome, Sent};
pub use settings::{Auth, ClientAuthMethod, ClientSettings, JwtAlg, Payload};
