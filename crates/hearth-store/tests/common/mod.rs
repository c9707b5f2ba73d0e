//! Helpers shared by the integration tests: where a test's journal lives (SQLite in a temporary directory, or a
//! schema of its own on the test PostgreSQL server), and [`on_both!`], which runs one test body on each.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use hearth_core::{Envelope, MessageMeta, MessageStatus, PayloadKind};
use hearth_store::{Journal, JournalConfig, PostgresConfig, SqliteConfig};
use sqlx::Connection;
use time::OffsetDateTime;

/// Runs the test body once per backend: `NAME::sqlite` on a file in a temporary directory, `NAME::postgres` in
/// a schema of its own on the server from `hearth_testkit::postgres` (dropped afterwards; without a server it
/// prints NOT RUN, and fails under `CI=true`). The body sees `place: &Place`.
///
/// ```ignore
/// on_both! {
///     #[tokio::test]
///     async fn appends_are_kept(place) {
///         let journal = place.open().await;
///     }
/// }
/// ```
#[macro_export]
macro_rules! on_both {
    ($(#[$attr:meta])* async fn $name:ident($place:ident) $body:block $($rest:tt)*) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($place: &$crate::common::Place) $body

            $(#[$attr])*
            async fn sqlite() {
                let place = $crate::common::Place::sqlite();
                body(&place).await;
            }

            $(#[$attr])*
            async fn postgres() {
                let Some(place) = $crate::common::Place::postgres(concat!(module_path!(), "::postgres")) else {
                    return;
                };
                body(&place).await;
            }
        }
        $crate::on_both! { $($rest)* }
    };
    () => {};
}

/// Which backend a [`Place`] is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// Where one test's journal lives. Every `open` of the same place sees the same journal (restarts); dropping
/// the place removes it (the directory, or the schema).
#[derive(Debug)]
pub struct Place {
    pub kind: Kind,
    dir: Option<tempfile::TempDir>,
    url: String,
    schema: String,
}

impl Place {
    pub fn sqlite() -> Place {
        let dir = tempfile::tempdir().unwrap();
        Place { kind: Kind::Sqlite, dir: Some(dir), url: String::new(), schema: String::new() }
    }

    /// A fresh schema on the test server; `None` (NOT RUN) when there is no server outside CI.
    pub fn postgres(test: &str) -> Option<Place> {
        let url = hearth_testkit::postgres(test)?;
        let schema = hearth_testkit::unique_name("hs");
        Some(Place { kind: Kind::Postgres, dir: None, url, schema })
    }

    /// The SQLite file (in a directory the journal creates on open), for tests that look at files.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.path().join("nested/journal.db"))
    }

    pub fn config(&self) -> JournalConfig {
        self.limited(None)
    }

    pub fn postgres_config(&self) -> PostgresConfig {
        PostgresConfig { schema: Some(self.schema.clone()), ..PostgresConfig::new(&self.url) }
    }

    pub fn limited(&self, max_db_bytes: Option<u64>) -> JournalConfig {
        match self.kind {
            Kind::Sqlite => {
                JournalConfig::Sqlite(SqliteConfig { max_db_bytes, ..SqliteConfig::new(self.sqlite_path().unwrap()) })
            }
            Kind::Postgres => JournalConfig::Postgres(PostgresConfig { max_db_bytes, ..self.postgres_config() }),
        }
    }

    /// A limit leaving about `room` bytes for messages: the empty journal's tables and indexes plus `room` (so
    /// that a migration adding tables does not eat the room; PostgreSQL starts bigger: every index has its own
    /// pages).
    pub async fn with_room(&self, room: u64) -> JournalConfig {
        match self.kind {
            Kind::Sqlite => {
                // Closing checkpoints the WAL: the file then holds every page.
                self.open().await.close().await;
                let size = std::fs::metadata(self.sqlite_path().unwrap()).unwrap().len();
                self.limited(Some(size + room))
            }
            Kind::Postgres => {
                self.open().await.close().await;
                let size: i64 = self.query_scalar(JOURNAL_SIZE).await;
                self.limited(Some(u64::try_from(size).unwrap() + room))
            }
        }
    }

    pub async fn open(&self) -> Journal {
        Journal::open(&self.config()).await.expect("open journal")
    }

    /// Runs one query in this place's PostgreSQL schema and returns its single value.
    pub async fn query_scalar(&self, sql: &str) -> i64 {
        let mut conn = self.admin().await;
        let v = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        v
    }

    /// A plain connection to the test server with this place's schema first on the search path.
    pub async fn admin(&self) -> sqlx::PgConnection {
        let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
        sqlx::query(&format!("SET search_path TO \"{}\"", self.schema)).execute(&mut conn).await.unwrap();
        conn
    }
}

/// The journal's own size, as the PostgreSQL backend measures it for `max_db_bytes`.
const JOURNAL_SIZE: &str = "\
SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'";

impl Drop for Place {
    fn drop(&mut self) {
        if self.kind != Kind::Postgres {
            return;
        }
        // Drop runs inside the test's runtime (or while a failed test unwinds): a thread of its own with its own
        // runtime can still wait for the server.
        let (url, schema) = (self.url.clone(), self.schema.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async move {
                let mut conn = sqlx::PgConnection::connect(&url).await.ok()?;
                sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")).execute(&mut conn).await.ok()?;
                conn.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("test schema {} could not be dropped", self.schema);
        }
    }
}

/// A fixed instant with microseconds, which the journal keeps exactly.
pub fn at(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(1_700_000_000_000_000 + micros) * 1_000).unwrap()
}

/// An accepted HL7 v2 message on `channel`.
pub fn envelope(channel: &str, control_id: &str, dedup_key: Option<&str>, raw: &[u8]) -> Envelope {
    Envelope {
        channel: channel.to_owned(),
        kind: PayloadKind::Hl7v2,
        received_at: at(0),
        raw: raw.to_vec(),
        status: MessageStatus::Received,
        reason: None,
        dedup_key: dedup_key.map(str::to_owned),
        meta: MessageMeta {
            message_code: Some("ADT".into()),
            trigger_event: Some("A01".into()),
            structure: Some("ADT_A01".into()),
            control_id: Some(control_id.to_owned()),
            sending_application: Some("LAB".into()),
            sending_facility: Some("NORTH".into()),
        },
        trace_id: hearth_core::trace::TraceId::random(),
    }
}

/// A message refused at the door: no dedup key, a reason.
pub fn rejected(channel: &str, raw: &[u8]) -> Envelope {
    Envelope {
        status: MessageStatus::Rejected,
        reason: Some("MSH-9 missing".into()),
        dedup_key: None,
        meta: MessageMeta::default(),
        ..envelope(channel, "", None, raw)
    }
}
