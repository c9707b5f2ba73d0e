//! The journal against each backend: a real SQLite file in a temporary directory, and a schema of its own on
//! the test PostgreSQL server (see `common::on_both!`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use std::collections::BTreeSet;

use common::{Kind, at, envelope, rejected};
use hearth_core::{ErrorClass, MessageStatus, PayloadKind};
use hearth_store::{Journal, JournalConfig, MessageFilter, PostgresConfig, SqliteConfig, StoreError};

on_both! {
    #[tokio::test]
    async fn append_get_round_trip_keeps_bytes_exactly(place) {
        // SQLite: parent directories are created on open. PostgreSQL: the schema is.
        let journal = place.open().await;
        let raw = b"MSH|^~\\&|LAB|NORTH\r\xff\xfe\x00PID|1||\xe9t\xe9\r".to_vec(); // not UTF-8, with a NUL
        let mut env = envelope("adt", "MSG1", Some("k1"), &raw);
        env.received_at = at(123_456);
        env.kind = PayloadKind::Csv;

        let appended = journal.append(env.clone()).await.unwrap();
        assert!(!appended.duplicate);

        let stored = journal.get(appended.id).await.unwrap().unwrap();
        assert_eq!(stored.raw.as_deref(), Some(raw.as_slice()));
        let s = &stored.summary;
        assert_eq!(s.id, appended.id);
        assert_eq!(s.channel, "adt");
        assert_eq!(s.kind, PayloadKind::Csv);
        assert_eq!(s.received_at, env.received_at);
        assert_eq!(s.status, MessageStatus::Received);
        assert_eq!(s.reason, None);
        assert_eq!(s.dedup_key.as_deref(), Some("k1"));
        assert_eq!(s.duplicates, 0);
        assert_eq!(s.meta, env.meta);
        assert_eq!(s.raw_len, Some(raw.len() as u64));

        assert_eq!(journal.get(appended.id + 1000).await.unwrap(), None);
        journal.close().await;
    }
}

on_both! {
    #[tokio::test]
    async fn duplicates_share_an_id_and_null_keys_never_conflict(place) {
        let journal = place.open().await;

        let first = journal.append(envelope("adt", "1", Some("same"), b"a")).await.unwrap();
        let second = journal.append(envelope("adt", "1", Some("same"), b"a")).await.unwrap();
        let third = journal.append(envelope("adt", "1", Some("same"), b"a")).await.unwrap();
        assert!(!first.duplicate);
        assert_eq!((second.id, second.duplicate), (first.id, true));
        assert_eq!((third.id, third.duplicate), (first.id, true));
        assert_eq!(journal.get(first.id).await.unwrap().unwrap().summary.duplicates, 2);

        let a = journal.append(rejected("adt", b"junk")).await.unwrap();
        let b = journal.append(rejected("adt", b"junk")).await.unwrap();
        let c = journal.append(envelope("adt", "2", None, b"no key")).await.unwrap();
        assert!(!a.duplicate && !b.duplicate && !c.duplicate);
        assert_eq!(BTreeSet::from([a.id, b.id, c.id]).len(), 3);

        assert_eq!(journal.count_all().await.unwrap(), 4);
        let stats = journal.stats();
        assert_eq!((stats.appends, stats.duplicates), (6, 2));
        journal.close().await;
    }
}

on_both! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_are_group_committed(place) {
        const TASKS: usize = 64;
        const PER_TASK: usize = 50;
        let journal = place.open().await;

        let mut handles = Vec::new();
        for t in 0..TASKS {
            let journal = journal.clone();
            handles.push(tokio::spawn(async move {
                let mut ids = Vec::with_capacity(PER_TASK);
                for i in 0..PER_TASK {
                    let key = format!("{t}-{i}");
                    let a = journal.append(envelope("adt", &key, Some(&key), key.as_bytes())).await.unwrap();
                    assert!(!a.duplicate);
                    ids.push(a.id);
                }
                ids
            }));
        }
        let mut all = BTreeSet::new();
        for h in handles {
            for id in h.await.unwrap() {
                assert!(all.insert(id), "id {id} handed out twice");
            }
        }
        let total = (TASKS * PER_TASK) as u64;
        assert_eq!(all.len() as u64, total);
        assert_eq!(journal.count_all().await.unwrap(), total);
        let stats = journal.stats();
        assert_eq!(stats.appends, total);
        assert!(stats.commits < total, "no grouping: {} commits for {total} appends", stats.commits);
        assert_eq!(stats.failed_batches, 0);
        journal.close().await;
    }
}

on_both! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_of_appends_with_repeated_keys_stores_each_key_once(place) {
        // Queued together, these land in a few batches: every run of appends is one statement, in which a key
        // repeated within the run, a key already journaled, and messages without a key must all come out right.
        let journal = place.open().await;
        let old = journal.append(envelope("adt", "old", Some("old"), b"old message")).await.unwrap();
        let mut pending = Vec::new();
        for i in 0..600u32 {
            let (key, raw) = match i % 4 {
                0 => (Some(format!("k{}", (i / 4) % 40)), format!("repeated k{}", (i / 4) % 40)),
                1 => (Some("old".to_owned()), "old message".to_owned()),
                2 => (None, format!("no key {i}")),
                _ => (Some(format!("u{i}")), format!("unique {i}")),
            };
            let journal = journal.clone();
            pending.push(tokio::spawn(async move {
                let a = journal.append(envelope("adt", "c", key.as_deref(), raw.as_bytes())).await.unwrap();
                (key, raw, a)
            }));
        }
        let mut by_key: std::collections::BTreeMap<String, Vec<hearth_store::Appended>> = Default::default();
        let mut unkeyed = BTreeSet::new();
        for p in pending {
            let (key, raw, a) = p.await.unwrap();
            let stored = journal.get(a.id).await.unwrap().unwrap();
            assert_eq!(stored.raw.as_deref(), Some(raw.as_bytes()), "message {} holds another's content", a.id);
            match key {
                Some(k) => by_key.entry(k).or_default().push(a),
                None => {
                    assert!(!a.duplicate, "a message without a key is never a duplicate");
                    assert!(unkeyed.insert(a.id), "id {} handed out twice", a.id);
                }
            }
        }
        for (key, answers) in &by_key {
            let ids: BTreeSet<i64> = answers.iter().map(|a| a.id).collect();
            assert_eq!(ids.len(), 1, "key {key} stored under several ids: {ids:?}");
            let new = answers.iter().filter(|a| !a.duplicate).count();
            let expected_new = usize::from(key != "old");
            assert_eq!(new, expected_new, "key {key}: {new} answers said new");
            let stored = journal.get(answers[0].id).await.unwrap().unwrap();
            let dups = answers.len() - expected_new;
            assert_eq!(stored.summary.duplicates as usize, dups, "key {key}: duplicates counted");
        }
        assert_eq!(by_key["old"][0].id, old.id);
        // 40 repeated keys, 150 unique ones, 150 without a key, and the old one.
        assert_eq!(journal.count_all().await.unwrap(), 40 + 150 + 150 + 1);
        let stats = journal.stats();
        assert_eq!((stats.appends, stats.duplicates), (601, 600 - 40 - 150 - 150));
        assert_eq!(stats.failed_batches, 0, "a batch failed");
        journal.close().await;
    }
}

on_both! {
    #[tokio::test]
    async fn close_flushes_and_reopen_keeps_everything(place) {
        let journal = place.open().await;

        // Queue appends without awaiting them one by one, then close: every one must be answered and kept.
        let pending: Vec<_> = (0..20)
            .map(|i| {
                let journal = journal.clone();
                tokio::spawn(async move { journal.append(envelope("adt", &i.to_string(), None, b"x")).await })
            })
            .collect();
        tokio::task::yield_now().await;
        let mut ok_ids = Vec::new();
        let closing = journal.clone();
        let close = tokio::spawn(async move { closing.close().await });
        for p in pending {
            // Appends that reached the queue before close are committed; later ones are refused. None is lost.
            match p.await.unwrap() {
                Ok(a) => ok_ids.push(a.id),
                Err(e) => assert_eq!(e, StoreError::Closed),
            }
        }
        close.await.unwrap();
        journal.close().await; // idempotent

        let after = journal.append(envelope("adt", "late", None, b"late")).await;
        assert_eq!(after.unwrap_err(), StoreError::Closed);
        assert_eq!(journal.set_status(1, MessageStatus::Processed, None).await.unwrap_err(), StoreError::Closed);
        assert_eq!(journal.check_writable().await.unwrap_err(), StoreError::Closed);
        assert_eq!(journal.count_all().await.unwrap_err(), StoreError::Closed);
        if let Some(path) = place.sqlite_path() {
            // The checkpoint emptied the WAL.
            let wal = path.with_extension("db-wal");
            assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
        }

        let journal = place.open().await;
        assert_eq!(journal.count_all().await.unwrap(), ok_ids.len() as u64);
        for id in ok_ids {
            assert_eq!(journal.get(id).await.unwrap().unwrap().raw.as_deref(), Some(&b"x"[..]));
        }
        journal.close().await;
    }
}

/// Fills a journal capped by `max_db_bytes`; returns the ids that were committed and the first error.
async fn fill(journal: &Journal) -> (Vec<(i64, Vec<u8>)>, StoreError) {
    let mut kept = Vec::new();
    for i in 0..10_000u32 {
        let raw: Vec<u8> = (0..1500u32).map(|b| (b.wrapping_mul(31) ^ i) as u8).collect();
        let key = format!("fill-{i}");
        match journal.append(envelope("adt", &key, Some(&key), &raw)).await {
            Ok(a) => kept.push((a.id, raw)),
            Err(e) => return (kept, e),
        }
    }
    panic!("max_db_bytes never stopped the journal");
}

on_both! {
    #[tokio::test]
    async fn max_db_bytes_refuses_writes_and_keeps_what_was_committed(place) {
        let journal = Journal::open(&place.with_room(128 * 1024).await).await.unwrap();
        journal.check_writable().await.unwrap();

        let (kept, err) = fill(&journal).await;
        assert!(!kept.is_empty(), "nothing fitted under 128 KiB");
        assert!(matches!(err, StoreError::Full(_)), "{err:?}");
        assert_eq!(err.class(), ErrorClass::Transient);
        assert!(err.to_string().contains("journal is full"), "{err}");
        // Stays full, and says so to readiness probes.
        let again = journal.append(envelope("adt", "more", Some("more"), &[7; 4000])).await.unwrap_err();
        assert!(matches!(again, StoreError::Full(_)));
        assert!(matches!(journal.check_writable().await.unwrap_err(), StoreError::Full(_)));
        journal.close().await;

        let journal = place.open().await; // no limit
        assert_eq!(journal.count_all().await.unwrap(), kept.len() as u64);
        for (id, raw) in &kept {
            assert_eq!(journal.get(*id).await.unwrap().unwrap().raw.as_ref(), Some(raw));
        }
        // Without the limit the journal takes writes again.
        journal.append(envelope("adt", "more", Some("more"), &[7; 4000])).await.unwrap();
        journal.check_writable().await.unwrap();
        journal.close().await;
    }
}

on_both! {
    #[tokio::test]
    async fn writer_survives_a_failed_batch(place) {
        let journal = Journal::open(&place.with_room(128 * 1024).await).await.unwrap();
        let (kept, err) = fill(&journal).await;
        assert!(matches!(err, StoreError::Full(_)));
        assert_eq!(journal.stats().failed_batches, 1);

        // Later batches that need no new page commit: a resent message (counted in place) and a status change.
        let (first_id, _) = kept[0];
        let dup = journal.append(envelope("adt", "fill-0", Some("fill-0"), b"resent")).await.unwrap();
        assert_eq!((dup.id, dup.duplicate), (first_id, true));
        journal.set_status(first_id, MessageStatus::Processed, None).await.unwrap();
        let stored = journal.get(first_id).await.unwrap().unwrap();
        assert_eq!((stored.summary.status, stored.summary.duplicates), (MessageStatus::Processed, 1));
        journal.close().await;
    }
}

on_both! {
    #[tokio::test]
    async fn refusing_writes_is_reported_until_pruning_makes_room(place) {
        let journal = Journal::open(&place.with_room(128 * 1024).await).await.unwrap();
        assert_eq!(journal.refusing_writes(), None);
        let (kept, err) = fill(&journal).await;
        assert!(matches!(err, StoreError::Full(_)));
        let why = journal.refusing_writes().expect("a full journal refuses writes");
        assert!(why.contains("journal is full"), "{why}");

        // Writes that fit in place (a status, a duplicate) do not show that a new message would fit.
        for (id, _) in &kept {
            journal.set_status(*id, MessageStatus::Processed, None).await.unwrap();
        }
        journal.append(envelope("adt", "fill-0", Some("fill-0"), b"resent")).await.unwrap();
        assert!(journal.refusing_writes().is_some());

        // Retention pruning content lifts the mark.
        let later = time::OffsetDateTime::now_utc() + time::Duration::days(1);
        let progress = journal.prune_content("adt", later, 0, 10_000).await.unwrap();
        assert_eq!(progress.pruned, kept.len() as u64);
        assert_eq!(journal.refusing_writes(), None);
        if place.sqlite_path().is_some() {
            // SQLite reuses the freed pages at once (PostgreSQL's tables keep their size until VACUUM).
            journal.append(envelope("adt", "after", Some("after"), &[7; 4000])).await.unwrap();
            journal.check_writable().await.unwrap();
        }
        journal.close().await;
    }
}

on_both! {
    #[tokio::test]
    async fn a_refused_row_does_not_fail_its_neighbours(place) {
        let journal = place.open().await;
        let secret = b"PID|1||SECRET-MRN-123";
        // An empty channel breaks a CHECK constraint: that message alone is refused, permanently.
        let mut calls = Vec::new();
        for i in 0..10 {
            let channel = if i == 5 { "" } else { "adt" };
            let journal = journal.clone();
            let env = envelope(channel, &i.to_string(), None, secret);
            calls.push(tokio::spawn(async move { journal.append(env).await }));
        }
        for (i, call) in calls.into_iter().enumerate() {
            let result = call.await.unwrap();
            if i == 5 {
                let err = result.unwrap_err();
                assert!(matches!(err, StoreError::Refused(_)), "{err:?}");
                assert_eq!(err.class(), ErrorClass::Permanent);
                assert!(!err.to_string().contains("SECRET"), "payload leaked into {err}");
            } else {
                result.unwrap();
            }
        }
        assert_eq!(journal.count_all().await.unwrap(), 9);
        assert_eq!(journal.stats().failed_batches, 0);
        journal.close().await;
    }
}

on_both! {
    #[tokio::test]
    async fn processing_stage_pages_through_the_backlog(place) {
        let journal = place.open().await;
        let mut ids = Vec::new();
        for i in 0..7 {
            ids.push(journal.append(envelope("adt", &i.to_string(), None, &[i])).await.unwrap().id);
        }
        journal.append(rejected("adt", b"bad")).await.unwrap();
        journal.set_status(ids[1], MessageStatus::Processed, None).await.unwrap();
        journal.set_status(ids[4], MessageStatus::Error, Some("PID-3 missing")).await.unwrap();
        assert_eq!(
            journal.set_status(9_999, MessageStatus::Processed, None).await.unwrap_err(),
            StoreError::NotFound(9_999)
        );

        let mut seen = Vec::new();
        let mut after = 0;
        loop {
            let page = journal.next_received(after, 2).await.unwrap();
            let Some(last) = page.last() else { break };
            after = last.summary.id;
            for m in &page {
                assert_eq!(m.summary.status, MessageStatus::Received);
                assert_eq!(m.raw.as_ref().map(Vec::len), Some(1));
            }
            seen.extend(page.iter().map(|m| m.summary.id));
        }
        assert_eq!(seen, vec![ids[0], ids[2], ids[3], ids[5], ids[6]]);

        let errors = journal
            .list(&MessageFilter { status: Some(MessageStatus::Error), ..Default::default() }, None, 10)
            .await
            .unwrap();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].reason.as_deref(), Some("PID-3 missing"));
        let counts = journal.count_by_status(Some("adt")).await.unwrap();
        assert_eq!(counts[&MessageStatus::Received], 5);
        assert_eq!(counts[&MessageStatus::Rejected], 1);
        assert_eq!(counts[&MessageStatus::Filtered], 0);
        assert!(journal.count_by_status(Some("other")).await.unwrap().values().all(|n| *n == 0));
        journal.close().await;
    }
}

on_both! {
    #[tokio::test]
    async fn invalid_configuration_is_refused(place) {
        let cfg = match place.config() {
            JournalConfig::Sqlite(c) => JournalConfig::Sqlite(SqliteConfig { max_batch: 0, ..c }),
            JournalConfig::Postgres(c) => JournalConfig::Postgres(PostgresConfig { max_batch: 0, ..c }),
        };
        let err = Journal::open(&cfg).await.unwrap_err();
        assert!(matches!(err, StoreError::Config(_)));
        let unusable = match place.kind {
            // A file that is not a database is a permanent error.
            Kind::Sqlite => {
                let path = place.sqlite_path().unwrap();
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, vec![b'x'; 8192]).unwrap();
                place.config()
            }
            // So is a database that does not exist.
            Kind::Postgres => {
                let c = place.postgres_config();
                let (server, _) = c.url.rsplit_once('/').unwrap();
                JournalConfig::Postgres(PostgresConfig { url: format!("{server}/no_such_database_here"), ..c })
            }
        };
        let err = Journal::open(&unusable).await.unwrap_err();
        assert_eq!(err.class(), ErrorClass::Permanent, "{err:?}");
    }
}

on_both! {
    #[tokio::test]
    async fn conversion_is_stored_with_the_message_and_wakes_the_stage(place) {
        let journal = place.open().await;
        let woken = journal.appended();
        let a = journal.append(envelope("adt", "1", Some("k1"), b"MSH|1")).await.unwrap();
        // The commit left a permit: the stage would not sleep through this message.
        tokio::time::timeout(std::time::Duration::from_secs(5), woken.notified()).await.unwrap();
        let b = journal.append(envelope("adt", "2", Some("k2"), b"MSH|2")).await.unwrap();

        let fresh = journal.get(a.id).await.unwrap().unwrap();
        assert_eq!((fresh.bundle, fresh.report), (None, None));

        journal
            .set_conversion(a.id, MessageStatus::Processed, Some(r#"{"resourceType":"Bundle"}"#), Some("{}"), None)
            .await
            .unwrap();
        journal.set_conversion(b.id, MessageStatus::Error, None, Some("{}"), Some("unsupported structure")).await.unwrap();
        let mapped = journal.get(a.id).await.unwrap().unwrap();
        assert_eq!(mapped.summary.status, MessageStatus::Processed);
        assert_eq!(mapped.bundle.as_deref(), Some(r#"{"resourceType":"Bundle"}"#));
        assert_eq!(mapped.report.as_deref(), Some("{}"));
        let failed = journal.get(b.id).await.unwrap().unwrap();
        assert_eq!(failed.summary.status, MessageStatus::Error);
        assert_eq!(failed.summary.reason.as_deref(), Some("unsupported structure"));
        assert_eq!(failed.bundle, None);
        // Neither is waiting any more.
        assert!(journal.next_received(0, 10).await.unwrap().is_empty());
        assert_eq!(
            journal.set_conversion(9_999, MessageStatus::Processed, None, None, None).await.unwrap_err(),
            StoreError::NotFound(9_999)
        );
        journal.close().await;
        // Survives a reopen (migration 0002 is applied once).
        let journal = place.open().await;
        assert_eq!(journal.get(a.id).await.unwrap().unwrap().summary.status, MessageStatus::Processed);
        journal.close().await;
    }
}

on_both! {
    #[tokio::test]
    async fn migrate_reports_versions_and_a_newer_schema_is_refused(place) {
        let first = Journal::migrate(&place.config()).await.unwrap();
        assert_eq!(first.from, None);
        assert!(first.changed());
        let again = Journal::migrate(&place.config()).await.unwrap();
        assert_eq!((again.from, again.to, again.changed()), (Some(first.to), first.to, false));

        // A newer Hearth migrated this journal further: this build must not write to it.
        let future = first.to + 1_000;
        let insert = format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ({future}, 'from the future', TRUE, {}, 0)",
            if place.kind == Kind::Sqlite { "X'00'" } else { "decode('00', 'hex')" }
        );
        match place.kind {
            Kind::Sqlite => {
                use sqlx::Connection;
                let path = place.sqlite_path().unwrap();
                let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
                sqlx::query(&insert).execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
            }
            Kind::Postgres => {
                let mut conn = place.admin().await;
                sqlx::query(&insert).execute(&mut conn).await.unwrap();
            }
        }
        for refused in [Journal::open(&place.config()).await.map(|_| ()), Journal::migrate(&place.config()).await.map(|_| ())]
        {
            let err = refused.unwrap_err();
            assert!(matches!(err, StoreError::Schema(_)), "{err:?}");
            let text = err.to_string();
            assert!(text.contains(&future.to_string()) && text.contains(&first.to.to_string()), "{text}");
            assert_eq!(err.class(), ErrorClass::Permanent);
        }
    }
}

on_both! {
    #[tokio::test]
    async fn a_nul_in_metadata_is_journaled_not_refused(place) {
        let journal = place.open().await;
        let raw = b"MSH|^~\\&|LAB\0|NORTH|||20260101||ADT^A01|A\0B|P|2.5\r";
        let mut env = envelope("adt", "A\0B", Some("k\0"), raw);
        env.reason = Some("odd\0".into());
        let a = journal.append(env).await.unwrap();
        let stored = journal.get(a.id).await.unwrap().unwrap();
        // The raw bytes are kept exactly; PostgreSQL text cannot hold NUL, so there it becomes U+FFFD.
        assert_eq!(stored.raw.as_deref(), Some(&raw[..]));
        let want = if place.kind == Kind::Sqlite { "A\0B" } else { "A\u{FFFD}B" };
        assert_eq!(stored.summary.meta.control_id.as_deref(), Some(want));
        // The same message again is still a duplicate.
        let again = journal.append(envelope("adt", "A\0B", Some("k\0"), raw)).await.unwrap();
        assert_eq!((again.id, again.duplicate), (a.id, true));
        journal.close().await;
    }
}
