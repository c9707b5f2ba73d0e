-- The patient index: which Patient a phone number (E.164) belongs to, one row per (number, Patient).
CREATE TABLE patient_phones (
    phone             TEXT   NOT NULL,
    patient_id        TEXT   NOT NULL,
    identifier_system TEXT,
    identifier_value  TEXT,
    updated_at        BIGINT NOT NULL,        -- unix microseconds
    PRIMARY KEY (phone, patient_id)
);

CREATE INDEX patient_phones_patient ON patient_phones (patient_id);
