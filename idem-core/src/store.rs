//! The `Store` trait: one atomic step on the backend per method.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::record::{Claim, ClaimRequest, Completion, Lease, Record};

/// The future a [`Store`] method returns. Boxed so the trait stays
/// dyn-compatible (`Arc<dyn Store>`).
///
/// ```
/// use idem_core::{StoreError, StoreFuture};
///
/// fn lost<'a>() -> StoreFuture<'a, ()> {
///     Box::pin(async { Err(StoreError::LeaseLost) })
/// }
/// # let _ = lost;
/// ```
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Type-erased source of a [`StoreError`].
///
/// ```
/// use idem_core::{BoxError, StoreError};
///
/// let source: BoxError = "connection reset".into();
/// let e = StoreError::Backend { operation: "GetItem".into(), message: source.to_string(), source: Some(source) };
/// assert_eq!(e.to_string(), "GetItem failed: connection reset");
/// ```
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a store operation failed.
///
/// ```
/// use idem_core::StoreError;
///
/// let e = StoreError::TooLarge { size: 500_000, limit: 400_000 };
/// assert_eq!(e.to_string(), "the result (500000 bytes) is larger than the store can hold (400000 bytes)");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The lease token no longer matches: the claim lapsed and another run
    /// took the key over (or the record was deleted). Fencing.
    #[error("the lease was lost: another run took the key over")]
    LeaseLost,
    /// The data is larger than the store can hold in one record.
    #[error("the result ({size} bytes) is larger than the store can hold ({limit} bytes)")]
    TooLarge {
        /// Size of what was to be saved, in bytes.
        size: usize,
        /// The store's limit, in bytes.
        limit: usize,
    },
    /// A stored record could not be understood (unknown status, missing or
    /// mistyped attribute).
    #[error("corrupt record: {reason}")]
    Corrupt {
        /// What is wrong with it.
        reason: String,
    },
    /// The backend failed (network, throttling, missing table, …).
    #[error("{operation} failed: {message}")]
    Backend {
        /// The operation, naming the backend's call and table where it has them.
        operation: String,
        /// The backend's error with its context.
        message: String,
        /// The original error.
        #[source]
        source: Option<BoxError>,
    },
}

impl StoreError {
    /// A backend error for `operation` with the error's own text as message.
    ///
    /// ```
    /// use idem_core::StoreError;
    /// let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
    /// let e = StoreError::backend("PutItem on table `idem`", io);
    /// assert_eq!(e.to_string(), "PutItem on table `idem` failed: refused");
    /// ```
    pub fn backend(
        operation: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Backend {
            operation: operation.into(),
            message: source.to_string(),
            source: Some(Box::new(source)),
        }
    }
}

/// Where idempotency records live.
///
/// Each method is one atomic step on the backend; the engine builds the call
/// flow from them. Times are the caller's clock (`now_ms`), so every instance
/// of a function judges leases against the same kind of clock.
///
/// | method | atomic condition |
/// |---|---|
/// | `claim` | absent, expired, or in progress with a lapsed lease |
/// | `complete` / `release` / `extend` | the lease token still matches, else [`StoreError::LeaseLost`] |
///
/// The trait is dyn-compatible: a process-wide default store is an
/// `Arc<dyn Store>`. Run `idem_core::testing::conformance`
/// (feature `testing`) on your own implementation.
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
    /// use idem_core::{Claim, ClaimRequest, Completion, MemoryStore, Status, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), idem_core::StoreError> {
    /// let store = MemoryStore::new();
    /// let key = "docs::store#00";
    /// let request = ClaimRequest { key, now_ms: 0, lease_until_ms: 60_000, expires_at: 3600, fingerprint: None };
    /// assert!(matches!(store.claim(request.clone()).await?, Claim::Acquired(_)));
    /// assert!(matches!(store.claim(request).await?, Claim::Existing(r) if r.status == Status::InProgress));
    /// # Ok(())
    /// # }
    /// ```
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> StoreFuture<'a, Claim>;

    /// Saves the result and marks the record completed, if the lease still matches.
    ///
    /// ```
    /// use idem_core::{Claim, ClaimRequest, Completion, MemoryStore, Status, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), idem_core::StoreError> {
    /// let store = MemoryStore::new();
    /// let key = "docs::store#00";
    /// let request = ClaimRequest { key, now_ms: 0, lease_until_ms: 60_000, expires_at: 3600, fingerprint: None };
    /// let Claim::Acquired(lease) = store.claim(request.clone()).await? else { unreachable!() };
    /// store.complete(Completion { key, lease: &lease, data: Some("\"ok\""), fingerprint: None, expires_at: 3600 }).await?;
    /// assert!(matches!(store.claim(request).await?, Claim::Existing(r) if r.status == Status::Completed));
    /// # Ok(())
    /// # }
    /// ```
    fn complete<'a>(&'a self, completion: Completion<'a>) -> StoreFuture<'a, ()>;

    /// Deletes the claim after a failed body, if the lease still matches.
    ///
    /// ```
    /// use idem_core::{Claim, ClaimRequest, Completion, MemoryStore, Status, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), idem_core::StoreError> {
    /// let store = MemoryStore::new();
    /// let key = "docs::store#00";
    /// let request = ClaimRequest { key, now_ms: 0, lease_until_ms: 60_000, expires_at: 3600, fingerprint: None };
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
    /// use idem_core::{Claim, ClaimRequest, Completion, MemoryStore, Status, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), idem_core::StoreError> {
    /// let store = MemoryStore::new();
    /// let key = "docs::store#00";
    /// let request = ClaimRequest { key, now_ms: 0, lease_until_ms: 60_000, expires_at: 3600, fingerprint: None };
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
    /// use idem_core::{Claim, ClaimRequest, Completion, MemoryStore, Status, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), idem_core::StoreError> {
    /// let store = MemoryStore::new();
    /// let key = "docs::store#00";
    /// let request = ClaimRequest { key, now_ms: 0, lease_until_ms: 60_000, expires_at: 3600, fingerprint: None };
    /// store.claim(request).await?;
    /// assert!(store.get(key, 3_599_999).await?.is_some());
    /// assert!(store.get(key, 3_600_000).await?.is_none()); // expires_at is in seconds
    /// # Ok(())
    /// # }
    /// ```
    fn get<'a>(&'a self, key: &'a str, now_ms: u64) -> StoreFuture<'a, Option<Record>>;

    /// Deletes a record unconditionally, to force the next call to run again.
    ///
    /// ```
    /// use idem_core::{Claim, ClaimRequest, Completion, MemoryStore, Status, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), idem_core::StoreError> {
    /// let store = MemoryStore::new();
    /// let key = "docs::store#00";
    /// let request = ClaimRequest { key, now_ms: 0, lease_until_ms: 60_000, expires_at: 3600, fingerprint: None };
    /// store.claim(request.clone()).await?;
    /// store.delete(key).await?;
    /// assert!(matches!(store.claim(request).await?, Claim::Acquired(_)));
    /// # Ok(())
    /// # }
    /// ```
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()>;

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
            fn max_data_bytes(&self) -> Option<usize> {
                (**self).max_data_bytes()
            }
        }
    )*};
}

// `store = …` accepts `&S`, `Arc<S>`, `Box<S>` and `Arc<dyn Store>` alike.
forward_store!(&S, Arc<S>, Box<S>);
