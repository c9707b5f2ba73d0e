//! What the client changes in a Bundle before a FHIR server sees it, so that resending it is safe and its
//! references resolve on any server:
//!
//! 1. A conditional update (`PUT Type?identifier=…`) is sent **without** `resource.id`. FHIR R4 (http.html,
//!    conditional update) makes a server answer 400 when the body's id differs from the resource the
//!    condition matched; Hearth's deterministic id would do exactly that for a Patient the server already
//!    holds under its own id. Without the id the condition alone decides: the match is updated, or a new
//!    resource is created.
//! 2. A reference that names its target by literal id **and** business identifier
//!    (`{"reference": "Patient/abc", "identifier": {"system": s, "value": v}}`) and whose target is not in
//!    the Bundle becomes the conditional reference `Patient?identifier=s|v`: the server may hold that
//!    Patient under an id Hearth did not choose (see 1), but it finds it by identifier.
//!
//! Everything else is sent as the mapper wrote it.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::error::Error;

/// Methods a transaction entry may have (FHIR R4 `http-verb`).
const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

/// One entry's request, read from the prepared Bundle.
#[derive(Debug, Clone)]
pub(crate) struct EntryRequest {
    pub(crate) method: String,
    /// Relative to the base, as the mapper wrote it (`Patient?identifier=…`, `Observation/id`, `Task`).
    pub(crate) url: String,
    pub(crate) if_none_exist: Option<String>,
    pub(crate) if_match: Option<String>,
    pub(crate) full_url: Option<String>,
    pub(crate) resource: Option<Value>,
    /// The resource's id as the mapper wrote it (before a conditional update lost it).
    pub(crate) mapper_id: Option<String>,
}

impl EntryRequest {
    /// The resource type the request URL names.
    pub(crate) fn resource_type(&self) -> &str {
        self.url.split(['/', '?']).next().unwrap_or_default()
    }

    /// `PUT Type?…`: a conditional update.
    pub(crate) fn is_conditional_update(&self) -> bool {
        self.method == "PUT" && self.url.contains('?')
    }

    /// `Type/id` when the URL names the id (`PUT Type/id`, `DELETE Type/id`).
    pub(crate) fn literal_target(&self) -> Option<String> {
        if self.url.contains('?') {
            return None;
        }
        let mut segs = self.url.split('/');
        let (t, id) = (segs.next()?, segs.next()?);
        (!id.is_empty() && segs.next().is_none()).then(|| format!("{t}/{id}"))
    }
}

/// A Bundle ready to send: its JSON (changed as the module docs say) and its entries' requests.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) bundle: Value,
    pub(crate) entries: Vec<EntryRequest>,
}

/// Parses and prepares a transaction (or batch) Bundle.
pub(crate) fn prepare(bytes: &[u8]) -> Result<Prepared, Error> {
    let mut bundle: Value =
        serde_json::from_slice(bytes).map_err(|e| Error::Invalid(format!("the Bundle is not JSON: {e}")))?;
    if bundle["resourceType"] != "Bundle" || !matches!(bundle["type"].as_str(), Some("transaction" | "batch")) {
        return Err(Error::Invalid("not a transaction or batch Bundle".into()));
    }
    let in_bundle = targets(&bundle);
    let mut entries = Vec::new();
    if let Some(list) = bundle.get_mut("entry").and_then(Value::as_array_mut) {
        for (i, entry) in list.iter_mut().enumerate() {
            let request = read_request(i, entry)?;
            if let Some(resource) = entry.get_mut("resource") {
                if request.is_conditional_update()
                    && let Some(obj) = resource.as_object_mut()
                {
                    obj.remove("id");
                }
                conditional_identifier_references(resource, &in_bundle);
            }
            entries.push(EntryRequest { resource: entry.get("resource").cloned(), ..request });
        }
    }
    Ok(Prepared { bundle, entries })
}

fn read_request(i: usize, entry: &Value) -> Result<EntryRequest, Error> {
    let req = &entry["request"];
    let method = req["method"].as_str().unwrap_or_default().to_ascii_uppercase();
    let url = req["url"].as_str().unwrap_or_default().trim_start_matches('/').to_owned();
    let path = url.split('?').next().unwrap_or_default();
    if !METHODS.contains(&method.as_str()) || path.is_empty() || path.contains(':') {
        return Err(Error::Invalid(format!("entry {i}: request.method and a relative request.url are required")));
    }
    let resource = entry.get("resource");
    if matches!(method.as_str(), "POST" | "PUT") && !resource.is_some_and(Value::is_object) {
        return Err(Error::Invalid(format!("entry {i}: {method} without a resource")));
    }
    let text = |k: &str| req[k].as_str().map(str::to_owned);
    Ok(EntryRequest {
        method,
        url,
        if_none_exist: text("ifNoneExist"),
        if_match: text("ifMatch"),
        full_url: entry["fullUrl"].as_str().map(str::to_owned),
        resource: None,
        mapper_id: resource.and_then(|r| r["id"].as_str()).map(str::to_owned),
    })
}

/// What a reference can name inside the Bundle: every entry's `fullUrl` and `Type/id`.
fn targets(bundle: &Value) -> HashSet<String> {
    let mut out = HashSet::new();
    for e in bundle["entry"].as_array().into_iter().flatten() {
        if let Some(f) = e["fullUrl"].as_str() {
            out.insert(f.to_owned());
        }
        if let (Some(t), Some(id)) = (e["resource"]["resourceType"].as_str(), e["resource"]["id"].as_str()) {
            out.insert(format!("{t}/{id}"));
        }
    }
    out
}

/// Rewrites, in place, every Reference naming an out-of-Bundle target by literal id and identifier.
fn conditional_identifier_references(v: &mut Value, in_bundle: &HashSet<String>) {
    match v {
        Value::Object(obj) => {
            if let Some(conditional) = identifier_reference(obj, in_bundle) {
                obj.insert("reference".into(), Value::String(conditional));
            }
            for child in obj.values_mut() {
                conditional_identifier_references(child, in_bundle);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|c| conditional_identifier_references(c, in_bundle)),
        _ => {}
    }
}

fn identifier_reference(obj: &Map<String, Value>, in_bundle: &HashSet<String>) -> Option<String> {
    let reference = obj.get("reference")?.as_str()?;
    let (rtype, id) = reference.split_once('/')?;
    let literal = rtype.starts_with(|c: char| c.is_ascii_uppercase())
        && rtype.bytes().all(|b| b.is_ascii_alphabetic())
        && !id.is_empty()
        && !id.contains(['/', '?']);
    if !literal || in_bundle.contains(reference) {
        return None;
    }
    let identifier = obj.get("identifier")?;
    let system = identifier.get("system")?.as_str().filter(|s| !s.is_empty())?;
    let value = identifier.get("value")?.as_str().filter(|s| !s.is_empty())?;
    Some(format!("{rtype}?identifier={}|{}", query_escape(system), query_escape(value)))
}

/// Percent-encodes a search parameter value, keeping RFC 3986 unreserved characters and those a query
/// value may carry literally (`:`, `/`, `@`, `!`, `$`, `'`, `(`, `)`, `*`, `,`, `;`).
pub(crate) fn query_escape(s: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b':')
        .remove(b'/')
        .remove(b'@')
        .remove(b'!')
        .remove(b'$')
        .remove(b'\'')
        .remove(b'(')
        .remove(b')')
        .remove(b'*')
        .remove(b',')
        .remove(b';');
    percent_encoding::utf8_percent_encode(s, KEEP).to_string()
}

/// Every `reference` string in `v`, with a mutable handle, depth first.
pub(crate) fn for_each_reference(v: &mut Value, f: &mut dyn FnMut(&mut String)) {
    match v {
        Value::Object(obj) => {
            for (k, child) in obj.iter_mut() {
                match child {
                    Value::String(s) if k == "reference" => f(s),
                    _ => for_each_reference(child, f),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|c| for_each_reference(c, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn bundle(entries: Value) -> Vec<u8> {
        json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}).to_string().into_bytes()
    }

    #[test]
    fn conditional_updates_lose_their_id_and_others_keep_it() {
        let p = prepare(&bundle(json!([
            {"fullUrl": "urn:uuid:p", "resource": {"resourceType": "Patient", "id": "p"},
             "request": {"method": "PUT", "url": "Patient?identifier=s|1"}},
            {"fullUrl": "urn:uuid:o", "resource": {"resourceType": "Observation", "id": "o",
                "subject": {"reference": "urn:uuid:p"}},
             "request": {"method": "PUT", "url": "Observation/o"}}
        ])))
        .unwrap();
        assert!(p.bundle["entry"][0]["resource"].get("id").is_none());
        assert_eq!(p.bundle["entry"][1]["resource"]["id"], "o");
        assert_eq!(p.entries[1].literal_target().as_deref(), Some("Observation/o"));
        assert!(p.entries[0].is_conditional_update());
        assert_eq!(p.entries[0].resource_type(), "Patient");
    }

    #[test]
    fn identifier_references_outside_the_bundle_become_conditional() {
        let p = prepare(&bundle(json!([
            {"fullUrl": "urn:uuid:c", "resource": {"resourceType": "Communication", "id": "c",
                "subject": {"reference": "Patient/p-1", "identifier": {"system": "urn:oid:1.2", "value": "MRN 7"}},
                "recipient": [{"reference": "Group/team"}],
                "about": [{"reference": "Communication/c", "identifier": {"system": "x", "value": "y"}}]},
             "request": {"method": "PUT", "url": "Communication/c"}}
        ])))
        .unwrap();
        let c = &p.bundle["entry"][0]["resource"];
        assert_eq!(c["subject"]["reference"], "Patient?identifier=urn:oid:1.2|MRN%207");
        assert_eq!(c["subject"]["identifier"]["value"], "MRN 7");
        assert_eq!(c["recipient"][0]["reference"], "Group/team", "no identifier: unchanged");
        assert_eq!(c["about"][0]["reference"], "Communication/c", "in the Bundle: unchanged");
    }

    #[test]
    fn what_cannot_be_sent_is_invalid() {
        assert!(matches!(prepare(b"{"), Err(Error::Invalid(_))));
        assert!(prepare(br#"{"resourceType":"Bundle","type":"collection"}"#).is_err());
        assert!(
            prepare(&bundle(json!([{"resource": {"resourceType": "Patient"}, "request": {"method": "PUT"}}]))).is_err()
        );
        assert!(prepare(&bundle(json!([{"request": {"method": "POST", "url": "Patient"}}]))).is_err());
        assert!(
            prepare(&bundle(json!([{"resource": {}, "request": {"method": "PUT", "url": "http://x/Patient/1"}}])))
                .is_err()
        );
        assert!(prepare(&bundle(json!([]))).unwrap().entries.is_empty());
        let system_url = json!([{"resource": {"resourceType": "Organization", "id": "o"},
            "request": {"method": "PUT", "url": "Organization?identifier=http://hl7.org/mvx|MSD"}}]);
        assert_eq!(prepare(&bundle(system_url)).unwrap().entries[0].mapper_id.as_deref(), Some("o"));
    }

    #[test]
    fn numbers_keep_their_precision() {
        let raw = br#"{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Observation",
            "id":"o","valueQuantity":{"value":1.50}},"request":{"method":"PUT","url":"Observation/o"}}]}"#;
        let p = prepare(raw).unwrap();
        assert!(p.bundle.to_string().contains(r#""value":1.50"#), "FHIR decimals keep trailing zeros");
    }
}
