//! The engine: the call flow of one guarded call, behind the [`Idempotent`] builder.

use std::borrow::Cow;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;

use crate::context;
use crate::error::Error;
use crate::key::{Fingerprint, FingerprintBuilder, Key, KeyBuilder, KeyError};
use crate::store::{Claim, ClaimRequest, Completion, Lease, LeaseToken, Record, Status};
use crate::store::{Store, StoreError};
use crate::outcome::{self, Outcome};
use crate::telemetry::{self, Label};

/// How long a result is replayed unless `ttl` says otherwise.
///
/// ```
/// assert_eq!(idem_core::DEFAULT_TTL, std::time::Duration::from_secs(60 * 60));
/// ```
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// How long a claim survives without renewal unless `lease` says otherwise.
///
/// ```
/// assert_eq!(idem_core::DEFAULT_LEASE, std::time::Duration::from_secs(5 * 60));
/// ```
pub const DEFAULT_LEASE: Duration = Duration::from_secs(300);
/// First pause between polls of `in_progress = wait`; doubles up to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(25);
const MAX_POLL: Duration = Duration::from_secs(1);

/// What a call does when the same key is already in progress elsewhere.
///
/// ```
/// use idem_core::{Error, Idempotent, InProgress, MemoryStore};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let call = |policy| {
///     Idempotent::new("docs::slow")
///         .store(&store)
///         .key("id", "a-1")
///         .in_progress(policy)
/// };
/// let first = call(InProgress::Fail).run(|| async {
///     tokio::time::sleep(Duration::from_millis(50)).await;
///     Ok::<_, Error>(1)
/// });
/// let duplicates = async {
///     tokio::time::sleep(Duration::from_millis(10)).await;
///     let failed = call(InProgress::Fail).run(|| async { Ok::<_, Error>(2) }).await;
///     let waited = call(InProgress::Wait(Some(Duration::from_secs(5))))
///         .run(|| async { Ok::<_, Error>(3) })
///         .await;
///     (failed, waited)
/// };
/// let (first, (failed, waited)) = tokio::join!(first, duplicates);
/// assert_eq!(first.unwrap(), 1);
/// assert!(matches!(failed, Err(Error::InProgress { .. })));
/// assert_eq!(waited.unwrap(), 1); // the first call's result
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InProgress {
    /// Return [`Error::InProgress`] with `retry_after` (the default, as in Powertools).
    #[default]
    Fail,
    /// Poll until the first call's result is saved, or its lease lapses (then
    /// run the body here); give up with [`Error::InProgress`] after the
    /// duration, if one is given.
    Wait(Option<Duration>),
}

/// What a call does when a key part is `None`, null or empty.
///
/// ```
/// use idem_core::{Error, Idempotent, MemoryStore, OnMissingKey};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let order_id: Option<&str> = None;
/// let call = |policy| {
///     Idempotent::new("docs::missing")
///         .store(&store)
///         .key("order.order_id", &order_id)
///         .on_missing_key(policy)
///         .run(|| async { Ok::<_, Error>(String::from("ran")) })
/// };
/// assert!(matches!(call(OnMissingKey::Error).await, Err(Error::MissingKey { .. })));
/// // No key, no deduplication: the body runs every time.
/// assert_eq!(call(OnMissingKey::Run).await.unwrap(), "ran");
/// assert_eq!(call(OnMissingKey::Run).await.unwrap(), "ran");
/// assert!(store.is_empty());
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnMissingKey {
    /// Return [`Error::MissingKey`] (the default).
    #[default]
    Error,
    /// Run the body without idempotency (and log a warning).
    Run,
}

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

/// One guarded call, built step by step: the programmatic form of
/// `#[idempotent]` (which expands to exactly this chain).
///
/// ```
/// use idem_core::{Idempotent, MemoryStore};
/// use std::time::Duration;
///
/// #[derive(serde::Serialize)]
/// struct Order { order_id: String, amount_cents: u64 }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> anyhow::Result<()> {
/// let store = MemoryStore::new();
/// let order = Order { order_id: "ord-1".into(), amount_cents: 1250 };
/// let mut charges = 0;
/// for _delivery in 0..3 {
///     let receipt: String = Idempotent::new("billing::charge")
///         .ttl(Duration::from_secs(48 * 3600))
///         .store(&store)
///         .key("order.order_id", &order.order_id)
///         .validate(&order)
///         .run(|| async {
///             charges += 1;
///             Ok::<_, anyhow::Error>(format!("receipt for {}", order.order_id))
///         })
///         .await?;
///     assert_eq!(receipt, "receipt for ord-1");
/// }
/// assert_eq!(charges, 1);
/// # Ok(())
/// # }
/// ```
#[must_use = "a guarded call does nothing until `.run(…)` is awaited"]
pub struct Idempotent<'a> {
    key: KeyBuilder,
    // Boxed: most calls validate nothing, and the builder is moved at every
    // step of the chain.
    fingerprint: Option<Box<FingerprintBuilder>>,
    ttl: Duration,
    lease: Duration,
    deadline_ms: Option<u64>,
    in_progress: InProgress,
    on_missing_key: OnMissingKey,
    store: Option<&'a dyn Store>,
    clock: &'a dyn Clock,
}

impl<'a> Idempotent<'a> {
    /// A call in `namespace`: records of different namespaces never meet.
    /// `#[idempotent]` uses `module_path!()::fn_name`.
    ///
    /// ```
    /// use idem_core::Idempotent;
    ///
    /// let _fixed = Idempotent::new("billing::charge");
    /// let tenant = 7;
    /// let _computed = Idempotent::new(format!("tenant-{tenant}::charge"));
    /// ```
    #[inline]
    pub fn new(namespace: impl Into<Cow<'static, str>>) -> Self {
        Idempotent {
            key: Key::builder(namespace),
            fingerprint: None,
            ttl: DEFAULT_TTL,
            lease: DEFAULT_LEASE,
            deadline_ms: None,
            in_progress: InProgress::Fail,
            on_missing_key: OnMissingKey::Error,
            store: None,
            clock: &SystemClock,
        }
    }

    /// Hashes one key part now (so the value may be moved into the body
    /// afterwards). `name` is how a missing part is reported. Several parts
    /// make a composite key.
    ///
    /// ```
    /// use idem_core::{Error, Idempotent, MemoryStore};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// let store = MemoryStore::new();
    /// let (tenant, order_id) = (7u32, String::from("ord-1"));
    /// let receipt = Idempotent::new("docs::key")
    ///     .store(&store)
    ///     .key("tenant", &tenant)
    ///     .key("order_id", &order_id)
    ///     .run(move || async move { Ok::<_, Error>(format!("paid {order_id}")) })
    ///     .await?;
    /// assert_eq!(receipt, "paid ord-1");
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn key<T: Serialize + ?Sized>(mut self, name: &str, value: &T) -> Self {
        self.key.add(name, value);
        self
    }

    /// Adds a payload part to the fingerprint: a duplicate whose fingerprint
    /// differs from the first call's gets [`Error::PayloadMismatch`].
    ///
    /// ```
    /// use idem_core::{Error, Idempotent, MemoryStore};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let store = MemoryStore::new();
    /// let charge = |amount_cents: u64| {
    ///     Idempotent::new("docs::validate")
    ///         .store(&store)
    ///         .key("order_id", "ord-1")
    ///         .validate(&amount_cents)
    ///         .run(move || async move { Ok::<_, Error>(amount_cents) })
    /// };
    /// assert_eq!(charge(1250).await.unwrap(), 1250);
    /// assert_eq!(charge(1250).await.unwrap(), 1250); // a true duplicate
    /// assert!(matches!(charge(9999).await, Err(Error::PayloadMismatch { .. })));
    /// # }
    /// ```
    pub fn validate<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        self.fingerprint
            .get_or_insert_with(|| Box::new(Fingerprint::builder()))
            .add(value);
        self
    }

    /// How long a result is replayed (default 1 h).
    ///
    /// ```
    /// use idem_core::testing::ManualClock;
    /// use idem_core::{Error, Idempotent, MemoryStore};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// let (store, clock) = (MemoryStore::new(), ManualClock::new(1_000_000));
    /// let mut runs = 0;
    /// for _ in 0..2 {
    ///     Idempotent::new("docs::ttl")
    ///         .store(&store)
    ///         .clock(&clock)
    ///         .ttl(Duration::from_secs(60))
    ///         .key("id", "a-1")
    ///         .run(|| async { runs += 1; Ok::<_, Error>(()) })
    ///         .await?;
    ///     clock.advance(Duration::from_secs(61)); // past the ttl
    /// }
    /// assert_eq!(runs, 2);
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long a claim survives without renewal (default 5 min; never more
    /// than `ttl`). While the body runs the lease is renewed every third of it.
    ///
    /// ```
    /// use idem_core::testing::ManualClock;
    /// use idem_core::{current_key, Error, Idempotent, MemoryStore, Store};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// let (store, clock) = (MemoryStore::new(), ManualClock::new(1_000_000));
    /// let lease_until = Idempotent::new("docs::lease")
    ///     .store(&store)
    ///     .clock(&clock)
    ///     .lease(Duration::from_secs(30))
    ///     .key("id", "a-1")
    ///     .run(|| async {
    ///         // While the body runs, its claim is in the store.
    ///         let key = current_key().expect("inside the body");
    ///         let claim = store.get(key.storage_key(), 1_000_000).await.ok().flatten();
    ///         Ok::<_, Error>(claim.and_then(|r| r.lease).map(|l| l.until_ms))
    ///     })
    ///     .await?;
    /// assert_eq!(lease_until, Some(1_000_000 + 30_000));
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The caller's deadline: the lease never outlives it, so a timed-out
    /// invocation's claim lapses when the invocation ends.
    ///
    /// ```
    /// use idem_core::testing::ManualClock;
    /// use idem_core::{current_key, Error, Idempotent, MemoryStore, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// let (store, clock) = (MemoryStore::new(), ManualClock::new(1_000_000));
    /// // Lambda's `Context::deadline` is unix milliseconds, as here.
    /// let deadline_ms = 1_000_000 + 10_000;
    /// let lease_until = Idempotent::new("docs::deadline")
    ///     .store(&store)
    ///     .clock(&clock)
    ///     .deadline(deadline_ms)
    ///     .key("id", "a-1")
    ///     .run(|| async {
    ///         let key = current_key().expect("inside the body");
    ///         let claim = store.get(key.storage_key(), 1_000_000).await.ok().flatten();
    ///         Ok::<_, Error>(claim.and_then(|r| r.lease).map(|l| l.until_ms))
    ///     })
    ///     .await?;
    /// assert_eq!(lease_until, Some(deadline_ms)); // not the 5-minute default lease
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn deadline(mut self, deadline: impl IntoDeadline) -> Self {
        self.deadline_ms = deadline.into_deadline_ms();
        self
    }

    /// What to do when the key is in progress elsewhere (default: fail);
    /// [`InProgress`] shows both policies at work.
    ///
    /// ```
    /// use idem_core::{Idempotent, InProgress};
    /// use std::time::Duration;
    ///
    /// let _call = Idempotent::new("docs::wait").in_progress(InProgress::Wait(Some(Duration::from_secs(5))));
    /// ```
    #[inline]
    pub fn in_progress(mut self, policy: InProgress) -> Self {
        self.in_progress = policy;
        self
    }

    /// What to do when a key part is missing (default: error);
    /// [`OnMissingKey`] shows both policies at work.
    ///
    /// ```
    /// use idem_core::{Idempotent, OnMissingKey};
    ///
    /// let _call = Idempotent::new("docs::optional_key").on_missing_key(OnMissingKey::Run);
    /// ```
    #[inline]
    pub fn on_missing_key(mut self, policy: OnMissingKey) -> Self {
        self.on_missing_key = policy;
        self
    }

    /// The store (default: the process default, see [`set_default_store`](crate::set_default_store)).
    /// Takes `&S`, `&Arc<S>`, `&Arc<dyn Store>`, `&Box<S>` or `&dyn Store`.
    ///
    /// ```
    /// use idem_core::{Error, Idempotent, MemoryStore, Store};
    /// use std::sync::Arc;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// let shared: Arc<dyn Store> = Arc::new(MemoryStore::new());
    /// let n = Idempotent::new("docs::store")
    ///     .store(&shared)
    ///     .key("id", "a-1")
    ///     .run(|| async { Ok::<_, Error>(5) })
    ///     .await?;
    /// assert_eq!(n, 5);
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn store(mut self, store: &'a dyn Store) -> Self {
        self.store = Some(store);
        self
    }

    /// The clock leases and expiry are judged by (default: the system clock);
    /// [`Clock`] and [`ttl`](Self::ttl) show one in use.
    ///
    /// ```
    /// use idem_core::testing::ManualClock;
    /// use idem_core::Idempotent;
    ///
    /// let clock = ManualClock::new(1_700_000_000_000);
    /// let _call = Idempotent::new("docs::clock").clock(&clock);
    /// ```
    #[inline]
    pub fn clock<C: Clock>(mut self, clock: &'a C) -> Self {
        self.clock = clock;
        self
    }

    /// Runs `body` at most once per key within `ttl` and returns its result,
    /// or the saved result of the call that ran it.
    ///
    /// The key (and fingerprint) are finished when `run` is called, so the
    /// future it returns holds the finished key, not the builder; nothing
    /// touches the store until it is awaited.
    ///
    /// Errors of idem itself reach the caller as `E::from(idem_core::Error)`.
    ///
    /// ```
    /// use idem_core::{Idempotent, MemoryStore};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// enum ChargeError {
    ///     #[error("card declined")]
    ///     Declined,
    ///     #[error(transparent)]
    ///     Idem(#[from] idem_core::Error),
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let store = MemoryStore::new();
    /// let missing: Option<String> = None;
    /// let result = Idempotent::new("docs::run")
    ///     .store(&store)
    ///     .key("order_id", &missing)
    ///     .run(|| async { Err::<u64, _>(ChargeError::Declined) })
    ///     .await;
    /// // The key was missing, so the body never ran: idem's error, in the caller's type.
    /// assert!(matches!(result, Err(ChargeError::Idem(idem_core::Error::MissingKey { .. }))));
    /// # }
    /// ```
    #[inline]
    pub fn run<T, E, F, Fut>(
        self,
        body: F,
    ) -> impl Future<Output = Result<T, E>> + use<'a, T, E, F, Fut>
    where
        T: Serialize + DeserializeOwned,
        E: From<Error>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let call = self.run_with_outcome(body);
        async move { call.await.map(|(value, _)| value) }
    }

    /// [`run`](Self::run), also saying whether the result was executed now or
    /// replayed ([`Outcome`]): for a replay header, logs or metrics.
    ///
    /// ```
    /// use idem_core::{Error, Idempotent, MemoryStore, Outcome};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// let store = MemoryStore::new();
    /// for expected in [Outcome::Executed, Outcome::Replayed] {
    ///     let (body, outcome) = Idempotent::new("docs::run_with_outcome")
    ///         .store(&store)
    ///         .key("request_id", "r-1")
    ///         .run_with_outcome(|| async { Ok::<_, Error>(String::from("created")) })
    ///         .await?;
    ///     assert_eq!((body.as_str(), outcome), ("created", expected));
    /// }
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn run_with_outcome<T, E, F, Fut>(
        mut self,
        body: F,
    ) -> impl Future<Output = Result<(T, Outcome), E>> + use<'a, T, E, F, Fut>
    where
        T: Serialize + DeserializeOwned,
        E: From<Error>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        // Planned now rather than in the future: a future that kept the
        // builder (and the hashing state) would copy it at every move, a
        // visible share of a replay. The arms below borrow the plan for the
        // same reason. The namespace is its own copy (a pointer copy for the
        // macro's static ones): reading it back out of the plan measured
        // 7 ns slower per replay.
        let namespace = self.key.namespace().clone();
        let plan = self.plan();
        let span = match &plan {
            // Off: no span, no metrics, the body as is.
            Plan::Disabled => tracing::Span::none(),
            _ => tracing::info_span!(
                "idempotent",
                namespace = %namespace,
                key = tracing::field::Empty,
                outcome = tracing::field::Empty,
            ),
        };
        if let Plan::Guarded(call) = &plan {
            span.record("key", tracing::field::display(call.key.short()));
        }
        let outcome_span = span.clone();
        async move {
            let (label, result) = match plan {
                Plan::Disabled => {
                    let result = body().await;
                    if result.is_ok() {
                        outcome::report(Outcome::Unguarded);
                    }
                    return result.map(|v| (v, Outcome::Unguarded));
                }
                Plan::Guarded(ref call) => call.execute(body).await,
                Plan::Unguarded { ref part } => {
                    tracing::warn!(%part, "idempotency key part missing; running without idempotency");
                    (Label::Unguarded, body().await)
                }
                Plan::Failed(e) => (Label::Error, Err(e.into())),
            };
            outcome_span.record("outcome", label.as_str());
            telemetry::call(&namespace, label);
            let outcome = match label {
                Label::Executed => Outcome::Executed,
                Label::Replayed => Outcome::Replayed,
                _ => Outcome::Unguarded,
            };
            if result.is_ok() {
                outcome::report(outcome);
            }
            result.map(|v| (v, outcome))
        }
        .instrument(span)
    }

    /// Finishes the key and fingerprint and resolves the store. By
    /// reference, so the builder is read where it lies; it is spent after.
    fn plan(&mut self) -> Plan<'a> {
        if crate::disabled() {
            return Plan::Disabled;
        }
        let key = match self.key.finish_in_place() {
            Ok(key) => key,
            Err(KeyError::Missing { part, .. }) if self.on_missing_key == OnMissingKey::Run => {
                return Plan::Unguarded { part };
            }
            Err(e) => return Plan::Failed(key_error(e, None)),
        };
        let fingerprint = match self.fingerprint.take().map(|fp| fp.finish()).transpose() {
            Ok(fingerprint) => fingerprint,
            Err(e) => return Plan::Failed(key_error(e, Some(key.namespace()))),
        };
        let store = match self.store {
            Some(store) => store,
            None => match crate::default::store() {
                Ok(store) => store,
                Err(reason) => {
                    return Plan::Failed(Error::NoStore {
                        namespace: key.namespace().to_owned(),
                        reason,
                    })
                }
            },
        };
        Plan::Guarded(Call {
            key,
            fingerprint,
            store,
            clock: self.clock,
            ttl: self.ttl,
            lease: self.lease.min(self.ttl),
            deadline_ms: self.deadline_ms,
            in_progress: self.in_progress,
        })
    }
}

/// What `run` found before touching the store.
enum Plan<'a> {
    /// `IDEM_DISABLED`: the body runs as is, unobserved.
    Disabled,
    /// Key finished, store known: the claim loop runs.
    Guarded(Call<'a>),
    /// A key part is missing and `on_missing_key = run`.
    Unguarded { part: String },
    /// The key, fingerprint or store could not be had.
    Failed(Error),
}

/// A key or fingerprint error as the caller sees it. Fingerprint builders
/// have no namespace of their own, so theirs is passed in.
fn key_error(e: KeyError, namespace: Option<&str>) -> Error {
    let ns = |own: String| namespace.map_or(own, str::to_owned);
    match e {
        KeyError::Missing { namespace, part } => Error::MissingKey {
            namespace: ns(namespace),
            part,
        },
        KeyError::Unhashable {
            namespace,
            part,
            reason,
        } => Error::InvalidKey {
            namespace: ns(namespace),
            part,
            reason,
        },
    }
}

/// A call whose key is known: the claim loop and the body's execution.
struct Call<'c> {
    key: Key,
    fingerprint: Option<Fingerprint>,
    store: &'c dyn Store,
    clock: &'c dyn Clock,
    ttl: Duration,
    lease: Duration,
    deadline_ms: Option<u64>,
    in_progress: InProgress,
}

impl Call<'_> {
    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The end of a lease taken or renewed at `now_ms`: `lease` from now,
    /// never past the deadline.
    fn lease_until(&self, now_ms: u64) -> u64 {
        let until = now_ms.saturating_add(millis(self.lease));
        self.deadline_ms.map_or(until, |d| until.min(d))
    }

    fn expires_at_s(&self, now_ms: u64) -> u64 {
        now_ms.saturating_add(millis(self.ttl)).div_ceil(1000)
    }

    fn short(&self) -> String {
        self.key.short().to_string()
    }

    fn store_error(&self, source: StoreError) -> Error {
        telemetry::store_error(self.key.namespace_cow());
        Error::Store {
            namespace: self.key.namespace().to_owned(),
            key: self.short(),
            source,
        }
    }

    async fn execute<T, E, F, Fut>(&self, body: F) -> (Label, Result<T, E>)
    where
        T: Serialize + DeserializeOwned,
        E: From<Error>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        // One token for every attempt of this call, so a store that meets it
        // again knows the claim is its own.
        let token = LeaseToken::new();
        // Read only when a call first has to wait: most never do.
        let mut started = None;
        let mut pause = FIRST_POLL;
        loop {
            let now = self.now_ms();
            let request = ClaimRequest {
                key: self.key.storage_key(),
                now_ms: now,
                token,
                lease_until_ms: self.lease_until(now),
                expires_at_s: self.expires_at_s(now),
                fingerprint: self.fingerprint.as_ref(),
            };
            let record = match self.store.claim(request).await {
                Err(e) => return (Label::Error, Err(self.store_error(e).into())),
                // Boxed so the replay path's future stays small: the body,
                // lease renewal and saving are only needed after a claim.
                Ok(Claim::Acquired(lease)) => return Box::pin(self.run_body(lease, body)).await,
                Ok(Claim::Existing(record)) => record,
            };
            if let Err(e) = self.check_fingerprint(&record) {
                return (Label::Error, Err(e.into()));
            }
            if record.status == Status::Completed {
                return match self.replay(&record) {
                    Ok(v) => (Label::Replayed, Ok(v)),
                    Err(e) => (Label::Error, Err(e.into())),
                };
            }
            let lapses_in = Duration::from_millis(
                record
                    .lease
                    .as_ref()
                    .map_or(0, |l| l.until_ms.saturating_sub(now)),
            );
            let waited = started
                .get_or_insert_with(tokio::time::Instant::now)
                .elapsed();
            let left = match self.in_progress {
                InProgress::Fail => Duration::ZERO,
                InProgress::Wait(None) => Duration::MAX,
                InProgress::Wait(Some(max)) => max.saturating_sub(waited),
            };
            if left.is_zero() {
                let e = Error::InProgress {
                    namespace: self.key.namespace().to_owned(),
                    key: self.short(),
                    retry_after: lapses_in,
                };
                return (Label::InProgress, Err(e.into()));
            }
            // Poll again no later than the lease lapses, when the claim is ours.
            let nap = pause.min(left).min(lapses_in.max(Duration::from_millis(1)));
            // Boxed: the timer is large, and only a waiting call needs it.
            Box::pin(tokio::time::sleep(nap)).await;
            pause = (pause * 2).min(MAX_POLL);
        }
    }

    fn check_fingerprint(&self, record: &Record) -> Result<(), Error> {
        match (&self.fingerprint, &record.fingerprint) {
            (Some(ours), Some(theirs)) if ours != theirs => Err(Error::PayloadMismatch {
                namespace: self.key.namespace().to_owned(),
                key: self.short(),
            }),
            _ => Ok(()),
        }
    }

    fn replay<T: DeserializeOwned>(&self, record: &Record) -> Result<T, Error> {
        let data = record
            .data
            .as_deref()
            .ok_or_else(|| Error::ReplayUnavailable {
                namespace: self.key.namespace().to_owned(),
                key: self.short(),
            })?;
        serde_json::from_str(data).map_err(|e| Error::decode(self.key.namespace(), self.short(), &e))
    }

    async fn run_body<T, E, F, Fut>(&self, lease: Lease, body: F) -> (Label, Result<T, E>)
    where
        T: Serialize,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let body = context::scope(self.key.clone(), body());
        tokio::pin!(body);
        let result = tokio::select! {
            biased;
            result = &mut body => result,
            never = self.renew(&lease) => match never {},
        };
        let key = self.key.storage_key();
        match result {
            Ok(value) => {
                self.save(&lease, &value).await;
                (Label::Executed, Ok(value))
            }
            Err(e) => {
                if let Err(release) = self.store.release(key, &lease).await {
                    telemetry::store_error(self.key.namespace_cow());
                    tracing::warn!(
                        error = %release,
                        "releasing the claim after a failed body failed; it lapses with its lease"
                    );
                }
                (Label::BodyError, Err(e))
            }
        }
    }

    /// Keeps the claim alive while the body runs: renews every third of the
    /// lease, up to the deadline. Never returns.
    async fn renew(&self, lease: &Lease) -> std::convert::Infallible {
        let mut until = lease.until_ms;
        let every = (self.lease / 3).max(Duration::from_millis(10));
        let mut renewing = true;
        loop {
            tokio::time::sleep(every).await;
            if !renewing {
                continue;
            }
            let next = self.lease_until(self.now_ms());
            if next <= until {
                // The deadline caps the lease: nothing more to renew.
                renewing = false;
                continue;
            }
            match self.store.extend(self.key.storage_key(), lease, next).await {
                Ok(()) => until = next,
                Err(StoreError::LeaseLost) => {
                    tracing::warn!("lease lost while the body runs: another run took the key over");
                    renewing = false;
                }
                Err(e) => {
                    telemetry::store_error(self.key.namespace_cow());
                    tracing::warn!(error = %e, "renewing the lease failed; retrying");
                }
            }
        }
    }

    /// Saves the result. The body's effect has happened, so from here on no
    /// failure may turn into an error for the caller or a re-run: a result too
    /// large (or impossible) to save is saved as "completed, no data", and a
    /// failing `complete` is logged and counted.
    async fn save<T: Serialize>(&self, lease: &Lease, value: &T) {
        let data = match serde_json::to_string(value) {
            Ok(data) => Some(data),
            Err(e) => {
                tracing::warn!(error = %e, "the result cannot be encoded as JSON; saving it as not replayable");
                None
            }
        };
        let data = data.filter(|d| {
            let fits = self
                .store
                .max_data_bytes()
                .is_none_or(|limit| d.len() <= limit);
            if !fits {
                tracing::warn!(
                    bytes = d.len(),
                    "the result is too large for the store; saving it as not replayable"
                );
            }
            fits
        });
        let mut completion = Completion {
            key: self.key.storage_key(),
            lease,
            data: data.as_deref(),
            fingerprint: self.fingerprint.as_ref(),
            expires_at_s: self.expires_at_s(self.now_ms()),
        };
        let mut outcome = self.store.complete(completion.clone()).await;
        if let Err(StoreError::TooLarge { size, limit }) = outcome {
            tracing::warn!(
                size,
                limit,
                "the store refused the result as too large; saving it as not replayable"
            );
            completion.data = None;
            outcome = self.store.complete(completion).await;
        }
        if let Err(e) = outcome {
            telemetry::complete_failure(self.key.namespace_cow());
            tracing::warn!(
                error = %e,
                "saving the result failed; the caller still gets it, and the claim lapses with its lease"
            );
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
