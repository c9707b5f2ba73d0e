//! Reading the server's answer the FHIR way: HTTP status classes, `Retry-After`, OperationOutcomes, and a
//! transaction-response Bundle checked entry by entry.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;

use crate::error::Error;

/// One response, read whole (within the size bound).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

/// What the server did with one entry (or the one request, in resources mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryOutcome {
    /// The entry's status (`201` from `"201 Created"`).
    pub status: u16,
    /// Where the server put the resource, `Type/id` (and `/_history/version` when it said), as it reported
    /// it. `None` when it did not say.
    pub location: Option<String>,
}

/// A delivery the server accepted: one outcome per Bundle entry, in the Bundle's order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sent {
    pub entries: Vec<EntryOutcome>,
}

/// The leading digits of a FHIR `response.status` (`"201"`, `"201 Created"`).
pub(crate) fn leading_status(s: &str) -> Option<u16> {
    let digits: &str = &s[..s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len())];
    digits.parse().ok().filter(|n| (100..=599).contains(n))
}

/// `Retry-After` as a wait from now: delta-seconds, or an HTTP date (a date in the past is no wait).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// `bytes` as UTF-8 text cut to at most `max` bytes on a character boundary.
pub(crate) fn bounded_text(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= max {
        return text.into_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The `issue.code`s of an OperationOutcome: a closed FHIR value set, so safe for logs. At most eight,
/// each checked to look like a code.
pub(crate) fn issue_codes(oo: &Value) -> Vec<String> {
    let mut codes: Vec<String> = Vec::new();
    for issue in oo.get("issue").and_then(Value::as_array).into_iter().flatten() {
        let Some(code) = issue.get("code").and_then(Value::as_str) else { continue };
        let looks_like_a_code = code.len() <= 32 && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
        if looks_like_a_code && !codes.iter().any(|c| c == code) && codes.len() < 8 {
            codes.push(code.to_owned());
        }
    }
    codes
}

fn operation_outcome(body: &[u8]) -> Option<Value> {
    serde_json::from_slice::<Value>(body).ok().filter(|v| v["resourceType"] == "OperationOutcome")
}

/// Turns a non-2xx answer into the error it means. 401/403 are not decided here (they depend on whether a
/// token was renewed); the caller calls this for everything else.
pub(crate) fn error_for(answer: &Answer, max_outcome: usize) -> Error {
    let oo = operation_outcome(&answer.body);
    let codes = oo.as_ref().map(issue_codes).unwrap_or_default();
    // The OperationOutcome when there is one; otherwise whatever the server (or a proxy) said, bounded.
    let outcome = (!answer.body.is_empty()).then(|| bounded_text(&answer.body, max_outcome));
    failure(answer.status, None, codes, outcome, retry_after(&answer.headers))
}

fn failure(
    status: u16,
    entry: Option<usize>,
    codes: Vec<String>,
    outcome: Option<String>,
    wait: Option<Duration>,
) -> Error {
    match status {
        401 | 403 => Error::Unauthorized(format!("HTTP {status} from the FHIR server")),
        408 | 429 | 500..=599 => Error::Unavailable { status, retry_after: wait, codes, outcome },
        _ => Error::Rejected { status, entry, codes, outcome },
    }
}

/// Checks a 2xx answer to a transaction (or batch): a `transaction-response` Bundle with one entry per
/// request entry, each with a 2xx status.
pub(crate) fn transaction_response(body: &[u8], expected: usize, max_outcome: usize) -> Result<Sent, Error> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Error::Protocol(format!("the transaction answer is not JSON ({e})")))?;
    let kind = v["type"].as_str().unwrap_or_default();
    if v["resourceType"] != "Bundle" || !matches!(kind, "transaction-response" | "batch-response") {
        return Err(Error::Protocol("the transaction answer is not a transaction-response Bundle".into()));
    }
    let entries = v["entry"].as_array().map(Vec::as_slice).unwrap_or_default();
    if entries.len() != expected {
        return Err(Error::Protocol(format!("{} response entries for {expected} requests", entries.len())));
    }
    let mut sent = Sent { entries: Vec::with_capacity(expected) };
    for (i, e) in entries.iter().enumerate() {
        let response = &e["response"];
        let raw = response["status"].as_str().unwrap_or_default();
        let status = leading_status(raw).ok_or_else(|| {
            Error::Protocol(format!(
                "entry {i}: response.status {:?} has no status code",
                bounded_text(raw.as_bytes(), 40)
            ))
        })?;
        if !(200..300).contains(&status) {
            let oo = &response["outcome"];
            let outcome = oo.is_object().then(|| bounded_text(oo.to_string().as_bytes(), max_outcome));
            return Err(failure(status, Some(i), issue_codes(oo), outcome, None));
        }
        let location = response["location"].as_str().map(relative_location);
        sent.entries.push(EntryOutcome { status, location });
    }
    Ok(sent)
}

/// `Type/id[/_history/v]` from an absolute or relative location.
pub(crate) fn relative_location(location: &str) -> String {
    let path = location.split(['?', '#']).next().unwrap_or_default();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let keep = match segs.iter().rposition(|s| *s == "_history") {
        Some(h) if h >= 2 => &segs[h - 2..(h + 2).min(segs.len())],
        _ if segs.len() >= 2 => &segs[segs.len() - 2..],
        _ => &segs[..],
    };
    keep.join("/")
}

/// `Type/id` from a location (dropping the version).
pub(crate) fn type_and_id(location: &str) -> Option<(String, String)> {
    let rel = relative_location(location);
    let mut it = rel.split('/');
    let (t, id) = (it.next()?, it.next()?);
    (t.starts_with(|c: char| c.is_ascii_uppercase()) && !id.is_empty()).then(|| (t.to_owned(), id.to_owned()))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn statuses_are_read_from_their_leading_digits() {
        assert_eq!(leading_status("201 Created"), Some(201));
        assert_eq!(leading_status("200"), Some(200));
        assert_eq!(leading_status("412 Precondition Failed"), Some(412));
        assert_eq!(leading_status("Created"), None);
        assert_eq!(leading_status("99"), None);
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(90));
        h.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        let wait = retry_after(&h).unwrap();
        assert!(wait > Duration::from_secs(80) && wait <= Duration::from_secs(90), "{wait:?}");
        h.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn answers_are_classified() {
        let oo = br#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"structure","diagnostics":"Patient.gender: bad"}]}"#;
        let a = |status| Answer { status, headers: HeaderMap::new(), body: oo.to_vec() };
        let e = error_for(&a(400), 1000);
        assert!(matches!(&e, Error::Rejected { status: 400, codes, .. } if codes == &["structure"]));
        assert!(e.outcome().unwrap().contains("Patient.gender"));
        assert!(!e.to_string().contains("Patient.gender"), "Display must not carry server text");
        assert!(error_for(&a(503), 1000).is_transient());
        assert!(error_for(&a(429), 1000).is_transient());
        assert_eq!(error_for(&a(412), 1000).kind(), "precondition_failed");
        assert_eq!(error_for(&a(422), 10).outcome().unwrap().len(), 10 + '…'.len_utf8());
    }

    #[test]
    fn transaction_responses_are_checked_entry_by_entry() {
        let ok = br#"{"resourceType":"Bundle","type":"transaction-response","entry":[
            {"response":{"status":"201 Created","location":"http://h/fhir/Patient/p1/_history/1"}},
            {"response":{"status":"200"}}]}"#;
        let sent = transaction_response(ok, 2, 100).unwrap();
        assert_eq!(sent.entries[0], EntryOutcome { status: 201, location: Some("Patient/p1/_history/1".into()) });
        assert_eq!(sent.entries[1].status, 200);
        assert!(matches!(transaction_response(ok, 3, 100), Err(Error::Protocol(_))));
        let bad = br#"{"resourceType":"Bundle","type":"batch-response","entry":[
            {"response":{"status":"200 OK"}},
            {"response":{"status":"422 Unprocessable Entity","outcome":{"resourceType":"OperationOutcome","issue":[{"code":"invalid"}]}}}]}"#;
        let e = transaction_response(bad, 2, 100).unwrap_err();
        assert!(matches!(e, Error::Rejected { status: 422, entry: Some(1), .. }), "{e:?}");
        assert!(matches!(transaction_response(b"{}", 0, 100), Err(Error::Protocol(_))));
    }

    #[test]
    fn locations() {
        assert_eq!(relative_location("http://h/fhir/Patient/p1/_history/3"), "Patient/p1/_history/3");
        assert_eq!(relative_location("Patient/p1"), "Patient/p1");
        assert_eq!(type_and_id("http://h/base/Encounter/e-9/_history/1"), Some(("Encounter".into(), "e-9".into())));
        assert_eq!(type_and_id("nonsense"), None);
    }
}
