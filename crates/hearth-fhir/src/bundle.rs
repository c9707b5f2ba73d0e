//! Reading a Bundle as JSON without the FHIR model: the entries' resources of one type. The mapper's Bundles,
//! the patient index and the message search all walk Bundles this way.

use serde_json::Value;

/// The `resource` of every entry whose `resourceType` is `resource_type`, in entry order. Anything that is not a
/// Bundle-shaped object yields nothing.
///
/// ```
/// let b = serde_json::json!({"resourceType": "Bundle", "entry": [
///     {"resource": {"resourceType": "Patient", "id": "a"}},
///     {"resource": {"resourceType": "Encounter", "id": "e"}},
///     {"request": {"method": "DELETE"}}]});
/// let ids: Vec<_> = hearth_fhir::bundle::resources(&b, "Patient").map(|p| p["id"].as_str()).collect();
/// assert_eq!(ids, [Some("a")]);
/// ```
pub fn resources<'a>(bundle: &'a Value, resource_type: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    let entries = bundle.get("entry").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    entries
        .iter()
        .filter_map(|e| e.get("resource"))
        .filter(move |r| r.get("resourceType").and_then(Value::as_str) == Some(resource_type))
}
