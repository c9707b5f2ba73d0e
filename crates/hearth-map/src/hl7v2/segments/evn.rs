//! EVN → Provenance (IG `EVN[Provenance]`): the event's recorded time (EVN-2), reason (EVN-4, `EventReason`), operator
//! (EVN-5), occurrence (EVN-6), targeting the MessageHeader.

use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, put};
use crate::hl7v2::context::{Ctx, instant};
use crate::hl7v2::datatypes::{mapped_concept, practitioner, v2_table};
use crate::hl7v2::segments::msh::header_ref;
use crate::hl7v2::tracker::Seg;

pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    seg.mark(1);
    let mut o = Obj::new();
    o.insert("target".into(), json!([header_ref(ctx).reference()]));
    let recorded = seg.value(2).and_then(|v| ctx.dtm_instant(&v, seg.at(2)));
    put(&mut o, "recorded", recorded.or_else(|| instant(ctx.now).map(Value::from)));
    put(&mut o, "occurredDateTime", ctx.datetime(&seg, 6));
    if let Some(rep) = seg.rep(4) {
        put(&mut o, "reason", mapped_concept(ctx, &rep, "EventReason", Some("0062"), seg.at(4)).map(|c| json!([c])));
    }
    let event = ctx.msg.header().trigger_event.clone();
    if !event.is_empty() {
        o.insert("activity".into(), json!({ "coding": [{ "system": v2_table("0003"), "code": event }] }));
    }
    let operator = seg.rep(5).and_then(|r| practitioner(ctx, &r, seg.at(5)));
    let who = match &operator {
        Some(p) => p.reference(),
        None => json!({ "display": ctx.msg.header().sending_application.namespace_id.clone() }),
    };
    let who = if who.get("display").is_some_and(|d| d.as_str().is_some_and(str::is_empty)) {
        json!({ "display": "sending application" })
    } else {
        who
    };
    o.insert(
        "agent".into(),
        json!([{ "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": if operator.is_some() { "enterer" } else { "author" } }] }, "who": who }]),
    );
    let id = ctx.segment_id("Provenance", &seg);
    Some(ctx.add("Provenance", id, o, None))
}
