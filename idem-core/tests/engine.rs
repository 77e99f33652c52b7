//! The engine's call flow on MemoryStore: every policy of the design.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use idem_core::store::{Claim, ClaimRequest, Completion, LeaseToken, Status, StoreFuture};
use idem_core::testing::{Counting, Intercept, Intercepted, ManualClock};
use idem_core::{
    current_key, Cached, Clock, Error, Idempotent, InProgress, Key, MemoryStore, OnMissingKey,
    Store, StoreError, SystemClock,
};

type Result<T> = std::result::Result<T, Error>;

fn storage_key(ns: &'static str, part: &str) -> String {
    Key::builder(ns)
        .part("id", part)
        .finish()
        .unwrap()
        .storage_key()
        .to_owned()
}

/// A guarded call counting its body runs.
async fn call<S: Store>(store: &S, id: &str, runs: &AtomicUsize) -> Result<String> {
    Idempotent::new("tests::call")
        .store(store)
        .key("id", id)
        .run(|| async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok(format!("done {id}"))
        })
        .await
}

#[tokio::test]
async fn first_call_runs_and_duplicates_replay_with_one_claim_each() {
    let store = Counting::new(MemoryStore::new());
    let runs = AtomicUsize::new(0);
    assert_eq!(call(&store, "a", &runs).await.unwrap(), "done a");
    assert_eq!(store.counts().total(), 2, "first call: claim + complete");
    for _ in 0..5 {
        assert_eq!(call(&store, "a", &runs).await.unwrap(), "done a");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(store.counts().claim, 6);
    assert_eq!(store.counts().total(), 7, "each duplicate: one claim");
    call(&store, "b", &runs).await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_failed_body_releases_its_claim_so_a_retry_runs_again() {
    let store = Counting::new(MemoryStore::new());
    let runs = AtomicUsize::new(0);
    let runs = &runs;
    let attempt = |fail: bool| {
        Idempotent::new("tests::fails")
            .store(&store)
            .key("id", "x")
            .run(move || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                if fail {
                    Err(anyhow::anyhow!("payment gateway down"))
                } else {
                    Ok(7u32)
                }
            })
    };
    let err = attempt(true).await.unwrap_err();
    assert_eq!(err.to_string(), "payment gateway down");
    assert_eq!(store.counts().total(), 2, "failed body: claim + release");
    assert_eq!(store.counts().release, 1);
    let key = storage_key("tests::fails", "x");
    assert!(Store::get(&store, &key, SystemClock.now_ms())
        .await
        .unwrap()
        .is_none());
    assert_eq!(attempt(false).await.unwrap(), 7);
    assert_eq!(
        attempt(true).await.unwrap(),
        7,
        "replayed, the body does not run"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_concurrent_duplicate_gets_in_progress_with_retry_after() {
    let store = MemoryStore::new();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (finish_tx, finish_rx) = tokio::sync::oneshot::channel::<()>();
    let first = Idempotent::new("tests::slow")
        .store(&store)
        .lease(Duration::from_secs(60))
        .key("id", "x")
        .run(|| async {
            started_tx.send(()).unwrap();
            finish_rx.await.unwrap();
            Ok::<_, Error>(1u8)
        });
    let second = async {
        started_rx.await.unwrap();
        let r = Idempotent::new("tests::slow")
            .store(&store)
            .key("id", "x")
            .run(|| async { Ok::<_, Error>(2u8) })
            .await;
        finish_tx.send(()).unwrap();
        r
    };
    let (first, second) = tokio::join!(first, second);
    assert_eq!(first.unwrap(), 1);
    match second.unwrap_err() {
        Error::InProgress {
            namespace,
            retry_after,
            lease_lapses_in,
            key,
        } => {
            assert_eq!(namespace, "tests::slow");
            assert!(key.starts_with("tests::slow#") && key.len() == "tests::slow#".len() + 8);
            // A short hint, not the rest of a 60 s lease…
            assert_eq!(retry_after, Duration::from_secs(1));
            // …which is reported beside it.
            assert!(
                lease_lapses_in > Duration::from_secs(50)
                    && lease_lapses_in <= Duration::from_secs(60)
            );
        }
        other => panic!("expected InProgress, got {other:?}"),
    }
}

#[tokio::test]
async fn wait_polls_until_the_first_result_is_saved() {
    let store = MemoryStore::new();
    let runs = &AtomicUsize::new(0);
    let guarded = |delay: u64| {
        Idempotent::new("tests::wait")
            .store(&store)
            .in_progress(InProgress::Wait(None))
            .key("id", "x")
            .run(move || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(delay)).await;
                Ok::<_, Error>("result".to_owned())
            })
    };
    let (a, b, c) = tokio::join!(guarded(200), guarded(0), guarded(0));
    assert_eq!(
        (a.unwrap(), b.unwrap(), c.unwrap()),
        ("result".into(), "result".into(), "result".into())
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn wait_with_a_limit_gives_up_with_in_progress() {
    let store = MemoryStore::new();
    let slow = Idempotent::new("tests::wait_limit")
        .store(&store)
        .key("id", "x")
        .run(|| async {
            tokio::time::sleep(Duration::from_millis(600)).await;
            Ok::<_, Error>(1u8)
        });
    let waiter = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = std::time::Instant::now();
        let r = Idempotent::new("tests::wait_limit")
            .store(&store)
            .in_progress(InProgress::Wait(Some(Duration::from_millis(150))))
            .key("id", "x")
            .run(|| async { Ok::<_, Error>(2u8) })
            .await;
        (r, started.elapsed())
    };
    let (first, (second, waited)) = tokio::join!(slow, waiter);
    assert_eq!(first.unwrap(), 1);
    assert!(
        matches!(second, Err(Error::InProgress { .. })),
        "{second:?}"
    );
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_millis(500),
        "{waited:?}"
    );
}

#[tokio::test]
async fn a_waiter_runs_the_body_itself_when_the_first_run_fails() {
    let store = MemoryStore::new();
    let failing = Idempotent::new("tests::wait_fail")
        .store(&store)
        .key("id", "x")
        .run(|| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Err::<u8, _>(anyhow::anyhow!("boom"))
        });
    let waiter = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Idempotent::new("tests::wait_fail")
            .store(&store)
            .in_progress(InProgress::Wait(None))
            .key("id", "x")
            .run(|| async { Ok::<_, anyhow::Error>(2u8) })
            .await
    };
    let (first, second) = tokio::join!(failing, waiter);
    assert!(first.is_err());
    assert_eq!(second.unwrap(), 2);
}

#[tokio::test]
async fn missing_keys_fail_by_default_or_run_unguarded() {
    let store = MemoryStore::new();
    let runs = AtomicUsize::new(0);
    let err = Idempotent::new("tests::missing")
        .store(&store)
        .key("event.order_id", &None::<String>)
        .run(|| async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Error>(())
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::MissingKey { part, namespace } if part == "event.order_id" && namespace == "tests::missing")
    );
    assert_eq!(
        err.to_string(),
        "idempotency key part `event.order_id` is missing in `tests::missing`"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    for _ in 0..2 {
        Idempotent::new("tests::missing")
            .store(&store)
            .on_missing_key(OnMissingKey::Run)
            .key("event.order_id", "")
            .run(|| async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>(())
            })
            .await
            .unwrap();
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2, "unguarded runs every time");
    assert!(store.is_empty());
}

#[tokio::test]
async fn another_payload_under_the_same_key_is_a_mismatch() {
    let store = MemoryStore::new();
    let pay = |amount: u64| {
        Idempotent::new("tests::validate")
            .store(&store)
            .key("id", "order-1")
            .validate(&amount)
            .run(move || async move { Ok::<_, Error>(amount) })
    };
    assert_eq!(pay(100).await.unwrap(), 100);
    assert_eq!(pay(100).await.unwrap(), 100);
    let err = pay(999).await.unwrap_err();
    assert!(
        matches!(err, Error::PayloadMismatch { ref namespace, .. } if namespace == "tests::validate"),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_oversized_result_is_never_run_again_and_not_replayable() {
    let store = MemoryStore::new().with_max_data_bytes(1024);
    let runs = AtomicUsize::new(0);
    let big = || {
        Idempotent::new("tests::big")
            .store(&store)
            .key("id", "x")
            .run(|| async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>("x".repeat(4096))
            })
    };
    assert_eq!(
        big().await.unwrap().len(),
        4096,
        "the first caller gets its result"
    );
    let err = big().await.unwrap_err();
    assert!(matches!(err, Error::ReplayUnavailable { .. }), "{err:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let record = store
        .get(&storage_key("tests::big", "x"), SystemClock.now_ms())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((record.status, record.data), (Status::Completed, None));
}

/// Fails every `complete`; everything else goes to MemoryStore.
struct FailingComplete(MemoryStore);

impl Intercept for FailingComplete {
    fn inner(&self) -> &dyn Store {
        &self.0
    }
    fn complete<'a>(&'a self, _: Completion<'a>) -> StoreFuture<'a, ()> {
        Box::pin(async {
            Err(StoreError::backend(
                "complete",
                std::io::Error::other("disk on fire"),
            ))
        })
    }
}

#[tokio::test]
async fn a_failing_complete_still_returns_the_result_and_the_claim_lapses() {
    let store = Intercepted(FailingComplete(MemoryStore::new()));
    let clock = ManualClock::new(1_000_000);
    let runs = AtomicUsize::new(0);
    let charge = || {
        Idempotent::new("tests::complete_fails")
            .store(&store)
            .clock(&clock)
            .lease(Duration::from_secs(30))
            .key("id", "x")
            .run(|| async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>("charged".to_owned())
            })
    };
    assert_eq!(charge().await.unwrap(), "charged");
    assert!(
        matches!(charge().await, Err(Error::InProgress { .. })),
        "held until the lease lapses"
    );
    clock.advance(Duration::from_secs(31));
    assert_eq!(charge().await.unwrap(), "charged");
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_body_sees_its_key() {
    let store = MemoryStore::new();
    assert!(current_key().is_none());
    let seen = Idempotent::new("tests::current")
        .store(&store)
        .key("id", "x")
        .run(|| async {
            tokio::task::yield_now().await;
            Ok::<_, Error>(current_key().map(|k| k.storage_key().to_owned()))
        })
        .await
        .unwrap();
    assert_eq!(
        seen.as_deref(),
        Some(storage_key("tests::current", "x").as_str())
    );
    assert!(current_key().is_none());
}

#[tokio::test]
async fn a_body_running_three_leases_keeps_its_claim() {
    let store = Counting::new(MemoryStore::new());
    let lease = Duration::from_millis(300);
    let long = Idempotent::new("tests::renew")
        .store(&store)
        .lease(lease)
        .key("id", "x")
        .run(|| async {
            tokio::time::sleep(lease * 3).await;
            Ok::<_, Error>("long".to_owned())
        });
    let probes = async {
        let mut seen = Vec::new();
        for _ in 0..4 {
            tokio::time::sleep(lease / 2 + Duration::from_millis(60)).await;
            let r = Idempotent::new("tests::renew")
                .store(&store)
                .lease(lease)
                .key("id", "x")
                .run(|| async { Ok::<_, Error>("stolen".to_owned()) })
                .await;
            seen.push(r);
        }
        seen
    };
    let (long, probes) = tokio::join!(long, probes);
    assert_eq!(long.unwrap(), "long");
    for probe in probes {
        assert!(matches!(probe, Err(Error::InProgress { .. })), "{probe:?}");
    }
    assert!(
        store.counts().extend >= 6,
        "renewed every third of the lease: {:?}",
        store.counts()
    );
}

#[tokio::test]
async fn the_deadline_caps_the_lease_so_a_timed_out_claim_lapses_then() {
    // A Lambda timeout freezes or kills the process: nothing runs after it,
    // so the claim is kept as a crash would keep it (`OnCancel::Keep`).
    let store = MemoryStore::new();
    let now = SystemClock.now_ms();
    let deadline = now + 200;
    let timed_out = tokio::time::timeout(
        Duration::from_millis(400),
        Idempotent::new("tests::deadline")
            .store(&store)
            .lease(Duration::from_secs(300))
            .deadline(deadline)
            .on_cancel(idem_core::OnCancel::Keep)
            .key("id", "x")
            .run(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok::<_, Error>(1u8)
            }),
    )
    .await;
    assert!(timed_out.is_err(), "the invocation was cut off");
    let record = store
        .get(&storage_key("tests::deadline", "x"), SystemClock.now_ms())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.lease.unwrap().until_ms,
        deadline,
        "never renewed past the deadline"
    );
    let retry = Idempotent::new("tests::deadline")
        .store(&store)
        .key("id", "x")
        .run(|| async { Ok::<_, Error>(2u8) })
        .await;
    assert_eq!(
        retry.unwrap(),
        2,
        "the retry is not blocked past the deadline"
    );
}

#[tokio::test]
async fn records_expire_after_ttl_and_run_again() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(5_000_000);
    let runs = AtomicUsize::new(0);
    let go = || {
        Idempotent::new("tests::ttl")
            .store(&store)
            .clock(&clock)
            .ttl(Duration::from_secs(60))
            .key("id", "x")
            .run(|| async { Ok::<_, Error>(runs.fetch_add(1, Ordering::SeqCst)) })
    };
    assert_eq!(go().await.unwrap(), 0);
    clock.advance(Duration::from_secs(59));
    assert_eq!(go().await.unwrap(), 0);
    clock.advance(Duration::from_secs(2));
    assert_eq!(go().await.unwrap(), 1);
}

#[tokio::test]
async fn a_clock_stepping_backwards_neither_panics_nor_reruns_a_completed_call() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(10_000_000);
    let runs = AtomicUsize::new(0);
    let go = || {
        Idempotent::new("tests::backwards")
            .store(&store)
            .clock(&clock)
            .key("id", "x")
            .run(|| async { Ok::<_, Error>(runs.fetch_add(1, Ordering::SeqCst)) })
    };
    assert_eq!(go().await.unwrap(), 0);
    clock.set(0);
    assert_eq!(go().await.unwrap(), 0);
    clock.set(10_000_000 + 10 * 365 * 86_400_000);
    assert_eq!(go().await.unwrap(), 1, "ten years on: expired, runs again");
    assert_eq!(go().await.unwrap(), 1);
}

#[tokio::test]
async fn corrupt_saved_data_is_a_typed_decode_error_not_a_rerun() {
    let store = MemoryStore::new();
    let key = storage_key("tests::corrupt", "x");
    let now = SystemClock.now_ms();
    let Claim::Acquired(lease) = store
        .claim(ClaimRequest {
            key: &key,
            now_ms: now,
            token: LeaseToken::new(),
            lease_until_ms: now + 60_000,
            expires_at_s: now / 1000 + 60,
            fingerprint: None,
        })
        .await
        .unwrap()
    else {
        panic!("a fresh key is acquired");
    };
    store
        .complete(Completion {
            key: &key,
            lease: &lease,
            data: Some("{not json"),
            fingerprint: None,
            expires_at_s: now / 1000 + 60,
        })
        .await
        .unwrap();
    let runs = AtomicUsize::new(0);
    let err = Idempotent::new("tests::corrupt")
        .store(&store)
        .key("id", "x")
        .run(|| async { Ok::<u32, Error>(runs.fetch_add(1, Ordering::SeqCst) as u32) })
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Decode { ref namespace, .. } if namespace == "tests::corrupt"),
        "{err:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_local_cache_answers_duplicates_with_no_round_trip() {
    let store = Cached::new(Counting::new(MemoryStore::new()), 100);
    let runs = AtomicUsize::new(0);
    call(&store, "a", &runs).await.unwrap();
    let before = store.inner().counts();
    for _ in 0..10 {
        assert_eq!(call(&store, "a", &runs).await.unwrap(), "done a");
    }
    assert_eq!(
        store.inner().counts(),
        before,
        "0 store calls for cached duplicates"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    Store::delete(&store, &storage_key("tests::call", "a"))
        .await
        .unwrap();
    call(&store, "a", &runs).await.unwrap();
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "delete invalidates the cache"
    );
}

#[tokio::test]
async fn the_cache_respects_expiry_and_never_keeps_a_mismatched_payload() {
    let store = Cached::new(Counting::new(MemoryStore::new()), 100);
    let clock = ManualClock::new(1_000_000);
    let go = |amount: u32| {
        Idempotent::new("tests::cache")
            .store(&store)
            .clock(&clock)
            .ttl(Duration::from_secs(10))
            .key("id", "x")
            .validate(&amount)
            .run(move || async move { Ok::<_, Error>(amount) })
    };
    assert_eq!(go(1).await.unwrap(), 1);
    assert!(matches!(go(2).await, Err(Error::PayloadMismatch { .. })));
    let claims = store.inner().counts().claim;
    assert_eq!(claims, 2, "a mismatching payload goes to the store");
    assert!(matches!(go(2).await, Err(Error::PayloadMismatch { .. })));
    assert_eq!(go(1).await.unwrap(), 1);
    assert_eq!(
        store.inner().counts().claim,
        3,
        "only the matching payload is served from the cache"
    );
    clock.advance(Duration::from_secs(11));
    assert_eq!(
        go(2).await.unwrap(),
        2,
        "expired records are neither cached nor stored"
    );
    // A bounded cache.
    let small = Cached::new(MemoryStore::new(), 8);
    let runs = AtomicUsize::new(0);
    for i in 0..100 {
        call(&small, &i.to_string(), &runs).await.unwrap();
    }
    assert!(small.cached_len() <= 8, "{}", small.cached_len());
}

/// Rounds of 500 one-second records, the clock moved on by `step` after
/// each: returns how many records the store still holds.
async fn expire_in_rounds(rounds: u32, step: Duration) -> usize {
    let store = MemoryStore::new();
    let clock = ManualClock::new(1_000_000);
    for round in 0..rounds {
        for i in 0..500 {
            Idempotent::new("tests::sweep")
                .store(&store)
                .clock(&clock)
                .ttl(Duration::from_secs(1))
                .lease(Duration::from_millis(500))
                .key("id", &(round * 1000 + i))
                .run(|| async { Ok::<_, Error>(()) })
                .await
                .unwrap();
        }
        clock.advance(step);
    }
    store.len()
}

#[tokio::test]
async fn memory_store_sweeps_expired_records() {
    // Past the ttl and the 5-minute grace a clock step back is given.
    let kept = expire_in_rounds(20, Duration::from_secs(302)).await;
    assert!(
        kept < 10 * 500,
        "10,000 expired records must not all stay: {kept}"
    );
}

#[tokio::test]
async fn memory_store_keeps_expired_records_through_the_grace_a_clock_step_back_is_given() {
    // Past the ttl, within the 5-minute grace: the second round's claims
    // sweep the first round's slots and must keep them.
    let kept = expire_in_rounds(2, Duration::from_secs(250)).await;
    assert_eq!(kept, 1000, "records within the grace stay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_and_keys_run_each_key_exactly_once() {
    let store = Arc::new(MemoryStore::new());
    let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..200).map(|_| AtomicUsize::new(0)).collect());
    let mut tasks = tokio::task::JoinSet::new();
    for delivery in 0..8 {
        for key in 0..200usize {
            let store = Arc::clone(&store);
            let runs = Arc::clone(&runs);
            tasks.spawn(async move {
                Idempotent::new("tests::many")
                    .store(&store)
                    .in_progress(if delivery % 2 == 0 {
                        InProgress::Wait(None)
                    } else {
                        InProgress::Fail
                    })
                    .key("id", &key)
                    .run(|| async {
                        runs[key].fetch_add(1, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        Ok::<_, Error>(key * 2)
                    })
                    .await
                    .map(|v| (key, v))
            });
        }
    }
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            Ok((key, v)) => assert_eq!(v, key * 2),
            Err(Error::InProgress { .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(runs.iter().all(|r| r.load(Ordering::SeqCst) == 1));
}

#[tokio::test]
async fn errors_are_send_sync_static_and_work_with_anyhow() {
    fn assert_error<E: std::error::Error + Send + Sync + 'static>() {}
    assert_error::<Error>();
    assert_error::<StoreError>();
    let store = MemoryStore::new();
    let r: anyhow::Result<()> = Idempotent::new("tests::anyhow")
        .store(&store)
        .key("id", &None::<u8>)
        .run(|| async { Ok(()) })
        .await;
    let e = r.unwrap_err();
    assert!(e.downcast_ref::<Error>().is_some());
}

#[tokio::test]
async fn the_process_default_store_is_used_without_a_store() {
    let runs = AtomicUsize::new(0);
    for _ in 0..3 {
        Idempotent::new("tests::default_store")
            .key("id", "x")
            .run(|| async { Ok::<_, Error>(runs.fetch_add(1, Ordering::SeqCst)) })
            .await
            .unwrap();
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn memory_store_and_cached_pass_the_conformance_suite() {
    let report = idem_core::testing::conformance(Arc::new(MemoryStore::new())).await;
    assert!(report.checks >= 40, "{report:?}");
    idem_core::testing::conformance(Arc::new(Cached::new(MemoryStore::new(), 1000))).await;
    idem_core::testing::conformance(Arc::new(MemoryStore::new().with_max_data_bytes(4096))).await;
}
