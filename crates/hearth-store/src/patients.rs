//! The patient index: phone number (E.164) → Patient, fed by the ADT stream, and identifier (system + value) →
//! Patient, fed by every Patient the processing stage sees; read by the webhook mapping.
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

/// One identifier of one Patient, with what cross-checks a link by identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentifierEntry {
    /// `None` for an identifier without a system.
    pub system: Option<String>,
    pub value: String,
    pub patient: IndexedPatient,
    pub family: Option<String>,
    /// `YYYY-MM-DD` (or the precision sent).
    pub birth_date: Option<String>,
}

/// A merge: every number and identifier of `merged_id` moves to `survivor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientMerge {
    pub merged_id: String,
    pub survivor: IndexedPatient,
}

/// What one converted Bundle tells the index. Entries are applied first, then merges, in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatientIndexUpdate {
    pub phones: Vec<PhoneEntry>,
    pub identifiers: Vec<IdentifierEntry>,
    pub merges: Vec<PatientMerge>,
}

impl PatientIndexUpdate {
    pub fn is_empty(&self) -> bool {
        self.phones.is_empty() && self.identifiers.is_empty() && self.merges.is_empty()
    }
}

/// Most Patients one number or identifier can return (a switchboard number shared by a whole care home): beyond this the
/// answer is "ambiguous" anyway, and the read stays bounded.
pub const MAX_CANDIDATES: u32 = 50;
