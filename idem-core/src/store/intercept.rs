//! [`Intercept`]: one way to write a store wrapper that changes some
//! methods and forwards the rest.

use std::sync::Arc;

use super::{Claim, ClaimRequest, Completion, Lease, Record, Store, StoreFuture};

/// A store wrapper that intercepts some methods and forwards the rest
/// (`Cached`, and the test wrappers of `idem_core::testing`): implement [`Intercept::inner`], override what the test needs (fail a
/// `complete`, pause after a `claim`, record what was applied), and use
/// [`Intercepted`] as the store.
///
/// ```
/// use idem_core::store::{Intercept, Intercepted};
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
    /// See [`Store::detach`].
    fn detach(&self) -> Option<Arc<dyn Store>> {
        self.inner().detach()
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
/// use idem_core::store::{Intercept, Intercepted};
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

/// The one mapping of [`Store`] onto [`Intercept`], for every wrapper of the
/// crate: `Intercepted`, `Cached`, `Counting`, `Faulty`.
macro_rules! store_by_intercept {
    ($(impl<$s:ident: $bound:path> for $ty:ty, as $this:ident => $target:expr;)*) => {$(
        impl<$s: $bound> $crate::store::Store for $ty {
            fn claim<'a>(
                &'a self,
                request: $crate::store::ClaimRequest<'a>,
            ) -> $crate::store::StoreFuture<'a, $crate::store::Claim> {
                { let $this = self; $crate::store::Intercept::claim($target, request) }
            }
            fn complete<'a>(
                &'a self,
                completion: $crate::store::Completion<'a>,
            ) -> $crate::store::StoreFuture<'a, ()> {
                { let $this = self; $crate::store::Intercept::complete($target, completion) }
            }
            fn release<'a>(
                &'a self,
                key: &'a str,
                lease: &'a $crate::store::Lease,
            ) -> $crate::store::StoreFuture<'a, ()> {
                { let $this = self; $crate::store::Intercept::release($target, key, lease) }
            }
            fn extend<'a>(
                &'a self,
                key: &'a str,
                lease: &'a $crate::store::Lease,
                until_ms: u64,
            ) -> $crate::store::StoreFuture<'a, ()> {
                { let $this = self; $crate::store::Intercept::extend($target, key, lease, until_ms) }
            }
            fn get<'a>(
                &'a self,
                key: &'a str,
                now_ms: u64,
            ) -> $crate::store::StoreFuture<'a, Option<$crate::store::Record>> {
                { let $this = self; $crate::store::Intercept::get($target, key, now_ms) }
            }
            fn delete<'a>(&'a self, key: &'a str) -> $crate::store::StoreFuture<'a, ()> {
                { let $this = self; $crate::store::Intercept::delete($target, key) }
            }
            fn detach(&self) -> Option<std::sync::Arc<dyn $crate::store::Store>> {
                { let $this = self; $crate::store::Intercept::detach($target) }
            }
            fn max_data_bytes(&self) -> Option<usize> {
                { let $this = self; $crate::store::Intercept::max_data_bytes($target) }
            }
        }
    )*};
}
pub(crate) use store_by_intercept;

store_by_intercept! {
    impl<I: Intercept> for Intercepted<I>, as this => &this.0;
}
