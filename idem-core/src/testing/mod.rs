//! Testing support (feature `testing`): the store conformance suite, a manual
//! clock, a call-counting store, a fault-injecting store, and (re-exported
//! from [`store`](crate::store)) [`Intercept`] for writing wrappers of your
//! own.
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

mod clock;
mod conformance;
mod counting;
mod faulty;

use std::sync::Arc;

use crate::store::Store;
pub use crate::store::{Intercept, Intercepted};
pub use clock::ManualClock;
pub use conformance::{conformance, ConformanceReport};
pub use counting::{Counting, Counts};
pub use faulty::{Faults, Faulty};

/// Runs `test` with `store` as the store of every guarded call inside it that
/// names none (`#[idempotent]` without `store = …`), leaving the process
/// default alone: each test gets a store of its own, however the tests are
/// ordered or run in parallel. Tasks spawned inside do not inherit it (as
/// with any task-local).
///
/// ```
/// use idem_core::testing::scoped_store;
/// use idem_core::{idempotent, MemoryStore};
/// use std::sync::Arc;
///
/// #[idempotent(key = "id")] // the process default store…
/// async fn ship(id: &str) -> Result<u32, idem_core::Error> {
///     Ok(7)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mine = Arc::new(MemoryStore::new());
/// // …but here, this test's own.
/// scoped_store(mine.clone(), async {
///     assert_eq!(ship("p-1").await.unwrap(), 7);
///     assert_eq!(ship("p-1").await.unwrap(), 7); // replayed from `mine`
/// })
/// .await;
/// assert_eq!(mine.len(), 1);
/// # }
/// ```
pub async fn scoped_store<F: std::future::Future>(store: Arc<dyn Store>, test: F) -> F::Output {
    crate::default::scope(store, test).await
}

/// Leaves `key` claimed in `store` as a run that crashed mid-body would (a
/// killed process, a Lambda timeout): in progress under a token nobody
/// holds, until `lease` from now lapses. For testing what a redelivery does
/// meanwhile and after.
///
/// # Panics
///
/// If the store fails or the key is already held: this is a test helper.
///
/// ```
/// use idem_core::testing::crashed_claim;
/// use idem_core::{Error, Idempotent, Key, MemoryStore};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let key = Key::builder("shop::ship").part("id", "p-1").finish().unwrap();
/// crashed_claim(&store, &key, Duration::from_millis(50)).await;
/// let ship = || Idempotent::new("shop::ship").store(&store).key("id", "p-1")
///     .run(|| async { Ok::<_, Error>(String::from("shipped")) });
/// assert!(matches!(ship().await, Err(Error::InProgress { .. }))); // held by the crashed run
/// tokio::time::sleep(Duration::from_millis(60)).await;
/// assert_eq!(ship().await.unwrap(), "shipped"); // its lease lapsed: the redelivery runs
/// # }
/// ```
pub async fn crashed_claim(store: &dyn Store, key: &crate::Key, lease: std::time::Duration) {
    use crate::clock::{Clock, SystemClock};
    use crate::store::{Claim, ClaimRequest, LeaseToken};
    let now = SystemClock.now_ms();
    let until = now.saturating_add(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX));
    let request = ClaimRequest {
        key: key.storage_key(),
        now_ms: now,
        token: LeaseToken::new(),
        lease_until_ms: until,
        expires_at_s: until.div_ceil(1000) + 3600,
        fingerprint: None,
    };
    match store.claim(request).await {
        Ok(Claim::Acquired(_)) => {}
        other => panic!("crashed_claim: the key must be free, got {other:?}"),
    }
}
