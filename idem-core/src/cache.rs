//! A local cache of completed records in front of any store.

use std::sync::Arc;

use quick_cache::sync::Cache;

use crate::store::{store_by_intercept, Claim, ClaimRequest, Completion, Intercept, Record};
use crate::store::{Status, Store, StoreFuture};

/// Wraps a store with a bounded in-process cache of **completed** records, so
/// a duplicate seen again by the same process is answered with no round trip.
///
/// - Only completed records are cached; in-progress state always comes from
///   the store.
/// - A cached record past its expiry counts as absent and is dropped.
/// - A record is cached only when the fingerprint of the call that saw it
///   matches, so a mismatching payload never pins a record here.
/// - Capacity is bounded (quick_cache's S3-FIFO eviction).
///
/// The cache is per process: a record deleted through another process stays
/// cached here until it expires or is evicted.
///
/// ```
/// use idem_core::{Cached, Idempotent, MemoryStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), idem_core::Error> {
/// let store = Cached::new(MemoryStore::new(), 10_000);
/// let v: u32 = Idempotent::new("docs::cached").store(&store).key("k", &1)
///     .run(|| async { Ok::<_, idem_core::Error>(7) }).await?;
/// assert_eq!(v, 7);
/// assert_eq!(store.cached_len(), 1);
/// # Ok(())
/// # }
/// ```
pub struct Cached<S> {
    inner: S,
    cache: Cache<String, Arc<Record>>,
}

impl<S> Cached<S> {
    /// Caches up to `capacity` completed records in front of `inner`.
    ///
    /// ```
    /// use idem_core::{Cached, MemoryStore, Store};
    /// use std::sync::Arc;
    ///
    /// let store: Arc<dyn Store> = Arc::new(Cached::new(MemoryStore::new(), 10_000));
    /// # let _ = store;
    /// ```
    pub fn new(inner: S, capacity: usize) -> Self {
        Cached {
            inner,
            cache: Cache::new(capacity.max(1)),
        }
    }

    /// The wrapped store.
    ///
    /// ```
    /// let store = idem_core::Cached::new(idem_core::MemoryStore::new(), 100);
    /// assert!(store.inner().is_empty());
    /// ```
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Number of records cached (completed ones only).
    ///
    /// ```
    /// use idem_core::{Cached, Idempotent, MemoryStore};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), idem_core::Error> {
    /// let store = Cached::new(MemoryStore::new(), 100);
    /// assert_eq!(store.cached_len(), 0);
    /// Idempotent::new("docs::cached_len").store(&store).key("id", "a")
    ///     .run(|| async { Ok::<_, idem_core::Error>(1) }).await?;
    /// // A duplicate reads the record from the store and keeps it here.
    /// Idempotent::new("docs::cached_len").store(&store).key("id", "a")
    ///     .run(|| async { Ok::<_, idem_core::Error>(1) }).await?;
    /// assert_eq!(store.cached_len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn cached_len(&self) -> usize {
        self.cache.len()
    }

    fn live(&self, key: &str, now_ms: u64) -> Option<Arc<Record>> {
        let record = self.cache.get(key)?;
        if record.is_expired(now_ms) {
            self.cache.remove(key);
            return None;
        }
        Some(record)
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for Cached<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("inner", &self.inner)
            .field("cached", &self.cache.len())
            .finish()
    }
}

impl<S: Store> Intercept for Cached<S> {
    fn inner(&self) -> &dyn Store {
        &self.inner
    }

    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> StoreFuture<'a, Claim> {
        Box::pin(async move {
            let fingerprint = request.fingerprint;
            if let Some(record) = self.live(request.key, request.now_ms) {
                if record.fingerprint.as_ref() == fingerprint {
                    return Ok(Claim::Existing(record));
                }
                // A different payload: let the store answer (and the engine
                // report the mismatch), without touching the cached record.
            }
            let key = request.key;
            let claim = self.inner.claim(request).await?;
            if let Claim::Existing(record) = &claim {
                if record.status == Status::Completed && record.fingerprint.as_ref() == fingerprint
                {
                    self.cache.insert(key.to_owned(), Arc::clone(record));
                }
            }
            Ok(claim)
        })
    }

    fn complete<'a>(&'a self, completion: Completion<'a>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.inner.complete(completion.clone()).await?;
            self.cache.insert(
                completion.key.to_owned(),
                Arc::new(Record {
                    key: completion.key.to_owned(),
                    status: Status::Completed,
                    expires_at_s: completion.expires_at_s,
                    lease: Some(completion.lease.clone()),
                    fingerprint: completion.fingerprint.cloned(),
                    data: completion.data.map(str::to_owned),
                }),
            );
            Ok(())
        })
    }

    fn get<'a>(&'a self, key: &'a str, now_ms: u64) -> StoreFuture<'a, Option<Record>> {
        if let Some(record) = self.live(key, now_ms) {
            return Box::pin(async move { Ok(Some((*record).clone())) });
        }
        self.inner.get(key, now_ms)
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        self.cache.remove(key);
        self.inner.delete(key)
    }
}

store_by_intercept! {
    impl<S: Store> for Cached<S>, as this => this;
}
