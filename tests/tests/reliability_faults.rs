//! Reliability: store faults. `idem_core::testing::Faulty` fails or delays
//! `claim`, `complete`, `release` and `extend` with seeded probabilities
//! (failing before the store is reached, or after the write was applied —
//! a lost response), over MemoryStore and DynamoDB Local; thousands of calls.
//!
//! Two recording wrappers make the invariants checkable:
//! - `Witness` (outermost, what the engine sees) records every claim the
//!   engine was told it `Acquired`;
//! - `Recorder` (innermost, what the store applied) records claims
//!   acquired, releases and completions that really happened.
//!
//! Invariants, asserted precisely:
//! 1. **No body without a claim**: when a body starts, the store holds an
//!    in-progress record of its key whose lease token is the one the engine
//!    was just given as `Acquired`; and each acquired token starts at most
//!    one body.
//! 2. **Completed is final**: no body starts on a key whose completion the
//!    store applied.
//! 3. **Re-runs only after a release**: with the lease longer than the test
//!    (the manual clock stands still while faults fly), no claim lapses, so
//!    a key is acquired at most `1 + releases applied` times, and the body
//!    runs at most once per acquisition.
//! 4. **Typed failures only**: every call returns the key's result, the
//!    body's own error (only when the body ran and failed), `InProgress`,
//!    or `Error::Store` carrying the namespace and the injected backend
//!    error of `claim` — nothing else, and no panic.
//! 5. **Nothing lost**: after the clock moves past the leases, one clean
//!    delivery per key completes every key; keys completed under faults
//!    replay (no run), the others run exactly once.
#![allow(clippy::unwrap_used)]

mod reliability_support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use idem_core::store::{Claim, ClaimRequest, Completion, Lease, LeaseToken, Status, StoreFuture};
use idem_core::testing::{Faults, Faulty, Intercept, Intercepted, ManualClock};
use idem_core::{Clock, Error, Idempotent, Key, MemoryStore, Store, StoreError, SystemClock};
use idem_dynamo::DynamoStore;
use reliability_support::{self as support, Failure};

/// What the store really applied, per storage key.
#[derive(Debug, Default, Clone)]
struct Applied {
    /// Distinct claims (tokens): a retried claim that finds its own token
    /// again is the same claim.
    acquired: HashSet<LeaseToken>,
    /// Distinct claims of those released.
    released: HashSet<LeaseToken>,
    completed: bool,
}

struct Recorder<S> {
    inner: S,
    log: Mutex<HashMap<String, Applied>>,
}

impl<S> Recorder<S> {
    fn new(inner: S) -> Intercepted<Self> {
        Intercepted(Recorder {
            inner,
            log: Mutex::new(HashMap::new()),
        })
    }
    fn note(&self, key: &str, f: impl FnOnce(&mut Applied)) {
        f(self.log.lock().unwrap().entry(key.to_owned()).or_default());
    }
    fn applied(&self, key: &str) -> Applied {
        self.log
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .unwrap_or_default()
    }
}

impl<S: Store> Intercept for Recorder<S> {
    fn inner(&self) -> &dyn Store {
        &self.inner
    }
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> StoreFuture<'a, Claim> {
        Box::pin(async move {
            let key = request.key;
            let claim = self.inner.claim(request).await;
            if let Ok(Claim::Acquired(lease)) = &claim {
                self.note(key, |a| a.acquired.extend(lease.token));
            }
            claim
        })
    }
    fn complete<'a>(&'a self, completion: Completion<'a>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let key = completion.key;
            let done = self.inner.complete(completion).await;
            if done.is_ok() {
                self.note(key, |a| a.completed = true);
            }
            done
        })
    }
    fn release<'a>(&'a self, key: &'a str, lease: &'a Lease) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let done = self.inner.release(key, lease).await;
            if done.is_ok() {
                self.note(key, |a| {
                    if let Some(token) = lease.token.filter(|t| a.acquired.contains(t)) {
                        a.released.insert(token);
                    }
                });
            }
            done
        })
    }
}

/// What the engine was told: tokens of `Acquired` claims not yet used by a body.
struct Witness {
    inner: Arc<dyn Store>,
    unused: Mutex<HashMap<String, HashSet<LeaseToken>>>,
}

impl Witness {
    fn new(inner: Arc<dyn Store>) -> Intercepted<Self> {
        Intercepted(Witness {
            inner,
            unused: Mutex::new(HashMap::new()),
        })
    }
    /// Takes `token` as the one a body of `key` is running under; false if
    /// the engine was never given it, or a body already used it.
    fn take(&self, key: &str, token: LeaseToken) -> bool {
        self.unused
            .lock()
            .unwrap()
            .get_mut(key)
            .is_some_and(|t| t.remove(&token))
    }
}

impl Intercept for Witness {
    fn inner(&self) -> &dyn Store {
        &*self.inner
    }
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> StoreFuture<'a, Claim> {
        Box::pin(async move {
            let key = request.key;
            let claim = self.inner.claim(request).await;
            if let Ok(Claim::Acquired(lease)) = &claim {
                let mut unused = self.unused.lock().unwrap();
                unused
                    .entry(key.to_owned())
                    .or_default()
                    .extend(lease.token);
            }
            claim
        })
    }
}

struct Run<S> {
    namespace: String,
    keys: Vec<String>,
    recorder: Arc<Intercepted<Recorder<S>>>,
    clock: ManualClock,
    runs: Vec<AtomicUsize>,
}

const LEASE: Duration = Duration::from_secs(60);

/// One delivery of key `k` through `store`. In the faulty phase a tenth of
/// the keys fail their first run (so releases happen, and fail too).
async fn deliver<S: Store>(
    run: &Run<S>,
    store: &Intercepted<Witness>,
    k: usize,
    faulty_phase: bool,
) {
    let key = &run.keys[k];
    let ran = AtomicUsize::new(0);
    let result = Idempotent::new(run.namespace.clone())
        .store(store)
        .clock(&run.clock)
        .lease(LEASE)
        .key("order_id", &format!("order-{k}"))
        .run(|| async {
            ran.fetch_add(1, Ordering::SeqCst);
            // Invariant 1: the live claim in the store is the one the engine
            // was given, and no other body used it.
            let record = run
                .recorder
                .inner
                .get(key, run.clock.now_ms())
                .await
                .expect("reading the store")
                .expect("a body runs only under a claim");
            assert_eq!(record.status, Status::InProgress, "{record:?}");
            let token = record
                .lease
                .as_ref()
                .and_then(|l| l.token)
                .expect("a lease token");
            assert!(
                store.take(key, token),
                "key {k}: the body runs under a lease the engine was not given, or twice"
            );
            // Invariant 2.
            assert!(
                !run.recorder.applied(key).completed,
                "key {k}: the body runs again after its completion was saved"
            );
            let previous = run.runs[k].fetch_add(1, Ordering::SeqCst);
            if faulty_phase && k.is_multiple_of(10) && previous == 0 {
                return Err(Failure::Body);
            }
            Ok(format!("receipt {k}"))
        })
        .await;
    // Invariant 4.
    match result {
        Ok(receipt) => assert_eq!(receipt, format!("receipt {k}")),
        Err(Failure::Body) => {
            assert_eq!(ran.load(Ordering::SeqCst), 1, "a body error needs a body")
        }
        Err(Failure::Idem(Error::InProgress { namespace, .. })) => {
            assert!(
                faulty_phase,
                "no InProgress once the clock passed every lease"
            );
            assert_eq!(namespace, run.namespace);
        }
        Err(Failure::Idem(Error::Store {
            namespace,
            source: StoreError::Backend { operation, .. },
            ..
        })) => {
            assert!(faulty_phase, "no store error without faults");
            assert_eq!(namespace, run.namespace, "store errors carry the namespace");
            assert_eq!(
                operation, "injected claim",
                "only a failed claim reaches the caller"
            );
        }
        Err(other) => panic!("key {k}: an untyped or unexpected failure: {other:?}"),
    }
}

/// Runs `keys` × `deliveries` calls through `Faulty` over `inner`, then one
/// clean delivery per key; returns (calls made, faults injected).
async fn fault_run<S: Store + 'static>(
    inner: S,
    namespace: String,
    keys: usize,
    deliveries: usize,
    seed: u64,
    keys_in_flight: usize,
) -> (usize, usize) {
    let recorder = Arc::new(Recorder::new(inner));
    let faults = Faults {
        fail_before: 0.1,
        fail_after: 0.1,
        delay: 0.2,
        max_delay: Duration::from_millis(2),
    };
    let faulty = Arc::new(Faulty::new(Arc::clone(&recorder), seed, faults));
    let faulty_witness = Arc::new(Witness::new(faulty.clone()));
    let run = Arc::new(Run {
        keys: (0..keys)
            .map(|k| {
                Key::builder(namespace.clone())
                    .part("order_id", &format!("order-{k}"))
                    .finish()
                    .unwrap()
                    .storage_key()
                    .to_owned()
            })
            .collect(),
        namespace,
        recorder: Arc::clone(&recorder),
        clock: ManualClock::new(SystemClock.now_ms()),
        runs: (0..keys).map(|_| AtomicUsize::new(0)).collect(),
    });

    // Phase 1: every key delivered `deliveries` times at once, under faults.
    let gate = Arc::new(tokio::sync::Semaphore::new(keys_in_flight));
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..keys {
        for _ in 0..deliveries {
            let (run, store, gate) = (
                Arc::clone(&run),
                Arc::clone(&faulty_witness),
                Arc::clone(&gate),
            );
            tasks.spawn(async move {
                let _permit = gate.acquire_owned().await.unwrap();
                deliver(&run, &store, k, true).await;
            });
        }
    }
    while let Some(joined) = tasks.join_next().await {
        joined.expect("no panic in a delivery");
    }
    let injected = faulty.injected();
    assert!(injected > 0);

    // Invariant 3, and what phase 2 must do per key.
    let mut completed_under_faults = Vec::with_capacity(keys);
    for (k, key) in run.keys.iter().enumerate() {
        let applied = recorder.applied(key);
        assert!(
            applied.acquired.len() <= 1 + applied.released.len(),
            "key {k}: acquired {} times with {} releases and no lapse",
            applied.acquired.len(),
            applied.released.len()
        );
        assert!(run.runs[k].load(Ordering::SeqCst) <= applied.acquired.len());
        completed_under_faults.push(applied.completed);
    }
    let runs_after_faults: Vec<usize> = run.runs.iter().map(|r| r.load(Ordering::SeqCst)).collect();

    // Phase 2: every lease lapsed; one clean delivery per key.
    run.clock.advance(LEASE + Duration::from_secs(1));
    let clean = Arc::new(Witness::new(recorder.clone()));
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..keys {
        let (run, store, gate) = (Arc::clone(&run), Arc::clone(&clean), Arc::clone(&gate));
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await.unwrap();
            deliver(&run, &store, k, false).await;
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.expect("no panic in a delivery");
    }
    // Invariant 5.
    for (k, key) in run.keys.iter().enumerate() {
        let more = run.runs[k].load(Ordering::SeqCst) - runs_after_faults[k];
        let expected = usize::from(!completed_under_faults[k]);
        assert_eq!(
            more, expected,
            "key {k}: completed under faults: {}",
            completed_under_faults[k]
        );
        let record = recorder
            .inner
            .get(key, run.clock.now_ms())
            .await
            .unwrap()
            .expect("no key lost");
        assert_eq!(record.status, Status::Completed);
        assert_eq!(record.data, Some(format!("\"receipt {k}\"")));
    }
    let calls = keys * (deliveries + 1);
    let ran_twice = (0..keys)
        .filter(|&k| run.runs[k].load(Ordering::SeqCst) > 1)
        .count();
    eprintln!(
        "FIGURES faults {}: {calls} calls, {injected} faults injected, {} keys completed under \
         faults, {ran_twice} keys ran again (after a body error released the claim, or a failed complete let it lapse), nothing lost",
        run.namespace,
        completed_under_faults.iter().filter(|c| **c).count()
    );
    (calls, injected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_under_seeded_faults_keeps_every_invariant() {
    let mut total = (0, 0);
    for seed in [1, 2, 3] {
        let ns = format!("reliability::faults::memory::{seed}");
        let (calls, injected) = fault_run(MemoryStore::new(), ns, 1_000, 4, seed, 256).await;
        total = (total.0 + calls, total.1 + injected);
    }
    eprintln!(
        "FIGURES faults memory total: {} calls, {} faults injected",
        total.0, total.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_under_seeded_faults_keeps_every_invariant() {
    let Some(endpoint) = support::dynamo("reliability_faults::dynamodb").await else {
        return;
    };
    let store = DynamoStore::new(support::client(&endpoint), support::TABLE);
    let ns = format!("reliability::faults::dynamo::{}", support::run_id());
    fault_run(store, ns, 250, 4, 7, 32).await;
}

/// Renewals under faults: bodies outlive several leases, so `extend` runs
/// (and fails) often; a lease may lapse and be taken over. Invariants 1, 2
/// and 4 still hold, and every call's outcome is typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewals_under_faults_never_let_a_body_run_without_its_claim() {
    let recorder = Arc::new(Recorder::new(MemoryStore::new()));
    let faults = Faults {
        fail_before: 0.2,
        fail_after: 0.2,
        delay: 0.3,
        max_delay: Duration::from_millis(5),
    };
    let faulty = Arc::new(Faulty::new(Arc::clone(&recorder), 11, faults));
    let witness = Witness::new(faulty.clone());
    let namespace = "reliability::faults::renewal";
    let runs = AtomicUsize::new(0);
    let calls = (0..40).map(|k| {
        let (witness, recorder, runs) = (&witness, &recorder, &runs);
        async move {
            let key = Key::builder(namespace)
                .part("id", &k)
                .finish()
                .unwrap()
                .storage_key()
                .to_owned();
            let result = Idempotent::new(namespace)
                .store(witness)
                .lease(Duration::from_millis(150))
                .key("id", &k)
                .run(|| async {
                    let record = recorder
                        .inner
                        .get(&key, SystemClock.now_ms())
                        .await
                        .unwrap();
                    let record = record.expect("a body runs only under a claim");
                    let token = record
                        .lease
                        .as_ref()
                        .and_then(|l| l.token)
                        .expect("a lease token");
                    assert!(witness.take(&key, token), "a body under a foreign lease");
                    assert!(!recorder.applied(&key).completed, "re-run after completion");
                    runs.fetch_add(1, Ordering::SeqCst);
                    // Four renewals' worth of work.
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    Ok::<_, Error>(k)
                })
                .await;
            match result {
                Ok(v) => assert_eq!(v, k),
                Err(Error::Store {
                    namespace: ns,
                    source: StoreError::Backend { operation, .. },
                    ..
                }) => {
                    assert_eq!(ns, namespace);
                    assert_eq!(operation, "injected claim");
                }
                Err(e) => panic!("unexpected: {e:?}"),
            }
        }
    });
    futures_join_all(calls).await;
    assert!(runs.load(Ordering::SeqCst) > 0);
    eprintln!(
        "FIGURES faults renewal: 40 calls, {} faults injected",
        faulty.injected()
    );
}

/// Runs futures concurrently on this task (no `futures` dependency needed).
async fn futures_join_all<F: std::future::Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    let mut set: Vec<_> = futures.map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        set.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if set.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}
