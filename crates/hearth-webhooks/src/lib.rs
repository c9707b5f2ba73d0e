//! Contact-center webhooks (Twilio, Amazon Connect, Genesys Cloud, and a generic JSON shape) to FHIR R4.
//!
//! This crate is pure: it does no IO and keeps no state. The HTTP source calls, in order:
//! 1. [`verify`] with the channel's [`AuthConfig`] (HTTP 401 on [`AuthError`]); nothing else reads the body first;
//! 2. [`parse`] with the channel's [`Profile`]: a [`Parsed::Event`], or [`Parsed::Ignored`] for authentic events
//!    that are not calls, SMS or chats (journal them as filtered); HTTP 400 on [`ParseError`];
//! 3. deduplicates on [`Event::event_key`], looks up [`Event::customer_number`] in the patient index (fed by
//!    [`patient_phones`]), and calls [`map`] for the transaction Bundle.
//!
//! ```
//! use hearth_webhooks::{AuthConfig, MapConfig, Parsed, PatientLink, Profile, Request, Secret};
//! use time::macros::datetime;
//!
//! let body = b"CallSid=CA01&CallStatus=no-answer&Direction=inbound&From=%2B14155550100&To=%2B14155550199";
//! let headers = vec![("X-Twilio-Signature".to_owned(), "FO+EFiT1hs8Ttjf8fduwlgiKKtY=".to_owned())];
//! let req = Request {
//!     public_url: "https://hearth.example.org/webhooks/twilio-voice",
//!     headers: &headers,
//!     content_type: Some("application/x-www-form-urlencoded"),
//!     body,
//!     now: datetime!(2025-06-03 14:00 UTC),
//! };
//! let auth = AuthConfig::TwilioSignature { auth_token: Secret::new("synthetic-token") };
//! hearth_webhooks::verify(&auth, &req)?;
//! let Parsed::Event(event) = hearth_webhooks::parse(&Profile::builtin("twilio-voice")?, &req)? else {
//!     unreachable!("a call status is an event")
//! };
//! assert_eq!(event.event_key, "CA01/no-answer");
//! assert_eq!(event.customer_number(), Some("+14155550100"));
//! let cfg = MapConfig { care_team_owner: Some("CareTeam/care-team-outreach".into()), ..MapConfig::default() };
//! let out = hearth_webhooks::map(&event, &PatientLink::Unknown, &cfg, datetime!(2025-06-03 14:00 UTC));
//! assert_eq!(out.report["patient"], "unknown");
//! assert_eq!(out.bundle["entry"][1]["resource"]["resourceType"], "Task"); // a missed call needs a callback
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod auth;
mod body;
mod event;
mod index;
mod link;
mod map;
mod parse;
mod phone;
mod profile;

pub use auth::{AuthConfig, AuthError, Secret, signed_url, verify};
pub use event::{Direction, Event, FollowUp, Ignored, Medium, Parsed};
pub use index::{PatientIdentifier, PatientPhone, patient_identifiers, patient_phones};
pub use link::{Candidate, LinkRule, Lookup, PatientIdentity, authority_system, link_from};
pub use map::{
    Conversion, DURATION_EXTENSION, FOLLOW_UP_SYSTEM, MAPPING_SYSTEM, MapConfig, PatientLink, TASK_OWNER_TYPES,
    fhir_time, map, task_owner_allowed,
};
pub use parse::{ParseError, parse};
pub use phone::normalize_e164;
pub use profile::{
    BUILTIN_NAMES, BodyKind, ChannelTarget, Condition, Envelope, Fields, FollowUpRule, IgnoreRule, Profile,
    ProfileError, Vendor,
};

use time::OffsetDateTime;

/// One webhook request as the HTTP source received it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The URL the vendor called, as the vendor saw it: the configured public base (Hearth runs behind a proxy)
    /// + path + query. Twilio signs it byte for byte.
    pub public_url: &'a str,
    pub headers: &'a [(String, String)],
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
    /// The receive time, for replay windows.
    pub now: OffsetDateTime,
}
