-- The trace id of each message (issue 18, traces; docs/operations.md, "Traces"): 32 lowercase hex characters
-- (W3C trace-context, 16 random bytes, never all zero), written in the same statement that appends the message.
-- Nullable: messages journaled before this version have none. Same change as SQLite's 0010. Adding a nullable
-- column without a default does not rewrite the table.
ALTER TABLE messages ADD COLUMN trace_id TEXT CHECK (trace_id IS NULL OR trace_id ~ '^[0-9a-f]{32}$');
