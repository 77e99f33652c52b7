//! Time: the clock leases and expiry are judged by, and deadlines.

use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time, unix milliseconds. Leases and expiry are
/// judged by it; tests substitute a manual clock.
///
/// ```
/// use idem_core::{Clock, Error, Idempotent, Key, MemoryStore, Store};
///
/// /// Time stands still, for a test.
/// struct Frozen(u64);
///
/// impl Clock for Frozen {
///     fn now_ms(&self) -> u64 {
///         self.0
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Error> {
/// let store = MemoryStore::new();
/// let clock = Frozen(1_700_000_000_000);
/// Idempotent::new("docs::frozen")
///     .store(&store)
///     .clock(&clock)
///     .key("id", "a-1")
///     .run(|| async { Ok::<_, Error>(()) })
///     .await?;
/// let key = Key::builder("docs::frozen").part("id", "a-1").finish().unwrap();
/// let record = store.get(key.storage_key(), clock.now_ms()).await.unwrap().unwrap();
/// assert_eq!(record.expires_at_s, 1_700_000_000 + 3600); // now + the default ttl, in s
/// # Ok(())
/// # }
/// ```
pub trait Clock: Send + Sync {
    /// Now, in milliseconds since the unix epoch.
    ///
    /// ```
    /// use idem_core::{Clock, SystemClock};
    /// assert!(SystemClock.now_ms() > 1_700_000_000_000); // after November 2023
    /// ```
    fn now_ms(&self) -> u64;
}

/// The system's wall clock, at the resolution of the kernel's tick.
///
/// On Linux it reads `CLOCK_REALTIME_COARSE`: the same wall clock as
/// `SystemTime::now()`, as of the last tick (1–4 ms ago), for about 3 ns
/// instead of about 30 (a tenth of a replay). Records keep milliseconds and
/// leases last seconds, so the tick is far below anything this clock decides;
/// at worst a lapsed lease is taken over one tick later. Elsewhere it is
/// `SystemTime::now()`. Pass your own [`Clock`] for another trade-off.
///
/// ```
/// use idem_core::{Clock, SystemClock};
/// use std::time::{SystemTime, UNIX_EPOCH};
///
/// let precise = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
/// let coarse = SystemClock.now_ms();
/// assert!(coarse.abs_diff(precise) < 1_000);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn now_ms(&self) -> u64 {
        use rustix::time::{clock_gettime, ClockId};
        let now = clock_gettime(ClockId::RealtimeCoarse);
        // Before the epoch (a badly set clock) reads as the epoch, as below.
        let secs = u64::try_from(now.tv_sec).unwrap_or(0);
        let millis = u64::try_from(now.tv_nsec / 1_000_000).unwrap_or(0);
        secs.saturating_mul(1000).saturating_add(millis)
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn now_ms(&self) -> u64 {
        system_ms(SystemTime::now())
    }
}

fn system_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Something that names the caller's deadline: unix milliseconds (`u64`, as
/// Lambda's `Context::deadline`), a `SystemTime`, or an `Option` of either.
///
/// ```
/// use idem_core::IntoDeadline;
/// use std::time::{Duration, UNIX_EPOCH};
///
/// assert_eq!(1_700_000_000_000u64.into_deadline_ms(), Some(1_700_000_000_000));
/// assert_eq!((UNIX_EPOCH + Duration::from_secs(2)).into_deadline_ms(), Some(2_000));
/// assert_eq!(None::<u64>.into_deadline_ms(), None);
/// let borrowed = 1_700_000_000_000u64;
/// assert_eq!((&borrowed).into_deadline_ms(), Some(borrowed));
/// ```
pub trait IntoDeadline {
    /// The deadline in unix milliseconds, if there is one.
    ///
    /// ```
    /// use idem_core::IntoDeadline;
    /// let lambda_deadline: u64 = 1_700_000_030_000; // as `Context::deadline`
    /// assert_eq!(Some(lambda_deadline).into_deadline_ms(), Some(lambda_deadline));
    /// ```
    fn into_deadline_ms(self) -> Option<u64>;
}

impl IntoDeadline for u64 {
    fn into_deadline_ms(self) -> Option<u64> {
        Some(self)
    }
}

impl IntoDeadline for SystemTime {
    fn into_deadline_ms(self) -> Option<u64> {
        Some(system_ms(self))
    }
}

impl<T: IntoDeadline> IntoDeadline for Option<T> {
    fn into_deadline_ms(self) -> Option<u64> {
        self.and_then(IntoDeadline::into_deadline_ms)
    }
}

impl<T: IntoDeadline + Copy> IntoDeadline for &T {
    fn into_deadline_ms(self) -> Option<u64> {
        (*self).into_deadline_ms()
    }
}
