//! TXA → DocumentReference (IG `TXA[DocumentReference]`), with the OBX that carry the document as its content
//! (IG `OBX[DocumentReference]`).

use hearth_fhir::ids::deterministic_id;
use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref, push, put};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::{codeable_concept, identifier_ei, mapped_concept, practitioner};
use crate::hl7v2::segments::obx::{alternate_code, encapsulated};
use crate::hl7v2::tracker::{Seg, comp};
use crate::report::WarningKind;

/// Maps a TXA to a DocumentReference about the patient in scope; sets `scope` slot `document`.
pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>) -> Option<Ref> {
    let patient = ctx.scope.patient.clone()?;
    seg.mark(1);
    let mut o = Obj::new();
    let master = seg.rep(12).and_then(|r| identifier_ei(ctx, &r));
    put(&mut o, "masterIdentifier", master.clone());
    if let Some(file) = seg.text(16) {
        push(&mut o, "identifier", Some(json!({ "value": file })));
    }
    status(ctx, &seg, &mut o);
    if let Some(code) = seg.value(17) {
        match completion(&code) {
            Some(s) => {
                o.insert("docStatus".into(), Value::from(s));
            }
            None => ctx.warn(seg.at(17), WarningKind::UnknownCode, "document completion status not in table 0271"),
        }
    }
    put(&mut o, "type", seg.rep(2).and_then(|r| codeable_concept(ctx, &r, Some("0270"))));
    o.insert("subject".into(), patient.reference());
    if let Some(v) = seg.value(6) {
        put(&mut o, "date", ctx.dtm_instant(&v, seg.at(6)));
    }
    for rep in seg.reps(9) {
        if let Some(p) = practitioner(ctx, &rep, seg.at(9)) {
            push(&mut o, "author", Some(p.reference()));
        }
    }
    if let Some(rep) = seg.rep(10)
        && let Some(p) = practitioner(ctx, &rep, seg.at(10))
    {
        o.insert("authenticator".into(), p.reference());
    }
    for rep in seg.reps(18) {
        push(
            &mut o,
            "securityLabel",
            mapped_concept(ctx, &rep, "DocumentConfidentialityStatus", Some("0272"), seg.at(18)),
        );
    }
    put(&mut o, "description", seg.text(25).map(Value::from));
    if let Some(e) = &ctx.scope.encounter {
        o.insert("context".into(), json!({ "encounter": [e.reference()] }));
    }
    let id = match master.as_ref().and_then(|m| m.get("value")).and_then(Value::as_str) {
        Some(v) => {
            let system = master.as_ref().and_then(|m| m.get("system")).and_then(Value::as_str).unwrap_or_default();
            deterministic_id("DocumentReference", &[system, v])
        }
        None => ctx.segment_id("DocumentReference", &seg),
    };
    let rf = ctx.add("DocumentReference", id, o, None);
    ctx.scope.set_other("document", Some(rf.clone()));
    Some(rf)
}

/// TXA-19 availability → status: AV (or nothing) current, OB superseded, CA entered-in-error; the v2 code is
/// kept in the alternate-codes extension for CA, OB and UN (IG).
fn status(ctx: &mut Ctx<'_>, seg: &Seg<'_>, o: &mut Obj) {
    let code = seg.value(19).map(|c| c.to_ascii_uppercase());
    let s = match code.as_deref() {
        None | Some("AV") => "current",
        Some("OB") => "superseded",
        Some("CA") => "entered-in-error",
        Some("UN") => "current",
        Some(_) => {
            ctx.warn(seg.at(19), WarningKind::UnknownCode, "document availability not in table 0273");
            "current"
        }
    };
    if let Some(c) = code.as_deref().filter(|c| *c != "AV") {
        o.insert("_status".into(), alternate_code("0273", c));
    }
    o.insert("status".into(), Value::from(s));
}

/// Table 0271 → DocumentReference.docStatus.
fn completion(code: &str) -> Option<&'static str> {
    match code.to_ascii_uppercase().as_str() {
        "AU" | "LA" => Some("final"),
        "DI" | "DO" | "IN" | "IP" | "PA" => Some("preliminary"),
        _ => None,
    }
}

/// An OBX of the document → DocumentReference.content: ED as an attachment per repetition, TX/FT/ST as text
/// (base64 of the lines), RP as a URL. Other value types are not content (`None`).
pub fn content(ctx: &mut Ctx<'_>, seg: Seg<'_>, doc: &Ref) -> Option<Ref> {
    let vt = seg.raw().field(2).map(|f| f.raw().trim().to_ascii_uppercase()).unwrap_or_default();
    let field = seg.peek(5)?;
    let reps: Vec<_> = field.repetitions().filter(|r| crate::hl7v2::tracker::has_value(r.raw())).collect();
    let mut contents = Vec::new();
    match vt.as_str() {
        "ED" => contents.extend(reps.iter().filter_map(encapsulated).map(|a| json!({ "attachment": a }))),
        "RP" => contents.extend(
            reps.iter()
                .filter_map(|r| comp(r, 1))
                .filter(|u| !u.chars().any(char::is_whitespace))
                .map(|u| json!({ "attachment": { "url": u.as_ref() } })),
        ),
        "TX" | "FT" | "ST" => {
            let text: Vec<String> = reps.iter().map(|r| r.unescaped().trim_end().to_owned()).collect();
            let data = base64(text.join("\n").as_bytes());
            contents.push(json!({ "attachment": { "contentType": "text/plain", "data": data } }));
        }
        _ => return None,
    }
    if contents.is_empty() {
        ctx.warn(seg.at(5), WarningKind::InvalidValue, "document content could not be read: skipped");
        return None;
    }
    seg.mark(1);
    seg.mark(2);
    seg.mark(5);
    let res = ctx.bundle.get_mut(doc)?;
    for c in contents {
        push(res, "content", Some(c));
    }
    Some(doc.clone())
}

/// Closes the document: `context.related` names the message's orders, and a document whose content was not
/// sent (MDM T01, T03…) still gets the required `content`, an attachment saying only what TXA said of it.
pub fn relate(ctx: &mut Ctx<'_>, doc: &Ref, orders: &[Ref]) {
    let Some(res) = ctx.bundle.get_mut(doc) else { return };
    if !orders.is_empty() {
        let context = res.entry("context").or_insert_with(|| json!({}));
        if let Value::Object(c) = context {
            for o in orders {
                push(c, "related", Some(o.reference()));
            }
        }
    }
    if !res.contains_key("content") {
        let mut a = Obj::new();
        let title = res
            .get("description")
            .cloned()
            .unwrap_or_else(|| Value::from("Document content not included in the message"));
        a.insert("title".into(), title);
        res.insert("content".into(), json!([{ "attachment": a }]));
    }
}

/// Standard base64 (RFC 4648, padded).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sym = |i: u32| char::from(ALPHABET.get((i & 63) as usize).copied().unwrap_or(b'A'));
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(sym(n >> 18));
        out.push(sym(n >> 12));
        out.push(if chunk.len() > 1 { sym(n >> 6) } else { '=' });
        out.push(if chunk.len() > 2 { sym(n) } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
