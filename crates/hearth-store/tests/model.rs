//! Model-based test: random action sequences against the real journal and a plain in-memory model; after every
//! step the two must agree. Restarts (close + reopen of the same file) are among the actions, so what is
//! checked is what survives them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Place, envelope, rejected};
use hearth_core::MessageStatus;
use hearth_store::{Journal, MessageFilter, MessageSummary, StoreError};
use proptest::prelude::*;
use std::collections::BTreeMap;

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

#[derive(Debug, Default)]
struct Model {
    rows: BTreeMap<i64, Row>,
}

impl Model {
    fn id_of_key(&self, key: &str) -> Option<i64> {
        self.rows.iter().find(|(_, r)| r.dedup_key.as_deref() == Some(key)).map(|(id, _)| *id)
    }

    fn pick(&self, pick: usize) -> Option<i64> {
        if self.rows.is_empty() { None } else { self.rows.keys().nth(pick % self.rows.len()).copied() }
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

async fn step(journal: &mut Journal, place: &Place, model: &mut Model, action: Action) {
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
            journal.close().await;
            *journal = place.open().await;
            // Everything acknowledged before the restart is there, exactly.
            assert_listed(journal, model, &MessageFilter::default(), hearth_store::MAX_PAGE).await;
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
    }
    assert_eq!(journal.count_all().await.unwrap(), model.rows.len() as u64);
}

fn run(place: &Place, actions: Vec<Action>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut journal = place.open().await;
        let mut model = Model::default();
        for action in actions {
            step(&mut journal, place, &mut model, action).await;
        }
        journal.close().await;
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
