//! Building accept acknowledgements (`ACK`) from an outcome, in original (`AA/AE/AR`) or
//! enhanced (`CA/CE/CR`) mode, honouring MSH-15. Pure: the clock and the control id come in
//! through [`AckContext`].

use crate::error::{ErrorCode, Hl7Error, Location};
use crate::escape::escape;
use crate::header::{Hd, Header, PartialHeader};
use crate::separators::Separators;

/// Version written in MSH-12 when the original's is unknown.
pub const DEFAULT_VERSION: &str = "2.5.1";
/// Processing id written in MSH-11 when the original's is unknown.
pub const DEFAULT_PROCESSING_ID: &str = "P";
/// Longest MSA-3 text (its v2.5 length).
const MSA_TEXT_CHARS: usize = 80;
/// Longest ERR-8 text.
const ERR_TEXT_CHARS: usize = 250;

/// Acknowledgement mode: enhanced when the original has MSH-15 or MSH-16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    /// `AA`/`AE`/`AR`, always sent.
    Original,
    /// `CA`/`CE`/`CR`, sent as MSH-15 asks.
    Enhanced,
}

/// HL7 table 0155 (MSH-15/MSH-16 values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCondition {
    /// `AL`: always.
    Always,
    /// `NE`: never.
    Never,
    /// `ER`: on error or reject only.
    OnError,
    /// `SU`: on success only.
    OnSuccess,
}

impl AckCondition {
    /// Reads a table 0155 code; `None` for empty or unknown values.
    pub fn from_code(code: &str) -> Option<Self> {
        match code.trim() {
            "AL" => Some(Self::Always),
            "NE" => Some(Self::Never),
            "ER" => Some(Self::OnError),
            "SU" => Some(Self::OnSuccess),
            _ => None,
        }
    }
}

/// MSA-1 (table 0008).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    /// Application accept.
    AA,
    /// Application error.
    AE,
    /// Application reject.
    AR,
    /// Commit accept.
    CA,
    /// Commit error.
    CE,
    /// Commit reject.
    CR,
}

impl AckCode {
    /// The code as written in MSA-1.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AA => "AA",
            Self::AE => "AE",
            Self::AR => "AR",
            Self::CA => "CA",
            Self::CE => "CE",
            Self::CR => "CR",
        }
    }
}

/// Why a message was not accepted, as it goes into MSA-3 and ERR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckError {
    /// ERR-3.
    pub code: ErrorCode,
    /// ERR-2.
    pub location: Option<Location>,
    /// ERR-8 and MSA-3: a short reason for a person. Never put payload data here.
    pub message: String,
}

impl AckError {
    /// An error without location.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, location: None, message: message.into() }
    }

    /// The same error at a location.
    #[must_use]
    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }
}

impl From<&Hl7Error> for AckError {
    fn from(e: &Hl7Error) -> Self {
        Self { code: e.code(), location: e.location().cloned(), message: e.reason() }
    }
}

/// What happened to a message, as far as the sender is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Safely stored: `AA`/`CA`.
    Accepted,
    /// Not accepted because of its content or of a failure on Hearth's side (the journal is
    /// unavailable): `AE`/`CE`, as HL7 prescribes for "cannot be accepted for any other reason".
    Error(AckError),
    /// Not accepted because of its header: unreadable MSH, or unsupported message type, event,
    /// processing id or version (HL7's cases for `AR`/`CR`).
    Rejected(AckError),
}

impl Outcome {
    /// The outcome for input [`crate::parse`] refused: rejected when the header itself was
    /// unusable, an error otherwise.
    pub fn for_parse_error(e: &Hl7Error) -> Self {
        if e.is_header_error() { Self::Rejected(e.into()) } else { Self::Error(e.into()) }
    }

    fn error(&self) -> Option<&AckError> {
        match self {
            Self::Accepted => None,
            Self::Error(e) | Self::Rejected(e) => Some(e),
        }
    }
}

/// What the ACK needs besides the original: Hearth's identity, the time, a fresh control id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckContext {
    /// MSH-7, already formatted as an HL7 DTM (`20240131235959+0000`).
    pub now: String,
    /// MSH-10 of the ACK.
    pub control_id: String,
    /// MSH-3 when the original names no receiving application.
    pub application: Hd,
    /// MSH-4 when the original names no receiving facility.
    pub facility: Hd,
}

impl AckContext {
    /// A context with Hearth's default identity (`HEARTH`, no facility).
    pub fn new(now: impl Into<String>, control_id: impl Into<String>) -> Self {
        Self {
            now: now.into(),
            control_id: control_id.into(),
            application: Hd::named("HEARTH"),
            facility: Hd::default(),
        }
    }
}

/// The parts of the original MSH an ACK uses, borrowed from a [`Header`], a
/// [`PartialHeader`], or nothing (garbage input).
#[derive(Debug, Clone, Copy, Default)]
pub struct AckSubject<'a> {
    /// MSH-3.
    pub sending_application: Option<&'a Hd>,
    /// MSH-4.
    pub sending_facility: Option<&'a Hd>,
    /// MSH-5.
    pub receiving_application: Option<&'a Hd>,
    /// MSH-6.
    pub receiving_facility: Option<&'a Hd>,
    /// MSH-9.2.
    pub trigger_event: &'a str,
    /// MSH-10.
    pub control_id: &'a str,
    /// MSH-11.1.
    pub processing_id: &'a str,
    /// MSH-12.1.
    pub version: &'a str,
    /// MSH-15.
    pub accept_ack_type: &'a str,
    /// MSH-16.
    pub application_ack_type: &'a str,
    /// MSH-18, echoed so the reply can be encoded like the original (see
    /// [`crate::Charset::encode`]).
    pub charset: &'a str,
}

impl<'a> From<&'a Header> for AckSubject<'a> {
    fn from(h: &'a Header) -> Self {
        Self {
            sending_application: Some(&h.sending_application),
            sending_facility: Some(&h.sending_facility),
            receiving_application: Some(&h.receiving_application),
            receiving_facility: Some(&h.receiving_facility),
            trigger_event: &h.trigger_event,
            control_id: &h.control_id,
            processing_id: &h.processing_id,
            version: &h.version,
            accept_ack_type: &h.accept_ack_type,
            application_ack_type: &h.application_ack_type,
            charset: &h.charset,
        }
    }
}

impl<'a> From<&'a PartialHeader> for AckSubject<'a> {
    fn from(h: &'a PartialHeader) -> Self {
        Self {
            sending_application: Some(&h.sending_application),
            sending_facility: Some(&h.sending_facility),
            receiving_application: Some(&h.receiving_application),
            receiving_facility: Some(&h.receiving_facility),
            trigger_event: &h.trigger_event,
            control_id: &h.control_id,
            processing_id: &h.processing_id,
            version: &h.version,
            accept_ack_type: &h.accept_ack_type,
            application_ack_type: &h.application_ack_type,
            charset: "",
        }
    }
}

impl<'a> From<Option<&'a Header>> for AckSubject<'a> {
    fn from(h: Option<&'a Header>) -> Self {
        h.map(Self::from).unwrap_or_default()
    }
}

impl<'a> From<Option<&'a PartialHeader>> for AckSubject<'a> {
    fn from(h: Option<&'a PartialHeader>) -> Self {
        h.map(Self::from).unwrap_or_default()
    }
}

impl AckSubject<'_> {
    /// Enhanced when MSH-15 or MSH-16 is non-empty.
    pub fn mode(&self) -> AckMode {
        if self.accept_ack_type.trim().is_empty() && self.application_ack_type.trim().is_empty() {
            AckMode::Original
        } else {
            AckMode::Enhanced
        }
    }

    /// Whether an accept ACK is due for this outcome: always in original mode; in enhanced
    /// mode as MSH-15 says (empty or unknown: always).
    pub fn wants_ack(&self, outcome: &Outcome) -> bool {
        if self.mode() == AckMode::Original {
            return true;
        }
        let accepted = matches!(outcome, Outcome::Accepted);
        match AckCondition::from_code(self.accept_ack_type) {
            Some(AckCondition::Never) => false,
            Some(AckCondition::OnError) => !accepted,
            Some(AckCondition::OnSuccess) => accepted,
            Some(AckCondition::Always) | None => true,
        }
    }
}

/// The MSA-1 code for an outcome in a mode.
pub fn ack_code(mode: AckMode, outcome: &Outcome) -> AckCode {
    match (mode, outcome) {
        (AckMode::Original, Outcome::Accepted) => AckCode::AA,
        (AckMode::Original, Outcome::Error(_)) => AckCode::AE,
        (AckMode::Original, Outcome::Rejected(_)) => AckCode::AR,
        (AckMode::Enhanced, Outcome::Accepted) => AckCode::CA,
        (AckMode::Enhanced, Outcome::Error(_)) => AckCode::CE,
        (AckMode::Enhanced, Outcome::Rejected(_)) => AckCode::CR,
    }
}

fn cut(s: &str, chars: usize) -> &str {
    match s.char_indices().nth(chars) {
        Some((at, _)) => s.get(..at).unwrap_or(s),
        None => s,
    }
}

fn or_default<'a>(value: &'a str, default: &'a str) -> &'a str {
    if value.trim().is_empty() { default } else { value }
}

/// Builds the accept ACK for an original message (a [`Header`], a [`PartialHeader`] from
/// [`crate::peek_header`], or `None::<&Header>` for garbage), or `None` when MSH-15 says no ACK
/// is wanted for this outcome.
///
/// The ACK uses the standard delimiters `|^~\&`, terminates every segment with `\r`, mirrors
/// sender and receiver (falling back to the context's identity when the original names no
/// receiver), and echoes MSH-10 in MSA-2. Errors add MSA-3 and an ERR segment (ERR-2 location,
/// ERR-3 table 0357 code, ERR-4 `E`, ERR-8 reason).
pub fn accept_ack<'a>(original: impl Into<AckSubject<'a>>, outcome: &Outcome, ctx: &AckContext) -> Option<String> {
    let subject: AckSubject<'a> = original.into();
    if !subject.wants_ack(outcome) {
        return None;
    }
    Some(build(&subject, ack_code(subject.mode(), outcome), outcome, ctx))
}

/// When a listener answers, over a synchronous transport such as MLLP where the sender waits for a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AckPolicy {
    /// One acknowledgement for every message, whatever MSH-15 says: a sender blocked waiting for a reply must
    /// never hang. Enhanced-mode codes (`CA`/`CE`/`CR`) when MSH-15 or MSH-16 is valued, `AA`/`AE`/`AR`
    /// otherwise. What most MLLP peers expect, and the default.
    #[default]
    Always,
    /// HL7's enhanced mode to the letter: the accept acknowledgement is sent as MSH-15 asks. When MSH-15 asks
    /// for none but MSH-16 asks for an application acknowledgement of this outcome, that one is sent instead
    /// (`AA`/`AE`/`AR`): for Hearth, processing at receipt is the durable journal write. `NE`/`NE` gets nothing.
    Msh15,
}

/// The one acknowledgement a listener sends for a message under `policy`: `(MSA-1, ACK text)`, or `None` when
/// the original asked for none.
pub fn respond<'a>(
    original: impl Into<AckSubject<'a>>,
    outcome: &Outcome,
    ctx: &AckContext,
    policy: AckPolicy,
) -> Option<(AckCode, String)> {
    let subject: AckSubject<'a> = original.into();
    let mode = subject.mode();
    let code = match policy {
        AckPolicy::Always => ack_code(mode, outcome),
        AckPolicy::Msh15 if subject.wants_ack(outcome) => ack_code(mode, outcome),
        AckPolicy::Msh15 if condition_holds(subject.application_ack_type, outcome) => {
            ack_code(AckMode::Original, outcome)
        }
        AckPolicy::Msh15 => return None,
    };
    Some((code, build(&subject, code, outcome, ctx)))
}

/// Whether a table 0155 condition asks for an acknowledgement of this outcome (empty or unknown: no).
fn condition_holds(code: &str, outcome: &Outcome) -> bool {
    let accepted = matches!(outcome, Outcome::Accepted);
    match AckCondition::from_code(code) {
        Some(AckCondition::Always) => true,
        Some(AckCondition::OnError) => !accepted,
        Some(AckCondition::OnSuccess) => accepted,
        Some(AckCondition::Never) | None => false,
    }
}

fn build(subject: &AckSubject<'_>, code: AckCode, outcome: &Outcome, ctx: &AckContext) -> String {
    let seps = Separators::default();
    let esc = |s: &str| escape(s, &seps).into_owned();
    let hd = |h: Option<&Hd>| h.map(|h| h.to_hl7(&seps)).unwrap_or_default();
    let mine = |theirs: Option<&Hd>, fallback: &Hd| match theirs {
        Some(h) if !h.is_empty() => h.to_hl7(&seps),
        _ => fallback.to_hl7(&seps),
    };
    let mut msh = format!(
        "MSH|^~\\&|{}|{}|{}|{}|{}||ACK^{}^ACK|{}|{}|{}",
        mine(subject.receiving_application, &ctx.application),
        mine(subject.receiving_facility, &ctx.facility),
        hd(subject.sending_application),
        hd(subject.sending_facility),
        esc(&ctx.now),
        esc(subject.trigger_event),
        esc(&ctx.control_id),
        esc(or_default(subject.processing_id, DEFAULT_PROCESSING_ID)),
        esc(or_default(subject.version, DEFAULT_VERSION)),
    );
    if !subject.charset.is_empty() {
        msh.push_str("||||||");
        msh.push_str(&esc(subject.charset));
    }
    let mut ack = format!("{msh}\rMSA|{}|{}", code.as_str(), esc(subject.control_id));
    if let Some(e) = outcome.error() {
        ack.push('|');
        ack.push_str(&esc(cut(&e.message, MSA_TEXT_CHARS)));
        let location = e.location.as_ref().map(Location::to_err_location).unwrap_or_default();
        ack.push_str(&format!(
            "\rERR||{location}|{}^{}^HL70357|E||||{}",
            e.code.code(),
            e.code.text(),
            esc(cut(&e.message, ERR_TEXT_CHARS)),
        ));
    }
    ack.push('\r');
    ack
}

#[cfg(test)]
mod tests;
