//! A run of appends written as one statement, whatever the backend: which envelopes become rows, and what each
//! caller is answered once the statement has returned.
//!
//! One statement cannot insert a key and then count a second occurrence of it as a duplicate (PostgreSQL
//! refuses to touch a row twice in one `ON CONFLICT DO UPDATE`, and SQLite's `RETURNING` order is unspecified),
//! so the run is planned first: the first envelope of each dedup key becomes a row, every later one is counted
//! into that row's `extra` duplicates. The ids are taken before the insert (in queue order); a row that comes
//! back with an id that is none of ours met an existing message of its key, which is what makes it a duplicate.

use std::borrow::Cow;
use std::collections::HashMap;

use hearth_core::Envelope;

use crate::{Appended, StoreError};

/// The rows of one run and how every envelope of the run maps onto them.
pub(crate) struct AppendRun<'a> {
    /// The run, in queue order.
    pub(crate) envs: &'a [&'a Envelope],
    /// Index into `envs` of each row's (first) envelope.
    pub(crate) rows: Vec<usize>,
    /// Per row: how many later envelopes of the run repeat its key.
    pub(crate) extra: Vec<i64>,
    /// Per envelope: its row.
    slot: Vec<usize>,
    /// The row of each dedup key, as the backend stores the key (`key` below).
    first: HashMap<Cow<'a, str>, usize>,
}

impl<'a> AppendRun<'a> {
    /// Plans the run; `key` is how the backend stores a dedup key (PostgreSQL text cannot hold NUL).
    pub(crate) fn plan(envs: &'a [&'a Envelope], key: impl Fn(&'a str) -> Cow<'a, str>) -> Self {
        let mut run = AppendRun {
            envs,
            rows: Vec::with_capacity(envs.len()),
            extra: Vec::with_capacity(envs.len()),
            slot: Vec::with_capacity(envs.len()),
            first: HashMap::new(),
        };
        for (i, env) in envs.iter().enumerate() {
            let k = env.dedup_key.as_deref().map(&key);
            match k.as_ref().and_then(|k| run.first.get(k)) {
                Some(&row) => {
                    run.extra[row] += 1;
                    run.slot.push(row);
                }
                None => {
                    if let Some(k) = k {
                        run.first.insert(k, run.rows.len());
                    }
                    run.slot.push(run.rows.len());
                    run.rows.push(i);
                    run.extra.push(0);
                }
            }
        }
        run
    }

    /// The row envelopes, in row order.
    pub(crate) fn row_envs(&self) -> impl Iterator<Item = &'a Envelope> + '_ {
        self.rows.iter().map(|&i| self.envs[i])
    }

    /// Every envelope's answer, from the ids taken for the rows (ascending, one per row, in row order) and what
    /// the insert returned: `(id, dedup key)` of every row it inserted or counted a duplicate on.
    pub(crate) fn answer(
        &self,
        ids: &[i64],
        returned: impl IntoIterator<Item = (i64, Option<String>)>,
    ) -> Result<Vec<Appended>, StoreError> {
        // Each row: (its id, whether this run stored it).
        let mut outcome: Vec<Option<(i64, bool)>> = vec![None; self.rows.len()];
        for (id, key) in returned {
            let row = match ids.binary_search(&id) {
                Ok(row) => Some(row),
                Err(_) => key.as_deref().and_then(|k| self.first.get(k).copied()),
            };
            let inserted = ids.binary_search(&id).is_ok();
            if let Some(o) = row.and_then(|r| outcome.get_mut(r)) {
                *o = Some((id, inserted));
            }
        }
        self.slot
            .iter()
            .enumerate()
            .map(|(i, &row)| {
                let (id, inserted) =
                    outcome[row].ok_or_else(|| StoreError::Database("a batched append was not answered".into()))?;
                // The row's first envelope is new if this run stored it; every later one is its duplicate.
                Ok(Appended { id, duplicate: !(inserted && self.rows[row] == i) })
            })
            .collect()
    }
}
