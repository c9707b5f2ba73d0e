//! The patient index (phone number → Patient), on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use hearth_store::{IndexedPatient, MAX_CANDIDATES, PatientIndexUpdate, PatientMerge, PhoneEntry};

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

on_both! {
    #[tokio::test]
    async fn numbers_link_one_several_or_no_patients(place) {
        let j = place.open().await;
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
}

on_both! {
    #[tokio::test]
    async fn a_merge_moves_the_numbers_to_the_survivor(place) {
        let j = place.open().await;
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
}

on_both! {
    #[tokio::test]
    async fn lookups_are_bounded(place) {
        let j = place.open().await;
        let phones = (0..MAX_CANDIDATES + 10)
            .map(|i| entry("+14155550100", &patient(&format!("p{i:03}"), &format!("MRN{i}"))))
            .collect();
        j.index_patients(PatientIndexUpdate { phones, merges: vec![] }).await.unwrap();
        assert_eq!(j.patients_by_phone("+14155550100").await.unwrap().len(), MAX_CANDIDATES as usize);
        j.close().await;
    }
}
