//! The outbox as the sinks and the operators see it.

use time::OffsetDateTime;
use tokio::sync::watch;

use crate::write::Write;
use crate::writer::Command;
use crate::{
    DeliveryFilter, DeliveryOutcome, DeliveryRecord, DueDelivery, Journal, OutboxStats, ResendTarget, StoreError, read,
};

impl Journal {
    /// Records a sink's outcomes for a batch of deliveries; answers how many rows changed (an outcome for a
    /// delivery cancelled meanwhile changes nothing).
    pub async fn record_deliveries(&self, outcomes: Vec<DeliveryOutcome>) -> Result<u64, StoreError> {
        self.send(|reply| Command::Write(Write::RecordDeliveries { outcomes, reply })).await
    }

    /// Puts one delivery, or every dead delivery of a destination, back into the outbox, due now, with a fresh
    /// retry budget. Answers how many.
    pub async fn resend(&self, target: ResendTarget) -> Result<u64, StoreError> {
        self.send(|reply| Command::Write(Write::Resend { target, reply })).await
    }

    /// Sends message `id` through mapping and routing again from its raw bytes (status back to `received`;
    /// deliveries not yet sent are cancelled). Fails if the raw bytes were pruned.
    pub async fn reprocess(&self, id: i64) -> Result<(), StoreError> {
        self.send(|reply| Command::Write(Write::Reprocess { id, reply })).await?;
        self.inner.appended.notify_one();
        Ok(())
    }

    /// Changes whenever deliveries may have become due (new ones committed, resends). Sinks wait on it.
    pub fn outbox_changes(&self) -> watch::Receiver<u64> {
        self.inner.outbox.subscribe()
    }

    /// Due deliveries of `destination` (next attempt time reached), oldest first; of an ordered lane only its
    /// head. At most `limit` (and [`MAX_PAGE`](crate::MAX_PAGE)).
    pub async fn due_deliveries(
        &self,
        destination: &str,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        read!(self, outbox::due(destination, now, limit))
    }

    /// When the next pending delivery of `destination` falls due; `None` if nothing is pending.
    pub async fn next_due(&self, destination: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        read!(self, outbox::next_due(destination))
    }

    /// Deliveries matching `filter` with id greater than `after_id`, ascending; at most `limit` (and [`MAX_PAGE`](crate::MAX_PAGE)).
    pub async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        after_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        read!(self, outbox::list(filter, after_id, limit))
    }

    /// The failed attempts of a delivery: (attempt number, time, error), oldest first.
    pub async fn delivery_failures(&self, id: i64) -> Result<Vec<(u32, OffsetDateTime, String)>, StoreError> {
        read!(self, outbox::failures(id))
    }

    /// Pending deliveries per destination (destinations with none are absent). Cheap: for polling.
    pub async fn pending_deliveries(&self) -> Result<Vec<(String, u64)>, StoreError> {
        read!(self, outbox::pending())
    }

    /// Per destination: pending, sent and dead counts and the oldest pending delivery.
    pub async fn outbox_stats(&self) -> Result<Vec<OutboxStats>, StoreError> {
        read!(self, outbox::stats())
    }
}
