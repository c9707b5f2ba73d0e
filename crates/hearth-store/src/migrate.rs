//! Schema versions: migrations per backend in `migrations/sqlite` and `migrations/postgres`, numbered alike
//! (version N is the same change on both), applied when a journal opens and by `Journal::migrate`.
//!
//! A journal whose schema is newer than this build knows is refused, on both backends: an older node must not
//! write rows a newer schema gives another meaning to. Upgrading several nodes therefore means upgrading the
//! binaries first, then letting the first new one migrate (or running `hearth migrate`).

use sqlx::migrate::Migrator;

use crate::StoreError;

/// What `Journal::migrate` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationReport {
    /// The schema version found; `None` for a new, empty journal.
    pub from: Option<i64>,
    /// The schema version now (the newest this build knows).
    pub to: i64,
}

impl MigrationReport {
    /// Whether the run applied anything.
    pub fn changed(&self) -> bool {
        self.from != Some(self.to)
    }
}

/// The newest schema version this build knows.
pub(crate) fn known_version(migrator: &Migrator) -> i64 {
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Refuses a database whose schema is newer than this build's, naming both versions.
pub(crate) fn refuse_newer(applied: Option<i64>, migrator: &Migrator) -> Result<(), StoreError> {
    let known = known_version(migrator);
    match applied {
        Some(found) if found > known => Err(StoreError::Schema(format!(
            "the journal's schema is version {found}, newer than this Hearth knows (version {known}); \
             upgrade Hearth before opening it"
        ))),
        _ => Ok(()),
    }
}
