//! Rate-limited logging of a recurring condition: one line per condition and interval, carrying how many
//! occurrences were left out since the last line (docs/operations.md, "Logs").
//!
//! A full journal or a destination that is down fails every message; logging each failure would bury the log
//! and the disk. The caller asks [`LogLimiter::admit`] before logging and puts the returned count in the line.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The default interval between two lines about the same condition.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// Admits one log line per condition key and interval; counts the occurrences it holds back.
#[derive(Debug)]
pub struct LogLimiter {
    interval: Duration,
    conditions: Mutex<HashMap<String, Condition>>,
}

#[derive(Debug)]
struct Condition {
    last_logged: Instant,
    suppressed: u64,
}

/// What the caller logs when a line is admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    /// Occurrences of the condition left out of the log since its previous line.
    pub suppressed: u64,
}

impl Default for LogLimiter {
    fn default() -> Self {
        Self::new(DEFAULT_INTERVAL)
    }
}

impl LogLimiter {
    pub fn new(interval: Duration) -> Self {
        LogLimiter { interval, conditions: Mutex::new(HashMap::new()) }
    }

    /// One occurrence of `condition` (a short stable key, never message content). `Some` when a line should be
    /// written now: the first occurrence, or the first once `interval` has passed since the last line.
    pub fn admit(&self, condition: &str) -> Option<Admitted> {
        self.admit_at(condition, Instant::now())
    }

    /// Forgets `condition` (it ended); returns how many occurrences were left out since its last line, so the
    /// caller can report them with the "recovered" line.
    pub fn clear(&self, condition: &str) -> Option<u64> {
        self.lock().remove(condition).map(|c| c.suppressed)
    }

    /// Whether `condition` has occurred since it was last cleared.
    pub fn is_active(&self, condition: &str) -> bool {
        self.lock().contains_key(condition)
    }

    fn admit_at(&self, condition: &str, now: Instant) -> Option<Admitted> {
        let mut conditions = self.lock();
        match conditions.get_mut(condition) {
            None => {
                conditions.insert(condition.to_owned(), Condition { last_logged: now, suppressed: 0 });
                Some(Admitted { suppressed: 0 })
            }
            Some(c) if now.saturating_duration_since(c.last_logged) >= self.interval => {
                let suppressed = std::mem::take(&mut c.suppressed);
                c.last_logged = now;
                Some(Admitted { suppressed })
            }
            Some(c) => {
                c.suppressed += 1;
                None
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Condition>> {
        // A panic elsewhere while holding the lock leaves counters only; they are still usable.
        self.conditions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_left_out() {
        let limiter = LogLimiter::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(limiter.admit_at("full", t0), Some(Admitted { suppressed: 0 }));
        for s in 1..=5 {
            assert_eq!(limiter.admit_at("full", t0 + Duration::from_secs(s)), None);
        }
        // Another condition is limited on its own.
        assert_eq!(limiter.admit_at("down:x", t0 + Duration::from_secs(1)), Some(Admitted { suppressed: 0 }));
        assert_eq!(limiter.admit_at("full", t0 + Duration::from_secs(10)), Some(Admitted { suppressed: 5 }));
        assert_eq!(limiter.admit_at("full", t0 + Duration::from_secs(11)), None);
        assert!(limiter.is_active("full"));
        assert_eq!(limiter.clear("full"), Some(1));
        assert!(!limiter.is_active("full"));
        assert_eq!(limiter.clear("full"), None);
        // After clearing, the next occurrence is logged at once.
        assert_eq!(limiter.admit_at("full", t0 + Duration::from_secs(12)), Some(Admitted { suppressed: 0 }));
    }
}
