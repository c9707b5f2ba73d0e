//! MSH → MessageHeader (IG `MSH[MessageHeader]`) and the transformation Provenance (IG
//! `MSH[Provenance-Transformation]`), which names the source message and Hearth's mapping (name/version).

use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, put};
use crate::hl7v2::context::{Ctx, MAPPING_SYSTEM, instant};
use crate::hl7v2::datatypes::{hd_system, organization_hd, v2_table};
use crate::{MAPPING_NAME, MAPPING_VERSION, MapError};

/// Fields of MSH consumed by the transport layer (separators, ack types, charset): not data to map.
const PROTOCOL_FIELDS: [usize; 6] = [1, 2, 11, 15, 16, 18];

/// The id of this message's MessageHeader (known before it is built, so EVN's Provenance can target it).
pub fn header_ref(ctx: &Ctx<'_>) -> Ref {
    Ref { rtype: "MessageHeader", id: ctx.natural_id("MessageHeader", &[]) }
}

/// The system naming the sending application (MSH-3), for Bundle.identifier and Provenance.entity.
pub fn source_system(ctx: &Ctx<'_>) -> String {
    let h = &ctx.msg.header().sending_application;
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    hd_system(
        ctx,
        opt(&h.namespace_id).as_deref(),
        opt(&h.universal_id).as_deref(),
        opt(&h.universal_id_type).as_deref(),
    )
    .unwrap_or_else(|| format!("{}unknown-application", ctx.opts.namespace_system_base))
}

fn endpoint(ctx: &Ctx<'_>, hd: &hearth_hl7v2::Hd) -> Option<String> {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    hd_system(
        ctx,
        opt(&hd.namespace_id).as_deref(),
        opt(&hd.universal_id).as_deref(),
        opt(&hd.universal_id_type).as_deref(),
    )
}

/// Builds the MessageHeader; called by [`Ctx::finish`] after the structure ran (so `focus` is known).
pub fn map(ctx: &mut Ctx<'_>) -> Result<Ref, MapError> {
    let msh =
        ctx.segment("MSH").ok_or_else(|| MapError::Invalid { location: "MSH".into(), reason: "no MSH".into() })?;
    for n in PROTOCOL_FIELDS.into_iter().chain([3, 4, 5, 6, 7, 9, 10, 12]) {
        msh.mark(n);
    }
    let h = ctx.msg.header().clone();
    let mut o = Obj::new();
    o.insert("eventCoding".into(), json!({ "system": v2_table("0003"), "code": h.trigger_event.clone() }));
    if h.trigger_event.is_empty() {
        o.insert("eventCoding".into(), json!({ "system": v2_table("0076"), "code": h.message_code.clone() }));
    }
    let mut source = Obj::new();
    put(
        &mut source,
        "name",
        (!h.sending_application.namespace_id.is_empty())
            .then(|| Value::from(h.sending_application.namespace_id.clone())),
    );
    source.insert("endpoint".into(), Value::from(source_system(ctx)));
    o.insert("source".into(), Value::Object(source));
    if let Some(ep) = endpoint(ctx, &h.receiving_application) {
        let mut d = Obj::new();
        put(
            &mut d,
            "name",
            (!h.receiving_application.namespace_id.is_empty())
                .then(|| Value::from(h.receiving_application.namespace_id.clone())),
        );
        d.insert("endpoint".into(), Value::from(ep));
        if let Some(r) = facility(ctx, &h.receiving_facility) {
            d.insert("receiver".into(), r.reference());
        }
        o.insert("destination".into(), json!([Value::Object(d)]));
    }
    if let Some(s) = facility(ctx, &h.sending_facility) {
        o.insert("sender".into(), s.reference());
    }
    if !ctx.focus.is_empty() {
        o.insert("focus".into(), Value::Array(ctx.focus.iter().map(Ref::reference).collect()));
    }
    let rf = header_ref(ctx);
    Ok(ctx.add("MessageHeader", rf.id, o, None))
}

fn facility(ctx: &mut Ctx<'_>, hd: &hearth_hl7v2::Hd) -> Option<Ref> {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    organization_hd(
        ctx,
        opt(&hd.namespace_id).as_deref(),
        opt(&hd.universal_id).as_deref(),
        opt(&hd.universal_id_type).as_deref(),
    )
}

/// The transformation Provenance: targets every resource of the Bundle, names the source message (entity) and
/// the mapping (agent), recorded at the conversion time.
pub fn provenance(ctx: &mut Ctx<'_>, header: &Ref) {
    let h = ctx.msg.header();
    let targets: Vec<Value> = ctx.bundle.refs().filter(|r| r.rtype != "Provenance").map(Ref::reference).collect();
    let mapping = format!("{MAPPING_NAME}/{MAPPING_VERSION}");
    let mut o = Obj::new();
    o.insert("target".into(), Value::Array(targets));
    put(&mut o, "recorded", instant(ctx.now).map(Value::from));
    o.insert(
        "activity".into(),
        json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation", "code": "CREATE", "display": "create" }], "text": "HL7 v2 to FHIR R4 transformation" }),
    );
    o.insert(
        "agent".into(),
        json!([{
            "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "assembler", "display": "Assembler" }] },
            "who": { "identifier": { "system": MAPPING_SYSTEM, "value": mapping }, "display": format!("Hearth mapping {MAPPING_NAME} {MAPPING_VERSION}") }
        }]),
    );
    let what = if h.control_id.is_empty() {
        json!({ "display": format!("HL7 v2 message {}^{}^{} without a control id", h.message_code, h.trigger_event, h.structure) })
    } else {
        json!({
            "identifier": { "system": source_system(ctx), "value": h.control_id.clone() },
            "display": format!("HL7 v2 message {}^{}^{} control id {}", h.message_code, h.trigger_event, h.structure, h.control_id)
        })
    };
    o.insert("entity".into(), json!([{ "role": "source", "what": what }]));
    let _ = header;
    let id = ctx.natural_id("Provenance", &["transformation"]);
    ctx.add("Provenance", id, o, None);
}
