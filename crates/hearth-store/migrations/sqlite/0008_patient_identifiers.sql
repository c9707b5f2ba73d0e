-- The patient index by identifier (issue 16): which Patient an identifier (system + value) belongs to, fed by
-- every Patient the processing stage sees from any feed, so that a contact-center event naming the patient by MRN
-- links to that Patient. One row per (system, value, Patient): an identifier two Patients share is ambiguous and
-- the lookup reports both. `system` is '' for an identifier without one. Beside it, what a link needs: the
-- Patient's first identifier (for identifier references), and its family name and birth date (a link by
-- identifier is refused when the event's contradict them). (The table `patient_identifiers` is message search.)
CREATE TABLE patient_index_identifiers (
    system            TEXT    NOT NULL,
    value             TEXT    NOT NULL,
    patient_id        TEXT    NOT NULL,
    identifier_system TEXT,
    identifier_value  TEXT,
    family            TEXT,
    birth_date        TEXT,
    updated_at        INTEGER NOT NULL,        -- unix microseconds
    PRIMARY KEY (system, value, patient_id)
) WITHOUT ROWID;

-- An event that sends no identifier system looks the value up under any system.
CREATE INDEX patient_index_identifiers_value ON patient_index_identifiers (value);
-- Merges (A40/A34) move a patient's identifiers: find them by patient.
CREATE INDEX patient_index_identifiers_patient ON patient_index_identifiers (patient_id);
