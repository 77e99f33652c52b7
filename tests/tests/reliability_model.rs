//! Reliability: model check. proptest generates sequences of operations on
//! the engine + MemoryStore + ManualClock — calls whose body succeeds,
//! fails, or crashes (the future is dropped mid-body, or hangs and is
//! resumed much later, succeeding or failing), and clock moves (small
//! steps, exactly to and past the lease, past the ttl, and backwards) — and
//! checks every step against a small reference model of the design's
//! promises: which calls execute, replay, get `InProgress` (with the exact
//! `retry_after`) or the body's error; which late completions are fenced;
//! and what the store holds afterwards. Failing sequences shrink to a
//! minimal one (proptest's default).
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use idem_core::store::Status;
use idem_core::testing::ManualClock;
use idem_core::{Clock, Error, Idempotent, Key, MemoryStore, OnCancel, Store};
use proptest::prelude::*;
use reliability_support::Failure;

mod reliability_support;

const LEASE_MS: u64 = 10_000;
const TTL_MS: u64 = 60_000;
const START_MS: u64 = 1_700_000_000_000;
const KEYS: u8 = 3;
const NAMESPACE: &str = "reliability::model";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Ok,
    Err,
    /// The future is dropped mid-body (process crash, Lambda timeout).
    Drop,
    /// The body stalls; `Resume` lets it finish later.
    Hang,
}

#[derive(Debug, Clone)]
enum Op {
    Call(u8, Body),
    /// Resume the hung call `n % hung` with success or failure.
    Resume(usize, bool),
    Forward(u64),
    Back(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let body = prop_oneof![
        4 => Just(Body::Ok),
        2 => Just(Body::Err),
        1 => Just(Body::Drop),
        2 => Just(Body::Hang),
    ];
    let forward = prop_oneof![
        1..3_000u64,
        Just(LEASE_MS - 1),
        Just(LEASE_MS),
        Just(TTL_MS),
        Just(TTL_MS + 1_000),
    ];
    prop_oneof![
        6 => (0..KEYS, body).prop_map(|(k, b)| Op::Call(k, b)),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(n, ok)| Op::Resume(n, ok)),
        3 => forward.prop_map(Op::Forward),
        1 => (1..20_000u64).prop_map(Op::Back),
    ]
}

/// The reference model's record of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Held by run `token` until `until_ms`.
    Held { token: usize, until_ms: u64 },
    /// Completed with run `value`'s result.
    Done { value: usize },
}

#[derive(Debug, Clone)]
struct ModelRecord {
    state: State,
    expires_at_s: u64,
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Executed(usize),
    Replayed(usize),
    InProgress(Duration),
    BodyError,
    Running,
}

fn expires_at_s(now: u64) -> u64 {
    (now + TTL_MS).div_ceil(1000)
}

type Call<'a> = Pin<Box<dyn Future<Output = Result<usize, Failure>> + 'a>>;

fn storage_key(k: u8) -> String {
    Key::builder(NAMESPACE)
        .part("k", &k)
        .finish()
        .unwrap()
        .storage_key()
        .to_owned()
}

/// Polls once: a call on MemoryStore finishes in one poll unless its body waits.
async fn poll_once(call: &mut Call<'_>) -> Poll<Result<usize, Failure>> {
    std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await
}

fn observed(result: Result<usize, Failure>, runs_before: usize, runs_after: usize) -> Outcome {
    match result {
        Ok(v) if runs_after == runs_before + 1 => Outcome::Executed(v),
        Ok(v) => Outcome::Replayed(v),
        Err(Failure::Body) => Outcome::BodyError,
        Err(Failure::Idem(Error::InProgress {
            lease_lapses_in, ..
        })) => Outcome::InProgress(lease_lapses_in),
        Err(Failure::Idem(e)) => panic!("unexpected error: {e:?}"),
    }
}

async fn check(ops: Vec<Op>) {
    let store = MemoryStore::new();
    let clock = ManualClock::new(START_MS);
    let runs = AtomicUsize::new(0);
    let mut model: HashMap<u8, ModelRecord> = HashMap::new();
    // Hung calls: key, run id, their future, and the switch that finishes them.
    let mut hung: Vec<(u8, usize, Call<'_>, tokio::sync::oneshot::Sender<bool>)> = Vec::new();
    let keys: Vec<String> = (0..KEYS).map(storage_key).collect();

    for (step, op) in ops.iter().enumerate() {
        let now = clock.now_ms();
        match *op {
            Op::Forward(ms) => clock.advance(Duration::from_millis(ms)),
            Op::Back(ms) => clock.set(now - ms),
            Op::Call(k, body) => {
                let id = step;
                let (finish, finished) = tokio::sync::oneshot::channel::<bool>();
                let runs_ref = &runs;
                let mut call: Call<'_> = Box::pin(
                    Idempotent::new(NAMESPACE)
                        .store(&store)
                        .clock(&clock)
                        .lease(Duration::from_millis(LEASE_MS))
                        .ttl(Duration::from_millis(TTL_MS))
                        // A dropped future stands for a crash here, which
                        // releases nothing; cancellation is in endings.rs.
                        .on_cancel(OnCancel::Keep)
                        .key("k", &k)
                        .run(move || async move {
                            runs_ref.fetch_add(1, Ordering::SeqCst);
                            match body {
                                Body::Ok => Ok(id),
                                Body::Err => Err(Failure::Body),
                                Body::Drop => std::future::pending().await,
                                Body::Hang => match finished.await {
                                    Ok(true) => Ok(id),
                                    _ => Err(Failure::Body),
                                },
                            }
                        }),
                );
                // The model's prediction.
                let live = model
                    .get(&k)
                    .filter(|r| r.expires_at_s * 1000 > now)
                    .cloned();
                let expected = match live.map(|r| r.state) {
                    Some(State::Done { value }) => Outcome::Replayed(value),
                    Some(State::Held { until_ms, .. }) if until_ms > now => {
                        Outcome::InProgress(Duration::from_millis(until_ms - now))
                    }
                    _ => {
                        let held = ModelRecord {
                            state: State::Held {
                                token: id,
                                until_ms: now + LEASE_MS,
                            },
                            expires_at_s: expires_at_s(now),
                        };
                        match body {
                            Body::Ok => {
                                model.insert(
                                    k,
                                    ModelRecord {
                                        state: State::Done { value: id },
                                        expires_at_s: expires_at_s(now),
                                    },
                                );
                                Outcome::Executed(id)
                            }
                            Body::Err => {
                                model.remove(&k);
                                Outcome::BodyError
                            }
                            Body::Drop | Body::Hang => {
                                model.insert(k, held);
                                Outcome::Running
                            }
                        }
                    }
                };
                let before = runs.load(Ordering::SeqCst);
                let got = match poll_once(&mut call).await {
                    Poll::Ready(result) => observed(result, before, runs.load(Ordering::SeqCst)),
                    Poll::Pending => {
                        assert_eq!(
                            runs.load(Ordering::SeqCst),
                            before + 1,
                            "a pending call runs its body"
                        );
                        Outcome::Running
                    }
                };
                assert_eq!(got, expected, "step {step}: {op:?} at {now}");
                if got == Outcome::Running && body == Body::Hang {
                    hung.push((k, id, call, finish));
                }
                // Body::Drop: `call` is dropped here, mid-body.
            }
            Op::Resume(n, ok) => {
                if hung.is_empty() {
                    continue;
                }
                let (k, id, mut call, finish) = hung.remove(n % hung.len());
                finish.send(ok).unwrap();
                let result = call.as_mut().await;
                // The late run's caller gets its own body's outcome ...
                match (&result, ok) {
                    (Ok(v), true) => assert_eq!(*v, id),
                    (Err(Failure::Body), false) => {}
                    _ => panic!("step {step}: resumed run {id} returned {result:?}"),
                }
                // ... and its complete/release applies only if it still
                // holds the key (fencing).
                let holds = matches!(
                    model.get(&k),
                    Some(ModelRecord { state: State::Held { token, .. }, .. }) if *token == id
                );
                if holds {
                    if ok {
                        model.insert(
                            k,
                            ModelRecord {
                                state: State::Done { value: id },
                                expires_at_s: expires_at_s(now),
                            },
                        );
                    } else {
                        model.remove(&k);
                    }
                }
            }
        }
        // The store agrees with the model after every step.
        let now = clock.now_ms();
        for k in 0..KEYS {
            let got = store.get(&keys[k as usize], now).await.unwrap();
            let want = model.get(&k).filter(|r| r.expires_at_s * 1000 > now);
            match (got, want) {
                (None, None) => {}
                (Some(rec), Some(m)) => {
                    assert_eq!(rec.expires_at_s, m.expires_at_s, "step {step}: key {k}");
                    match m.state {
                        State::Done { value } => {
                            assert_eq!(rec.status, Status::Completed, "step {step}: key {k}");
                            assert_eq!(rec.data, Some(value.to_string()), "step {step}: key {k}");
                        }
                        State::Held { until_ms, .. } => {
                            assert_eq!(rec.status, Status::InProgress, "step {step}: key {k}");
                            assert_eq!(rec.lease.map(|l| l.until_ms), Some(until_ms));
                        }
                    }
                }
                (got, want) => panic!("step {step}: key {k}: store {got:?}, model {want:?}"),
            }
        }
    }
}

/// Cases per run; the figure the README's "Guarantees" section quotes.
const CASES: u32 = 1_000;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn engine_and_memory_store_follow_the_reference_model(ops in prop::collection::vec(op(), 1..60)) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(check(ops));
    }
}

/// The model's own sanity: a hand-written sequence with every transition
/// (so a model that predicts nothing would fail here too).
#[test]
fn the_model_covers_takeover_fencing_expiry_and_backwards_clocks() {
    use Body::*;
    let ops = vec![
        Op::Call(0, Hang),     // run 0 holds key 0
        Op::Call(0, Ok),       // InProgress
        Op::Forward(LEASE_MS), // lapsed
        Op::Call(0, Ok),       // run 3 takes over and completes
        Op::Resume(0, true),   // run 0's late complete is fenced
        Op::Call(0, Err),      // replays run 3
        Op::Back(5_000),       // backwards: still replays
        Op::Call(0, Ok),
        Op::Forward(TTL_MS + 6_000), // expired
        Op::Call(0, Err),            // runs, fails, releases
        Op::Call(0, Drop),           // runs, crashes
        Op::Call(0, Ok),             // InProgress
    ];
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(check(ops));
}
