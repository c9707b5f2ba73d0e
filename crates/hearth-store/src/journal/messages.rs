//! The journal's messages: appends, status changes, conversions, and the reads over them.

use std::collections::BTreeMap;

use hearth_core::trace::{Span, SpanKind};
use hearth_core::{Envelope, MessageStatus};

use crate::write::{Conversion, Write};
use crate::writer::Command;
use crate::{
    Appended, ConversionOutcome, Journal, MessageFilter, MessageSummary, NewDelivery, StoreError, StoredMessage, read,
};

impl Journal {
    /// Stores one message. `Ok` means committed and fsynced (safe to acknowledge); a message whose dedup key is
    /// already stored gets the earlier id and `duplicate: true`. Waits while the write queue is full, and while
    /// ingest is paused (see [`Journal::pause_ingest`]): a source then holds its sender instead of acknowledging.
    pub async fn append(&self, env: Envelope) -> Result<Appended, StoreError> {
        // The trace's `journal` span: waiting for a paused ingest, the queue and the group commit.
        let mut span = Span::under_root("journal", SpanKind::Internal, env.trace_id);
        if span.is_recording() {
            span.attr("hearth.channel", env.channel.as_str());
        }
        self.ingest_open().await;
        self.channel_open(&env.channel).await;
        let appended = self.send(|reply| Command::Write(Write::Append { env: Box::new(env), reply })).await;
        match &appended {
            Ok(a) => {
                span.attr("hearth.message_id", a.id)
                    .attr("hearth.outcome", if a.duplicate { "duplicate" } else { "stored" });
            }
            // A fixed text: a database error may quote what it refused.
            Err(_) => {
                span.error("the journal could not store the message");
            }
        }
        span.end();
        appended
    }

    /// Sets a message's status and reason (`None` clears the reason). Goes through the group commit like an
    /// append, so status changes from the processing stage batch too.
    pub async fn set_status(&self, id: i64, status: MessageStatus, reason: Option<&str>) -> Result<(), StoreError> {
        let reason = reason.map(str::to_owned);
        self.send(|reply| Command::Write(Write::SetStatus { id, status, reason, reply })).await
    }

    /// Stores the outcome of converting message `id`: its new status (`mapped`, or `error` with the reason) and
    /// the Bundle and report as JSON text (`None` clears them). Group committed like every write.
    pub async fn set_conversion(
        &self,
        id: i64,
        status: MessageStatus,
        bundle: Option<&str>,
        report: Option<&str>,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        self.set_outcome(id, status, bundle, report, reason, Vec::new()).await
    }

    /// [`Journal::set_conversion`] plus the router's deliveries for the message, in the same transaction: a
    /// message is never `processed` without its outbox rows.
    pub async fn set_outcome(
        &self,
        id: i64,
        status: MessageStatus,
        bundle: Option<&str>,
        report: Option<&str>,
        reason: Option<&str>,
        deliveries: Vec<NewDelivery>,
    ) -> Result<(), StoreError> {
        let conversion = Box::new(Conversion {
            id,
            status,
            bundle: bundle.map(str::to_owned),
            report: report.map(str::to_owned),
            reason: reason.map(str::to_owned),
            deliveries,
            patients: Vec::new(),
            claim: None,
        });
        self.send(|reply| Command::Write(Write::SetConversion { conversion, reply })).await
    }

    /// [`Journal::set_outcome`] that also replaces the message's Patient identifiers in the search index, in the
    /// same transaction.
    pub async fn set_outcome_indexed(&self, id: i64, outcome: ConversionOutcome) -> Result<(), StoreError> {
        let ConversionOutcome { status, bundle, report, reason, deliveries, patient_identifiers } = outcome;
        let conversion = Box::new(Conversion {
            id,
            status,
            bundle,
            report,
            reason,
            deliveries,
            patients: patient_identifiers,
            claim: None,
        });
        self.send(|reply| Command::Write(Write::SetConversion { conversion, reply })).await
    }

    /// A message with its raw bytes.
    pub async fn get(&self, id: i64) -> Result<Option<StoredMessage>, StoreError> {
        read!(self, messages::get(id))
    }

    /// Messages matching `filter` with id greater than `after_id`, ascending by id: pass the last id of one
    /// page as `after_id` of the next. At most `limit` rows, and never more than [`MAX_PAGE`](crate::MAX_PAGE).
    pub async fn list(
        &self,
        filter: &MessageFilter,
        after_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<MessageSummary>, StoreError> {
        read!(self, messages::list(filter, after_id, limit))
    }

    /// Message counts per status (every status present, zero included), for one channel or all.
    pub async fn count_by_status(&self, channel: Option<&str>) -> Result<BTreeMap<MessageStatus, u64>, StoreError> {
        read!(self, messages::count_by_status(channel))
    }

    /// Number of messages in the journal (duplicates are not separate messages).
    pub async fn count_all(&self) -> Result<u64, StoreError> {
        read!(self, messages::count_all())
    }

    /// The processing stage's next page: messages with status `received` and id greater than `after_id`,
    /// ascending, with raw bytes. At most `limit` (and [`MAX_PAGE`](crate::MAX_PAGE)); the backlog is never loaded whole.
    pub async fn next_received(&self, after_id: i64, limit: u32) -> Result<Vec<StoredMessage>, StoreError> {
        read!(self, messages::next_received(after_id, limit))
    }
}
