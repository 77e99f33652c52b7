//! The `Store` trait and what a store implementer needs: records, leases,
//! requests, errors. Users of `#[idempotent]` need only [`Store`] (re-exported
//! at the crate root) to name a store.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

mod error;
mod intercept;
mod record;
mod request;
mod stored;

pub use error::{BoxError, StoreError};
pub(crate) use intercept::store_by_intercept;
pub use intercept::{Intercept, Intercepted};
pub use record::{Lease, LeaseToken, Record, Status};
pub use request::{Claim, ClaimRequest, Completion};
pub use stored::{StoredField, StoredFields};

/// The future a [`Store`] method returns. Boxed so the trait stays
/// dyn-compatible (`Arc<dyn Store>`).
///
/// ```
/// use idem_core::StoreError;
/// use idem_core::store::StoreFuture;
///
/// fn lost<'a>() -> StoreFuture<'a, ()> {
///     Box::pin(async { Err(StoreError::LeaseLost) })
/// }
/// # let _ = lost;
/// ```
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Where idempotency records live.
///
/// Each method is one atomic step on the backend; the engine builds the call
/// flow from them. Times are the caller's clock (`now_ms`), so every instance
/// of a function judges leases against the same kind of clock.
///
/// | method | atomic condition |
/// |---|---|
/// | `claim` | absent, expired, in progress with a lapsed lease — or in progress under the request's own token |
/// | `complete` | in progress under the lease's token (already completed under it: `Ok`, nothing changes) |
/// | `release` | in progress under the lease's token (no record at all: `Ok`) |
/// | `extend` | in progress under the lease's token |
///
/// Anything else another run holds is [`StoreError::LeaseLost`] (fencing).
///
/// # Writes whose outcome is unknown
///
/// A write can be applied and its reply lost (a timeout, a reset, a 500
/// after the commit); clients and the engine then send the *same* request
/// again. Each method must give the right answer to that retry, which is why
/// the rules above recognise the caller's own token: a retried claim finds
/// its own in-progress record and has acquired; a retried `complete` finds
/// the record completed under its lease; a retried `release` finds nothing.
/// A completed record therefore keeps the lease that completed it. The
/// conformance suite (`idem_core::testing::conformance`, feature `testing`)
/// checks every rule, these included, and drives the engine through a store
/// that loses the first reply of every write.
///
/// The trait is dyn-compatible: a process-wide default store is an
/// `Arc<dyn Store>`.
///
/// ```
/// use std::sync::Arc;
/// use idem_core::{MemoryStore, Store};
///
/// let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
/// # let _ = store;
/// ```
pub trait Store: Send + Sync {
    /// Acquires the key, or returns the record that holds it.
    ///
    /// ```
    /// use idem_core::{MemoryStore, Store};
    /// use idem_core::store::{Claim, ClaimRequest, Completion, Status, LeaseToken};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), idem_core::StoreError> {
    /// let store = MemoryStore::new();
    /// let key = "docs::store#00";
    /// let request = ClaimRequest { key, now_ms: 0, token: LeaseToken::new(), lease_until_ms: 60_000, expires_at_s: 3600, fingerprint: None };
    /// assert!(matches!(store.claim(request.clone()).await?, Claim::Acquired(_)));
    /// // Another call (another token) finds the claim…
    /// let other = ClaimRequest { token: LeaseToken::new(), ..request.clone() };
    /// assert!(matches!(store.claim(other).await?, Claim::Existing(r) if r.status == Status::InProgress));
    /// // …while a retry of the same request (its reply lost) has acquired.
    /// assert!(matches!(store.claim(request).await?, Claim::Acquired(_)));
    /// # Ok(())
    /// # }
    /// ```
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> StoreFuture<'a, Claim>;

    /// Saves the result and marks the record completed, if the lease still matches.
    ///
    /// ```
    /// use idem_core::{MemoryStore, Store};
    /// use idem_core::store::{Claim, ClaimRequest, Completion, Status, LeaseToken};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), idem_core::StoreError> {
    /// let store = MemoryStore::new();
    /// let key = "docs::store#00";
    /// let request = ClaimRequest { key, now_ms: 0, token: LeaseToken::new(), lease_until_ms: 60_000, expires_at_s: 3600, fingerprint: None };
    /// let Claim::Acquired(lease) = store.claim(request.clone()).await? else { unreachable!() };
    /// store.complete(Completion { key, lease: &lease, data: Some("\"ok\""), fingerprint: None, expires_at_s: 3600 }).await?;
    /// assert!(matches!(store.claim(request).await?, Claim::Existing(r) if r.status == Status::Completed));
    /// # Ok(())
    /// # }
    /// ```
    fn complete<'a>(&'a self, completion: Completion<'a>) -> StoreFuture<'a, ()>;

    /// Deletes the claim after a failed body, if the lease still matches.
    ///
    /// ```
    /// use idem_core::{MemoryStore, Store};
    /// use idem_core::store::{Claim, ClaimRequest, Completion, Status, LeaseToken};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), idem_core::StoreError> {
    /// let store = MemoryStore::new();
    /// let key = "docs::store#00";
    /// let request = ClaimRequest { key, now_ms: 0, token: LeaseToken::new(), lease_until_ms: 60_000, expires_at_s: 3600, fingerprint: None };
    /// let Claim::Acquired(lease) = store.claim(request).await? else { unreachable!() };
    /// store.release(key, &lease).await?;
    /// assert!(store.get(key, 0).await?.is_none());
    /// # Ok(())
    /// # }
    /// ```
    fn release<'a>(&'a self, key: &'a str, lease: &'a Lease) -> StoreFuture<'a, ()>;

    /// Moves the lease's end to `until_ms`, if the lease still matches.
    ///
    /// ```
    /// use idem_core::{MemoryStore, Store};
    /// use idem_core::store::{Claim, ClaimRequest, Completion, Status, LeaseToken};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), idem_core::StoreError> {
    /// let store = MemoryStore::new();
    /// let key = "docs::store#00";
    /// let request = ClaimRequest { key, now_ms: 0, token: LeaseToken::new(), lease_until_ms: 60_000, expires_at_s: 3600, fingerprint: None };
    /// let Claim::Acquired(lease) = store.claim(request).await? else { unreachable!() };
    /// store.extend(key, &lease, 120_000).await?;
    /// let held = store.get(key, 0).await?.and_then(|r| r.lease);
    /// assert_eq!(held.map(|l| l.until_ms), Some(120_000));
    /// # Ok(())
    /// # }
    /// ```
    fn extend<'a>(&'a self, key: &'a str, lease: &'a Lease, until_ms: u64) -> StoreFuture<'a, ()>;

    /// Reads a record; an expired one (at `now_ms`) is `None`.
    ///
    /// ```
    /// use idem_core::{MemoryStore, Store};
    /// use idem_core::store::{Claim, ClaimRequest, Completion, Status, LeaseToken};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), idem_core::StoreError> {
    /// let store = MemoryStore::new();
    /// let key = "docs::store#00";
    /// let request = ClaimRequest { key, now_ms: 0, token: LeaseToken::new(), lease_until_ms: 60_000, expires_at_s: 3600, fingerprint: None };
    /// store.claim(request).await?;
    /// assert!(store.get(key, 3_599_999).await?.is_some());
    /// assert!(store.get(key, 3_600_000).await?.is_none()); // expires_at_s is in seconds
    /// # Ok(())
    /// # }
    /// ```
    fn get<'a>(&'a self, key: &'a str, now_ms: u64) -> StoreFuture<'a, Option<Record>>;

    /// Deletes a record unconditionally, to force the next call to run again.
    ///
    /// ```
    /// use idem_core::{MemoryStore, Store};
    /// use idem_core::store::{Claim, ClaimRequest, Completion, Status, LeaseToken};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), idem_core::StoreError> {
    /// let store = MemoryStore::new();
    /// let key = "docs::store#00";
    /// let request = ClaimRequest { key, now_ms: 0, token: LeaseToken::new(), lease_until_ms: 60_000, expires_at_s: 3600, fingerprint: None };
    /// store.claim(request.clone()).await?;
    /// store.delete(key).await?;
    /// assert!(matches!(store.claim(request).await?, Claim::Acquired(_)));
    /// # Ok(())
    /// # }
    /// ```
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()>;

    /// A handle on this store that outlives the engine's borrow of it, for
    /// work handed to the runtime once the call is gone: releasing the
    /// claim of a call whose future was dropped mid-body. Stores that are
    /// cheap handles (a client and its settings) return one; the default,
    /// `None`, keeps such a claim until its lease lapses — unless the
    /// store's `release` finishes without waiting, as MemoryStore's does.
    ///
    /// ```
    /// use idem_core::{MemoryStore, Store};
    /// assert!(MemoryStore::new().detach().is_none()); // releases on the spot instead
    /// ```
    fn detach(&self) -> Option<Arc<dyn Store>> {
        None
    }

    /// The largest result (JSON bytes) one record can hold, if the store has a limit.
    ///
    /// ```
    /// use idem_core::{MemoryStore, Store};
    /// assert_eq!(MemoryStore::new().max_data_bytes(), None);
    /// assert_eq!(MemoryStore::new().with_max_data_bytes(1024).max_data_bytes(), Some(1024));
    /// ```
    fn max_data_bytes(&self) -> Option<usize> {
        None
    }
}

macro_rules! forward_store {
    ($($ty:ty),*) => {$(
        impl<S: Store + ?Sized> Store for $ty {
            fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> StoreFuture<'a, Claim> {
                (**self).claim(request)
            }
            fn complete<'a>(&'a self, completion: Completion<'a>) -> StoreFuture<'a, ()> {
                (**self).complete(completion)
            }
            fn release<'a>(&'a self, key: &'a str, lease: &'a Lease) -> StoreFuture<'a, ()> {
                (**self).release(key, lease)
            }
            fn extend<'a>(
                &'a self,
                key: &'a str,
                lease: &'a Lease,
                until_ms: u64,
            ) -> StoreFuture<'a, ()> {
                (**self).extend(key, lease, until_ms)
            }
            fn get<'a>(&'a self, key: &'a str, now_ms: u64) -> StoreFuture<'a, Option<Record>> {
                (**self).get(key, now_ms)
            }
            fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
                (**self).delete(key)
            }
            fn detach(&self) -> Option<Arc<dyn Store>> {
                (**self).detach()
            }
            fn max_data_bytes(&self) -> Option<usize> {
                (**self).max_data_bytes()
            }
        }
    )*};
}

// `store = …` accepts `&S`, `Arc<S>`, `Box<S>` and `Arc<dyn Store>` alike.
forward_store!(&S, Arc<S>, Box<S>);
