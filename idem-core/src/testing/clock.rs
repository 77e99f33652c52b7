//! A clock that moves only when a test says so.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::Clock;

/// A clock that moves only when told to.
///
/// ```
/// use idem_core::{Clock, testing::ManualClock};
/// let clock = ManualClock::new(1_000);
/// clock.advance(std::time::Duration::from_secs(2));
/// assert_eq!(clock.now_ms(), 3_000);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock showing `now_ms`.
    ///
    /// ```
    /// use idem_core::{testing::ManualClock, Clock};
    /// assert_eq!(ManualClock::new(1_700_000_000_000).now_ms(), 1_700_000_000_000);
    /// ```
    pub fn new(now_ms: u64) -> Self {
        ManualClock(AtomicU64::new(now_ms))
    }

    /// Moves the clock forward.
    ///
    /// ```
    /// use idem_core::{testing::ManualClock, Clock};
    /// let clock = ManualClock::new(0);
    /// clock.advance(std::time::Duration::from_millis(1_500));
    /// assert_eq!(clock.now_ms(), 1_500);
    /// ```
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(
            u64::try_from(by.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }

    /// Sets the clock, backwards too.
    ///
    /// ```
    /// use idem_core::{testing::ManualClock, Clock};
    /// let clock = ManualClock::new(5_000);
    /// clock.set(1_000);
    /// assert_eq!(clock.now_ms(), 1_000);
    /// ```
    pub fn set(&self, now_ms: u64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}
