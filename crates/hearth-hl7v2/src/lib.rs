//! HL7 v2 guard layer: decoding, full-consumption parsing, escapes, batches, typed header and
//! ACKs. Pure: no IO, no async, no clock.
//!
//! This crate owns the question "is this a whole, readable HL7 v2 message?" and answers it
//! strictly: [`parse`] returns a [`Message`] only when every input byte is accounted for (a
//! segment, a line terminator, or a blank line), and refuses with an [`Hl7Error`] that says
//! where (segment, field) and carries an HL7 table 0357 code for the negative ACK. Sloppy but
//! complete input (LF line ends, blank lines, a BOM, Z-segments, odd values outside MSH) is
//! accepted, with [`Warning`]s where useful. Data types outside MSH are not checked here.
//!
//! # Example
//!
//! ```
//! use hearth_hl7v2::{AckContext, Outcome, ParseOptions, accept_ack, parse};
//!
//! let bytes = b"MSH|^~\\&|LAB|NORTH|HEARTH|HUB|20240101120000||ADT^A04|MSG-1|P|2.5.1\r\
//!               PID|1||123^^^HOSP^MR||DOE^JANE^Q||19800101|F\n\
//!               ZPI|custom\\T\\value\n";
//! let msg = parse(bytes, &ParseOptions::default())?;
//!
//! let header = msg.header();
//! assert_eq!(header.sending_application.namespace_id, "LAB");
//! assert_eq!(header.structure, "ADT_A01"); // derived: MSH-9.3 is empty
//! assert_eq!(msg.query("PID-5.2")?, Some("JANE"));
//! let z = msg.segment("ZPI").and_then(|s| s.field(1)).map(|f| f.unescaped().into_owned());
//! assert_eq!(z.as_deref(), Some("custom&value"));
//!
//! let ack = accept_ack(header, &Outcome::Accepted, &AckContext::new("20240101120001", "ACK-1"));
//! assert_eq!(
//!     ack.as_deref(),
//!     Some("MSH|^~\\&|HEARTH|HUB|LAB|NORTH|20240101120001||ACK^A04^ACK|ACK-1|P|2.5.1\rMSA|AA|MSG-1\r")
//! );
//! # Ok::<(), hearth_hl7v2::Hl7Error>(())
//! ```
//!
//! # Why not `hl7-parser` at run time
//!
//! The workspace planned this crate as a guard over `hl7-parser` 0.3. Reading its source, every
//! part that matters here had to be replaced: it reports success on partial input (segments
//! after an LF, a blank line or an empty segment are silently dropped), reads MSH-2 as exactly
//! four characters so a v2.7 `^~\&#` header shifts every MSH field, its escape decoder slices
//! bytes with character indexes and so panics on non-ASCII text before an escape, it ignores
//! `\Xhh\` and `\H\`, fails on a UTF-8 BOM, has no batch support, and allocates a `Vec` per field, repetition, component and subcomponent. What was left was
//! splitting on one-byte delimiters, which is simpler and several times faster done directly on
//! byte offsets (`benches/parse.rs` measured 5 to 19 times faster). `hl7-parser` stays a dev-dependency: tests use it as
//! a differential oracle on well-formed input.
//!
//! # Pieces
//! - [`parse`], [`ParseOptions`], [`Message`] (segments, fields, [`Path`] queries).
//! - [`Header`] (typed MSH), [`peek_header`] / [`PartialHeader`] for refused input.
//! - [`unescape`] / [`escape`]: `unescape(escape(s)) == s` for every `s`.
//! - [`split_batch`]: concatenated messages and FHS/BHS…BTS/FTS batches.
//! - [`ack`]: accept ACKs in original and enhanced mode.
//!
//! Segment terminators: HL7 says CR; CR, LF and CRLF are all accepted. A raw LF inside a field
//! therefore starts a new line and is refused as an invalid segment, never silently kept or
//! dropped: senders must escape it (`\X0A\`, `\.br\`).

#![forbid(unsafe_code)]

pub mod ack;
mod batch;
mod charset;
mod error;
mod escape;
mod header;
mod lines;
mod message;
mod parse;
mod path;
mod separators;
mod warning;

pub use ack::{AckCode, AckContext, AckError, AckMode, AckPolicy, Outcome, accept_ack, respond};
pub use batch::{Batch, BatchHeader, split_batch};
pub use charset::Charset;
pub use error::{ErrorCode, ErrorKind, Hl7Error, Location, Snippet};
pub use escape::{escape, unescape};
pub use header::{Hd, Header, PartialHeader, default_structure, peek_header};
pub use message::{Component, Field, Message, Repetition, Segment, Subcomponent};
pub use parse::{ParseOptions, parse};
pub use path::Path;
pub use separators::Separators;
pub use warning::Warning;
