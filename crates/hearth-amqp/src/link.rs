//! The supervised connection: one task connects, declares the topology, watches the connection, and
//! reconnects with backoff and jitter. Publishers and consumers borrow whatever session is current.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use futures::{Stream, StreamExt};
use lapin::uri::AMQPScheme;
use lapin::{Connection, ConnectionProperties, Event};
use tokio::sync::{Notify, Semaphore, watch};
use tokio_util::sync::CancellationToken;

use crate::config::{LinkConfig, parse_uri};
use crate::consumer::Consumer;
use crate::error::{ConsumeError, PublishError};
use crate::publish::{Outgoing, PubChan};
use crate::topology;

/// How often the supervisor looks at the connection and the publishing channel (lapin does not report every
/// way a connection can end as an event, e.g. a `connection.close` from the broker).
const WATCH_INTERVAL: Duration = Duration::from_millis(200);
/// A session that lived at least this long resets the backoff.
const STABLE_SESSION: Duration = Duration::from_secs(30);

/// What the link is doing now. The engine stops acknowledging new input while it is not `Connected`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    Connected,
    /// The broker blocked publishers (`connection.blocked`: memory or disk alarm).
    Blocked {
        reason: String,
    },
    /// The last attempt or session failed; the supervisor retries after a backoff.
    Disconnected {
        since: SystemTime,
        error: String,
    },
    /// `close` was called or the shutdown token fired.
    Closed,
}

impl LinkState {
    pub fn is_connected(&self) -> bool {
        matches!(self, LinkState::Connected)
    }
}

/// A supervised AMQP connection. Cheap to clone; clones share the connection, the publisher window and state.
#[derive(Debug, Clone)]
pub struct Link {
    shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) cfg: LinkConfig,
    state: watch::Sender<LinkState>,
    pub(crate) session: watch::Sender<Option<Arc<Session>>>,
    window: Arc<Semaphore>,
    pub(crate) stop: CancellationToken,
    stopped: CancellationToken,
    /// A publisher saw the publishing channel closed: look now instead of at the next tick.
    channel_broken: Notify,
}

/// One live connection.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) conn: Connection,
    pubchan: Mutex<Arc<PubChan>>,
    /// Cancelled when this session is over; consumers resubscribe on the next one.
    pub(crate) dead: CancellationToken,
}

impl Session {
    fn pubchan(&self) -> Arc<PubChan> {
        Arc::clone(&self.pubchan.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Link {
    /// Starts the supervisor (on the current tokio runtime) and returns at once. An invalid configuration is
    /// reported through [`Link::state`] as `Disconnected` with the reason, and never retried.
    pub fn start(cfg: LinkConfig, shutdown: CancellationToken) -> Link {
        let window = Arc::new(Semaphore::new(cfg.max_unconfirmed.max(1)));
        let shared = Arc::new(Shared {
            cfg,
            state: watch::Sender::new(LinkState::Connecting),
            session: watch::Sender::new(None),
            window,
            stop: shutdown.child_token(),
            stopped: CancellationToken::new(),
            channel_broken: Notify::new(),
        });
        tokio::spawn(supervise(Arc::clone(&shared)));
        Link { shared }
    }

    /// The current state and its changes.
    pub fn state(&self) -> watch::Receiver<LinkState> {
        self.shared.state.subscribe()
    }

    /// Publishes one message (persistent, mandatory, on the confirm channel) and returns once the broker
    /// confirmed it. Fails fast when not connected or blocked; never waits longer than `confirm_timeout`.
    pub async fn publish(&self, msg: Outgoing) -> Result<(), PublishError> {
        let deadline = self.shared.cfg.confirm_timeout;
        match tokio::time::timeout(deadline, self.publish_inner(&msg)).await {
            Ok(result) => result,
            Err(_) => Err(PublishError::Timeout),
        }
    }

    async fn publish_inner(&self, msg: &Outgoing) -> Result<(), PublishError> {
        self.ready_to_publish()?;
        let session = self.shared.session.borrow().clone().ok_or(PublishError::NotConnected)?;
        let pubchan = session.pubchan();
        let permit = tokio::select! {
            p = Arc::clone(&self.shared.window).acquire_owned() => p.map_err(|_| PublishError::NotConnected)?,
            _ = pubchan.dead.cancelled() => return Err(PublishError::NotConnected),
        };
        // The alarm may have started while this publish waited for a window slot.
        self.ready_to_publish()?;
        let reply = match pubchan.send(msg, permit).await {
            Ok(reply) => reply,
            Err(e) => {
                if !pubchan.is_open() {
                    self.shared.channel_broken.notify_one();
                }
                return Err(e);
            }
        };
        // The channel's collector answers every registered publish, also when the channel dies.
        reply.await.unwrap_or_else(|_| Err(PublishError::Lost("publishing channel closed".into())))
    }

    fn ready_to_publish(&self) -> Result<(), PublishError> {
        match &*self.shared.state.borrow() {
            LinkState::Connected => Ok(()),
            LinkState::Blocked { .. } => Err(PublishError::Blocked),
            _ => Err(PublishError::NotConnected),
        }
    }

    /// Subscribes to `queue` with at most `prefetch` unacknowledged deliveries. Waits for a connection;
    /// fails if the broker refuses (e.g. the queue does not exist) or the link is closed. The consumer
    /// resubscribes by itself after a reconnect.
    pub async fn consume(&self, queue: &str, prefetch: u16) -> Result<Consumer, ConsumeError> {
        Consumer::start(Arc::clone(&self.shared), queue, prefetch).await
    }

    /// Messages ready in `queue` (not counting deliveries awaiting an ack), by a passive declare on a
    /// short-lived channel. For dashboards and tests.
    pub async fn queue_len(&self, queue: &str) -> Result<u32, ConsumeError> {
        use lapin::options::QueueDeclareOptions;
        if queue.is_empty() || queue.len() > crate::config::MAX_SHORT {
            return Err(ConsumeError::Invalid("queue name must be 1 to 255 bytes".into()));
        }
        let session = self.shared.session.borrow().clone().ok_or(ConsumeError::NotConnected)?;
        let ch = session.conn.create_channel().await.map_err(|e| ConsumeError::from_lapin(&e))?;
        let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
        let declared = ch.queue_declare(topology::short(queue), passive, lapin::types::FieldTable::default()).await;
        let _ = ch.close(200, "queue length read".into()).await;
        declared.map(|q| q.message_count()).map_err(|e| ConsumeError::from_lapin(&e))
    }

    /// Closes the connection (pending publishes fail with `Lost`) and waits for the supervisor to stop.
    pub async fn close(&self) {
        self.shared.stop.cancel();
        self.shared.stopped.cancelled().await;
    }
}

impl Shared {
    fn set_state(&self, state: LinkState) {
        if *self.state.borrow() != state {
            tracing::info!(connection = %self.cfg.connection_name, state = ?state, "amqp link state");
        }
        self.state.send_replace(state);
    }

    /// Waits for a live session (or the link to close: `None`).
    pub(crate) async fn current_session(&self) -> Option<Arc<Session>> {
        let mut rx = self.session.subscribe();
        tokio::select! {
            s = rx.wait_for(Option::is_some) => s.ok().and_then(|s| s.clone()),
            _ = self.stop.cancelled() => None,
        }
    }
}

/// Exponential backoff with jitter: `min · 2^attempt`, capped at `max`, then scaled by a random factor in
/// [0.5, 1.0] so that many clients do not reconnect in step.
pub fn backoff_delay(attempt: u32, min: Duration, max: Duration) -> Duration {
    let base = min.saturating_mul(1u32 << attempt.min(20)).min(max);
    base.mul_f64(rand::random_range(0.5..=1.0))
}

async fn supervise(shared: Arc<Shared>) {
    if let Err(e) = shared.cfg.validate() {
        shared.set_state(LinkState::Disconnected { since: SystemTime::now(), error: e.to_string() });
        shared.stop.cancelled().await;
    } else {
        reconnect_loop(&shared).await;
    }
    shared.set_state(LinkState::Closed);
    shared.stopped.cancel();
}

async fn reconnect_loop(shared: &Shared) {
    let cfg = &shared.cfg;
    let uris: Vec<&String> = cfg.uris().collect();
    // Which of the URIs the link uses now; a failed connect moves on to the next (a cluster's other node).
    let mut at = 0usize;
    let mut failures = 0u32;
    while !shared.stop.is_cancelled() {
        shared.set_state(LinkState::Connecting);
        let uri = uris[at % uris.len()];
        let attempt = tokio::select! {
            a = tokio::time::timeout(cfg.connect_timeout, connect(cfg, uri)) => a,
            _ = shared.stop.cancelled() => break,
        };
        let connect_failed = !matches!(attempt, Ok(Ok(_)));
        let error = match attempt {
            Ok(Ok((session, events))) => {
                let started = Instant::now();
                match serve(shared, session, events).await {
                    None => break,
                    Some(error) => {
                        failures = if started.elapsed() >= STABLE_SESSION { 0 } else { failures + 1 };
                        error
                    }
                }
            }
            Ok(Err(error)) => {
                failures += 1;
                error
            }
            Err(_) => {
                failures += 1;
                format!("no connection within {:?}", cfg.connect_timeout)
            }
        };
        let endpoint = crate::endpoint::redact_uri(uri);
        tracing::warn!(connection = %cfg.connection_name, %endpoint, %error, "amqp link down; reconnecting");
        shared.set_state(LinkState::Disconnected { since: SystemTime::now(), error });
        if connect_failed && uris.len() > 1 {
            at += 1;
            if !at.is_multiple_of(uris.len()) {
                // The next endpoint at once; the backoff applies once every endpoint has failed in turn.
                continue;
            }
        }
        let delay = backoff_delay(failures.saturating_sub(1), cfg.reconnect_min, cfg.reconnect_max);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shared.stop.cancelled() => break,
        }
    }
}

type Events = std::pin::Pin<Box<dyn Stream<Item = Event> + Send>>;

/// Connects, declares the topology and opens the publishing channel. The error is a one-line description.
async fn connect(cfg: &LinkConfig, uri: &str) -> Result<(Arc<Session>, Events), String> {
    let uri = parse_uri(uri).map_err(|e| e.to_string())?;
    let props = ConnectionProperties::default().with_connection_name(cfg.connection_name.as_str().into());
    let conn = match uri.scheme {
        AMQPScheme::AMQP => Connection::connect_uri(uri, props).await.map_err(|e| format!("connect: {e}"))?,
        AMQPScheme::AMQPS => crate::tls::connect(uri, props, &cfg.tls).await?,
    };
    let events: Events = Box::pin(conn.events_listener());
    match prepare(&conn, cfg).await {
        Ok(pubchan) => {
            let session = Session { conn, pubchan: Mutex::new(pubchan), dead: CancellationToken::new() };
            Ok((Arc::new(session), events))
        }
        Err(e) => {
            let _ = conn.close(200, "setup failed".into()).await;
            Err(e)
        }
    }
}

async fn prepare(conn: &Connection, cfg: &LinkConfig) -> Result<Arc<PubChan>, String> {
    let setup = conn.create_channel().await.map_err(|e| format!("open channel: {e}"))?;
    topology::declare(&setup, &cfg.topology).await.map_err(|e| format!("declare topology: {e}"))?;
    let _ = setup.close(200, "topology declared".into()).await;
    PubChan::open(conn).await.map_err(|e| format!("open publishing channel: {e}"))
}

/// Runs one session until it ends (`Some(reason)`) or the link is closed (`None`).
async fn serve(shared: &Shared, session: Arc<Session>, mut events: Events) -> Option<String> {
    shared.session.send_replace(Some(Arc::clone(&session)));
    if session.conn.status().blocked() {
        shared.set_state(LinkState::Blocked { reason: "blocked at connect".into() });
    } else {
        shared.set_state(LinkState::Connected);
    }
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    let ended = loop {
        tokio::select! {
            _ = shared.stop.cancelled() => break None,
            event = events.next() => match event {
                Some(Event::ConnectionBlocked(reason)) => shared.set_state(LinkState::Blocked { reason }),
                Some(Event::ConnectionUnblocked) => shared.set_state(LinkState::Connected),
                Some(Event::Error(e)) => break Some(format!("connection error: {e}")),
                Some(_) => {}
                None => break Some("connection event stream ended".into()),
            },
            _ = tick.tick() => if let Err(e) = check(&session).await { break Some(e) },
            _ = shared.channel_broken.notified() => if let Err(e) = check(&session).await { break Some(e) },
        }
    };
    shared.session.send_replace(None);
    session.dead.cancel();
    let pubchan = session.pubchan();
    pubchan.dead.cancel();
    if session.conn.status().connected() {
        let text = if ended.is_none() { "hearth shutting down" } else { "hearth reconnecting" };
        let _ = tokio::time::timeout(shared.cfg.connect_timeout, session.conn.close(200, text.into())).await;
    }
    ended
}

/// The connection must be open; a closed publishing channel (the broker closes it on e.g. a publish to a
/// missing exchange) is replaced without reconnecting.
async fn check(session: &Session) -> Result<(), String> {
    let status = session.conn.status();
    if !status.connected() {
        let how = if status.errored() { "failed" } else { "was closed" };
        return Err(format!("the connection {how} (by the broker or the network)"));
    }
    let current = session.pubchan();
    if current.is_open() {
        return Ok(());
    }
    current.close().await;
    let fresh = PubChan::open(&session.conn).await.map_err(|e| format!("reopen publishing channel: {e}"))?;
    *session.pubchan.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
    tracing::info!("amqp publishing channel reopened");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(5));
        for _ in 0..100 {
            let first = backoff_delay(0, min, max);
            assert!(first >= min / 2 && first <= min, "{first:?}");
            let capped = backoff_delay(30, min, max);
            assert!(capped >= max / 2 && capped <= max, "{capped:?}");
        }
        assert!(backoff_delay(3, min, max) >= Duration::from_millis(400));
    }

    #[tokio::test]
    async fn invalid_config_reports_and_closes() {
        let cfg = LinkConfig::new("amqps://h/%2f?auth_mechanism=external", "t");
        let link = Link::start(cfg, CancellationToken::new());
        let mut state = link.state();
        let s = state.wait_for(|s| matches!(s, LinkState::Disconnected { .. })).await.unwrap().clone();
        assert!(matches!(s, LinkState::Disconnected { error, .. } if error.contains("client certificate")));
        assert_eq!(link.publish(Outgoing::default()).await, Err(PublishError::NotConnected));
        link.close().await;
        assert_eq!(*link.state().borrow(), LinkState::Closed);
    }
}
