//! The operations surface: search, figures, audit, retention, channel pauses, the patient index.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::write::Write;
use crate::writer::Command;
use crate::{
    AuditRecord, ChannelStats, DestinationStats, IdentifierEntry, IndexedPatient, Journal, MessageSummary, Minutes,
    NewAuditEvent, PatientIndexUpdate, PruneProgress, SearchPage, SearchQuery, StatsQuery, StoreError, read, retention,
};

impl Journal {
    /// Messages matching `query`, one page (see [`SearchPage`]). A patient identifier is answered from its index.
    pub async fn search(&self, query: &SearchQuery, page: SearchPage) -> Result<Vec<MessageSummary>, StoreError> {
        read!(self, ops::search(query, page))
    }

    /// The `system|value` Patient identifiers indexed for message `id`.
    pub async fn patient_identifiers(&self, id: i64) -> Result<Vec<String>, StoreError> {
        read!(self, ops::identifiers_of(id))
    }

    /// A channel at a glance: counts, last message, error rate and latency over its latest messages.
    pub async fn channel_stats(&self, channel: &str) -> Result<ChannelStats, StoreError> {
        read!(self, ops::channel_stats(channel))
    }

    /// Messages of `channel` that went to `error` at or after `since`.
    pub async fn errors_since(&self, channel: &str, since: OffsetDateTime) -> Result<u64, StoreError> {
        read!(self, ops::errors_since(channel, since))
    }

    /// A destination's outbox depth, dead count and oldest pending delivery (index reads only).
    pub async fn destination_stats(&self, destination: &str) -> Result<DestinationStats, StoreError> {
        read!(self, ops::destination_stats(destination))
    }

    /// Adds per-minute counts into the dashboard's buckets (group committed: one upsert per channel or
    /// destination and minute, whatever the number of messages counted). Answers how many rows were written.
    pub async fn record_minutes(&self, minutes: Minutes) -> Result<u64, StoreError> {
        if minutes.is_empty() {
            return Ok(0);
        }
        let minutes = Box::new(minutes);
        self.send(|reply| Command::Write(Write::RecordMinutes { minutes, reply })).await
    }

    /// Deletes the per-minute buckets of minutes before `older_than`. Answers how many rows went.
    pub async fn prune_minutes(&self, older_than: OffsetDateTime) -> Result<u64, StoreError> {
        let before_minute = hearth_core::minutes::minute_of(older_than.unix_timestamp());
        self.send(|reply| Command::Write(Write::PruneStats { before_minute, reply })).await
    }

    /// The per-minute buckets `query` asks for (minutes without a bucket are absent).
    pub async fn stats_minutes(&self, query: &StatsQuery) -> Result<Minutes, StoreError> {
        read!(self, stats::read(query))
    }

    /// Records an audit event (group committed); answers its id.
    pub async fn audit(&self, event: NewAuditEvent) -> Result<u64, StoreError> {
        let event = Box::new(event);
        self.send(|reply| Command::Write(Write::Audit { event, reply })).await
    }

    /// Audit events, newest first, with id below `before_id`; only those about `message_id` when given.
    pub async fn audit_events(
        &self,
        message_id: Option<i64>,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        read!(self, ops::audit_events(message_id, before_id, limit))
    }

    /// One retention batch: prunes the content of at most `limit` of `channel`'s messages with id above
    /// `after_id` received before `older_than` (see the `retention` module). Group committed beside ingest.
    pub async fn prune_content(
        &self,
        channel: &str,
        older_than: OffsetDateTime,
        after_id: i64,
        limit: u32,
    ) -> Result<PruneProgress, StoreError> {
        let prune = retention::Prune { channel: channel.to_owned(), older_than, after_id, limit };
        self.send(|reply| Command::Write(Write::Prune { prune, reply })).await
    }

    /// Adds or refreshes patient-index numbers and identifiers and applies merges (numbers and identifiers of a
    /// merged Patient move to the survivor), in one group-committed write. Answers how many rows changed.
    pub async fn index_patients(&self, update: PatientIndexUpdate) -> Result<u64, StoreError> {
        let update = Box::new(update);
        self.send(|reply| Command::Write(Write::IndexPatients { update, reply })).await
    }

    /// The Patients the index holds for `phone` (E.164): none, one, or several (then nobody may guess which).
    pub async fn patients_by_phone(&self, phone: &str) -> Result<Vec<IndexedPatient>, StoreError> {
        read!(self, ops::patients_by_phone(phone))
    }

    /// The Patients the index holds for an identifier: `system` + `value`, or `value` under any system when the
    /// caller knows none. Each Patient once (by patient id), at most [`crate::MAX_CANDIDATES`]: none, one, or
    /// several (then nobody may guess which).
    pub async fn patients_by_identifier(
        &self,
        system: Option<&str>,
        value: &str,
    ) -> Result<Vec<IdentifierEntry>, StoreError> {
        read!(self, ops::patients_by_identifier(system, value))
    }

    /// Makes appends for `channel` wait (like [`Journal::pause_ingest`], for one channel): an operator's pause.
    /// Stored: the channel stays paused across restarts until [`Journal::resume_channel`].
    pub async fn pause_channel(&self, channel: &str, reason: &str) -> Result<(), StoreError> {
        let (channel, reason) = (channel.to_owned(), reason.to_owned());
        let pause = Some(reason.clone());
        let stored = channel.clone();
        self.send(|reply| Command::Write(Write::ChannelPause { channel: stored, pause, reply })).await?;
        self.inner.channel_pauses.send_if_modified(|m| m.insert(channel, reason.clone()).as_deref() != Some(&reason));
        Ok(())
    }

    /// Lets `channel`'s waiting and new appends through again.
    pub async fn resume_channel(&self, channel: &str) -> Result<(), StoreError> {
        let stored = channel.to_owned();
        self.send(|reply| Command::Write(Write::ChannelPause { channel: stored, pause: None, reply })).await?;
        self.inner.channel_pauses.send_if_modified(|m| m.remove(channel).is_some());
        Ok(())
    }

    /// Paused channels and why.
    pub fn paused_channels(&self) -> BTreeMap<String, String> {
        self.inner.channel_pauses.borrow().clone()
    }
}
