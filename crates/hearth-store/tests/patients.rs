//! The patient index (phone number → Patient, identifier → Patient), on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use hearth_store::{IdentifierEntry, IndexedPatient, MAX_CANDIDATES, PatientIndexUpdate, PatientMerge, PhoneEntry};

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
            identifiers: vec![],
            merges: vec![],
        };
        assert_eq!(j.index_patients(update.clone()).await.unwrap(), 3);
        assert_eq!(j.patients_by_phone("+14155550100").await.unwrap(), vec![a.clone()]);
        assert_eq!(j.patients_by_phone("+14155550111").await.unwrap(), vec![a.clone(), b.clone()]);
        assert!(j.patients_by_phone("+14155550199").await.unwrap().is_empty());
        // The same Bundle again (a resent ADT) rewrites nothing; a new MRN for the same Patient refreshes.
        assert_eq!(j.index_patients(update).await.unwrap(), 0);
        let renamed = patient("pa", "MRN1B");
        j.index_patients(PatientIndexUpdate { phones: vec![entry("+14155550100", &renamed)], identifiers: vec![], merges: vec![] })
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
        j.index_patients(PatientIndexUpdate { phones, identifiers: vec![], merges: vec![] }).await.unwrap();
        let merge = PatientMerge { merged_id: "old".into(), survivor: survivor.clone() };
        j.index_patients(PatientIndexUpdate { phones: vec![], identifiers: vec![], merges: vec![merge.clone()] }).await.unwrap();
        assert_eq!(j.patients_by_phone("+14155550100").await.unwrap(), vec![survivor.clone()]);
        // The survivor already had this one: one row, not two, and not ambiguous.
        assert_eq!(j.patients_by_phone("+14155550101").await.unwrap(), vec![survivor.clone()]);
        assert_eq!(j.patients_by_phone("+14155550102").await.unwrap(), vec![other]);
        // Merging again (a resent A40) finds nothing left to move.
        assert_eq!(j.index_patients(PatientIndexUpdate { phones: vec![], identifiers: vec![], merges: vec![merge] }).await.unwrap(), 0);
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
        j.index_patients(PatientIndexUpdate { phones, identifiers: vec![], merges: vec![] }).await.unwrap();
        assert_eq!(j.patients_by_phone("+14155550100").await.unwrap().len(), MAX_CANDIDATES as usize);
        j.close().await;
    }
}

fn ident(system: Option<&str>, value: &str, p: &IndexedPatient, family: &str) -> IdentifierEntry {
    IdentifierEntry {
        system: system.map(Into::into),
        value: value.into(),
        patient: p.clone(),
        family: Some(family.into()),
        birth_date: Some("1980-02-14".into()),
    }
}

fn ids_only(identifiers: Vec<IdentifierEntry>) -> PatientIndexUpdate {
    PatientIndexUpdate { identifiers, ..PatientIndexUpdate::default() }
}

fn patient_ids(found: &[IdentifierEntry]) -> Vec<&str> {
    found.iter().map(|e| e.patient.patient_id.as_str()).collect()
}

on_both! {
    #[tokio::test]
    async fn identifiers_find_their_patient_with_name_and_birth_date(place) {
        let j = place.open().await;
        let (a, b) = (patient("pa", "MRN1"), patient("pb", "MRN2"));
        const NORTH: Option<&str> = Some("urn:hearth:v2:NORTH");
        let update = ids_only(vec![
            ident(NORTH, "MRN1", &a, "Doe"),
            ident(Some("http://hl7.org/fhir/sid/us-ssn"), "123-45-6789", &a, "Doe"),
            ident(NORTH, "MRN2", &b, "Roe"),
            // The same value under another authority belongs to someone else.
            ident(Some("urn:hearth:v2:SOUTH"), "MRN1", &b, "Roe"),
            ident(None, "X9", &b, "Roe"),
        ]);
        assert_eq!(j.index_patients(update.clone()).await.unwrap(), 5);

        let found = j.patients_by_identifier(NORTH, "MRN1").await.unwrap();
        assert_eq!(patient_ids(&found), ["pa"]);
        assert_eq!(found[0].family.as_deref(), Some("Doe"));
        assert_eq!(found[0].birth_date.as_deref(), Some("1980-02-14"));
        assert_eq!(found[0].patient, a);
        // Without a system the value is looked up under every system: two Patients, nobody guesses.
        assert_eq!(patient_ids(&j.patients_by_identifier(None, "MRN1").await.unwrap()), ["pa", "pb"]);
        // An identifier without a system is found with no system given, and only then.
        let x9 = j.patients_by_identifier(None, "X9").await.unwrap();
        assert_eq!((patient_ids(&x9), x9[0].system.as_deref()), (vec!["pb"], None));
        assert!(j.patients_by_identifier(NORTH, "X9").await.unwrap().is_empty());
        assert!(j.patients_by_identifier(NORTH, "MRN404").await.unwrap().is_empty());
        // One Patient holding the value under two systems is still one Patient.
        j.index_patients(ids_only(vec![ident(Some("urn:other"), "MRN2", &b, "Roe")])).await.unwrap();
        assert_eq!(patient_ids(&j.patients_by_identifier(None, "MRN2").await.unwrap()), ["pb"]);

        // A resent message changes nothing visible; a corrected name is refreshed.
        j.index_patients(update).await.unwrap();
        j.index_patients(ids_only(vec![ident(NORTH, "MRN1", &a, "Doe-Smith")])).await.unwrap();
        let found = j.patients_by_identifier(NORTH, "MRN1").await.unwrap();
        assert_eq!(found[0].family.as_deref(), Some("Doe-Smith"));
        j.close().await;
    }
}

on_both! {
    #[tokio::test]
    async fn a_merge_moves_the_identifiers_to_the_survivor(place) {
        let j = place.open().await;
        let (old, survivor) = (patient("old", "MRN19999"), patient("new", "MRN20000"));
        const NORTH: Option<&str> = Some("urn:hearth:v2:NORTH");
        j.index_patients(ids_only(vec![
            ident(NORTH, "MRN19999", &old, "Doe"),
            ident(NORTH, "SHARED", &old, "Doe"),
            ident(NORTH, "SHARED", &survivor, "Doe-Smith"),
            ident(NORTH, "MRN20000", &survivor, "Doe-Smith"),
        ]))
        .await
        .unwrap();
        let merge = PatientMerge { merged_id: "old".into(), survivor: survivor.clone() };
        let update = PatientIndexUpdate { merges: vec![merge.clone()], ..PatientIndexUpdate::default() };
        j.index_patients(update.clone()).await.unwrap();
        // The prior MRN now finds the survivor, named as the survivor is (its first identifier, its name).
        let found = j.patients_by_identifier(NORTH, "MRN19999").await.unwrap();
        assert_eq!(patient_ids(&found), ["new"]);
        assert_eq!(found[0].patient, survivor);
        assert_eq!(found[0].family.as_deref(), Some("Doe-Smith"));
        // The survivor already had this one: one Patient, not ambiguous.
        assert_eq!(patient_ids(&j.patients_by_identifier(NORTH, "SHARED").await.unwrap()), ["new"]);
        // A resent A40 finds nothing left to move.
        assert_eq!(j.index_patients(update).await.unwrap(), 0);
        j.close().await;
    }
}

on_both! {
    #[tokio::test]
    async fn identifier_lookups_are_bounded(place) {
        let j = place.open().await;
        let identifiers = (0..MAX_CANDIDATES + 10)
            .map(|i| ident(Some("urn:x"), "SHARED", &patient(&format!("p{i:03}"), &format!("MRN{i}")), "Doe"))
            .collect();
        j.index_patients(ids_only(identifiers)).await.unwrap();
        assert_eq!(j.patients_by_identifier(Some("urn:x"), "SHARED").await.unwrap().len(), MAX_CANDIDATES as usize);
        assert_eq!(j.patients_by_identifier(None, "SHARED").await.unwrap().len(), MAX_CANDIDATES as usize);
        j.close().await;
    }
}
