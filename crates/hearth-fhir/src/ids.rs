//! Deterministic resource ids: the same business identity always gives the same id, so a resent message or the
//! same patient arriving through another feed updates one resource instead of creating a new one.

use uuid::Uuid;

/// Hearth's UUID v5 namespace (itself a v5 UUID of "hearth.fhir.ids" in the URL namespace; fixed forever:
/// changing it would change every id Hearth has ever produced).
pub const NAMESPACE: Uuid = Uuid::from_u128(0x6f0c_5b0e_58b1_5f43_9a3e_1d1c_4b0e_7a21);

/// UUID v5 over the resource type and the identity parts (e.g. assigning authority and identifier value),
/// separated by U+001F so that `["ab", "c"]` and `["a", "bc"]` differ.
pub fn deterministic_id(resource_type: &str, parts: &[&str]) -> String {
    let mut name = String::with_capacity(64);
    name.push_str(resource_type);
    for p in parts {
        name.push('\u{1f}');
        name.push_str(p);
    }
    Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_distinct() {
        let id = deterministic_id("Patient", &["sys", "1"]);
        assert_eq!(id, deterministic_id("Patient", &["sys", "1"]));
        assert_ne!(id, deterministic_id("Patient", &["sys", "2"]));
        assert_ne!(id, deterministic_id("Encounter", &["sys", "1"]));
        assert_ne!(deterministic_id("Patient", &["ab", "c"]), deterministic_id("Patient", &["a", "bc"]));
        // Valid FHIR id: [A-Za-z0-9\-\.]{1,64}
        assert!(id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }

    #[test]
    fn pinned_value() {
        // Ids are a contract with downstream systems: this must never change.
        assert_eq!(deterministic_id("Patient", &["urn:oid:1.2.3", "MRN1"]), PINNED);
    }

    const PINNED: &str = "719a67a4-5eef-5469-afc4-1c86589d2481";
}
