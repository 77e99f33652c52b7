//! A store wrapper that counts the calls made to it.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::store::{store_by_intercept, Claim, ClaimRequest, Completion, Intercept, Lease, Record};
use crate::store::{Store, StoreFuture};

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

impl<S: Store> Intercept for Counting<S> {
    fn inner(&self) -> &dyn Store {
        &self.inner
    }

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
}

store_by_intercept! {
    impl<S: Store> for Counting<S>, as this => this;
}
