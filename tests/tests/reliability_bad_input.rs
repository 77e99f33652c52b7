//! Reliability: bad input. Missing and empty keys, keys whose `Serialize`
//! fails, 1 MB keys, corrupted records (bad JSON in MemoryStore; unknown
//! status and wrong or missing attributes written raw into DynamoDB Local),
//! oversized and unencodable results, payload mismatches, and a clock
//! stepping backwards. Each gives a clear typed error or the documented
//! behaviour — never a panic, and never a silent re-run (every test counts
//! the body's runs).
#![allow(clippy::unwrap_used)]

mod reliability_support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use idem_core::store::{Claim, ClaimRequest, Completion, LeaseToken};
use idem_core::testing::ManualClock;
use idem_core::{Clock, Error, Idempotent, Key, MemoryStore, Store, StoreError, SystemClock};
use idem_dynamo::DynamoStore;
use reliability_support as support;

type Result<T> = std::result::Result<T, Error>;

fn figure(what: &str, n: usize) {
    eprintln!("FIGURES bad input {what}: {n} tried");
}

struct FailsToSerialize;

impl serde::Serialize for FailsToSerialize {
    fn serialize<S: serde::Serializer>(&self, _: S) -> std::result::Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this value cannot be serialized"))
    }
}

#[tokio::test]
async fn missing_empty_and_unhashable_key_parts_are_typed_errors_and_never_run() {
    let store = MemoryStore::new();
    let runs = AtomicUsize::new(0);
    let ns = "reliability::bad_key";
    let body = || async {
        runs.fetch_add(1, Ordering::SeqCst);
        Ok::<_, Error>(1u8)
    };
    let base = || Idempotent::new(ns).store(&store);
    let missing: Vec<(&str, Result<u8>)> = vec![
        ("none", base().key("none", &None::<String>).run(body).await),
        ("empty", base().key("empty", "").run(body).await),
        (
            "some_empty",
            base()
                .key("some_empty", &Some(String::new()))
                .run(body)
                .await,
        ),
        (
            "null",
            base().key("null", &serde_json::Value::Null).run(body).await,
        ),
        (
            "json_empty",
            base()
                .key("json_empty", &serde_json::json!(""))
                .run(body)
                .await,
        ),
        ("unit", base().key("unit", &()).run(body).await),
        (
            "second",
            base()
                .key("first", "ok")
                .key("second", &None::<u64>)
                .run(body)
                .await,
        ),
    ];
    let tried = missing.len() + 2;
    for (part, result) in missing {
        match result {
            Err(Error::MissingKey { namespace, part: p }) => {
                assert_eq!(namespace, ns);
                assert_eq!(p, part);
            }
            other => panic!("`{part}`: expected MissingKey, got {other:?}"),
        }
    }
    let unhashable = base().key("bad", &FailsToSerialize).run(body).await;
    assert!(
        matches!(&unhashable, Err(Error::InvalidKey { part, reason, .. })
            if part == "bad" && reason.contains("cannot be serialized")),
        "{unhashable:?}"
    );
    let bad_payload = base()
        .key("id", "x")
        .validate(&FailsToSerialize)
        .run(body)
        .await;
    assert!(
        matches!(&bad_payload, Err(Error::InvalidKey { .. })),
        "{bad_payload:?}"
    );
    assert_eq!(
        runs.load(Ordering::SeqCst),
        0,
        "no bad key ever runs the body"
    );
    assert!(store.is_empty(), "and nothing is stored");
    figure("key parts", tried);
}

/// A 1 MB key part: works, the stored key keeps its fixed size, a
/// one-byte difference is another key, and duplicates replay.
async fn huge_keys_on<S: Store>(store: &S, ns: &str) {
    let runs = AtomicUsize::new(0);
    let mut big = "k".repeat(1 << 20);
    let call = |part: String| {
        let runs = &runs;
        async move {
            Idempotent::new(ns.to_owned())
                .store(store)
                .key("blob", &part)
                .run(|| async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Error>(part.len())
                })
                .await
        }
    };
    assert_eq!(call(big.clone()).await.unwrap(), 1 << 20);
    assert_eq!(call(big.clone()).await.unwrap(), 1 << 20);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    big.pop();
    big.push('K');
    assert_eq!(call(big.clone()).await.unwrap(), 1 << 20);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "one byte apart: another key"
    );
    let key = Key::builder(ns.to_owned())
        .part("blob", &big)
        .finish()
        .unwrap();
    assert_eq!(
        key.storage_key().len(),
        ns.len() + 1 + 64,
        "fixed-size stored key"
    );
    let record = store
        .get(key.storage_key(), SystemClock.now_ms())
        .await
        .unwrap();
    assert!(record.is_some(), "stored under the digest");
}

#[tokio::test]
async fn huge_keys_work_and_store_a_fixed_size_key_on_memory() {
    huge_keys_on(&MemoryStore::new(), "reliability::huge").await;
    figure("huge keys (memory)", 2);
}

#[tokio::test]
async fn huge_keys_work_and_store_a_fixed_size_key_on_dynamodb() {
    let Some(endpoint) = support::dynamo("reliability_bad_input::huge_keys").await else {
        return;
    };
    let store = DynamoStore::new(support::client(&endpoint), support::TABLE);
    huge_keys_on(&store, &format!("reliability::huge::{}", support::run_id())).await;
    figure("huge keys (dynamodb)", 2);
}

/// Writes a completed record holding `data` straight into the store.
async fn plant(store: &MemoryStore, key: &str, data: &str) {
    let now = SystemClock.now_ms();
    let claim = ClaimRequest {
        key,
        now_ms: now,
        token: LeaseToken::new(),
        lease_until_ms: now + 60_000,
        expires_at_s: now / 1000 + 600,
        fingerprint: None,
    };
    let Claim::Acquired(lease) = store.claim(claim).await.unwrap() else {
        panic!("a fresh key is acquired");
    };
    let completion = Completion {
        key,
        lease: &lease,
        data: Some(data),
        fingerprint: None,
        expires_at_s: now / 1000 + 600,
    };
    store.complete(completion).await.unwrap();
}

#[tokio::test]
async fn corrupt_saved_results_in_memory_are_decode_errors_and_never_rerun() {
    let store = MemoryStore::new();
    let ns = "reliability::corrupt_memory";
    let cases = [
        "{not json",
        "",
        "   ",
        "\"a string\"",
        "null",
        "[1,2]",
        "1.5",
        "-1",
        "99999999999999",
        "{\"receipt\":7}",
        "7 trailing",
    ];
    let runs = AtomicUsize::new(0);
    for (i, data) in cases.iter().enumerate() {
        let key = Key::builder(ns).part("id", &i).finish().unwrap();
        plant(&store, key.storage_key(), data).await;
        for _ in 0..3 {
            let got = Idempotent::new(ns)
                .store(&store)
                .key("id", &i)
                .run(|| async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok::<u32, Error>(0)
                })
                .await;
            match got {
                Err(e @ Error::Decode { .. }) => {
                    assert_eq!(e.namespace(), ns);
                    assert!(!e.is_retryable());
                }
                other => panic!("data {data:?}: expected Decode, got {other:?}"),
            }
        }
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        0,
        "a corrupt record never re-runs the body"
    );
    figure("corrupt records (memory)", cases.len());
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_items_in_dynamodb_are_typed_errors_and_never_rerun() {
    let Some(endpoint) = support::dynamo("reliability_bad_input::corrupt_dynamodb").await else {
        return;
    };
    let client = support::client(&endpoint);
    let store = DynamoStore::new(client.clone(), support::TABLE);
    let ns = format!("reliability::corrupt_dynamo::{}", support::run_id());
    let now = SystemClock.now_ms();
    let later_s = now / 1000 + 3_600;
    let later_ms = now + 3_600_000;
    type Fields = Vec<(&'static str, Option<AttributeValue>)>;
    // (what, attributes over a valid COMPLETED item, expected: Some(words in
    // the Corrupt reason) or None for a Decode error)
    let cases: Vec<(&str, Fields, Option<&str>)> = vec![
        (
            "unknown status",
            vec![("status", Some(s("EXPIRED")))],
            Some("unknown value `EXPIRED`"),
        ),
        (
            "status missing",
            vec![("status", None)],
            Some("`status` is missing"),
        ),
        (
            "status as number",
            vec![("status", Some(n(1)))],
            Some("`status` should be a string"),
        ),
        (
            "expiration as string",
            vec![("expiration", Some(s("soon")))],
            Some("`expiration` should be a number"),
        ),
        (
            "expiration missing",
            vec![("expiration", None)],
            Some("`expiration` is missing"),
        ),
        (
            "data as boolean",
            vec![("data", Some(AttributeValue::Bool(true)))],
            Some("`data` should be a string"),
        ),
        (
            "validation as number",
            vec![("validation", Some(n(5)))],
            Some("`validation` should be a string"),
        ),
        (
            "lease end as string",
            vec![
                ("status", Some(s("INPROGRESS"))),
                ("in_progress_expiration", Some(s("later"))),
                ("lease_token", Some(s("t"))),
            ],
            Some("`in_progress_expiration` should be a number"),
        ),
        (
            "lease token as number",
            vec![
                ("status", Some(s("INPROGRESS"))),
                ("in_progress_expiration", Some(n(later_ms))),
                ("lease_token", Some(n(3))),
            ],
            Some("`lease_token` should be a string"),
        ),
        ("data not JSON", vec![("data", Some(s("{oops")))], None),
        (
            "data of another type",
            vec![("data", Some(s("\"text\"")))],
            None,
        ),
    ];
    let runs = AtomicUsize::new(0);
    for (i, (what, fields, expected)) in cases.iter().enumerate() {
        let key = Key::builder(ns.clone()).part("id", &i).finish().unwrap();
        let mut item: HashMap<String, AttributeValue> = HashMap::from([
            ("id".to_owned(), s(key.storage_key())),
            ("status".to_owned(), s("COMPLETED")),
            ("expiration".to_owned(), n(later_s)),
            ("data".to_owned(), s("42")),
        ]);
        for (name, value) in fields {
            match value {
                Some(v) => item.insert((*name).to_owned(), v.clone()),
                None => item.remove(*name),
            };
        }
        client
            .put_item()
            .table_name(support::TABLE)
            .set_item(Some(item))
            .send()
            .await
            .expect("raw PutItem");
        for _ in 0..2 {
            let got = Idempotent::new(ns.clone())
                .store(&store)
                .key("id", &i)
                .run(|| async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok::<u32, Error>(0)
                })
                .await;
            match (got, expected) {
                (
                    Err(Error::Store {
                        namespace,
                        source: StoreError::Corrupt { reason },
                        ..
                    }),
                    Some(words),
                ) => {
                    assert_eq!(namespace, ns);
                    assert!(reason.contains(words), "{what}: {reason}");
                    assert!(
                        reason.contains(support::TABLE),
                        "{what}: names the table: {reason}"
                    );
                }
                (Err(Error::Decode { namespace, .. }), None) => assert_eq!(namespace, ns),
                (other, _) => panic!("{what}: expected a typed error, got {other:?}"),
            }
        }
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        0,
        "a corrupt item never re-runs the body"
    );
    figure("corrupt items (dynamodb)", cases.len());
}

/// A result too large for the store: the caller gets it, the effect never
/// runs again, replays get `ReplayUnavailable`.
async fn oversized_on<S: Store>(store: &S, ns: &str, size: usize) {
    let runs = AtomicUsize::new(0);
    let call = || {
        Idempotent::new(ns.to_owned())
            .store(store)
            .key("id", "big")
            .run(|| async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>("x".repeat(size))
            })
    };
    assert_eq!(
        call().await.unwrap().len(),
        size,
        "the first caller gets the result"
    );
    for _ in 0..3 {
        let replay = call().await;
        assert!(
            matches!(&replay, Err(Error::ReplayUnavailable { namespace, .. }) if namespace == ns),
            "{replay:?}"
        );
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "never run again");
}

#[tokio::test]
async fn oversized_and_unencodable_results_are_never_rerun_on_memory() {
    let store = MemoryStore::new().with_max_data_bytes(1024);
    oversized_on(&store, "reliability::oversized", 4096).await;
    // A result serde_json cannot encode (a map with non-string keys).
    let runs = AtomicUsize::new(0);
    let call = || {
        Idempotent::new("reliability::unencodable")
            .store(&store)
            .key("id", "map")
            .run(|| async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>(HashMap::from([((1u8, 2u8), 3u8)]))
            })
    };
    assert_eq!(call().await.unwrap().len(), 1);
    assert!(matches!(call().await, Err(Error::ReplayUnavailable { .. })));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    figure("oversized/unencodable results (memory)", 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_results_are_never_rerun_on_dynamodb() {
    let Some(endpoint) = support::dynamo("reliability_bad_input::oversized_dynamodb").await else {
        return;
    };
    let store = DynamoStore::new(support::client(&endpoint), support::TABLE);
    // Over DynamoDB's 400 KB item limit.
    let ns = format!("reliability::oversized::{}", support::run_id());
    oversized_on(&store, &ns, 500 * 1024).await;
    figure("oversized results (dynamodb)", 1);
}

#[derive(serde::Serialize)]
struct Order {
    id: &'static str,
    amount_cents: u64,
}

async fn payload_mismatch_on<S: Store>(store: &S, ns: &str) {
    let runs = AtomicUsize::new(0);
    let hold = tokio::sync::Notify::new();
    let started = tokio::sync::Notify::new();
    let call = |order: Order| {
        let (runs, hold, started) = (&runs, &hold, &started);
        async move {
            Idempotent::new(ns.to_owned())
                .store(store)
                .key("order.id", &order.id)
                .validate(&order)
                .run(|| async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    started.notify_one();
                    hold.notified().await;
                    Ok::<_, Error>(order.amount_cents)
                })
                .await
        }
    };
    let first = call(Order {
        id: "o-1",
        amount_cents: 100,
    });
    let others = async {
        started.notified().await;
        // While the first still runs: another payload is a mismatch, not InProgress.
        let during = call(Order {
            id: "o-1",
            amount_cents: 999,
        })
        .await;
        hold.notify_one();
        during
    };
    let (first, during) = tokio::join!(first, others);
    assert_eq!(first.unwrap(), 100);
    assert!(
        matches!(&during, Err(Error::PayloadMismatch { namespace, .. }) if namespace == ns),
        "{during:?}"
    );
    let after = call(Order {
        id: "o-1",
        amount_cents: 999,
    })
    .await;
    assert!(
        matches!(&after, Err(Error::PayloadMismatch { .. })),
        "{after:?}"
    );
    assert!(!after.unwrap_err().is_retryable());
    let same = call(Order {
        id: "o-1",
        amount_cents: 100,
    })
    .await;
    assert_eq!(same.unwrap(), 100, "the same payload replays");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn payload_mismatch_is_typed_in_progress_and_after_on_memory() {
    payload_mismatch_on(&MemoryStore::new(), "reliability::mismatch").await;
    figure("payload mismatches (memory)", 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_mismatch_is_typed_in_progress_and_after_on_dynamodb() {
    let Some(endpoint) = support::dynamo("reliability_bad_input::mismatch_dynamodb").await else {
        return;
    };
    let store = DynamoStore::new(support::client(&endpoint), support::TABLE);
    payload_mismatch_on(
        &store,
        &format!("reliability::mismatch::{}", support::run_id()),
    )
    .await;
    figure("payload mismatches (dynamodb)", 2);
}

/// The clock stepping backwards while a claim is held (its run crashed)
/// only delays the takeover; it never lets a second run in early, and a
/// completed record stays completed. Extreme clocks do not panic.
#[tokio::test]
async fn a_clock_stepping_backwards_never_lets_a_second_run_in_early() {
    let store = MemoryStore::new();
    let t0 = 1_700_000_000_000;
    let clock = ManualClock::new(t0);
    let lease = Duration::from_secs(10);
    let runs = AtomicUsize::new(0);
    let call = |crash: bool| {
        let runs = &runs;
        Idempotent::new("reliability::backwards")
            .store(&store)
            .clock(&clock)
            .lease(lease)
            // A crash: the dropped future releases nothing.
            .on_cancel(idem_core::OnCancel::Keep)
            .key("id", "x")
            .run(move || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                if crash {
                    std::future::pending::<()>().await;
                }
                Ok::<_, Error>(7u8)
            })
    };
    // A run that crashes mid-body (the future is dropped) holds the key.
    let crashed = tokio::time::timeout(Duration::from_millis(20), call(true)).await;
    assert!(crashed.is_err(), "the crashing run never returns");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let mut tried = 0;
    for now in [t0 - 3_600_000, 0, t0 + 9_999] {
        clock.set(now);
        tried += 1;
        let got = call(false).await;
        assert!(
            matches!(got, Err(Error::InProgress { .. })),
            "at {now}: {got:?}"
        );
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "no second run before the lease lapses"
    );
    clock.set(t0 + 10_000);
    assert_eq!(call(false).await.unwrap(), 7);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    for now in [t0 - 86_400_000, 0, t0 + 10_001] {
        clock.set(now);
        tried += 1;
        assert_eq!(call(false).await.unwrap(), 7, "at {now}: replayed");
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "a completed call never runs again"
    );
    // Absurd clocks: typed outcomes, no arithmetic panic.
    for now in [u64::MAX, u64::MAX - 1, 1] {
        clock.set(now);
        tried += 1;
        let got = call(false).await;
        assert!(
            got.is_ok() || matches!(got, Err(Error::InProgress { .. })),
            "{got:?}"
        );
    }
    figure("clock steps", tried);
    let _ = clock.now_ms();
}
