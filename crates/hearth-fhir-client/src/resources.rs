//! "Resources" mode: a transaction Bundle sent as one request per entry, doing client-side what the server
//! does for a transaction. Entries go in an order where each comes after the entries it references; each
//! `urn:uuid:` reference is rewritten to the `Type/id` the server reported for its target (`Location`), and
//! each conditional reference (`Patient?identifier=…`) to the one resource a search finds (none or several is
//! the same failure a transaction would give: 404 or 412).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::Value;

use crate::client::FhirClient;
use crate::error::Error;
use crate::outcome::{EntryOutcome, Sent, relative_location, type_and_id};
use crate::prepare::{EntryRequest, for_each_reference};

pub(crate) async fn send(client: &FhirClient, mut entries: Vec<EntryRequest>) -> Result<Sent, Error> {
    let (order, early) = order(&entries);
    let referenced = referenced_full_urls(&entries);
    // fullUrl → `Type/id` on the server; literal targets are known before anything is sent.
    let mut ids: HashMap<String, String> =
        entries.iter().filter_map(|e| Some((e.full_url.clone()?, e.literal_target()?))).collect();
    let mut outcomes: Vec<Option<EntryOutcome>> = vec![None; entries.len()];
    for i in early {
        let (id, found) = id_before_sending(client, &mut entries[i], i).await?;
        if let Some(full) = &entries[i].full_url {
            ids.insert(full.clone(), id.clone());
        }
        if found && entries[i].method == "POST" {
            // A conditional create that matched: the server would answer 200 without writing.
            outcomes[i] = Some(EntryOutcome { status: 200, location: Some(id) });
        }
    }
    let mut searches: HashMap<String, String> = HashMap::new();
    for i in order {
        if outcomes[i].is_some() {
            continue;
        }
        let e = &entries[i];
        let mut resource = e.resource.clone();
        if let Some(r) = resource.as_mut() {
            resolve_references(client, r, &ids, &mut searches, i).await?;
        }
        let outcome = send_one(client, e, resource.as_ref()).await.map_err(|err| at_entry(err, i))?;
        if let Some(full) = e.full_url.as_ref().filter(|f| referenced.contains(*f) && !ids.contains_key(*f)) {
            let id = match outcome.location.as_deref().and_then(type_and_id) {
                Some((t, id)) => format!("{t}/{id}"),
                None => find_written(client, e, i).await?,
            };
            ids.insert(full.clone(), id);
        }
        outcomes[i] = Some(outcome);
    }
    Ok(Sent { entries: outcomes.into_iter().flatten().collect() })
}

/// The server id of an entry in a reference cycle, before it is sent: the match of its condition, or (no
/// match) the mapper's id, the request becoming `PUT Type/id`. Returns the id and whether it was found.
async fn id_before_sending(client: &FhirClient, e: &mut EntryRequest, i: usize) -> Result<(String, bool), Error> {
    let rtype = e.resource_type().to_owned();
    let criteria = match (e.url.split_once('?'), &e.if_none_exist) {
        (Some((_, q)), _) => q.to_owned(),
        (None, Some(q)) => q.clone(),
        (None, None) => return Err(cycle()),
    };
    if let Some(found) = search(client, &format!("{rtype}?{criteria}")).await.map_err(|err| at_entry(err, i))? {
        return Ok((found, true));
    }
    match (&e.mapper_id, e.is_conditional_update()) {
        (Some(id), true) => {
            e.url = format!("{rtype}/{id}");
            if let Some(obj) = e.resource.as_mut().and_then(Value::as_object_mut) {
                obj.insert("id".into(), Value::String(id.clone()));
            }
            Ok((format!("{rtype}/{id}"), false))
        }
        _ => Err(cycle()),
    }
}

fn cycle() -> Error {
    Error::Invalid(
        "entries reference each other in a cycle that cannot be resolved one by one: send this Bundle as a transaction"
            .into(),
    )
}

/// Every entry after the entries whose server id it needs (those not known up front); otherwise the
/// Bundle's order. When only entries waiting for each other remain, the first of them is resolved early
/// (its index is in the second list) and the rest proceeds.
fn order(entries: &[EntryRequest]) -> (Vec<usize>, Vec<usize>) {
    let unknown: HashMap<&str, usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.literal_target().is_none())
        .filter_map(|(i, e)| Some((e.full_url.as_deref()?, i)))
        .collect();
    let mut needs: Vec<HashSet<usize>> = vec![HashSet::new(); entries.len()];
    for (i, e) in entries.iter().enumerate() {
        for r in references(e) {
            if let Some(&j) = unknown.get(r.as_str())
                && j != i
            {
                needs[i].insert(j);
            }
        }
    }
    let mut done = vec![false; entries.len()];
    let mut out = Vec::with_capacity(entries.len());
    let mut early = Vec::new();
    while out.len() < entries.len() {
        let next = (0..entries.len()).find(|&i| !done[i] && needs[i].is_empty());
        let i = match next {
            Some(i) => i,
            None => {
                // A cycle: the first waiting entry that others wait for gets its id early.
                let Some(k) = (0..entries.len()).find(|&k| !done[k] && needs.iter().any(|n| n.contains(&k))) else {
                    break;
                };
                early.push(k);
                needs.iter_mut().for_each(|n| {
                    n.remove(&k);
                });
                continue;
            }
        };
        done[i] = true;
        out.push(i);
        needs.iter_mut().for_each(|n| {
            n.remove(&i);
        });
    }
    (out, early)
}

fn references(e: &EntryRequest) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(mut r) = e.resource.clone() {
        for_each_reference(&mut r, &mut |s| out.push(s.clone()));
    }
    out
}

fn referenced_full_urls(entries: &[EntryRequest]) -> HashSet<String> {
    entries.iter().flat_map(references).collect()
}

/// Rewrites the references of one resource: `urn:` ones to the server ids already known, conditional ones to
/// the single match of their search.
async fn resolve_references(
    client: &FhirClient,
    resource: &mut Value,
    ids: &HashMap<String, String>,
    searches: &mut HashMap<String, String>,
    entry: usize,
) -> Result<(), Error> {
    let mut conditional = Vec::new();
    let mut unresolved = None;
    for_each_reference(resource, &mut |r| {
        if ids.contains_key(r.as_str()) {
            return;
        }
        if r.starts_with("urn:") {
            unresolved.get_or_insert_with(|| r.clone());
        } else if is_conditional(r) {
            conditional.push(r.clone());
        }
    });
    if unresolved.is_some() {
        return Err(Error::Invalid(format!("entry {entry}: a urn: reference names no entry of the Bundle")));
    }
    for c in conditional {
        if let Entry::Vacant(slot) = searches.entry(c) {
            let found = search_one(client, slot.key()).await.map_err(|e| at_entry(e, entry))?;
            slot.insert(found);
        }
    }
    for_each_reference(resource, &mut |r| {
        if let Some(id) = ids.get(r.as_str()).or_else(|| searches.get(r.as_str())) {
            *r = id.clone();
        }
    });
    Ok(())
}

fn is_conditional(r: &str) -> bool {
    !r.contains("://") && r.split_once('?').is_some_and(|(t, q)| !t.contains('/') && !t.is_empty() && !q.is_empty())
}

async fn send_one(client: &FhirClient, e: &EntryRequest, resource: Option<&Value>) -> Result<EntryOutcome, Error> {
    let method = Method::from_bytes(e.method.as_bytes()).map_err(|_| Error::Invalid("request.method".into()))?;
    let mut headers = Vec::new();
    if let Some(v) = &e.if_none_exist {
        headers.push((HeaderName::from_static("if-none-exist"), header_value(v)?));
    }
    if let Some(v) = &e.if_match {
        headers.push((HeaderName::from_static("if-match"), header_value(v)?));
    }
    let body = match resource {
        Some(r) if matches!(e.method.as_str(), "POST" | "PUT" | "PATCH") => {
            Some(serde_json::to_vec(r).map_err(|err| Error::Invalid(err.to_string()))?)
        }
        _ => None,
    };
    let answer = client.request(method, &e.url, body, &headers).await?;
    let location = answer
        .headers
        .get(reqwest::header::LOCATION)
        .or_else(|| answer.headers.get(reqwest::header::CONTENT_LOCATION))
        .and_then(|v| v.to_str().ok())
        .map(relative_location)
        .or_else(|| e.literal_target());
    Ok(EntryOutcome { status: answer.status, location })
}

fn header_value(v: &str) -> Result<HeaderValue, Error> {
    HeaderValue::from_str(v).map_err(|_| Error::Invalid("a conditional header holds characters a header cannot".into()))
}

/// The id of a resource written by a conditional request whose answer named no Location: search by the
/// same criteria.
async fn find_written(client: &FhirClient, e: &EntryRequest, entry: usize) -> Result<String, Error> {
    let criteria = match (e.url.split_once('?'), &e.if_none_exist) {
        (Some((t, q)), _) => format!("{t}?{q}"),
        (None, Some(q)) => format!("{}?{q}", e.resource_type()),
        (None, None) => {
            return Err(Error::Protocol(format!(
                "entry {entry}: the server did not say where it created the resource"
            )));
        }
    };
    search_one(client, &criteria).await.map_err(|err| at_entry(err, entry))
}

/// `Type/id` of the single resource matching `Type?query`; none is a 404, several a 412 (what a server
/// answers for a transaction).
async fn search_one(client: &FhirClient, conditional: &str) -> Result<String, Error> {
    search(client, conditional).await?.ok_or_else(|| {
        refusal(404, "not-found", "a conditional reference matched no resource (resolved by Hearth before sending)")
    })
}

/// The one resource matching `Type?query`, if any; several is a 412.
async fn search(client: &FhirClient, conditional: &str) -> Result<Option<String>, Error> {
    let (rtype, _) = conditional.split_once('?').unwrap_or((conditional, ""));
    let answer = client.request(Method::GET, &format!("{conditional}&_count=2"), None, &[]).await?;
    let v: Value = serde_json::from_slice(&answer.body).map_err(|e| Error::Protocol(format!("search answer: {e}")))?;
    let matches: Vec<&Value> = v["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"].as_str().is_none_or(|m| m == "match"))
        .collect();
    let total = v["total"].as_u64().unwrap_or(matches.len() as u64);
    match (matches.as_slice(), total) {
        ([one], 0 | 1) => match one["resource"]["id"].as_str() {
            Some(id) => Ok(Some(format!("{rtype}/{id}"))),
            None => Err(Error::Protocol("a search match without an id".into())),
        },
        ([], 0) => Ok(None),
        _ => Err(refusal(
            412,
            "multiple-matches",
            "a condition matched several resources (searched by Hearth before sending)",
        )),
    }
}

fn refusal(status: u16, code: &str, text: &str) -> Error {
    Error::Rejected {
        status,
        entry: None,
        codes: vec![code.into()],
        outcome: Some(
            serde_json::json!({"resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": code, "diagnostics": text}]})
            .to_string(),
        ),
    }
}

fn at_entry(e: Error, i: usize) -> Error {
    match e {
        Error::Rejected { status, entry: None, codes, outcome } => {
            Error::Rejected { status, entry: Some(i), codes, outcome }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::prepare::prepare;

    fn entries(v: Value) -> Vec<EntryRequest> {
        prepare(json!({"resourceType": "Bundle", "type": "transaction", "entry": v}).to_string().as_bytes())
            .unwrap()
            .entries
    }

    #[test]
    fn referenced_conditional_entries_go_first() {
        let e = entries(json!([
            {"fullUrl": "urn:uuid:prov", "resource": {"resourceType": "Provenance", "target": [{"reference": "urn:uuid:enc"}]},
             "request": {"method": "PUT", "url": "Provenance/prov"}},
            {"fullUrl": "urn:uuid:enc", "resource": {"resourceType": "Encounter", "subject": {"reference": "urn:uuid:pat"}},
             "request": {"method": "PUT", "url": "Encounter?identifier=v|1"}},
            {"fullUrl": "urn:uuid:obs", "resource": {"resourceType": "Observation", "subject": {"reference": "urn:uuid:pat"}},
             "request": {"method": "PUT", "url": "Observation/obs"}},
            {"fullUrl": "urn:uuid:pat", "resource": {"resourceType": "Patient"},
             "request": {"method": "PUT", "url": "Patient?identifier=m|1"}}
        ]));
        assert_eq!(order(&e), (vec![3, 1, 0, 2], vec![]));
    }

    #[test]
    fn literal_targets_need_no_order_and_cycles_are_broken_early() {
        let e = entries(json!([
            {"fullUrl": "urn:uuid:a", "resource": {"resourceType": "Observation", "hasMember": [{"reference": "urn:uuid:b"}]},
             "request": {"method": "PUT", "url": "Observation/a"}},
            {"fullUrl": "urn:uuid:b", "resource": {"resourceType": "Observation", "hasMember": [{"reference": "urn:uuid:a"}]},
             "request": {"method": "PUT", "url": "Observation/b"}}
        ]));
        assert_eq!(order(&e), (vec![0, 1], vec![]));
        let e = entries(json!([
            {"fullUrl": "urn:uuid:a", "resource": {"resourceType": "Observation", "hasMember": [{"reference": "urn:uuid:b"}]},
             "request": {"method": "POST", "url": "Observation"}},
            {"fullUrl": "urn:uuid:b", "resource": {"resourceType": "Observation", "hasMember": [{"reference": "urn:uuid:a"}]},
             "request": {"method": "POST", "url": "Observation"}}
        ]));
        assert_eq!(order(&e), (vec![1, 0], vec![0]));
    }

    #[test]
    fn conditional_references_are_recognised() {
        assert!(is_conditional("Patient?identifier=a|b"));
        assert!(!is_conditional("Patient/1"));
        assert!(!is_conditional("http://x/Patient?identifier=a"));
        assert!(!is_conditional("urn:uuid:1"));
    }
}
