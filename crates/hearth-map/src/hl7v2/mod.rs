//! HL7 v2 to FHIR R4, following the HL7 v2-to-FHIR Implementation Guide.
//!
//! [`Hl7v2Mapper::map`] turns one parsed [`hearth_hl7v2::Message`] into a FHIR R4 Bundle plus a
//! [`Report`](crate::Report). The pieces (see `FRAMEWORK.md` next to this file):
//! - [`datatypes`]: the IG's datatype maps (CX → Identifier, XPN → HumanName, DTM → dateTime…);
//! - [`segments`]: one file per segment map (PID → Patient, PV1 → Encounter…);
//! - [`structures`]: one function per message structure, registered in a dispatch table;
//! - [`context`]: what a segment map reads and writes ([`Ctx`]): the consumption tracker, the bundle assembler, the
//!   report, and the resources in scope (patient, encounter, order…).
//!
//! ```
//! use hearth_map::hl7v2::{Hl7v2Mapper, MapOptions};
//! let bytes = b"MSH|^~\\&|ADT|NORTH|HEARTH|HUB|20240101120000+0100||ADT^A04|MSG-1|P|2.5.1\r\
//!               PID|1||123^^^HOSP^MR||DOE^JANE||19800101|F\r\
//!               PV1|1|O\r";
//! let msg = hearth_hl7v2::parse(bytes, &Default::default()).map_err(|e| e.to_string())?;
//! let mapper = Hl7v2Mapper::new(MapOptions::default());
//! let now = time::OffsetDateTime::UNIX_EPOCH;
//! let conv = mapper.map(&msg, now).map_err(|e| e.to_string())?;
//! assert_eq!(conv.bundle["type"], "transaction");
//! # Ok::<(), String>(())
//! ```

pub mod bundle;
pub mod context;
pub mod datatypes;
pub mod dtm;
pub mod segments;
pub mod structures;
pub mod tracker;

use std::collections::BTreeMap;
use std::sync::Arc;

use hearth_hl7v2::Message;

pub use bundle::{Assembler, Ref};
pub use context::Ctx;
pub use tracker::{At, Seg, Tracker};

use crate::vocab::Vocabulary;
use crate::{Conversion, MapError};

/// The Bundle type produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BundleType {
    /// `transaction`: every entry has a `request` (conditional update on a business identifier, else
    /// `PUT Type/id` with the deterministic id), so applying the Bundle twice changes nothing.
    #[default]
    Transaction,
    /// `message`: MessageHeader first, no requests.
    Message,
    /// `collection`: no requests.
    Collection,
}

impl BundleType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transaction => "transaction",
            Self::Message => "message",
            Self::Collection => "collection",
        }
    }
}

/// Options of the HL7 v2 mapper.
#[derive(Debug, Clone)]
pub struct MapOptions {
    pub bundle_type: BundleType,
    /// The time zone of times sent without an offset (an IANA zone, e.g. `Europe/Paris`). The mapper reads no
    /// clock or system setting: the edge (the CLI, the engine) resolves it, by default to the host's zone
    /// ([`host_timezone`]). `None` reads such times as UTC, with one warning in the report; a time is never
    /// dropped.
    pub facility_timezone: Option<jiff::tz::TimeZone>,
    pub vocabulary: Arc<Vocabulary>,
    /// Identifier systems for assigning authorities known only by a namespace id (CX-4.1 / HD-1), e.g.
    /// `"HOSP" → "https://hospital.example/mrn"`. A namespace not listed becomes
    /// `{namespace_system_base}{namespace}` (percent-encoded), e.g. `urn:hearth:v2:HOSP`.
    pub namespace_systems: BTreeMap<String, String>,
    /// Prefix of systems made up from namespace ids; see [`MapOptions::namespace_systems`].
    pub namespace_system_base: String,
}

impl Default for MapOptions {
    fn default() -> Self {
        Self {
            bundle_type: BundleType::Transaction,
            facility_timezone: None,
            vocabulary: Vocabulary::builtin(),
            namespace_systems: BTreeMap::new(),
            namespace_system_base: "urn:hearth:v2:".to_owned(),
        }
    }
}

impl MapOptions {
    /// Sets the facility time zone from an IANA name (`Europe/Paris`), using jiff's bundled tzdb.
    pub fn with_timezone(mut self, iana: &str) -> Result<Self, MapError> {
        let tz = jiff::tz::TimeZone::get(iana).map_err(|e| MapError::Invalid {
            location: "facility_timezone".to_owned(),
            reason: format!("unknown IANA time zone {iana:?}: {e}"),
        })?;
        self.facility_timezone = Some(tz);
        Ok(self)
    }

    /// The facility time zone as the edge (the CLI, the engine) resolves it: the named IANA zone when one is
    /// configured, else the host's ([`host_timezone`]: `TZ`, else `/etc/localtime`). A host whose zone cannot be
    /// told leaves it unset: times without an offset are then read as UTC and each report says so.
    pub fn with_timezone_or_host(self, iana: Option<&str>) -> Result<Self, MapError> {
        match iana {
            Some(zone) => self.with_timezone(zone),
            None => Ok(MapOptions { facility_timezone: host_timezone().ok(), ..self }),
        }
    }
}

/// The host's time zone: `TZ` when set, else `/etc/localtime` (jiff's bundled database resolves the name), the
/// default facility zone of the CLI and the engine (as other integration engines default to the server's zone).
/// Reads the environment and the file system: call it at the edge, never from a mapping.
pub fn host_timezone() -> Result<jiff::tz::TimeZone, MapError> {
    jiff::tz::TimeZone::try_system().map_err(|e| MapError::Invalid {
        location: "facility_timezone".to_owned(),
        reason: format!("cannot tell the host's time zone (set TZ or give one): {e}"),
    })
}

/// The HL7 v2 → FHIR R4 mapper. Cheap to share: build once, call [`Hl7v2Mapper::map`] per message.
#[derive(Debug, Clone, Default)]
pub struct Hl7v2Mapper {
    opts: MapOptions,
}

impl Hl7v2Mapper {
    pub fn new(opts: MapOptions) -> Self {
        Self { opts }
    }

    pub fn options(&self) -> &MapOptions {
        &self.opts
    }

    /// Converts one message. `now` is the conversion time (Bundle.timestamp, Provenance.recorded): the only value
    /// that differs between two conversions of the same message.
    pub fn map(&self, msg: &Message, now: time::OffsetDateTime) -> Result<Conversion, MapError> {
        let header = msg.header();
        let Some(registration) = structures::lookup(&header.structure, &header.message_code, &header.trigger_event)
        else {
            return Err(MapError::UnsupportedStructure {
                structure: header.structure.clone(),
                event: format!("{}^{}", header.message_code, header.trigger_event),
            });
        };
        let tracker = Tracker::new(msg);
        let mut ctx = Ctx::new(msg, &tracker, &self.opts, now);
        (registration.map)(&mut ctx)?;
        ctx.finish()
    }
}
