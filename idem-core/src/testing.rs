//! Testing support (feature `testing`): the store conformance suite, a manual
//! clock, a call-counting store, a fault-injecting store, and [`Intercept`]
//! for writing wrappers of your own.
//!
//! # Running the conformance suite on your own store
//!
//! ```
//! use std::sync::Arc;
//! use idem_core::{testing, MemoryStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // In your crate: `#[tokio::test] async fn conforms() { … }` with your store.
//! let report = testing::conformance(Arc::new(MemoryStore::new())).await;
//! assert!(report.checks > 40);
//! # }
//! ```
//!
//! The suite panics with a message naming the broken rule, like `assert!`.
//! It uses keys under a fresh random prefix, so it can run against a shared
//! table, and times near the real clock (a backend's own TTL sweeper, if it
//! has one, will not interfere).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::engine::{Clock, SystemClock};
use crate::key::Fingerprint;
use crate::store::{Claim, ClaimRequest, Completion, Lease, LeaseToken, Record, Status};
use crate::store::{Store, StoreError, StoreFuture};

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

/// What the conformance suite checked.
///
/// ```
/// use idem_core::{testing::conformance, MemoryStore};
/// use std::sync::Arc;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let report = conformance(Arc::new(MemoryStore::new())).await;
/// assert!(report.checks > 40);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConformanceReport {
    /// Number of assertions that held.
    pub checks: usize,
}

struct Suite {
    store: Arc<dyn Store>,
    prefix: String,
    now: u64,
    checks: usize,
}

macro_rules! check {
    ($suite:expr, $cond:expr, $($msg:tt)+) => {{
        $suite.checks += 1;
        assert!($cond, "store conformance: {}", format!($($msg)+));
    }};
}

impl Suite {
    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn request<'a>(&self, key: &'a str, now: u64, lease_ms: u64) -> ClaimRequest<'a> {
        ClaimRequest {
            key,
            now_ms: now,
            token: LeaseToken::new(),
            lease_until_ms: now + lease_ms,
            expires_at_s: (now + 3_600_000) / 1000,
            fingerprint: None,
        }
    }

    async fn acquire(&mut self, key: &str, now: u64, lease_ms: u64) -> Lease {
        let request = self.request(key, now, lease_ms);
        let request_token = request.token;
        match self.store.claim(request).await {
            Ok(Claim::Acquired(lease)) => {
                check!(
                    self,
                    lease.until_ms == now + lease_ms && lease.is_held_by(request_token),
                    "claim must install a lease with the request's token, ending when requested; got {lease:?}"
                );
                lease
            }
            other => panic!(
                "store conformance: claim of a free key `{key}` must be acquired, got {other:?}"
            ),
        }
    }

    async fn existing(&mut self, key: &str, now: u64) -> Arc<Record> {
        match self.store.claim(self.request(key, now, 60_000)).await {
            Ok(Claim::Existing(record)) => record,
            other => panic!("store conformance: claim of a held key `{key}` must return the record, got {other:?}"),
        }
    }

    async fn complete(
        &self,
        key: &str,
        lease: &Lease,
        data: Option<&str>,
        expires_at_s: u64,
    ) -> Result<(), StoreError> {
        self.complete_with(key, lease, data, None, expires_at_s).await
    }

    async fn complete_with(
        &self,
        key: &str,
        lease: &Lease,
        data: Option<&str>,
        fingerprint: Option<&Fingerprint>,
        expires_at_s: u64,
    ) -> Result<(), StoreError> {
        self.store
            .complete(Completion {
                key,
                lease,
                data,
                fingerprint,
                expires_at_s,
            })
            .await
    }

    fn lost(&mut self, result: Result<(), StoreError>, what: &str) {
        check!(
            self,
            matches!(result, Err(StoreError::LeaseLost)),
            "{what} must fail with StoreError::LeaseLost, got {result:?}"
        );
    }

    async fn claim_complete_replay(&mut self) {
        let key = self.key("basic");
        let now = self.now;
        let fp = Fingerprint::from_stored("f".repeat(64));
        let mut request = self.request(&key, now, 60_000);
        request.fingerprint = Some(&fp);
        let lease = match self.store.claim(request).await {
            Ok(Claim::Acquired(lease)) => lease,
            other => panic!("store conformance: first claim must be acquired, got {other:?}"),
        };
        let held = self.existing(&key, now + 1).await;
        check!(
            self,
            held.status == Status::InProgress,
            "a held key is in progress, got {:?}",
            held.status
        );
        check!(
            self,
            held.lease.as_ref().map(|l| l.token) == Some(lease.token),
            "the record carries the lease token"
        );
        check!(
            self,
            held.lease.as_ref().map(|l| l.until_ms) == Some(now + 60_000),
            "the record carries the lease end"
        );
        check!(
            self,
            held.fingerprint.as_ref() == Some(&fp),
            "the claim saves the fingerprint"
        );
        check!(self, held.key == key, "the record names its key");
        let got = self.store.get(&key, now + 1).await.expect("get");
        check!(
            self,
            got.as_ref().map(|r| r.status) == Some(Status::InProgress),
            "get sees the claim"
        );

        let stranger = Lease::new(LeaseToken::new(), now + 60_000);
        let r = self
            .complete(&key, &stranger, Some("1"), now / 1000 + 100)
            .await;
        self.lost(r, "complete with another token");
        let data = r#"{"receipt":"r-1","note":"ünïcödé ✓","n":[1,2,3]}"#;
        let expires_at_s = now / 1000 + 7200;
        self.complete_with(&key, &lease, Some(data), Some(&fp), expires_at_s)
            .await
            .expect("complete with the lease");
        let done = self.existing(&key, now + 2).await;
        check!(
            self,
            done.status == Status::Completed,
            "completed after complete, got {:?}",
            done.status
        );
        check!(
            self,
            done.data.as_deref() == Some(data),
            "the data comes back byte for byte"
        );
        check!(
            self,
            done.expires_at_s == expires_at_s,
            "complete sets the new expiry"
        );
        check!(
            self,
            done.fingerprint.as_ref() == Some(&fp),
            "the fingerprint survives completion"
        );
        let r = self.complete(&key, &stranger, Some("again"), expires_at_s).await;
        self.lost(r, "complete of a completed record with another token");
        let r = self.store.release(&key, &lease).await;
        self.lost(r, "release of a completed record");
        let got = self.store.get(&key, now + 3).await.expect("get");
        check!(
            self,
            got.and_then(|r| r.data).as_deref() == Some(data),
            "a lost complete or release leaves the record alone"
        );
    }

    async fn expiry(&mut self) {
        let key = self.key("expiry");
        let now = self.now;
        let lease = self.acquire(&key, now, 60_000).await;
        let expires_at_s = now / 1000 + 10;
        self.complete(&key, &lease, Some("\"old\""), expires_at_s)
            .await
            .expect("complete");
        let later = expires_at_s * 1000 + 1;
        let got = self.store.get(&key, later).await.expect("get");
        check!(
            self,
            got.is_none(),
            "get must not return an expired record, got {got:?}"
        );
        let fresh = self.acquire(&key, later, 60_000).await;
        check!(
            self,
            fresh.token != lease.token,
            "a claim after expiry gets a new lease"
        );
        // An expired in-progress record is free too, whatever its lease says.
        let key = self.key("expiry-in-progress");
        let mut request = self.request(&key, now, 10 * 3_600_000);
        request.expires_at_s = now / 1000 + 5;
        assert!(matches!(
            self.store.claim(request).await,
            Ok(Claim::Acquired(_))
        ));
        self.acquire(&key, (now / 1000 + 6) * 1000, 60_000).await;
    }

    async fn release_and_extend(&mut self) {
        let key = self.key("release");
        let now = self.now;
        let lease = self.acquire(&key, now, 60_000).await;
        let stranger = Lease::new(LeaseToken::new(), now + 60_000);
        let r = self.store.release(&key, &stranger).await;
        self.lost(r, "release with another token");
        let r = self.store.extend(&key, &stranger, now + 120_000).await;
        self.lost(r, "extend with another token");
        self.store
            .extend(&key, &lease, now + 120_000)
            .await
            .expect("extend with the lease");
        let got = self
            .store
            .get(&key, now + 1)
            .await
            .expect("get")
            .expect("record");
        check!(
            self,
            got.lease.map(|l| l.until_ms) == Some(now + 120_000),
            "extend moves the lease end"
        );
        // Still held after the original lease end, thanks to the extension.
        let held = self.existing(&key, now + 90_000).await;
        check!(
            self,
            held.status == Status::InProgress,
            "an extended lease still holds the key"
        );
        self.store
            .release(&key, &lease)
            .await
            .expect("release with the lease");
        let got = self.store.get(&key, now + 2).await.expect("get");
        check!(
            self,
            got.is_none(),
            "release deletes the claim, got {got:?}"
        );
        let r = self.store.release(&key, &lease).await;
        check!(
            self,
            r.is_ok(),
            "a retried release (the claim is already gone) must succeed, got {r:?}"
        );
        self.acquire(&key, now + 3, 60_000).await;
        let r = self.store.release(&key, &lease).await;
        self.lost(r, "a release with the old token after another claim");
    }

    async fn takeover_and_fencing(&mut self) {
        let key = self.key("takeover");
        let now = self.now;
        let slow = self.acquire(&key, now, 1_000).await;
        let held = self.existing(&key, now + 999).await;
        check!(
            self,
            held.status == Status::InProgress,
            "a live lease holds the key until its end"
        );
        let fast = self.acquire(&key, now + 1_000, 60_000).await;
        check!(
            self,
            fast.token != slow.token,
            "a takeover gets a new token"
        );
        let r = self
            .complete(&key, &slow, Some("\"slow\""), now / 1000 + 100)
            .await;
        self.lost(r, "a late complete of a taken-over claim");
        let r = self.store.extend(&key, &slow, now + 90_000).await;
        self.lost(r, "a late extend of a taken-over claim");
        let r = self.store.release(&key, &slow).await;
        self.lost(r, "a late release of a taken-over claim");
        self.complete(&key, &fast, Some("\"fast\""), now / 1000 + 100)
            .await
            .expect("complete of the new claim");
        let got = self
            .store
            .get(&key, now + 1_001)
            .await
            .expect("get")
            .expect("record");
        check!(
            self,
            got.data.as_deref() == Some("\"fast\""),
            "the newer run's result stands"
        );
        // A completed record is not taken over when a lease would have lapsed.
        let done = self.existing(&key, now + 61_000).await;
        check!(
            self,
            done.status == Status::Completed,
            "a completed record has no lease to lapse"
        );
    }

    async fn no_data_and_delete(&mut self) {
        let key = self.key("no-data");
        let now = self.now;
        let lease = self.acquire(&key, now, 60_000).await;
        self.complete(&key, &lease, None, now / 1000 + 100)
            .await
            .expect("complete without data");
        let done = self.existing(&key, now + 1).await;
        check!(
            self,
            done.status == Status::Completed && done.data.is_none(),
            "completed without data stays so, got {done:?}"
        );
        self.store.delete(&key).await.expect("delete");
        let got = self.store.get(&key, now + 2).await.expect("get");
        check!(self, got.is_none(), "delete removes the record");
        self.store
            .delete(&key)
            .await
            .expect("delete of an absent key is fine");
        let lease = self.acquire(&key, now + 3, 60_000).await;
        self.store.delete(&key).await.expect("delete of a claim");
        let r = self
            .complete(&key, &lease, Some("1"), now / 1000 + 100)
            .await;
        self.lost(r, "complete after the claim was deleted");
        let got = self
            .store
            .get(&self.key("never-written"), now)
            .await
            .expect("get");
        check!(self, got.is_none(), "get of a never-written key is None");
    }

    async fn sizes(&mut self) {
        let key = self.key("large");
        let now = self.now;
        let size = self
            .store
            .max_data_bytes()
            .unwrap_or(256 * 1024)
            .min(256 * 1024);
        let data = format!("\"{}\"", "x".repeat(size.saturating_sub(2)));
        let lease = self.acquire(&key, now, 60_000).await;
        self.complete(&key, &lease, Some(&data), now / 1000 + 100)
            .await
            .expect("a result of max_data_bytes must fit");
        let got = self
            .store
            .get(&key, now + 1)
            .await
            .expect("get")
            .expect("record");
        check!(
            self,
            got.data.as_deref().map(str::len) == Some(data.len()),
            "a large result comes back whole"
        );
    }

    async fn concurrent_claims(&mut self) {
        let key = self.key("race");
        let now = self.now;
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..64 {
            let store = Arc::clone(&self.store);
            let key = key.clone();
            set.spawn(async move {
                let request = ClaimRequest {
                    key: &key,
                    now_ms: now,
                    token: LeaseToken::new(),
                    lease_until_ms: now + 60_000,
                    expires_at_s: now / 1000 + 100,
                    fingerprint: None,
                };
                store.claim(request).await
            });
        }
        let mut acquired = 0;
        let mut existing = 0;
        while let Some(joined) = set.join_next().await {
            match joined.expect("claim task") {
                Ok(Claim::Acquired(_)) => acquired += 1,
                Ok(Claim::Existing(r)) => {
                    check!(
                        self,
                        r.status == Status::InProgress,
                        "losers see the winner's claim"
                    );
                    existing += 1;
                }
                Err(e) => panic!("store conformance: a concurrent claim failed: {e}"),
            }
        }
        check!(
            self,
            acquired == 1 && existing == 63,
            "64 concurrent claimers: exactly one wins, got {acquired} winners"
        );
    }
}

/// Runs the whole store contract against `store` and panics on the first
/// broken rule: claim/complete/release/extend/get/delete semantics, expiry,
/// takeover after a lapsed lease, fencing of late writes, results up to
/// `max_data_bytes` (or 256 KiB), and 64 concurrent claimers of one key with
/// exactly one winner.
///
/// Run it from a test of your own store (here a `Cached` one):
///
/// ```
/// use idem_core::{testing::conformance, Cached, MemoryStore};
/// use std::sync::Arc;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let report = conformance(Arc::new(Cached::new(MemoryStore::new(), 1_000))).await;
/// println!("{} checks held", report.checks);
/// # }
/// ```
pub async fn conformance(store: Arc<dyn Store>) -> ConformanceReport {
    let mut suite = Suite {
        store,
        prefix: format!("idem-conformance::{}#", LeaseToken::new()),
        now: SystemClock.now_ms(),
        checks: 0,
    };
    suite.claim_complete_replay().await;
    suite.expiry().await;
    suite.release_and_extend().await;
    suite.takeover_and_fencing().await;
    suite.no_data_and_delete().await;
    suite.sizes().await;
    suite.concurrent_claims().await;
    ConformanceReport {
        checks: suite.checks,
    }
}

/// A store wrapper for tests that intercepts some methods and forwards the
/// rest: implement [`Intercept::inner`], override what the test needs (fail a
/// `complete`, pause after a `claim`, record what was applied), and use
/// [`Intercepted`] as the store.
///
/// ```
/// use idem_core::testing::{Intercept, Intercepted};
/// use idem_core::{MemoryStore, Store, StoreError};
/// use idem_core::store::{Completion, StoreFuture, LeaseToken};
///
/// /// Every `complete` fails; everything else reaches the memory store.
/// struct CompleteFails(MemoryStore);
///
/// impl Intercept for CompleteFails {
///     fn inner(&self) -> &dyn Store {
///         &self.0
///     }
///     fn complete<'a>(&'a self, _: Completion<'a>) -> StoreFuture<'a, ()> {
///         Box::pin(async { Err(StoreError::LeaseLost) })
///     }
/// }
///
/// let store = Intercepted(CompleteFails(MemoryStore::new()));
/// # let _: &dyn Store = &store;
/// ```
pub trait Intercept: Send + Sync {
    /// The store every method not overridden goes to.
    fn inner(&self) -> &dyn Store;

    /// See [`Store::claim`].
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> StoreFuture<'a, Claim> {
        self.inner().claim(request)
    }
    /// See [`Store::complete`].
    fn complete<'a>(&'a self, completion: Completion<'a>) -> StoreFuture<'a, ()> {
        self.inner().complete(completion)
    }
    /// See [`Store::release`].
    fn release<'a>(&'a self, key: &'a str, lease: &'a Lease) -> StoreFuture<'a, ()> {
        self.inner().release(key, lease)
    }
    /// See [`Store::extend`].
    fn extend<'a>(&'a self, key: &'a str, lease: &'a Lease, until_ms: u64) -> StoreFuture<'a, ()> {
        self.inner().extend(key, lease, until_ms)
    }
    /// See [`Store::get`].
    fn get<'a>(&'a self, key: &'a str, now_ms: u64) -> StoreFuture<'a, Option<Record>> {
        self.inner().get(key, now_ms)
    }
    /// See [`Store::delete`].
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        self.inner().delete(key)
    }
    /// See [`Store::max_data_bytes`].
    fn max_data_bytes(&self) -> Option<usize> {
        self.inner().max_data_bytes()
    }
}

/// The [`Store`] made of an [`Intercept`]. A newtype rather than a blanket
/// impl, which would collide with `Store` for `&S` and `Box<S>`; it derefs to
/// the wrapper, so a test reads what its wrapper recorded directly.
///
/// ```
/// use idem_core::testing::{Intercept, Intercepted};
/// use idem_core::{Error, Idempotent, MemoryStore, Store};
/// use idem_core::store::{Completion, StoreFuture, LeaseToken};
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// /// Counts the results saved, and saves them.
/// #[derive(Default)]
/// struct Saves(MemoryStore, AtomicUsize);
///
/// impl Intercept for Saves {
///     fn inner(&self) -> &dyn Store {
///         &self.0
///     }
///     fn complete<'a>(&'a self, completion: Completion<'a>) -> StoreFuture<'a, ()> {
///         self.1.fetch_add(1, Ordering::SeqCst);
///         self.0.complete(completion)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Error> {
/// let store = Intercepted(Saves::default());
/// Idempotent::new("docs::saves").store(&store).key("id", "a")
///     .run(|| async { Ok::<_, Error>(1) }).await?;
/// assert_eq!(store.1.load(Ordering::SeqCst), 1); // through `Deref`
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
pub struct Intercepted<I>(pub I);

impl<I> std::ops::Deref for Intercepted<I> {
    type Target = I;
    fn deref(&self) -> &I {
        &self.0
    }
}

impl<I: Intercept> Store for Intercepted<I> {
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> StoreFuture<'a, Claim> {
        self.0.claim(request)
    }
    fn complete<'a>(&'a self, completion: Completion<'a>) -> StoreFuture<'a, ()> {
        self.0.complete(completion)
    }
    fn release<'a>(&'a self, key: &'a str, lease: &'a Lease) -> StoreFuture<'a, ()> {
        self.0.release(key, lease)
    }
    fn extend<'a>(&'a self, key: &'a str, lease: &'a Lease, until_ms: u64) -> StoreFuture<'a, ()> {
        self.0.extend(key, lease, until_ms)
    }
    fn get<'a>(&'a self, key: &'a str, now_ms: u64) -> StoreFuture<'a, Option<Record>> {
        self.0.get(key, now_ms)
    }
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        self.0.delete(key)
    }
    fn max_data_bytes(&self) -> Option<usize> {
        self.0.max_data_bytes()
    }
}

/// Counts the calls made to a store, per method.
///
/// ```
/// use idem_core::{testing::Counting, Idempotent, MemoryStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), idem_core::Error> {
/// let store = Counting::new(MemoryStore::new());
/// for _ in 0..2 {
///     let _: u8 = Idempotent::new("docs::count").store(&store).key("k", &1)
///         .run(|| async { Ok::<_, idem_core::Error>(1) }).await?;
/// }
/// assert_eq!(store.counts().claim, 2);
/// assert_eq!(store.counts().complete, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
pub struct Counting<S> {
    inner: S,
    claim: AtomicUsize,
    complete: AtomicUsize,
    release: AtomicUsize,
    extend: AtomicUsize,
    get: AtomicUsize,
    delete: AtomicUsize,
}

/// Calls per method seen by [`Counting`].
///
/// ```
/// use idem_core::testing::Counts;
/// let counts = Counts { claim: 2, complete: 1, ..Counts::default() };
/// assert_eq!(counts.total(), 3);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// `claim` calls.
    pub claim: usize,
    /// `complete` calls.
    pub complete: usize,
    /// `release` calls.
    pub release: usize,
    /// `extend` calls.
    pub extend: usize,
    /// `get` calls.
    pub get: usize,
    /// `delete` calls.
    pub delete: usize,
}

impl Counts {
    /// All calls.
    ///
    /// ```
    /// let counts = idem_core::testing::Counts { get: 4, delete: 1, ..Default::default() };
    /// assert_eq!(counts.total(), 5);
    /// ```
    pub fn total(&self) -> usize {
        self.claim + self.complete + self.release + self.extend + self.get + self.delete
    }
}

impl<S> Counting<S> {
    /// Counts calls to `inner`.
    ///
    /// ```
    /// let store = idem_core::testing::Counting::new(idem_core::MemoryStore::new());
    /// assert_eq!(store.counts().total(), 0);
    /// ```
    pub fn new(inner: S) -> Self {
        Counting {
            inner,
            claim: AtomicUsize::new(0),
            complete: AtomicUsize::new(0),
            release: AtomicUsize::new(0),
            extend: AtomicUsize::new(0),
            get: AtomicUsize::new(0),
            delete: AtomicUsize::new(0),
        }
    }

    /// The counts so far; [`Counting`] shows them after two calls.
    ///
    /// ```
    /// use idem_core::{testing::Counting, MemoryStore, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), idem_core::StoreError> {
    /// let store = Counting::new(MemoryStore::new());
    /// store.get("docs::counts#00", 0).await?;
    /// assert_eq!(store.counts().get, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn counts(&self) -> Counts {
        let n = |c: &AtomicUsize| c.load(Ordering::SeqCst);
        Counts {
            claim: n(&self.claim),
            complete: n(&self.complete),
            release: n(&self.release),
            extend: n(&self.extend),
            get: n(&self.get),
            delete: n(&self.delete),
        }
    }

    /// The wrapped store.
    ///
    /// ```
    /// let store = idem_core::testing::Counting::new(idem_core::MemoryStore::new());
    /// assert!(store.inner().is_empty());
    /// ```
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

fn bump(counter: &AtomicUsize) {
    counter.fetch_add(1, Ordering::SeqCst);
}

impl<S: Store> Store for Counting<S> {
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> StoreFuture<'a, Claim> {
        bump(&self.claim);
        self.inner.claim(request)
    }
    fn complete<'a>(&'a self, completion: Completion<'a>) -> StoreFuture<'a, ()> {
        bump(&self.complete);
        self.inner.complete(completion)
    }
    fn release<'a>(&'a self, key: &'a str, lease: &'a Lease) -> StoreFuture<'a, ()> {
        bump(&self.release);
        self.inner.release(key, lease)
    }
    fn extend<'a>(&'a self, key: &'a str, lease: &'a Lease, until_ms: u64) -> StoreFuture<'a, ()> {
        bump(&self.extend);
        self.inner.extend(key, lease, until_ms)
    }
    fn get<'a>(&'a self, key: &'a str, now_ms: u64) -> StoreFuture<'a, Option<Record>> {
        bump(&self.get);
        self.inner.get(key, now_ms)
    }
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        bump(&self.delete);
        self.inner.delete(key)
    }
    fn max_data_bytes(&self) -> Option<usize> {
        self.inner.max_data_bytes()
    }
}

/// Which faults [`Faulty`] injects, each with a probability in `0.0..=1.0`.
///
/// ```
/// use idem_core::testing::Faults;
/// use std::time::Duration;
///
/// // One call in ten loses its response after the write; one in five waits up to 50 ms.
/// let faults = Faults { fail_after: 0.1, delay: 0.2, max_delay: Duration::from_millis(50), ..Faults::default() };
/// # let _ = faults;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Fail before the operation reaches the store (nothing happens).
    pub fail_before: f64,
    /// Apply the operation, then fail (the response was lost: the write
    /// happened but the caller does not know).
    pub fail_after: f64,
    /// Delay the operation by up to `max_delay` first.
    pub delay: f64,
    /// Longest injected delay.
    pub max_delay: Duration,
}

/// Wraps a store and injects faults into `claim`, `complete`, `release` and
/// `extend` with seeded probabilities, so a failing run can be replayed.
/// Injected errors are [`StoreError::Backend`] with operation `"injected <op>"`.
///
/// ```
/// use idem_core::testing::{Faulty, Faults};
/// let store = Faulty::new(idem_core::MemoryStore::new(), 42, Faults { fail_before: 0.1, ..Faults::default() });
/// assert_eq!(store.injected(), 0);
/// ```
#[derive(Debug)]
pub struct Faulty<S> {
    inner: S,
    faults: Faults,
    rng: Mutex<u64>,
    injected: AtomicUsize,
}

enum Fault {
    None,
    Before,
    After,
}

impl<S> Faulty<S> {
    /// Injects `faults` into `inner`, drawing from a generator seeded with `seed`.
    ///
    /// ```
    /// use idem_core::testing::{Faulty, Faults};
    /// use idem_core::{Error, Idempotent, MemoryStore};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // Every operation fails before it reaches the store.
    /// let store = Faulty::new(MemoryStore::new(), 7, Faults { fail_before: 1.0, ..Faults::default() });
    /// let got = Idempotent::new("docs::faulty").store(&store).key("id", "a")
    ///     .run(|| async { Ok::<_, Error>(1) }).await;
    /// assert!(matches!(got, Err(Error::Store { .. })));
    /// assert_eq!(store.injected(), 1);
    /// # }
    /// ```
    pub fn new(inner: S, seed: u64, faults: Faults) -> Self {
        Faulty {
            inner,
            faults,
            rng: Mutex::new(seed.max(1)),
            injected: AtomicUsize::new(0),
        }
    }

    /// How many faults (failures and delays) were injected so far;
    /// [`Faulty::new`] shows it counting.
    ///
    /// ```
    /// use idem_core::testing::{Faulty, Faults};
    /// let store = Faulty::new(idem_core::MemoryStore::new(), 1, Faults::default());
    /// assert_eq!(store.injected(), 0);
    /// ```
    pub fn injected(&self) -> usize {
        self.injected.load(Ordering::SeqCst)
    }

    /// The wrapped store.
    ///
    /// ```
    /// use idem_core::testing::{Faulty, Faults};
    /// let store = Faulty::new(idem_core::MemoryStore::new(), 1, Faults::default());
    /// assert!(store.inner().is_empty());
    /// ```
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// A uniform draw in `[0, 1)` from xorshift64*: seeded and repeatable,
    /// which is all fault injection needs from a generator.
    fn draw(&self) -> f64 {
        let mut state = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let mut x = *state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *state = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn plan(&self) -> (Option<Duration>, Fault) {
        let delay =
            (self.draw() < self.faults.delay).then(|| self.faults.max_delay.mul_f64(self.draw()));
        let roll = self.draw();
        let fault = if roll < self.faults.fail_before {
            Fault::Before
        } else if roll < self.faults.fail_before + self.faults.fail_after {
            Fault::After
        } else {
            Fault::None
        };
        if delay.is_some() || !matches!(fault, Fault::None) {
            self.injected.fetch_add(1, Ordering::SeqCst);
        }
        (delay, fault)
    }

    fn inject<'a, T: Send + 'a>(
        &'a self,
        op: &'static str,
        call: StoreFuture<'a, T>,
    ) -> StoreFuture<'a, T> {
        let (delay, fault) = self.plan();
        Box::pin(async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            let injected = || StoreError::backend(format!("injected {op}"), "injected fault");
            match fault {
                Fault::Before => Err(injected()),
                Fault::After => {
                    let _ = call.await;
                    Err(injected())
                }
                Fault::None => call.await,
            }
        })
    }
}

impl<S: Store> Store for Faulty<S> {
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> StoreFuture<'a, Claim> {
        self.inject("claim", self.inner.claim(request))
    }
    fn complete<'a>(&'a self, completion: Completion<'a>) -> StoreFuture<'a, ()> {
        self.inject("complete", self.inner.complete(completion))
    }
    fn release<'a>(&'a self, key: &'a str, lease: &'a Lease) -> StoreFuture<'a, ()> {
        self.inject("release", self.inner.release(key, lease))
    }
    fn extend<'a>(&'a self, key: &'a str, lease: &'a Lease, until_ms: u64) -> StoreFuture<'a, ()> {
        self.inject("extend", self.inner.extend(key, lease, until_ms))
    }
    fn get<'a>(&'a self, key: &'a str, now_ms: u64) -> StoreFuture<'a, Option<Record>> {
        self.inner.get(key, now_ms)
    }
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        self.inner.delete(key)
    }
    fn max_data_bytes(&self) -> Option<usize> {
        self.inner.max_data_bytes()
    }
}
