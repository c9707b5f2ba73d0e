-- The journal. Metadata and raw bytes live in separate tables: retention prunes `message_content` but keeps
-- `messages`, and later features add derived columns (bundle, report) to `message_content`.
--
-- No CHECK on `status`/`kind`: SQLite cannot alter a CHECK without rebuilding the table, and the set of
-- statuses will grow. The store only ever writes values from `MessageStatus`/`PayloadKind`.
CREATE TABLE messages (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, even after rows are deleted
    channel             TEXT    NOT NULL CHECK (length(channel) > 0),
    kind                TEXT    NOT NULL,
    received_at         INTEGER NOT NULL,                  -- unix microseconds
    status              TEXT    NOT NULL,
    reason              TEXT,
    dedup_key           TEXT    UNIQUE,                    -- NULLs never conflict: NULL means "never a duplicate"
    duplicates          INTEGER NOT NULL DEFAULT 0,        -- how many times the same message was resent
    message_code        TEXT,
    trigger_event       TEXT,
    structure           TEXT,
    control_id          TEXT,
    sending_application TEXT,
    sending_facility    TEXT,
    updated_at          INTEGER NOT NULL                   -- unix microseconds
);

CREATE TABLE message_content (
    message_id INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    raw        BLOB    NOT NULL
);

CREATE INDEX messages_status_id  ON messages (status, id);
CREATE INDEX messages_channel_id ON messages (channel, id);
CREATE INDEX messages_control_id ON messages (control_id);
