//! [`Ctx`]: everything a segment map reads and writes during one conversion.

use hearth_fhir::ids::deterministic_id;
use hearth_hl7v2::Message;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::bundle::{Assembler, Obj, Ref, put};
use super::dtm;
use super::tracker::{At, Seg, Tracker};
use super::{BundleType, MapOptions, segments};
use crate::report::{Report, WarningKind};
use crate::{Conversion, MAPPING_NAME, MAPPING_VERSION, MapError};

/// The code system of Hearth's `meta.tag` and Provenance agent identifier naming the mapping.
pub use hearth_core::MAPPING_SYSTEM;

/// The resources in scope while walking a message: a segment map links what it creates to them (an AL1's
/// AllergyIntolerance to `patient`, an OBX's Observation to `patient`, `encounter`, `order`, `report`…). A
/// structure function sets and clears them as it enters and leaves segment groups.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub patient: Option<Ref>,
    pub encounter: Option<Ref>,
    /// ServiceRequest / MedicationRequest of the current order group (ORC/OBR/RXO/RXE).
    pub order: Option<Ref>,
    /// DiagnosticReport of the current OBR group.
    pub report: Option<Ref>,
    pub specimen: Option<Ref>,
    /// The last Observation (NTE after OBX adds a note to it).
    pub observation: Option<Ref>,
    /// Free slots for structure-specific links (e.g. `"appointment"`, `"document"`, `"immunization"`).
    pub other: Vec<(&'static str, Ref)>,
}

impl Scope {
    pub fn get_other(&self, key: &str) -> Option<&Ref> {
        self.other.iter().find(|(k, _)| *k == key).map(|(_, r)| r)
    }

    pub fn set_other(&mut self, key: &'static str, r: Option<Ref>) {
        self.other.retain(|(k, _)| *k != key);
        if let Some(r) = r {
            self.other.push((key, r));
        }
    }
}

/// One conversion's state. Created by [`super::Hl7v2Mapper::map`]; structures and segment maps receive
/// `&mut Ctx`.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub msg: &'a Message,
    pub tracker: &'a Tracker<'a>,
    pub opts: &'a MapOptions,
    pub now: OffsetDateTime,
    pub report: Report,
    pub bundle: Assembler,
    pub scope: Scope,
    /// Resources MessageHeader.focus names (the main resources of the message).
    pub focus: Vec<Ref>,
    /// A time without offset was met and no facility zone was given (reported once).
    pub(crate) naive_time_warned: bool,
    /// How many times each identity key was asked for (see [`Ctx::nth`]).
    seen: std::collections::HashMap<String, usize>,
    /// MSH-10, or for a message sent without one a digest of its text (see [`Ctx::message_key`]).
    control_key: String,
}

impl<'a> Ctx<'a> {
    pub fn new(msg: &'a Message, tracker: &'a Tracker<'a>, opts: &'a MapOptions, now: OffsetDateTime) -> Self {
        Self {
            msg,
            tracker,
            opts,
            now,
            report: Report { mapping: format!("{MAPPING_NAME}/{MAPPING_VERSION}"), ..Report::default() },
            bundle: Assembler::default(),
            scope: Scope::default(),
            focus: Vec::new(),
            naive_time_warned: false,
            seen: std::collections::HashMap::new(),
            control_key: match msg.header().control_id.as_str() {
                "" => deterministic_id("MessageText", &[msg.text()]),
                id => id.to_owned(),
            },
        }
    }

    /// Every segment, in message order, tracked.
    pub fn segments(&self) -> Vec<Seg<'a>> {
        self.tracker.segments().collect()
    }

    /// The first segment with this name.
    pub fn segment(&self, name: &str) -> Option<Seg<'a>> {
        self.tracker.segments().find(|s| s.name() == name)
    }

    pub fn warn(&mut self, at: impl ToString, kind: WarningKind, message: impl Into<String>) {
        self.report.warn(at.to_string(), kind, message);
    }

    /// The message's natural key: sending application, sending facility, control id (MSH-3, MSH-4, MSH-10). A
    /// message sent without a control id (accepted by a converter of files, see
    /// `hearth_hl7v2::ParseOptions::require_control_id`) is keyed by a digest of its text instead, so two such
    /// messages never share the ids of their per-message resources.
    pub fn message_key(&self) -> [&str; 3] {
        let h = self.msg.header();
        [h.sending_application.raw.as_str(), h.sending_facility.raw.as_str(), self.control_key.as_str()]
    }

    /// A deterministic id from the message's natural key and a local discriminator (segment name and
    /// occurrence, e.g. `["PV1", "1"]`): for resources without a business identifier.
    pub fn natural_id(&self, rtype: &str, local: &[&str]) -> String {
        let [a, f, c] = self.message_key();
        let mut parts: Vec<&str> = vec![a, f, c];
        parts.extend_from_slice(local);
        deterministic_id(rtype, &parts)
    }

    /// The 1-based count of calls with this key in this message. Repeating segments that have no identifier of
    /// their own (an SPM without SPM-2, an OBX without OBX-21) are told apart by their rank under their parent
    /// (`parent id + rank`), never by their set id: senders repeat set ids (`SPM|1` in every order group), and a
    /// corrected message that resends the same groups gives the same ranks, so the same ids.
    pub fn nth(&mut self, key: &[&str]) -> usize {
        let n = self.seen.entry(key.join("\u{1f}")).or_default();
        *n += 1;
        *n
    }

    /// [`Ctx::natural_id`] discriminated by the segment (`OBX`, occurrence).
    pub fn segment_id(&self, rtype: &str, seg: &Seg<'_>) -> String {
        let occ = seg.occurrence().to_string();
        self.natural_id(rtype, &[seg.name(), &occ])
    }

    /// Adds a resource; see [`Assembler::add`].
    pub fn add(&mut self, rtype: &'static str, id: String, resource: Obj, identifier: Option<(&str, &str)>) -> Ref {
        self.bundle.add(rtype, id, resource, identifier)
    }

    /// Looks a code up in an IG concept map (`"AdministrativeSex"`, `"PatientClass"`…): `(code, display, system)`.
    pub fn concept(&self, map: &str, code: &str) -> Option<(String, Option<String>, Option<String>)> {
        let c = self.opts.vocabulary.lookup(map, code)?;
        Some((c.code.clone(), c.display.clone(), c.system.clone()))
    }

    /// A DTM component or value → FHIR dateTime; invalid values are skipped with a warning.
    pub fn dtm_datetime(&mut self, raw: &str, at: At<'_>) -> Option<Value> {
        let d = self.parse_dtm(raw, at)?;
        let tz = self.zone_for(&d, at);
        Some(Value::from(d.datetime(&tz)))
    }

    /// A DTM → FHIR date (a time part is dropped).
    pub fn dtm_date(&mut self, raw: &str, at: At<'_>) -> Option<Value> {
        Some(Value::from(self.parse_dtm(raw, at)?.date()))
    }

    /// A DTM → FHIR instant (a time padded to seconds, with an offset); `None` for a date alone (no warning).
    pub fn dtm_instant(&mut self, raw: &str, at: At<'_>) -> Option<Value> {
        let d = self.parse_dtm(raw, at)?;
        let tz = self.zone_for(&d, at);
        d.instant(&tz).map(Value::from)
    }

    /// The zone a DTM's time is read in: the facility zone. Without one (a caller that did not resolve the
    /// host's zone) UTC, said once per message in the report, so that a time is never dropped.
    fn zone_for(&mut self, d: &dtm::Dtm, at: At<'_>) -> jiff::tz::TimeZone {
        if let Some(tz) = &self.opts.facility_timezone {
            return tz.clone();
        }
        if d.time.is_some() && d.offset.is_none() && !self.naive_time_warned {
            self.naive_time_warned = true;
            self.warn(at, WarningKind::InvalidValue, "time without offset and no facility time zone: read as UTC");
        }
        jiff::tz::TimeZone::UTC
    }

    fn parse_dtm(&mut self, raw: &str, at: At<'_>) -> Option<dtm::Dtm> {
        match dtm::parse(raw) {
            Ok(d) => Some(d),
            Err(reason) => {
                self.warn(at, WarningKind::InvalidValue, format!("invalid date/time skipped: {reason}"));
                None
            }
        }
    }

    /// Field `n` as a FHIR dateTime (first component).
    pub fn datetime(&mut self, seg: &Seg<'_>, n: usize) -> Option<Value> {
        let v = seg.value(n)?;
        self.dtm_datetime(&v, seg.at(n))
    }

    /// Field `n` as a FHIR date.
    pub fn date(&mut self, seg: &Seg<'_>, n: usize) -> Option<Value> {
        let v = seg.value(n)?;
        self.dtm_date(&v, seg.at(n))
    }

    /// The mapping tag put in every resource's `meta.tag`.
    pub fn mapping_tag() -> Value {
        json!({ "system": MAPPING_SYSTEM, "code": format!("{MAPPING_NAME}/{MAPPING_VERSION}"), "display": "Converted by Hearth from HL7 v2" })
    }

    /// Builds MessageHeader and Provenance, lists Z-segments and unconsumed fields, and assembles the Bundle.
    pub fn finish(mut self) -> Result<Conversion, MapError> {
        if self.bundle.is_empty() {
            return Err(MapError::Invalid {
                location: "message".to_owned(),
                reason: "no segment of this message produced a resource".to_owned(),
            });
        }
        let header = segments::msh::map(&mut self)?;
        segments::msh::provenance(&mut self, &header);
        for s in self.tracker.segments() {
            if s.name().starts_with('Z') {
                self.report.warn(s.name(), WarningKind::ZSegment, "Z-segment kept in the report, not mapped");
            }
        }
        for w in self.msg.warnings() {
            self.report.warn("message", WarningKind::Parser, w.to_string());
        }
        self.report.unmapped = self.tracker.unmapped();
        let bundle_type = self.opts.bundle_type;
        if bundle_type == BundleType::Message {
            self.bundle.move_first(&header);
        }
        let tag = Self::mapping_tag();
        let [app, fac, ctrl] = self.message_key();
        let id = deterministic_id("Bundle", &[app, fac, ctrl]);
        let mut b = Obj::new();
        b.insert("resourceType".into(), Value::from("Bundle"));
        b.insert("id".into(), Value::from(id));
        b.insert("meta".into(), json!({ "tag": [tag] }));
        let system = segments::msh::source_system(&self);
        if !self.msg.header().control_id.is_empty() {
            b.insert("identifier".into(), json!({ "system": system, "value": ctrl }));
        }
        b.insert("type".into(), Value::from(bundle_type.as_str()));
        put(&mut b, "timestamp", self.message_time());
        let entries = self.bundle.into_entries(bundle_type, &tag);
        b.insert("entry".into(), Value::Array(entries));
        Ok(Conversion { bundle: Value::Object(b), report: self.report })
    }
}

impl Ctx<'_> {
    /// MSH-7 as a FHIR instant, with the offset as sent (IG `MSH[Bundle]`: Bundle.timestamp). The conversion
    /// time is Provenance.recorded. A date alone or an invalid value leaves the timestamp out, with a warning.
    fn message_time(&mut self) -> Option<Value> {
        let msh = self.segment("MSH")?;
        let raw = msh.value(7)?;
        let t = self.dtm_instant(&raw, msh.at(7));
        if t.is_none() && dtm::parse(&raw).is_ok() {
            self.warn(msh.at(7), WarningKind::InvalidValue, "message time without a time of day: no Bundle.timestamp");
        }
        t
    }
}

/// An `OffsetDateTime` as a FHIR instant (seconds precision).
pub fn instant(t: OffsetDateTime) -> Option<String> {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory]:[offset_minute]"
    );
    t.format(&fmt).ok()
}
