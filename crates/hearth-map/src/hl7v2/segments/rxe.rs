//! RXE → MedicationRequest (the pharmacy's encoded order; the IG maps RXO, and RXE's give code, amounts,
//! dispense amount and refills are the same elements).

use serde_json::{Value, json};

use crate::hl7v2::bundle::{Obj, Ref};
use crate::hl7v2::context::Ctx;
use crate::hl7v2::datatypes::codeable_concept;
use crate::hl7v2::segments::rxo::{dispense, dose_range, medication_request, merge_dosage};
use crate::hl7v2::tracker::Seg;

/// Maps an RXE (and the ORC of its group) into the group's MedicationRequest: medication RXE-2, dose RXE-3/4/5,
/// instructions RXE-7, dispense RXE-10/11, refills RXE-12. `None` without RXE-2.
pub fn map(ctx: &mut Ctx<'_>, seg: Seg<'_>, order: Option<&Seg<'_>>) -> Option<Ref> {
    let medication = seg.rep(2).and_then(|r| codeable_concept(ctx, &r, None))?;
    let mut o = Obj::new();
    o.insert("medicationCodeableConcept".into(), medication);
    let mut dosage = Obj::new();
    let text: Vec<String> = seg
        .reps(7)
        .filter_map(|r| {
            let t = crate::hl7v2::tracker::comp(&r, 2).or_else(|| crate::hl7v2::tracker::comp(&r, 1));
            t.map(|t| t.into_owned())
        })
        .collect();
    if !text.is_empty() {
        dosage.insert("text".into(), Value::from(text.join("\n")));
    }
    if let Some(dr) = dose_range(ctx, &seg, 3, 4, 5) {
        dosage.insert("doseAndRate".into(), json!([dr]));
    }
    if let Some(d) = dispense(&seg, 10, 11, 12) {
        o.insert("dispenseRequest".into(), d);
    }
    let mr = medication_request(ctx, order, &seg, o)?;
    merge_dosage(ctx, &mr, dosage);
    Some(mr)
}
