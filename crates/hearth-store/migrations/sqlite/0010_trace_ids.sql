-- The trace id of each message (issue 18, traces; docs/operations.md, "Traces"): 32 lowercase hex characters
-- (W3C trace-context, 16 random bytes, never all zero), written in the same statement that appends the message.
-- Nullable: messages journaled before this version have none. The root span id of the message's trace is
-- derived from it (SHA-256), so the processing stage and the sinks parent their spans without another column.
-- Same change as PostgreSQL's 0010.
ALTER TABLE messages ADD COLUMN trace_id TEXT CHECK (trace_id IS NULL OR length(trace_id) = 32);
