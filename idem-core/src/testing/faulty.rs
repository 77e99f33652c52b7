//! A store wrapper that injects seeded faults: failures before and after the
//! write, and delays.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::store::{store_by_intercept, Claim, ClaimRequest, Completion, Intercept, Lease};
use crate::store::{Store, StoreError, StoreFuture};

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
    /// // Three claims (the engine retries a write whose outcome is unknown),
    /// // then a release in case one of them was applied after all.
    /// assert_eq!(store.injected(), 4);
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

impl<S: Store> Intercept for Faulty<S> {
    fn inner(&self) -> &dyn Store {
        &self.inner
    }

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
}

store_by_intercept! {
    impl<S: Store> for Faulty<S>, as this => this;
}
