//! Model-based test: random action sequences against the real journal and a plain in-memory model; after every
//! step the two must agree. Restarts (close + reopen of the same journal) are among the actions, so what is
//! checked is what survives them. The outbox is modelled too (deliveries planned with a conversion, due reads
//! with ordered lanes, outcomes, resend, reprocess), and the processing stage's claims and the sinks' leases of
//! one node. Runs on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Place, envelope, rejected};
use hearth_core::MessageStatus;
use hearth_store::{
    DeliveryFilter, DeliveryOutcome, DeliveryStatus, Journal, MessageFilter, MessageSummary, NewDelivery, Node,
    NodeRegistration, ResendTarget, StoreError,
};
use proptest::prelude::*;
use time::OffsetDateTime;

const CHANNELS: [&str; 2] = ["adt", "lab"];
const CONTROL_IDS: [&str; 3] = ["C1", "C2", "C3"];
const KEYS: u8 = 4; // a small pool, so that duplicates happen

#[derive(Debug, Clone)]
enum Action {
    Append {
        channel: usize,
        key: Option<u8>,
        control: usize,
        raw: Vec<u8>,
    },
    AppendRejected {
        channel: usize,
        raw: Vec<u8>,
    },
    /// `None` targets an id the journal does not have.
    SetStatus {
        pick: Option<usize>,
        status: MessageStatus,
        reason: bool,
    },
    Restart,
    List {
        channel: Option<usize>,
        status: Option<MessageStatus>,
        control: Option<usize>,
        page: u32,
    },
    CountByStatus {
        channel: Option<usize>,
    },
    Get {
        pick: usize,
    },
    /// Converts a message with deliveries to destination `d`, each in lane `p0`, `p1` or none.
    Route {
        pick: usize,
        lanes: Vec<Option<u8>>,
    },
    ReadDue {
        limit: u32,
    },
    Outcome {
        pick: usize,
        outcome: Attempt,
    },
    /// `None`: every dead delivery; `Some(None)`: an id the journal does not have.
    Resend {
        pick: Option<Option<usize>>,
    },
    Reprocess {
        pick: usize,
    },
    Claim {
        limit: u32,
    },
    Lease {
        limit: u32,
    },
}

#[derive(Debug, Clone, Copy)]
enum Attempt {
    Sent,
    RetryNow,
    RetryLater,
    Dead,
}

fn status() -> impl Strategy<Value = MessageStatus> {
    proptest::sample::select(MessageStatus::ALL.to_vec())
}

fn action() -> impl Strategy<Value = Action> {
    let raw = proptest::collection::vec(any::<u8>(), 0..64);
    prop_oneof![
        6 => (0..CHANNELS.len(), proptest::option::weighted(0.8, 0..KEYS), 0..CONTROL_IDS.len(), raw.clone())
            .prop_map(|(channel, key, control, raw)| Action::Append { channel, key, control, raw }),
        1 => (0..CHANNELS.len(), raw).prop_map(|(channel, raw)| Action::AppendRejected { channel, raw }),
        3 => (proptest::option::weighted(0.9, any::<usize>()), status(), any::<bool>())
            .prop_map(|(pick, status, reason)| Action::SetStatus { pick, status, reason }),
        1 => Just(Action::Restart),
        2 => (
            proptest::option::of(0..CHANNELS.len()),
            proptest::option::of(status()),
            proptest::option::of(0..CONTROL_IDS.len()),
            1..5u32,
        )
            .prop_map(|(channel, status, control, page)| Action::List { channel, status, control, page }),
        1 => proptest::option::of(0..CHANNELS.len()).prop_map(|channel| Action::CountByStatus { channel }),
        1 => any::<usize>().prop_map(|pick| Action::Get { pick }),
        3 => (any::<usize>(), proptest::collection::vec(proptest::option::weighted(0.7, 0..2u8), 1..4))
            .prop_map(|(pick, lanes)| Action::Route { pick, lanes }),
        2 => (1..6u32).prop_map(|limit| Action::ReadDue { limit }),
        3 => (any::<usize>(), proptest::sample::select(vec![Attempt::Sent, Attempt::RetryNow, Attempt::RetryLater, Attempt::Dead]))
            .prop_map(|(pick, outcome)| Action::Outcome { pick, outcome }),
        1 => proptest::option::weighted(0.7, proptest::option::weighted(0.9, any::<usize>()))
            .prop_map(|pick| Action::Resend { pick }),
        1 => any::<usize>().prop_map(|pick| Action::Reprocess { pick }),
        1 => (1..6u32).prop_map(|limit| Action::Claim { limit }),
        1 => (1..6u32).prop_map(|limit| Action::Lease { limit }),
    ]
}

#[derive(Debug, Clone)]
struct Row {
    channel: String,
    status: MessageStatus,
    reason: Option<String>,
    dedup_key: Option<String>,
    duplicates: u64,
    control_id: Option<String>,
    raw: Vec<u8>,
}

/// A delivery as the model knows it.
#[derive(Debug, Clone)]
struct Delivery {
    message_id: i64,
    routing_key: String,
    lane: Option<String>,
    status: DeliveryStatus,
    attempts: u32,
    /// Its next attempt is in the future.
    later: bool,
    /// Leased by the (one, live) node: not due for anyone else, due again for it.
    leased: bool,
}

#[derive(Debug, Default)]
struct Model {
    rows: BTreeMap<i64, Row>,
    deliveries: BTreeMap<i64, Delivery>,
    routed: u32,
}

impl Model {
    fn id_of_key(&self, key: &str) -> Option<i64> {
        self.rows.iter().find(|(_, r)| r.dedup_key.as_deref() == Some(key)).map(|(id, _)| *id)
    }

    fn pick(&self, pick: usize) -> Option<i64> {
        if self.rows.is_empty() { None } else { self.rows.keys().nth(pick % self.rows.len()).copied() }
    }

    /// What `due_deliveries("d", now, limit)` must answer: pending and due, and of a lane only its head (by
    /// message id, then delivery id) once no older message waits for conversion.
    fn due(&self, limit: u32, for_the_node: bool) -> Vec<i64> {
        let frontier = self.rows.iter().find(|(_, r)| r.status == MessageStatus::Received).map(|(id, _)| *id);
        let pending = |d: &Delivery| d.status == DeliveryStatus::Pending;
        self.deliveries
            .iter()
            .filter(|(_, d)| pending(d) && !d.later && (for_the_node || !d.leased))
            .filter(|(id, d)| match &d.lane {
                None => true,
                Some(lane) => {
                    frontier.is_none_or(|f| d.message_id < f)
                        && !self.deliveries.iter().any(|(eid, e)| {
                            pending(e) && e.lane.as_ref() == Some(lane) && (e.message_id, *eid) < (d.message_id, **id)
                        })
                }
            })
            .map(|(id, _)| *id)
            .take(limit as usize)
            .collect()
    }

    fn matches(row: &Row, f: &MessageFilter) -> bool {
        f.channel.as_ref().is_none_or(|c| *c == row.channel)
            && f.status.is_none_or(|s| s == row.status)
            && f.control_id.as_ref().is_none_or(|c| Some(c) == row.control_id.as_ref())
    }
}

/// Journal row and model row agree on everything the model tracks.
fn agree(id: i64, s: &MessageSummary, row: &Row) {
    assert_eq!(s.id, id);
    assert_eq!(s.channel, row.channel, "channel of {id}");
    assert_eq!(s.status, row.status, "status of {id}");
    assert_eq!(s.reason, row.reason, "reason of {id}");
    assert_eq!(s.dedup_key, row.dedup_key, "dedup key of {id}");
    assert_eq!(s.duplicates, row.duplicates, "duplicates of {id}");
    assert_eq!(s.meta.control_id, row.control_id, "control id of {id}");
    assert_eq!(s.raw_len, Some(row.raw.len() as u64), "raw length of {id}");
}

/// Pages through `list` with `filter` and compares every row with the model.
async fn assert_listed(journal: &Journal, model: &Model, filter: &MessageFilter, page: u32) {
    let mut got = Vec::new();
    let mut after = None;
    loop {
        let batch = journal.list(filter, after, page).await.unwrap();
        assert!(batch.len() <= page as usize);
        let Some(last) = batch.last() else { break };
        after = Some(last.id);
        got.extend(batch);
    }
    let want: Vec<_> = model.rows.iter().filter(|(_, r)| Model::matches(r, filter)).collect();
    assert_eq!(got.iter().map(|s| s.id).collect::<Vec<_>>(), want.iter().map(|(id, _)| **id).collect::<Vec<_>>());
    for (s, (id, row)) in got.iter().zip(want) {
        agree(*id, s, row);
    }
}

/// The journal under test, and its one node.
struct Under {
    journal: Journal,
    node: Node,
    generation: u32,
}

async fn join(journal: Journal, generation: u32) -> Under {
    let reg =
        NodeRegistration { id: format!("node-{generation}"), host: "here".into(), lease: Duration::from_secs(3600) };
    let node = journal.register_node(reg).await.unwrap();
    Under { journal, node, generation }
}

fn delivery(n: u32, lane: Option<u8>) -> NewDelivery {
    NewDelivery {
        destination: "d".into(),
        route: "r".into(),
        routing_key: format!("k{n}"),
        resource_type: "Patient".into(),
        content_id: format!("c{n}"),
        lane: lane.map(|l| format!("p{l}")),
        body: "{}".into(),
    }
}

async fn step(under: &mut Under, place: &Place, model: &mut Model, action: Action) {
    let journal = &mut under.journal;
    match action {
        Action::Append { channel, key, control, raw } => {
            let key = key.map(|k| format!("key-{k}"));
            let env = envelope(CHANNELS[channel], CONTROL_IDS[control], key.as_deref(), &raw);
            let got = journal.append(env).await.unwrap();
            match key.as_deref().and_then(|k| model.id_of_key(k)) {
                Some(id) => {
                    assert_eq!((got.id, got.duplicate), (id, true));
                    model.rows.get_mut(&id).unwrap().duplicates += 1;
                }
                None => {
                    assert!(!got.duplicate);
                    assert!(model.rows.keys().all(|id| *id < got.id), "ids must grow");
                    let row = Row {
                        channel: CHANNELS[channel].into(),
                        status: MessageStatus::Received,
                        reason: None,
                        dedup_key: key,
                        duplicates: 0,
                        control_id: Some(CONTROL_IDS[control].into()),
                        raw,
                    };
                    model.rows.insert(got.id, row);
                }
            }
        }
        Action::AppendRejected { channel, raw } => {
            let env = rejected(CHANNELS[channel], &raw);
            let reason = env.reason.clone();
            let got = journal.append(env).await.unwrap();
            assert!(!got.duplicate);
            assert!(model.rows.keys().all(|id| *id < got.id), "ids must grow");
            let row = Row {
                channel: CHANNELS[channel].into(),
                status: MessageStatus::Rejected,
                reason,
                dedup_key: None,
                duplicates: 0,
                control_id: None,
                raw,
            };
            model.rows.insert(got.id, row);
        }
        Action::SetStatus { pick, status, reason } => {
            let reason = reason.then(|| format!("set to {status}"));
            match pick.and_then(|p| model.pick(p)) {
                Some(id) => {
                    journal.set_status(id, status, reason.as_deref()).await.unwrap();
                    let row = model.rows.get_mut(&id).unwrap();
                    row.status = status;
                    row.reason = reason;
                }
                None => {
                    let missing = model.rows.keys().last().copied().unwrap_or(0) + 1_000;
                    let err = journal.set_status(missing, status, reason.as_deref()).await.unwrap_err();
                    assert_eq!(err, StoreError::NotFound(missing));
                }
            }
        }
        Action::Restart => {
            // Leaving frees the node's claims and leases.
            under.node.leave().await.unwrap();
            model.deliveries.values_mut().for_each(|d| d.leased = false);
            journal.close().await;
            *under = join(place.open().await, under.generation + 1).await;
            // Everything acknowledged before the restart is there, exactly.
            assert_listed(&under.journal, model, &MessageFilter::default(), hearth_store::MAX_PAGE).await;
        }
        Action::List { channel, status, control, page } => {
            let filter = MessageFilter {
                channel: channel.map(|c| CHANNELS[c].to_owned()),
                status,
                control_id: control.map(|c| CONTROL_IDS[c].to_owned()),
            };
            assert_listed(journal, model, &filter, page).await;
        }
        Action::CountByStatus { channel } => {
            let channel = channel.map(|c| CHANNELS[c]);
            let mut want: BTreeMap<MessageStatus, u64> = MessageStatus::ALL.iter().map(|s| (*s, 0)).collect();
            for row in model.rows.values().filter(|r| channel.is_none_or(|c| r.channel == c)) {
                *want.entry(row.status).or_default() += 1;
            }
            assert_eq!(journal.count_by_status(channel).await.unwrap(), want);
        }
        Action::Get { pick } => match model.pick(pick) {
            Some(id) => {
                let got = journal.get(id).await.unwrap().unwrap();
                let row = &model.rows[&id];
                agree(id, &got.summary, row);
                assert_eq!(got.raw.as_ref(), Some(&row.raw));
            }
            None => assert_eq!(journal.get(1).await.unwrap(), None),
        },
        other => outbox_step(under, model, other).await,
    }
    assert_eq!(under.journal.count_all().await.unwrap(), model.rows.len() as u64);
    assert_outbox(&under.journal, model).await;
}

async fn outbox_step(under: &mut Under, model: &mut Model, action: Action) {
    let journal = &under.journal;
    let now = OffsetDateTime::now_utc();
    match action {
        Action::Route { pick, lanes } => {
            let Some(id) = model.pick(pick) else { return };
            let deliveries: Vec<NewDelivery> = lanes
                .iter()
                .map(|l| {
                    model.routed += 1;
                    delivery(model.routed, *l)
                })
                .collect();
            let keys: Vec<String> = deliveries.iter().map(|d| d.routing_key.clone()).collect();
            journal.set_outcome(id, MessageStatus::Processed, Some("{}"), None, None, deliveries).await.unwrap();
            let row = model.rows.get_mut(&id).unwrap();
            row.status = MessageStatus::Processed;
            row.reason = None;
            let filter = DeliveryFilter { message_id: Some(id), ..DeliveryFilter::default() };
            let stored = journal.list_deliveries(&filter, model.deliveries.keys().last().copied(), 100).await.unwrap();
            assert_eq!(stored.iter().map(|d| d.routing_key.clone()).collect::<Vec<_>>(), keys, "planned in order");
            for (d, lane) in stored.into_iter().zip(lanes) {
                let lane = lane.map(|l| format!("p{l}"));
                let new = Delivery {
                    message_id: id,
                    routing_key: d.routing_key,
                    lane,
                    status: DeliveryStatus::Pending,
                    attempts: 0,
                    later: false,
                    leased: false,
                };
                model.deliveries.insert(d.id, new);
            }
        }
        Action::ReadDue { limit } => {
            let due = journal.due_deliveries("d", now, limit).await.unwrap();
            assert_eq!(due.iter().map(|d| d.id).collect::<Vec<_>>(), model.due(limit, false));
            for d in due {
                let m = &model.deliveries[&d.id];
                assert_eq!(
                    (d.message_id, &d.routing_key, &d.lane, d.attempts),
                    (m.message_id, &m.routing_key, &m.lane, m.attempts)
                );
            }
        }
        Action::Outcome { pick, outcome } => {
            let Some(id) = pick_in(&model.deliveries, pick) else { return };
            let o = match outcome {
                Attempt::Sent => DeliveryOutcome::Sent { id },
                Attempt::RetryNow => DeliveryOutcome::Retry { id, error: "e".into(), at: now - Duration::from_secs(1) },
                Attempt::RetryLater => {
                    DeliveryOutcome::Retry { id, error: "e".into(), at: now + Duration::from_secs(3600) }
                }
                Attempt::Dead => DeliveryOutcome::Dead { id, error: "e".into() },
            };
            let changed = journal.record_deliveries(vec![o]).await.unwrap();
            let d = model.deliveries.get_mut(&id).unwrap();
            let applies = d.status == DeliveryStatus::Pending;
            assert_eq!(changed, u64::from(applies));
            if applies {
                d.attempts += 1;
                d.leased = false;
                match outcome {
                    Attempt::Sent => d.status = DeliveryStatus::Sent,
                    Attempt::RetryNow => d.later = false,
                    Attempt::RetryLater => d.later = true,
                    Attempt::Dead => d.status = DeliveryStatus::Dead,
                }
            }
        }
        Action::Resend { pick } => match pick {
            None => {
                let n = journal.resend(ResendTarget::DeadFor("d".into())).await.unwrap();
                let mut want = 0;
                for d in model.deliveries.values_mut().filter(|d| d.status == DeliveryStatus::Dead) {
                    *d = Delivery { status: DeliveryStatus::Pending, attempts: 0, later: false, ..d.clone() };
                    want += 1;
                }
                assert_eq!(n, want);
            }
            Some(pick) => match pick.and_then(|p| pick_in(&model.deliveries, p)) {
                Some(id) => {
                    let n = journal.resend(ResendTarget::Delivery(id)).await.unwrap();
                    let d = model.deliveries.get_mut(&id).unwrap();
                    let applies = d.status != DeliveryStatus::Pending;
                    assert_eq!(n, u64::from(applies));
                    if applies {
                        *d = Delivery { status: DeliveryStatus::Pending, attempts: 0, later: false, ..d.clone() };
                    }
                }
                None => {
                    let missing = model.deliveries.keys().last().copied().unwrap_or(0) + 1_000;
                    let err = journal.resend(ResendTarget::Delivery(missing)).await.unwrap_err();
                    assert_eq!(err, StoreError::NotFound(missing));
                }
            },
        },
        Action::Reprocess { pick } => {
            let Some(id) = model.pick(pick) else { return };
            journal.reprocess(id).await.unwrap();
            let row = model.rows.get_mut(&id).unwrap();
            row.status = MessageStatus::Received;
            row.reason = None;
            for d in model.deliveries.values_mut().filter(|d| d.message_id == id) {
                if matches!(d.status, DeliveryStatus::Pending | DeliveryStatus::Dead) {
                    d.status = DeliveryStatus::Cancelled;
                }
            }
        }
        Action::Claim { limit } => {
            // One node: its own claims come back until converted, so a claim is the oldest received messages.
            let got = under.node.claim_received(limit).await.unwrap();
            let want: Vec<i64> = model
                .rows
                .iter()
                .filter(|(_, r)| r.status == MessageStatus::Received)
                .map(|(id, _)| *id)
                .take(limit as usize)
                .collect();
            assert_eq!(got.iter().map(|m| m.summary.id).collect::<Vec<_>>(), want);
        }
        Action::Lease { limit } => {
            let got = under.node.lease_deliveries("d", now, limit).await.unwrap();
            let want = model.due(limit, true);
            assert_eq!(got.iter().map(|d| d.id).collect::<Vec<_>>(), want);
            for id in want {
                model.deliveries.get_mut(&id).unwrap().leased = true;
            }
        }
        _ => unreachable!("message actions are handled by `step`"),
    }
}

fn pick_in<V>(map: &BTreeMap<i64, V>, pick: usize) -> Option<i64> {
    if map.is_empty() { None } else { map.keys().nth(pick % map.len()).copied() }
}

/// Every delivery agrees with the model, and the per-destination figures with its counts.
async fn assert_outbox(journal: &Journal, model: &Model) {
    let all = journal.list_deliveries(&DeliveryFilter::default(), None, hearth_store::MAX_PAGE).await.unwrap();
    assert_eq!(all.len(), model.deliveries.len());
    for (got, (id, want)) in all.iter().zip(&model.deliveries) {
        assert_eq!(got.id, *id);
        assert_eq!(
            (got.message_id, got.status, got.attempts, &got.lane),
            (want.message_id, want.status, want.attempts, &want.lane),
            "delivery {id}"
        );
    }
    let count = |s: DeliveryStatus| model.deliveries.values().filter(|d| d.status == s).count() as u64;
    let pending = journal.pending_deliveries().await.unwrap();
    let want_pending = count(DeliveryStatus::Pending);
    assert_eq!(pending, if want_pending == 0 { vec![] } else { vec![("d".to_owned(), want_pending)] });
    if let Some(stats) = journal.outbox_stats().await.unwrap().first() {
        assert_eq!(
            (stats.pending, stats.sent, stats.dead),
            (want_pending, count(DeliveryStatus::Sent), count(DeliveryStatus::Dead))
        );
    }
}

fn run(place: &Place, actions: Vec<Action>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut under = join(place.open().await, 0).await;
        let mut model = Model::default();
        for action in actions {
            step(&mut under, place, &mut model, action).await;
        }
        under.journal.close().await;
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn sqlite_journal_agrees_with_the_model(actions in proptest::collection::vec(action(), 1..40)) {
        run(&Place::sqlite(), actions);
    }
}

proptest! {
    // Each case migrates a schema of its own: fewer cases keep the run short, the sequences are as long.
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn postgres_journal_agrees_with_the_model(actions in proptest::collection::vec(action(), 1..40)) {
        if let Some(place) = Place::postgres("postgres_journal_agrees_with_the_model") {
            run(&place, actions);
        }
    }
}
