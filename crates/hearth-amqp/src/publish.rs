//! The publishing channel: confirm mode, `mandatory`, and matching each confirm (and each returned message)
//! to the publish it belongs to.
//!
//! Two lapin behaviours shape this module:
//! - `basic_publish` assigns the confirm sequence number and queues the frames under different locks, so two
//!   tasks publishing at once on one channel could put frames on the wire in the opposite order of their
//!   numbers. Publishes on a channel are therefore serialised by `order` (only the hand-off to lapin's writer;
//!   the confirms are awaited concurrently, so hundreds stay in flight).
//! - lapin attaches a returned (unroutable) message to whichever confirmation it completes next, and with a
//!   `multiple` ack that may be a neighbour's. Every publish therefore carries its own id in the
//!   [`PUBLISH_ID_HEADER`] header, and the [`Tracker`] settles confirmations in the order lapin completed them
//!   (the order their wakers fired): the broker sends `basic.return` before the ack of the same message, so by
//!   the time a message's own confirmation is settled, any return that names it has been seen.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, PublisherConfirm};
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::PublishError;

/// Header carrying the per-channel publish number used to match returned messages to their publish. Internal
/// to Hearth; consumers may ignore it.
pub const PUBLISH_ID_HEADER: &str = "x-hearth-publish-id";

/// One message to publish. Always sent persistent (`delivery_mode` 2) and `mandatory`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outgoing {
    pub exchange: String,
    pub routing_key: String,
    pub body: Vec<u8>,
    /// Stable for the same content so consumers can deduplicate; empty means "no message id".
    pub message_id: String,
    pub content_type: String,
    /// Sent as AMQP long strings.
    pub headers: Vec<(String, String)>,
    /// Seconds since the Unix epoch (the AMQP `timestamp` property).
    pub timestamp: Option<u64>,
}

impl Outgoing {
    /// The AMQP properties of this message, or `Invalid` when something does not fit the wire format.
    fn properties(&self, publish_id: u64) -> Result<BasicProperties, PublishError> {
        let mut headers = FieldTable::default();
        for (k, v) in &self.headers {
            headers.insert(short("header name", k)?, AMQPValue::LongString(LongString::from(v.as_bytes())));
        }
        headers.insert(PUBLISH_ID_HEADER.into(), AMQPValue::LongLongInt(publish_id as i64));
        let mut props = BasicProperties::default().with_delivery_mode(2).with_headers(headers);
        if !self.content_type.is_empty() {
            props = props.with_content_type(short("content_type", &self.content_type)?);
        }
        if !self.message_id.is_empty() {
            props = props.with_message_id(short("message_id", &self.message_id)?);
        }
        if let Some(ts) = self.timestamp {
            props = props.with_timestamp(ts);
        }
        Ok(props)
    }
}

fn short(what: &str, s: &str) -> Result<ShortString, PublishError> {
    ShortString::try_new(s).map_err(|_| PublishError::Invalid(format!("{what} is longer than 255 bytes")))
}

/// A channel in confirm mode and the bookkeeping of its unconfirmed publishes.
#[derive(Debug)]
pub(crate) struct PubChan {
    channel: Channel,
    order: tokio::sync::Mutex<()>,
    next_id: AtomicU64,
    tracker: Arc<Tracker>,
    /// Cancelled when this channel is replaced or its connection is gone: waiting publishers fail with `Lost`.
    pub(crate) dead: CancellationToken,
}

impl PubChan {
    pub(crate) async fn open(conn: &Connection) -> Result<Arc<PubChan>, lapin::Error> {
        let channel = conn.create_channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        let (ready_tx, ready_rx) = mpsc::unbounded_channel();
        let tracker = Arc::new(Tracker { ready: ready_tx, pending: Mutex::new(HashMap::new()) });
        let dead = CancellationToken::new();
        tokio::spawn(Arc::clone(&tracker).collect(ready_rx, dead.clone()));
        Ok(Arc::new(PubChan { channel, order: tokio::sync::Mutex::new(()), next_id: AtomicU64::new(1), tracker, dead }))
    }

    pub(crate) fn is_open(&self) -> bool {
        self.channel.status().connected() && !self.dead.is_cancelled()
    }

    /// Hands the message to lapin and registers its confirmation; the receiver yields the outcome.
    pub(crate) async fn send(
        &self,
        msg: &Outgoing,
        permit: OwnedSemaphorePermit,
    ) -> Result<oneshot::Receiver<Result<(), PublishError>>, PublishError> {
        let exchange = short("exchange", &msg.exchange)?;
        let routing_key = short("routing_key", &msg.routing_key)?;
        let _order = self.order.lock().await;
        if !self.is_open() {
            return Err(PublishError::NotConnected);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let props = msg.properties(id)?;
        let options = BasicPublishOptions { mandatory: true, immediate: false };
        // The entry exists before the frames leave: the broker's return (and a neighbour's ack carrying it) can
        // be read by lapin before `basic_publish` hands control back to this task.
        let (tx, rx) = oneshot::channel();
        self.tracker.reserve(id, tx, permit);
        match self.channel.basic_publish(exchange, routing_key, options, &msg.body, props).await {
            Ok(confirm) => {
                self.tracker.attach(id, confirm);
                Ok(rx)
            }
            Err(e) => {
                self.tracker.forget(id);
                Err(PublishError::from_lapin(&e, true))
            }
        }
    }

    pub(crate) async fn close(&self) {
        self.dead.cancel();
        if self.channel.status().connected() {
            let _ = self.channel.close(200, "closing".into()).await;
        }
    }
}

/// How long a dead channel's collector waits for lapin to fail the confirmations still pending.
const DEAD_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

type Reply = oneshot::Sender<Result<(), PublishError>>;

/// Unconfirmed publishes by id, and the ids whose confirmation completed, in completion order.
#[derive(Debug)]
struct Tracker {
    ready: mpsc::UnboundedSender<u64>,
    pending: Mutex<HashMap<u64, Entry>>,
}

#[derive(Debug)]
struct Entry {
    slot: Slot,
    reply: Reply,
    /// The window slot is held until the broker answers (or the channel dies), not just until the caller
    /// stops waiting: the window bounds what is really in flight.
    _permit: OwnedSemaphorePermit,
}

#[derive(Debug)]
enum Slot {
    /// Reserved, the frames not yet handed to lapin.
    Publishing,
    Waiting(PublisherConfirm),
    Done(Box<Result<Confirmation, lapin::Error>>),
}

/// Wakes by queueing the publish id: lapin wakes confirmations from its IO thread in the order it completes
/// them, so the queue holds that order.
struct IdWaker {
    id: u64,
    ready: mpsc::UnboundedSender<u64>,
}

impl Wake for IdWaker {
    fn wake(self: Arc<Self>) {
        let _ = self.ready.send(self.id);
    }
}

impl Tracker {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Entry>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn waker(&self, id: u64) -> Waker {
        Waker::from(Arc::new(IdWaker { id, ready: self.ready.clone() }))
    }

    /// Registers a publish before its frames are sent, so that a return naming it always finds it pending.
    fn reserve(&self, id: u64, reply: Reply, permit: OwnedSemaphorePermit) {
        self.lock().insert(id, Entry { slot: Slot::Publishing, reply, _permit: permit });
    }

    /// The publish failed before reaching the wire: nobody waits for it.
    fn forget(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// First poll under the map lock, so the collector cannot see the wake before the confirmation is stored.
    /// When the channel died meanwhile the entry is gone (its caller was told `Lost`) and the confirmation is
    /// dropped.
    fn attach(&self, id: u64, mut confirm: PublisherConfirm) {
        let mut pending = self.lock();
        let Some(entry) = pending.get_mut(&id) else { return };
        let waker = self.waker(id);
        entry.slot = match Pin::new(&mut confirm).poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(result) => {
                let _ = self.ready.send(id);
                Slot::Done(Box::new(result))
            }
            Poll::Pending => Slot::Waiting(confirm),
        };
    }

    /// Settles confirmations in completion order until the channel is dead, then fails what is left.
    async fn collect(self: Arc<Self>, mut ready: mpsc::UnboundedReceiver<u64>, dead: CancellationToken) {
        let mut returned: HashMap<u64, (u16, String)> = HashMap::new();
        loop {
            tokio::select! {
                biased;
                id = ready.recv() => match id {
                    Some(id) => self.settle(id, &mut returned),
                    None => break,
                },
                _ = dead.cancelled() => break,
            }
        }
        // lapin marks a channel closed before it fails the confirmations waiting on it: give those failures
        // (which carry the broker's reason, e.g. 404) a moment to arrive before settling the rest as lost.
        let grace = tokio::time::sleep(DEAD_GRACE);
        tokio::pin!(grace);
        while !self.lock().is_empty() {
            tokio::select! {
                id = ready.recv() => match id {
                    Some(id) => self.settle(id, &mut returned),
                    None => break,
                },
                _ = &mut grace => break,
            }
        }
        for (_, entry) in self.lock().drain() {
            let _ = entry.reply.send(Err(PublishError::Lost("publishing channel closed".into())));
        }
    }

    fn settle(&self, id: u64, returned: &mut HashMap<u64, (u16, String)>) {
        let mut pending = self.lock();
        let Some(entry) = pending.get_mut(&id) else { return };
        match &mut entry.slot {
            Slot::Publishing => return, // woken before `attach`; `attach` polls it again
            Slot::Waiting(confirm) => {
                let waker = self.waker(id);
                let polled = Pin::new(confirm).poll(&mut Context::from_waker(&waker));
                match polled {
                    Poll::Pending => return, // a spurious wake; the real one queues the id again
                    Poll::Ready(r) => entry.slot = Slot::Done(Box::new(r)),
                }
            }
            Slot::Done(_) => {}
        }
        let Some(Entry { slot: Slot::Done(result), reply, .. }) = pending.remove(&id) else { return };
        let outcome = match *result {
            Ok(confirmation) => {
                let acked = confirmation.is_ack();
                if let Some(msg) = confirmation.take_message() {
                    record_return(&msg, id, &pending, returned);
                }
                match returned.remove(&id) {
                    Some((code, text)) => Err(PublishError::Returned { code, text }),
                    None if acked => Ok(()),
                    None => Err(PublishError::Nacked),
                }
            }
            Err(e) => Err(PublishError::from_lapin(&e, true)),
        };
        drop(pending);
        let _ = reply.send(outcome);
    }
}

/// Notes which publish a returned message belongs to (by its header), whichever confirmation carried it.
fn record_return(
    msg: &lapin::message::BasicReturnMessage,
    carrier: u64,
    pending: &HashMap<u64, Entry>,
    returned: &mut HashMap<u64, (u16, String)>,
) {
    let owner = msg.delivery.properties.headers().as_ref().and_then(|h| h.inner().get(PUBLISH_ID_HEADER)).and_then(
        |v| match v {
            AMQPValue::LongLongInt(n) => u64::try_from(*n).ok(),
            _ => None,
        },
    );
    let Some(owner) = owner else {
        tracing::warn!(
            "returned message without {PUBLISH_ID_HEADER}; attributing it to the confirmation that carried it"
        );
        returned.insert(carrier, (msg.reply_code, msg.reply_text.to_string()));
        return;
    };
    if owner != carrier && !pending.contains_key(&owner) {
        // Would mean the broker acked a message before returning it: the ordering this module relies on.
        tracing::error!(owner, carrier, "returned message for a publish already settled as confirmed");
        return;
    }
    returned.insert(owner, (msg.reply_code, msg.reply_text.to_string()));
}
