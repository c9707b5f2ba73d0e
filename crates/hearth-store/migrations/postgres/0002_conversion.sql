-- The conversion of each message: the FHIR R4 Bundle and the conversion report (JSON text), pruned with the raw
-- bytes. NULL: not converted (yet), or conversion failed (the reason is on `messages.reason`).
ALTER TABLE message_content ADD COLUMN bundle TEXT, ADD COLUMN report TEXT;
