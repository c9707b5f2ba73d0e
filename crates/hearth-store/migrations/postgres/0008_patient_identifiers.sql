-- The patient index by identifier: which Patient an identifier (system + value; system '' when it has none)
-- belongs to, one row per (system, value, Patient), with the Patient's first identifier, family name and birth
-- date (the cross-check of a link by identifier). Same schema as SQLite's 0008.
CREATE TABLE patient_index_identifiers (
    system            TEXT   NOT NULL,
    value             TEXT   NOT NULL,
    patient_id        TEXT   NOT NULL,
    identifier_system TEXT,
    identifier_value  TEXT,
    family            TEXT,
    birth_date        TEXT,
    updated_at        BIGINT NOT NULL,        -- unix microseconds
    PRIMARY KEY (system, value, patient_id)
);

CREATE INDEX patient_index_identifiers_value ON patient_index_identifiers (value);
CREATE INDEX patient_index_identifiers_patient ON patient_index_identifiers (patient_id);
