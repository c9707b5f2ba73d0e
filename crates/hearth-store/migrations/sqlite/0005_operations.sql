-- The operations surface (issue 7): the patient-identifier index behind message search, the audit trail, and an
-- index for per-channel counts.

-- One row per (message, Patient identifier) of the message's converted Bundle, written by the processing stage
-- in the same transaction as the conversion. `identifier` is `system|value` (FHIR token search syntax; an
-- identifier without a system is `|value`). The primary key is the search index: "every message of this
-- patient" is one range read, never a scan of `messages`.
CREATE TABLE patient_identifiers (
    identifier TEXT    NOT NULL,
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    PRIMARY KEY (identifier, message_id)
) WITHOUT ROWID;
-- Reprocessing replaces a message's identifiers; the cascade needs this too.
CREATE INDEX patient_identifiers_message ON patient_identifiers (message_id);

-- Who looked at which message content and who acted (reprocess, resend, pause), as FHIR AuditEvent JSON.
-- `actor` is the token's configured name, never the token. Kept when retention prunes content.
CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,              -- unix microseconds
    actor      TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    action     TEXT    NOT NULL,              -- view, reprocess, resend, pause, resume, ...
    message_id INTEGER,                       -- no foreign key: the trail outlives what it talks about
    event      TEXT    NOT NULL               -- the AuditEvent resource (JSON)
);
CREATE INDEX audit_events_message ON audit_events (message_id) WHERE message_id IS NOT NULL;

-- Dashboard counts per (channel, status) and "errors of this channel within a window" read this covering index
-- instead of the table.
CREATE INDEX messages_channel_status ON messages (channel, status, updated_at);
