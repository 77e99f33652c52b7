//! The [`Idempotent`] builder: one guarded call, configured step by step.

use std::borrow::Cow;
use std::time::Duration;

use serde::Serialize;

use super::policy::{InProgress, OnCancel, OnMissingKey};
use super::{DEFAULT_LEASE, DEFAULT_TTL};
use crate::clock::{Clock, IntoDeadline, SystemClock};
use crate::key::{Fingerprint, FingerprintBuilder, Key, KeyBuilder};
use crate::store::Store;

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
    pub(super) key: KeyBuilder,
    // Boxed: most calls validate nothing, and the builder is moved at every
    // step of the chain.
    pub(super) fingerprint: Option<Box<FingerprintBuilder>>,
    pub(super) ttl: Duration,
    pub(super) lease: Duration,
    pub(super) deadline_ms: Option<u64>,
    pub(super) in_progress: InProgress,
    pub(super) on_missing_key: OnMissingKey,
    pub(super) on_cancel: OnCancel,
    /// The `#[idempotent]` call site, for namespace clash detection.
    pub(super) site: Option<&'static crate::site::Site>,
    pub(super) store: Option<&'a dyn Store>,
    pub(super) clock: &'a dyn Clock,
}

/// The configuration, not the store or clock (trait objects) nor the
/// hashing state.
impl std::fmt::Debug for Idempotent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotent")
            .field("namespace", self.key.namespace())
            .field("ttl", &self.ttl)
            .field("lease", &self.lease)
            .field("deadline_ms", &self.deadline_ms)
            .field("in_progress", &self.in_progress)
            .field("on_missing_key", &self.on_missing_key)
            .field("on_cancel", &self.on_cancel)
            .field("validate", &self.fingerprint.is_some())
            .field("store", &self.store.map(|_| "given").unwrap_or("default"))
            .finish_non_exhaustive()
    }
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
            on_cancel: OnCancel::Release,
            site: None,
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
    /// differs from the first call's gets [`Error::PayloadMismatch`](crate::Error::PayloadMismatch).
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

    /// What a call does when the key is in progress elsewhere: fail with
    /// `Error::InProgress` by default, or wait ([`InProgress`] shows both).
    #[inline]
    pub fn in_progress(mut self, policy: InProgress) -> Self {
        self.in_progress = policy;
        self
    }

    /// What a call does when a key part is missing: fail with
    /// `Error::MissingKey` by default, or run unguarded ([`OnMissingKey`] shows both).
    #[inline]
    pub fn on_missing_key(mut self, policy: OnMissingKey) -> Self {
        self.on_missing_key = policy;
        self
    }

    /// The store, by default the process default ([`set_default_store`](crate::set_default_store));
    /// takes `&S`, `&Arc<S>`, `&Arc<dyn Store>`, `&Box<S>` or `&dyn Store`.
    #[inline]
    pub fn store(mut self, store: &'a dyn Store) -> Self {
        self.store = Some(store);
        self
    }

    /// The clock leases and expiry are judged by, by default [`SystemClock`](crate::SystemClock)
    /// ([`ttl`](Self::ttl) shows a `ManualClock` in use).
    #[inline]
    pub fn clock<C: Clock>(mut self, clock: &'a C) -> Self {
        self.clock = clock;
        self
    }

    /// What happens to the claim when the call's future is dropped while
    /// the body runs (a timeout, a client that went away): released at once
    /// by default, so a retry can run; [`OnCancel::Keep`] for bodies that
    /// hand work to tasks of their own which go on after the call is gone.
    ///
    /// ```
    /// use idem_core::{Error, Idempotent, MemoryStore, OnCancel};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let store = MemoryStore::new();
    /// let slow = |policy| {
    ///     Idempotent::new("docs::on_cancel").store(&store).key("id", "a-1").on_cancel(policy)
    ///         .run(|| async {
    ///             tokio::time::sleep(Duration::from_secs(60)).await;
    ///             Ok::<_, Error>(())
    ///         })
    /// };
    /// // The caller gives up after 10 ms: the claim is released with it.
    /// let gave_up = tokio::time::timeout(Duration::from_millis(10), slow(OnCancel::Release)).await;
    /// assert!(gave_up.is_err());
    /// assert!(store.is_empty());
    /// // Kept: the key stays claimed until its lease lapses.
    /// let _ = tokio::time::timeout(Duration::from_millis(10), slow(OnCancel::Keep)).await;
    /// assert_eq!(store.len(), 1);
    /// # }
    /// ```
    #[inline]
    pub fn on_cancel(mut self, policy: OnCancel) -> Self {
        self.on_cancel = policy;
        self
    }

    /// Names the `#[idempotent]` call site, so that two functions sharing a
    /// namespace in one process fail loudly. Not public API.
    #[doc(hidden)]
    #[inline]
    pub fn site(mut self, site: &'static crate::site::Site) -> Self {
        self.site = Some(site);
        self
    }
}
