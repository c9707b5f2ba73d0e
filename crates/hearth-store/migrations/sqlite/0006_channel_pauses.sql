-- Channels an operator paused (issue 7): a pause survives a restart until someone resumes the channel.
CREATE TABLE channel_pauses (
    channel   TEXT    PRIMARY KEY NOT NULL,
    reason    TEXT    NOT NULL,
    paused_at INTEGER NOT NULL              -- unix microseconds
) WITHOUT ROWID;
