-- The conversion of each message (issue 3): the FHIR R4 Bundle (JSON) and the conversion report (JSON), kept
-- beside the raw bytes so that retention prunes them together. NULL: not converted (yet), or conversion failed
-- (the reason is then on `messages.reason`).
ALTER TABLE message_content ADD COLUMN bundle TEXT;
ALTER TABLE message_content ADD COLUMN report TEXT;
