-- The patient index (issue 6): which Patient a phone number belongs to, fed by the ADT stream's converted
-- Bundles, so a contact-center event from that number can reference the Patient. One row per (number, Patient):
-- a number shared by several patients has several rows, and the lookup reports them all (Hearth never guesses).
-- Numbers are E.164. The identifier is the Patient's first identifier, for identifier references.
CREATE TABLE patient_phones (
    phone             TEXT    NOT NULL,
    patient_id        TEXT    NOT NULL,
    identifier_system TEXT,
    identifier_value  TEXT,
    updated_at        INTEGER NOT NULL,        -- unix microseconds
    PRIMARY KEY (phone, patient_id)
) WITHOUT ROWID;

-- Merges (A40) move a patient's numbers: find them by patient.
CREATE INDEX patient_phones_patient ON patient_phones (patient_id);
