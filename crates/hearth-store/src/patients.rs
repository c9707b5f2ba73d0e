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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use crate::{Journal, JournalConfig, SqliteConfig};

    use super::*;

    fn patient(id: &str, mrn: &str) -> IndexedPatient {
        IndexedPatient {
            patient_id: id.into(),
            identifier_system: Some("urn:hearth:v2:NORTH".into()),
            identifier_value: Some(mrn.into()),
        }
    }

    fn entry(phone: &str, p: &IndexedPatient) -> PhoneEntry {
        PhoneEntry { phone: phone.into(), patient: p.clone() }
    }

    async fn open(dir: &tempfile::TempDir) -> Journal {
        Journal::open(&JournalConfig::Sqlite(SqliteConfig::new(dir.path().join("j.db")))).await.unwrap()
    }

    #[tokio::test]
    async fn numbers_link_one_several_or_no_patients() {
        let dir = tempfile::tempdir().unwrap();
        let j = open(&dir).await;
        let (a, b) = (patient("pa", "MRN1"), patient("pb", "MRN2"));
        let update = PatientIndexUpdate {
            phones: vec![entry("+14155550100", &a), entry("+14155550111", &a), entry("+14155550111", &b)],
            merges: vec![],
        };
        assert_eq!(j.index_patients(update.clone()).await.unwrap(), 3);
        assert_eq!(j.patients_by_phone("+14155550100").await.unwrap(), vec![a.clone()]);
        assert_eq!(j.patients_by_phone("+14155550111").await.unwrap(), vec![a.clone(), b.clone()]);
        assert!(j.patients_by_phone("+14155550199").await.unwrap().is_empty());
        // The same Bundle again (a resent ADT) changes nothing visible; a new MRN for the same Patient refreshes.
        j.index_patients(update).await.unwrap();
        let renamed = patient("pa", "MRN1B");
        j.index_patients(PatientIndexUpdate { phones: vec![entry("+14155550100", &renamed)], merges: vec![] })
            .await
            .unwrap();
        assert_eq!(j.patients_by_phone("+14155550100").await.unwrap(), vec![renamed]);
        j.close().await;
    }

    #[tokio::test]
    async fn a_merge_moves_the_numbers_to_the_survivor() {
        let dir = tempfile::tempdir().unwrap();
        let j = open(&dir).await;
        let (old, survivor, other) = (patient("old", "MRN19999"), patient("new", "MRN20000"), patient("x", "MRN3"));
        let phones = vec![
            entry("+14155550100", &old),
            entry("+14155550101", &old),
            entry("+14155550101", &survivor),
            entry("+14155550102", &other),
        ];
        j.index_patients(PatientIndexUpdate { phones, merges: vec![] }).await.unwrap();
        let merge = PatientMerge { merged_id: "old".into(), survivor: survivor.clone() };
        j.index_patients(PatientIndexUpdate { phones: vec![], merges: vec![merge.clone()] }).await.unwrap();
        assert_eq!(j.patients_by_phone("+14155550100").await.unwrap(), vec![survivor.clone()]);
        // The survivor already had this one: one row, not two, and not ambiguous.
        assert_eq!(j.patients_by_phone("+14155550101").await.unwrap(), vec![survivor.clone()]);
        assert_eq!(j.patients_by_phone("+14155550102").await.unwrap(), vec![other]);
        // Merging again (a resent A40) finds nothing left to move.
        assert_eq!(j.index_patients(PatientIndexUpdate { phones: vec![], merges: vec![merge] }).await.unwrap(), 0);
        j.close().await;
    }

    #[tokio::test]
    async fn lookups_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let j = open(&dir).await;
        let phones = (0..MAX_CANDIDATES + 10)
            .map(|i| entry("+14155550100", &patient(&format!("p{i:03}"), &format!("MRN{i}"))))
            .collect();
        j.index_patients(PatientIndexUpdate { phones, merges: vec![] }).await.unwrap();
        assert_eq!(j.patients_by_phone("+14155550100").await.unwrap().len(), MAX_CANDIDATES as usize);
        j.close().await;
    }
}
