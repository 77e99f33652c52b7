//! Every way a call ends leaves the right record: a panic, a cancellation
//! (the future dropped), a result JSON cannot hold, a waiting duplicate.
//! Writes whose outcome is unknown are in the conformance suite
//! (`idem_core::testing::conformance`), so every store is held to them.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use idem_core::store::{Lease, StoreFuture};
use idem_core::testing::{Counting, Intercept, Intercepted};
use idem_core::{Clock, Key};
use idem_core::{Error, Idempotent, InProgress, MemoryStore, OnCancel, Store, SystemClock};

fn storage_key(namespace: &'static str, id: &str) -> String {
    Key::builder(namespace)
        .part("id", id)
        .finish()
        .unwrap()
        .storage_key()
        .to_owned()
}

#[tokio::test]
async fn a_panicking_body_releases_its_claim_and_the_panic_reaches_the_caller() {
    let store = Arc::new(Counting::new(MemoryStore::new()));
    let task = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            Idempotent::new("endings::panic")
                .store(&*store)
                .key("id", "p-1")
                .run(|| async {
                    panic!("the body panicked");
                    #[allow(unreachable_code)]
                    Ok::<_, Error>(1u8)
                })
                .await
        })
    };
    let joined = task.await;
    assert!(
        joined.unwrap_err().is_panic(),
        "the panic reaches the caller"
    );
    assert_eq!(store.counts().release, 1, "{:?}", store.counts());
    assert!(store.inner().is_empty(), "the claim was released");
    // The retry runs at once, not after the 5-minute lease.
    let retry = Idempotent::new("endings::panic")
        .store(&*store)
        .key("id", "p-1")
        .run(|| async { Ok::<_, Error>(2u8) })
        .await;
    assert_eq!(retry.unwrap(), 2);
}

#[tokio::test]
async fn a_cancelled_call_frees_its_key_at_once() {
    let store = MemoryStore::new();
    let slow = Idempotent::new("endings::cancel")
        .store(&store)
        .key("id", "c-1")
        .run(|| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, Error>(1u8)
        });
    let cut = tokio::time::timeout(Duration::from_millis(20), slow).await;
    assert!(cut.is_err(), "the caller gave up");
    assert!(store.is_empty(), "the claim left with the caller");
    let retry = Idempotent::new("endings::cancel")
        .store(&store)
        .key("id", "c-1")
        .run(|| async { Ok::<_, Error>(2u8) })
        .await;
    assert_eq!(retry.unwrap(), 2);
}

/// A store whose `release` has to wait (as a network store's does), and
/// which can hand out an owned handle of itself.
struct SlowRelease(Arc<MemoryStore>, Arc<AtomicUsize>);

impl Intercept for SlowRelease {
    fn inner(&self) -> &dyn Store {
        &*self.0
    }
    fn release<'a>(&'a self, key: &'a str, lease: &'a Lease) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            tokio::task::yield_now().await;
            self.1.fetch_add(1, Ordering::SeqCst);
            self.0.release(key, lease).await
        })
    }
    fn detach(&self) -> Option<Arc<dyn Store>> {
        Some(Arc::new(Intercepted(SlowRelease(
            Arc::clone(&self.0),
            Arc::clone(&self.1),
        ))))
    }
}

/// Drops a 60-second call on `store` after 20 ms, then waits (up to half
/// a second) for `memory` to be empty.
async fn cancel_and_await_release(
    store: &dyn Store,
    memory: &MemoryStore,
    namespace: &'static str,
) {
    let slow = Idempotent::new(namespace)
        .store(store)
        .key("id", "h-1")
        .run(|| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, Error>(1u8)
        });
    assert!(tokio::time::timeout(Duration::from_millis(20), slow)
        .await
        .is_err());
    for _ in 0..100 {
        if memory.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(memory.is_empty(), "the runtime released the claim");
}

#[tokio::test]
async fn a_cancelled_call_on_a_store_that_must_wait_hands_the_release_to_the_runtime() {
    let memory = Arc::new(MemoryStore::new());
    let releases = Arc::new(AtomicUsize::new(0));
    let store = Intercepted(SlowRelease(Arc::clone(&memory), Arc::clone(&releases)));
    cancel_and_await_release(&store, &memory, "endings::handed").await;
    assert_eq!(releases.load(Ordering::SeqCst), 1);
}

/// A store that applies every claim and never answers it: the first
/// `answer` claims lose their reply (a backend error), the rest hang.
struct LostClaims {
    memory: MemoryStore,
    answered: AtomicUsize,
    answer: usize,
}

impl Intercept for LostClaims {
    fn inner(&self) -> &dyn Store {
        &self.memory
    }
    fn claim<'a>(
        &'a self,
        request: idem_core::store::ClaimRequest<'a>,
    ) -> StoreFuture<'a, idem_core::store::Claim> {
        Box::pin(async move {
            self.memory.claim(request).await?;
            if self.answered.fetch_add(1, Ordering::SeqCst) < self.answer {
                return Err(idem_core::store::StoreError::backend(
                    "lost reply",
                    "the reply was lost",
                ));
            }
            std::future::pending().await
        })
    }
}

#[tokio::test]
async fn a_call_dropped_while_its_claim_is_unanswered_frees_the_key() {
    // answer 0: dropped while the first claim is in flight; answer 1:
    // dropped in the pause before the engine's retry.
    for answer in [0, 1] {
        let store = Intercepted(LostClaims {
            memory: MemoryStore::new(),
            answered: AtomicUsize::new(0),
            answer,
        });
        let call = Idempotent::new("endings::unanswered")
            .store(&store)
            .key("id", "u-1")
            .run(|| async { Ok::<_, Error>(1u8) });
        assert!(tokio::time::timeout(Duration::from_millis(10), call)
            .await
            .is_err());
        assert!(
            store.0.answered.load(Ordering::SeqCst) >= 1,
            "the claim was applied"
        );
        assert!(
            store.0.memory.is_empty(),
            "answer {answer}: the applied claim left with the caller"
        );
    }
}

#[tokio::test]
async fn a_wrapper_hands_its_inner_store_s_handle_on_for_the_release() {
    let memory = Arc::new(MemoryStore::new());
    let releases = Arc::new(AtomicUsize::new(0));
    // Counting keeps the default `detach`, which must reach SlowRelease's.
    let store = Counting::new(Intercepted(SlowRelease(
        Arc::clone(&memory),
        Arc::clone(&releases),
    )));
    assert!(Store::detach(&store).is_some());
    cancel_and_await_release(&store, &memory, "endings::wrapped").await;
}

#[tokio::test]
async fn on_cancel_keep_holds_the_claim_for_bodies_that_detach_work() {
    let store = MemoryStore::new();
    let slow = Idempotent::new("endings::keep")
        .store(&store)
        .key("id", "k-1")
        .on_cancel(OnCancel::Keep)
        .run(|| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, Error>(1u8)
        });
    assert!(tokio::time::timeout(Duration::from_millis(20), slow)
        .await
        .is_err());
    let duplicate = Idempotent::new("endings::keep")
        .store(&store)
        .key("id", "k-1")
        .run(|| async { Ok::<_, Error>(2u8) })
        .await;
    assert!(matches!(duplicate, Err(Error::InProgress { .. })));
}

#[tokio::test]
async fn a_result_json_cannot_hold_is_saved_as_not_replayable_never_as_another_value() {
    let store = MemoryStore::new();
    async fn twice<T>(
        store: &MemoryStore,
        id: &str,
        value: T,
    ) -> (Result<T, Error>, Result<T, Error>)
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Clone,
    {
        let call = || {
            let value = value.clone();
            Idempotent::new("endings::json")
                .store(store)
                .key("id", id)
                .run(move || async move { Ok::<_, Error>(value) })
        };
        (call().await, call().await)
    }
    let (first, again) = twice(&store, "nan-in-option", Some(f64::NAN)).await;
    assert!(
        first.unwrap().unwrap().is_nan(),
        "the caller gets its own value"
    );
    assert!(
        matches!(again, Err(Error::ReplayUnavailable { .. })),
        "never `None`: {again:?}"
    );
    let (first, again) = twice(&store, "bare-infinity", f64::INFINITY).await;
    assert_eq!(first.unwrap(), f64::INFINITY);
    assert!(
        matches!(again, Err(Error::ReplayUnavailable { .. })),
        "{again:?}"
    );
    // A real `None` (JSON `null`) is faithful and replays.
    let (first, again) = twice(&store, "none", None::<f64>).await;
    assert_eq!((first.unwrap(), again.unwrap()), (None, None));
    let (_, again) = twice(&store, "finite", vec![Some(1.5), None]).await;
    assert_eq!(again.unwrap(), vec![Some(1.5), None]);
    // The text `null` inside a string hides no NaN: the NaN beside it is
    // still caught, and without it the strings replay.
    let text = "\\\"null\\".to_owned();
    let (_, again) = twice(&store, "text-and-nan", (text.clone(), f64::NAN)).await;
    assert!(
        matches!(again, Err(Error::ReplayUnavailable { .. })),
        "{again:?}"
    );
    let (_, again) = twice(&store, "text", (text.clone(), 2.5)).await;
    assert_eq!(again.unwrap(), (text, 2.5));
}

#[tokio::test]
async fn a_waiting_duplicate_polls_with_reads_and_claims_only_a_free_key() {
    let store = Counting::new(MemoryStore::new());
    let first = Idempotent::new("endings::wait")
        .store(&store)
        .key("id", "w-1")
        .run(|| async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            Ok::<_, Error>(1u8)
        });
    let waiter = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Idempotent::new("endings::wait")
            .store(&store)
            .key("id", "w-1")
            .in_progress(InProgress::Wait(Some(Duration::from_secs(5))))
            .run(|| async { Ok::<_, Error>(2u8) })
            .await
    };
    let (first, waited) = tokio::join!(first, waiter);
    assert_eq!((first.unwrap(), waited.unwrap()), (1, 1));
    let counts = store.counts();
    assert_eq!(
        counts.claim, 2,
        "one claim each, the waiter's polls are reads: {counts:?}"
    );
    assert!(
        counts.get >= 3,
        "the waiter read while it waited: {counts:?}"
    );
    // Polls back off (25, 50, 100, 200 ms ...): a ~380 ms wait is a handful
    // of reads, not a busy loop.
    assert!(counts.get <= 8, "the waiter's polls back off: {counts:?}");
}

#[tokio::test]
async fn a_waiting_duplicate_takes_over_a_crashed_claim_when_its_lease_lapses() {
    let store = Counting::new(MemoryStore::new());
    let key = Key::builder("endings::lapse")
        .part("id", "l-1")
        .finish()
        .unwrap();
    idem_core::testing::crashed_claim(&store, &key, Duration::from_millis(60)).await;
    let waited = Idempotent::new("endings::lapse")
        .store(&store)
        .key("id", "l-1")
        .in_progress(InProgress::Wait(Some(Duration::from_secs(5))))
        .run(|| async { Ok::<_, Error>(7u8) })
        .await;
    assert_eq!(
        waited.unwrap(),
        7,
        "the redelivery ran once the lease lapsed"
    );
    let counts = store.counts();
    // The crashed claim, the waiter's first claim, and one more once a read
    // found the lease lapsed.
    assert_eq!(counts.claim, 3, "{counts:?}");
}

#[tokio::test]
async fn in_progress_suggests_a_short_retry_after_beside_the_lease() {
    let store = MemoryStore::new();
    let slow = Idempotent::new("endings::hint")
        .store(&store)
        .key("id", "r-1")
        .run(|| async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok::<_, Error>(1u8)
        });
    let duplicate = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Idempotent::new("endings::hint")
            .store(&store)
            .key("id", "r-1")
            .run(|| async { Ok::<_, Error>(2u8) })
            .await
    };
    let (_, duplicate) = tokio::join!(slow, duplicate);
    match duplicate {
        Err(Error::InProgress {
            retry_after,
            lease_lapses_in,
            ..
        }) => {
            assert!(retry_after <= Duration::from_secs(1), "{retry_after:?}");
            assert!(
                lease_lapses_in > Duration::from_secs(290),
                "{lease_lapses_in:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    let record = store
        .get(&storage_key("endings::hint", "r-1"), SystemClock.now_ms())
        .await
        .unwrap();
    assert!(record.is_some());
}
