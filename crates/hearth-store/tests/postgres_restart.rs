//! PostgreSQL crashes and comes back while appends are running: they fail with a transient error while it is
//! away, nothing that was acknowledged is lost, and the journal resumes by itself. The server is a private
//! cluster of this test's own (`hearth_testkit::PgCluster`), never the shared one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::envelope;
use hearth_core::ErrorClass;
use hearth_store::{Journal, JournalConfig, PostgresConfig, StoreError};

const WRITERS: usize = 4;

#[derive(Default)]
struct Seen {
    /// Acknowledged appends: key → id.
    acked: BTreeMap<String, i64>,
    errors: Vec<StoreError>,
    /// Acknowledgements after the server came back.
    acked_after_restart: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crash_mid_run_loses_nothing_acknowledged_and_the_journal_resumes() {
    let Some(cluster) = hearth_testkit::PgCluster::create("postgres_crash_mid_run") else { return };
    let cfg = PostgresConfig { connect_timeout_ms: 1_000, ..PostgresConfig::new(cluster.url()) };
    let journal = Journal::open(&JournalConfig::Postgres(cfg)).await.unwrap();
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let (stop, restarted) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (journal, seen, stop, restarted) =
            (journal.clone(), Arc::clone(&seen), Arc::clone(&stop), Arc::clone(&restarted));
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let key = format!("w{w}-{n}");
                // A sender resends what was not acknowledged: the same key until it is.
                match journal.append(envelope("adt", &key, Some(&key), key.as_bytes())).await {
                    Ok(a) => {
                        let mut s = seen.lock().unwrap();
                        s.acked.insert(key, a.id);
                        s.acked_after_restart += usize::from(restarted.load(Ordering::SeqCst));
                        n += 1;
                    }
                    Err(e) => {
                        seen.lock().unwrap().errors.push(e);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }));
    }

    tokio::time::sleep(Duration::from_millis(800)).await;
    let before = seen.lock().unwrap().acked.len();
    assert!(before > 0, "appends before the crash");
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.crash().unwrap();
        std::thread::sleep(Duration::from_millis(1_500));
        cluster.start().unwrap();
        cluster
    })
    .await
    .unwrap();
    restarted.store(true, Ordering::SeqCst);

    // The journal reconnects by itself: appends are acknowledged again, without reopening anything.
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.lock().unwrap().acked_after_restart < 50 {
        assert!(Instant::now() < deadline, "no acknowledgement after the restart");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    eprintln!(
        "acknowledged {} ({before} before the crash, {} after the restart), {} transient failures while it was down",
        seen.acked.len(),
        seen.acked_after_restart,
        seen.errors.len()
    );
    assert!(!seen.errors.is_empty(), "appends failed while the server was down");
    for e in &seen.errors {
        assert_eq!(e.class(), ErrorClass::Transient, "{e:?}");
    }
    // Every acknowledged message is there, once, under the id it was acknowledged with.
    for (key, id) in &seen.acked {
        let stored = journal.get(*id).await.unwrap().expect("an acknowledged message is in the journal");
        assert_eq!(stored.summary.dedup_key.as_deref(), Some(key.as_str()));
        assert_eq!(stored.raw.as_deref(), Some(key.as_bytes()));
    }
    // Nothing is stored twice: at most each writer's last message, whose answer was lost when the server went
    // away after its commit and which it did not send again, is there unacknowledged.
    let stored = journal.count_all().await.unwrap();
    let acked = seen.acked.len() as u64;
    assert!((acked..=acked + WRITERS as u64).contains(&stored), "{stored} stored, {acked} acknowledged");
    journal.check_writable().await.unwrap();
    journal.close().await;
    drop(cluster);
}
