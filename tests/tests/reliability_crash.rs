//! Reliability: crashes. A child process (`crash-child`) runs a guarded call
//! against DynamoDB Local and is killed with SIGKILL at a chosen point; the
//! test then retries in this process through its own client, as the next
//! delivery on another Lambda instance would:
//!
//! - after the claim, inside the body, between body and `complete`: until the
//!   lease lapses every retry gets `InProgress` (the body does not run);
//!   after the lapse one retry runs the body exactly once more, and later
//!   ones replay its result;
//! - after `complete`: retries replay the child's result, also long after
//!   its lease would have lapsed — a completed record is never lost or run
//!   again.
//!
//! And fencing (in-process, on MemoryStore with a manual clock and on
//! DynamoDB Local with the real one): a slow run whose lease lapsed and was
//! taken over has its late `complete` refused (`LeaseLost`) and the newer
//! run's result stands.
#![allow(clippy::unwrap_used)]

mod reliability_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use idem_core::store::{Completion, Lease, LeaseToken, Status, StoreFuture};
use idem_core::testing::{Intercept, Intercepted, ManualClock};
use idem_core::{
    current_key, Clock, Error, Idempotent, Key, MemoryStore, Store, StoreError, SystemClock,
};
use idem_dynamo::DynamoStore;
use reliability_support as support;

const LEASE: Duration = Duration::from_secs(2);

/// A running `crash-child` and the lines it printed.
struct Child {
    process: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Child {
    fn spawn(endpoint: &str, namespace: &str, id: &str, point: &str) -> Child {
        let mut process = Command::new(env!("CARGO_BIN_EXE_crash-child"))
            .args([
                endpoint,
                support::TABLE,
                namespace,
                id,
                point,
                &LEASE.as_millis().to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn crash-child");
        let stdout = process.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Child {
            process,
            lines,
            seen: Vec::new(),
        }
    }

    /// Blocks until the child prints `line` (or fails after 60 s).
    fn wait_for(&mut self, line: &str) {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(got) => {
                    let done = got == line;
                    self.seen.push(got);
                    if done {
                        return;
                    }
                }
                Err(e) => panic!(
                    "crash-child never printed `{line}` ({e}); it printed {:?}",
                    self.seen
                ),
            }
        }
    }

    /// SIGKILL (`Child::kill` on unix), then everything it printed.
    fn kill(mut self) -> Vec<String> {
        self.process.kill().expect("SIGKILL crash-child");
        let status = self.process.wait().expect("reap crash-child");
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status:?}");
        }
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        self.seen
    }
}

fn storage_key(namespace: &str, id: &str) -> String {
    Key::builder(namespace.to_owned())
        .part("id", id)
        .finish()
        .unwrap()
        .storage_key()
        .to_owned()
}

/// The retry a later delivery makes: same namespace and key, its own client.
async fn retry(
    store: &DynamoStore,
    namespace: &str,
    id: &str,
    runs: &AtomicUsize,
    seen_key: &Mutex<Option<String>>,
) -> Result<String, Error> {
    Idempotent::new(namespace.to_owned())
        .store(store)
        .lease(LEASE)
        .key("id", id)
        .run(|| async {
            runs.fetch_add(1, Ordering::SeqCst);
            *seen_key.lock().unwrap() = current_key().map(|k| k.storage_key().to_owned());
            Ok(format!("retry {}", std::process::id()))
        })
        .await
}

/// Kills the child at `point` and checks what the next deliveries see.
async fn crash_at(point: &str, child_body_runs: usize) {
    let test = format!("reliability_crash::{}", point.replace('-', "_"));
    let Some(endpoint) = support::dynamo(&test).await else {
        return;
    };
    let namespace = format!("reliability::crash::{}", support::run_id());
    let id = format!("order-{point}");
    let key = storage_key(&namespace, &id);
    let store = DynamoStore::new(support::client(&endpoint), support::TABLE);

    let mut child = Child::spawn(&endpoint, &namespace, &id, point);
    child.wait_for(&format!("AT {point}"));
    let lines = child.kill();
    let bodies: Vec<&String> = lines.iter().filter(|l| l.starts_with("BODY ")).collect();
    assert_eq!(bodies.len(), child_body_runs, "child output: {lines:?}");
    for body in &bodies {
        assert_eq!(body.as_str(), format!("BODY {key}"), "the body saw its key");
    }

    let runs = AtomicUsize::new(0);
    let seen_key = Mutex::new(None);
    let record = store
        .get(&key, SystemClock.now_ms())
        .await
        .unwrap()
        .expect("the child's record survives its death");

    if point == "after-complete" {
        let result = lines
            .iter()
            .find_map(|l| l.strip_prefix("RESULT "))
            .expect("the child printed its result")
            .to_owned();
        assert_eq!(record.status, Status::Completed);
        assert_eq!(record.data, Some(serde_json::to_string(&result).unwrap()));
        // Well past the lease the child held: still replayed, never re-run.
        tokio::time::sleep(LEASE + Duration::from_millis(300)).await;
        for _ in 0..3 {
            let got = retry(&store, &namespace, &id, &runs, &seen_key).await;
            assert_eq!(got.unwrap(), result, "the completed result is replayed");
        }
        assert_eq!(
            runs.load(Ordering::SeqCst),
            0,
            "a completed call never runs again"
        );
        return;
    }

    assert_eq!(record.status, Status::InProgress, "{record:?}");
    let until = record
        .lease
        .as_ref()
        .expect("an in-progress lease")
        .until_ms;
    let mut in_progress = 0;
    let value = loop {
        let started = SystemClock.now_ms();
        match retry(&store, &namespace, &id, &runs, &seen_key).await {
            Err(Error::InProgress {
                namespace: ns,
                retry_after,
                ..
            }) => {
                assert_eq!(ns, namespace);
                assert!(
                    started < until,
                    "InProgress at {started} although the lease lapsed at {until}"
                );
                assert!(retry_after <= LEASE, "{retry_after:?}");
                assert_eq!(runs.load(Ordering::SeqCst), 0, "no run before the lapse");
                in_progress += 1;
                tokio::time::sleep(retry_after.min(Duration::from_millis(100))).await;
            }
            Ok(value) => {
                let ended = SystemClock.now_ms();
                assert!(
                    ended >= until,
                    "ran at {ended}, before the lapse at {until}"
                );
                assert!(
                    started <= until + 1_000,
                    "the first retry after the lapse ({until}) runs it; this one started at {started}"
                );
                break value;
            }
            Err(e) => panic!("unexpected error from a retry: {e:?}"),
        }
    };
    assert!(in_progress >= 1, "a retry before the lapse gets InProgress");
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "exactly one run after the lapse"
    );
    assert_eq!(
        seen_key.lock().unwrap().as_deref(),
        Some(key.as_str()),
        "the re-run sees the same key as the crashed run: downstream \
         idempotency keyed on current_key() deduplicates the effect"
    );
    for _ in 0..3 {
        let again = retry(&store, &namespace, &id, &runs, &seen_key).await;
        assert_eq!(again.unwrap(), value, "later deliveries replay");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let done = store
        .get(&key, SystemClock.now_ms())
        .await
        .unwrap()
        .expect("completed record");
    assert_eq!(done.status, Status::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_claim_holds_the_key_until_the_lease_lapses() {
    crash_at("after-claim", 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_inside_the_body_holds_the_key_until_the_lease_lapses() {
    crash_at("in-body", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_body_and_complete_runs_once_more_after_the_lapse() {
    crash_at("before-complete", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_complete_never_loses_or_reruns_the_result() {
    crash_at("after-complete", 1).await;
}

/// A store on which the lease cannot be renewed (every `extend` fails, as
/// when the network to the store is down), recording each `complete`'s
/// outcome by lease token.
struct NoRenewal<S> {
    inner: S,
    completes: Mutex<Vec<Seen>>,
}

/// A complete as the store saw it: its token, and what it answered.
type Seen = (Option<LeaseToken>, Result<(), String>);

impl<S> NoRenewal<S> {
    fn new(inner: S) -> Intercepted<Self> {
        Intercepted(NoRenewal {
            inner,
            completes: Mutex::new(Vec::new()),
        })
    }
}

impl<S: Store> Intercept for NoRenewal<S> {
    fn inner(&self) -> &dyn Store {
        &self.inner
    }
    fn complete<'a>(&'a self, completion: Completion<'a>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let token = completion.lease.token;
            let result = self.inner.complete(completion).await;
            let seen = match &result {
                Ok(()) => Ok(()),
                Err(StoreError::LeaseLost) => Err("LeaseLost".to_owned()),
                Err(e) => Err(e.to_string()),
            };
            self.completes.lock().unwrap().push((token, seen));
            result
        })
    }
    fn extend<'a>(&'a self, _: &'a str, _: &'a Lease, _: u64) -> StoreFuture<'a, ()> {
        Box::pin(async {
            Err(StoreError::backend(
                "extend",
                "renewal is impossible in this test",
            ))
        })
    }
}

/// Slow run A claims, its lease lapses (`lapse` moves time past it), run B
/// takes over and completes, then A finishes: A's `complete` must be fenced
/// and B's result must stand.
async fn slow_run_is_fenced<S: Store, C: Clock>(
    slow_store: &Intercepted<NoRenewal<S>>,
    fast_store: &S,
    clock: &C,
    lease: Duration,
    lapse: impl std::future::Future<Output = ()>,
    namespace: &str,
) {
    let runs = AtomicUsize::new(0);
    let started = tokio::sync::Notify::new();
    let (finish_a, a_may_finish) = tokio::sync::oneshot::channel::<()>();
    fn call<'a, T: Store, C: Clock>(
        store: &'a T,
        clock: &'a C,
        lease: Duration,
        namespace: &str,
    ) -> Idempotent<'a> {
        Idempotent::new(namespace.to_owned())
            .store(store)
            .clock(clock)
            .lease(lease)
            .key("id", "slow")
    }
    let slow = call(slow_store, clock, lease, namespace).run(|| async {
        runs.fetch_add(1, Ordering::SeqCst);
        started.notify_one();
        a_may_finish.await.expect("A is told to finish");
        Ok::<_, Error>("A".to_owned())
    });
    let fast = async {
        started.notified().await;
        lapse.await;
        let b = call(fast_store, clock, lease, namespace)
            .run(|| async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>("B".to_owned())
            })
            .await;
        finish_a.send(()).expect("A waits");
        b
    };
    let (a, b) = tokio::join!(slow, fast);
    assert_eq!(
        a.unwrap(),
        "A",
        "the slow caller still gets its own body's result"
    );
    assert_eq!(b.unwrap(), "B", "the lapsed claim was taken over and B ran");
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let completes = slow_store.completes.lock().unwrap().clone();
    assert_eq!(completes.len(), 1, "{completes:?}");
    assert_eq!(
        completes[0].1,
        Err("LeaseLost".to_owned()),
        "A's late complete is fenced"
    );
    let key = storage_key(namespace, "slow");
    let record = fast_store
        .get(&key, clock.now_ms())
        .await
        .unwrap()
        .expect("B's record");
    assert_eq!(record.status, Status::Completed);
    assert_eq!(record.data.as_deref(), Some("\"B\""), "B's result stands");
    let replay = call(fast_store, clock, lease, namespace)
        .run(|| async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Error>("C".to_owned())
        })
        .await;
    assert_eq!(replay.unwrap(), "B");
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_late_complete_after_takeover_is_fenced_on_memory() {
    let memory = Arc::new(MemoryStore::new());
    let slow = NoRenewal::new(Arc::clone(&memory));
    let clock = ManualClock::new(1_700_000_000_000);
    let lease = Duration::from_secs(10);
    let lapse = async {
        clock.advance(lease);
    };
    slow_run_is_fenced(&slow, &memory, &clock, lease, lapse, "reliability::fence").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_complete_after_takeover_is_fenced_on_dynamodb() {
    let Some(endpoint) = support::dynamo("reliability_crash::fenced_on_dynamodb").await else {
        return;
    };
    // Two clients: the slow run's instance and the one that takes over.
    let slow = NoRenewal::new(DynamoStore::new(support::client(&endpoint), support::TABLE));
    let fast = DynamoStore::new(support::client(&endpoint), support::TABLE);
    let lease = Duration::from_millis(1_000);
    let lapse = tokio::time::sleep(lease + Duration::from_millis(100));
    let namespace = format!("reliability::fence::{}", support::run_id());
    slow_run_is_fenced(&slow, &fast, &SystemClock, lease, lapse, &namespace).await;
}
