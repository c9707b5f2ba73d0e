-- Channels an operator paused: a pause survives a restart until someone resumes the channel.
CREATE TABLE channel_pauses (
    channel   TEXT   PRIMARY KEY,
    reason    TEXT   NOT NULL,
    paused_at BIGINT NOT NULL                 -- unix microseconds
);
