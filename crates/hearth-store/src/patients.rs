//! The patient index: phone number (E.164) → Patient, fed by the ADT stream, read by the webhook mapping.
//!
//! Writes go through the group-commit writer like every other write ([`crate::Journal::index_patients`]);
//! lookups use the read pool. HL7 v2 treats an absent field as "no change", so an ADT message without a phone
//! number removes nothing: numbers are only added, refreshed, or moved by a merge (A40).

/// A Patient as the index knows it: the resource id and its first identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedPatient {
    pub patient_id: String,
    pub identifier_system: Option<String>,
    pub identifier_value: Option<String>,
}

/// One number of one Patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneEntry {
    /// E.164.
    pub phone: String,
    pub patient: IndexedPatient,
}

/// A merge: every number of `merged_id` moves to `survivor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientMerge {
    pub merged_id: String,
    pub survivor: IndexedPatient,
}

/// What one converted ADT Bundle tells the index. Entries are applied first, then merges, in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatientIndexUpdate {
    pub phones: Vec<PhoneEntry>,
    pub merges: Vec<PatientMerge>,
}

impl PatientIndexUpdate {
    pub fn is_empty(&self) -> bool {
        self.phones.is_empty() && self.merges.is_empty()
    }
}

/// Most Patients one number can return (a switchboard number shared by a whole care home): beyond this the
/// answer is "ambiguous" anyway, and the read stays bounded.
pub const MAX_CANDIDATES: u32 = 50;
