//! DynamoStore under the engine: round trips per call (counted by an SDK
//! interceptor), oversized results, in-progress duplicates, lease renewal,
//! and the claim's fallback read when a failed claim returns no item.

mod dynamo_support;

use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_dynamodb::config::interceptors::FinalizerInterceptorContextMut;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
use idem_core::store::{Claim, ClaimRequest, Completion, LeaseToken, Status};
use idem_core::{Cached, Clock, Error, Idempotent, Store, StoreError, SystemClock};
use idem_dynamo::DynamoStore;

async fn charge<S: Store>(
    store: &S,
    order: &str,
    runs: &AtomicUsize,
    fail: bool,
) -> anyhow::Result<String> {
    Idempotent::new("billing::charge")
        .store(store)
        .key("order_id", order)
        .run(|| async {
            runs.fetch_add(1, Ordering::SeqCst);
            if fail {
                Err(anyhow::anyhow!("card declined"))
            } else {
                Ok(format!("receipt for {order}"))
            }
        })
        .await
}

/// Starts the slow job on a task and returns once its body runs, with the
/// task and the switch that lets the body finish.
async fn hold_slow_job(
    store: &DynamoStore,
) -> (
    tokio::task::JoinHandle<Result<u8, Error>>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (finish_tx, finish_rx) = tokio::sync::oneshot::channel();
    let store = store.clone();
    let task = tokio::spawn(async move {
        Idempotent::new("slow::job")
            .store(&store)
            .key("id", "job-1")
            .run(|| async move {
                let _ = started_tx.send(());
                let _ = finish_rx.await;
                Ok::<_, Error>(1u8)
            })
            .await
    });
    started_rx.await.expect("the slow job started");
    (task, finish_tx)
}

/// A duplicate of the slow job.
async fn slow_job_again(store: &DynamoStore) -> Result<u8, Error> {
    Idempotent::new("slow::job")
        .store(store)
        .key("id", "job-1")
        .run(|| async { Ok::<_, Error>(2u8) })
        .await
}

#[tokio::test]
async fn round_trips_per_call() {
    let Some(db) = dynamo_support::local("round-trips") else {
        return;
    };
    let store = db.store().await;
    let runs = AtomicUsize::new(0);

    let first = charge(&store, "ord-1", &runs, false)
        .await
        .expect("first call");
    assert_eq!(first, "receipt for ord-1");
    assert_eq!(db.requests.take(), ["PutItem", "UpdateItem"], "first call");

    let again = charge(&store, "ord-1", &runs, false)
        .await
        .expect("duplicate");
    assert_eq!(again, first);
    assert_eq!(db.requests.take(), ["PutItem"], "duplicate");
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    let failed = charge(&store, "ord-2", &runs, true).await;
    assert_eq!(failed.expect_err("declined").to_string(), "card declined");
    assert_eq!(db.requests.take(), ["PutItem", "DeleteItem"], "failed body");
    // The release let the retry run the body again.
    charge(&store, "ord-2", &runs, false)
        .await
        .expect("retry after failure");
    assert_eq!(
        db.requests.take(),
        ["PutItem", "UpdateItem"],
        "retry after a failure"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 3);

    let cached = Cached::new(store.clone(), 100);
    // Completed by another instance: one round trip, then cached.
    charge(&cached, "ord-1", &runs, false)
        .await
        .expect("via cache");
    assert_eq!(
        db.requests.take(),
        ["PutItem"],
        "first duplicate through the cache"
    );
    charge(&cached, "ord-1", &runs, false)
        .await
        .expect("via cache");
    assert_eq!(db.requests.take(), Vec::<String>::new(), "cached duplicate");
    // Completed here: cached at once.
    charge(&cached, "ord-3", &runs, false)
        .await
        .expect("first via cache");
    assert_eq!(db.requests.take(), ["PutItem", "UpdateItem"]);
    charge(&cached, "ord-3", &runs, false)
        .await
        .expect("duplicate via cache");
    assert_eq!(db.requests.take(), Vec::<String>::new(), "cached duplicate");
    assert_eq!(runs.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn in_progress_duplicate_costs_one_round_trip() {
    let Some(db) = dynamo_support::local("in-progress") else {
        return;
    };
    let store = db.store().await;
    let (first, finish_tx) = hold_slow_job(&store).await;
    db.requests.take();
    match slow_job_again(&store).await {
        Err(Error::InProgress {
            retry_after,
            lease_lapses_in,
            ..
        }) => {
            assert!(
                lease_lapses_in.as_secs() > 200,
                "the lease is 5 min: {lease_lapses_in:?}"
            );
            assert!(retry_after <= std::time::Duration::from_secs(1));
        }
        other => panic!("expected InProgress, got {other:?}"),
    }
    assert_eq!(db.requests.take(), ["PutItem"]);
    finish_tx.send(()).expect("first call waits");
    assert_eq!(first.await.expect("join").expect("first call"), 1);
}

/// Fault injection on top of DynamoDB Local: a failed claim's response loses
/// the old item, as older emulators send it. The store must then read it.
#[derive(Debug)]
struct DropOldItem;

impl Intercept for DropOldItem {
    fn name(&self) -> &'static str {
        "drop the old item of a failed PutItem"
    }

    fn modify_before_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Err(err)) = context.output_or_error_mut() {
            let taken = std::mem::replace(err, OrchestratorError::other("taken"));
            *err = taken.map_operation_error(|mut e| {
                if let Some(PutItemError::ConditionalCheckFailedException(failed)) =
                    e.downcast_mut::<PutItemError>()
                {
                    failed.item = None;
                }
                e
            });
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_failed_claim_without_the_old_item_reads_it() {
    let Some(db) = dynamo_support::local("no-old-item") else {
        return;
    };
    db.store().await; // the table
    let config = dynamo_support::client(&db.endpoint, &db.requests).interceptor(DropOldItem);
    let store = db
        .builder()
        .build(aws_sdk_dynamodb::Client::from_conf(config.build()))
        .expect("valid configuration");
    let runs = AtomicUsize::new(0);

    let first = charge(&store, "ord-1", &runs, false)
        .await
        .expect("first call");
    assert_eq!(db.requests.take(), ["PutItem", "UpdateItem"], "first call");

    // The failed claim says nothing of the item, so the store reads it.
    let again = charge(&store, "ord-1", &runs, false)
        .await
        .expect("duplicate");
    assert_eq!(again, first);
    assert_eq!(db.requests.take(), ["PutItem", "GetItem"], "duplicate");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "replayed, not run again");

    // An in-progress item read this way is in progress, not free.
    let (slow, finish_tx) = hold_slow_job(&store).await;
    db.requests.take();
    let duplicate = slow_job_again(&store).await;
    assert!(
        matches!(duplicate, Err(Error::InProgress { .. })),
        "{duplicate:?}"
    );
    assert_eq!(db.requests.take(), ["PutItem", "GetItem"], "in progress");
    finish_tx.send(()).expect("first call waits");
    assert_eq!(slow.await.expect("join").expect("first call"), 1);
}

#[tokio::test]
async fn the_engine_renews_its_lease_on_dynamodb() {
    let Some(db) = dynamo_support::local("renewal") else {
        return;
    };
    let store = db.store().await;
    let lease = std::time::Duration::from_millis(600);
    let runs = &AtomicUsize::new(0);
    let call = |value: u8| {
        Idempotent::new("long::job")
            .store(&store)
            .key("id", "job-1")
            .lease(lease)
            .run(move || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                // Four leases: only renewal keeps the claim.
                tokio::time::sleep(lease * 4).await;
                Ok::<_, Error>(value)
            })
    };
    // Duplicates over the first three leases (a lease's margin before the
    // body ends, for a loaded machine), each of which must find the claim.
    let duplicates = async {
        let started = tokio::time::Instant::now();
        let mut in_progress = 0;
        while started.elapsed() < lease * 3 {
            tokio::time::sleep(lease / 4).await;
            match call(2).await {
                Err(Error::InProgress { .. }) => in_progress += 1,
                other => panic!("a duplicate during the first run: {other:?}"),
            }
        }
        in_progress
    };
    let (first, in_progress) = tokio::join!(call(1), duplicates);
    assert_eq!(first.expect("first call"), 1);
    assert!(in_progress >= 3, "duplicates throughout: {in_progress}");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "nobody took the key over");
    let extends = db
        .requests
        .take()
        .iter()
        .filter(|op| *op == "UpdateItem")
        .count()
        - 1; // the complete
             // A body of four leases needs at least three renewals to stay claimed
             // (every third of a lease is asked for).
    assert!(extends >= 3, "renewed: {extends} extends");
    assert_eq!(call(3).await.expect("replay"), 1);
}

/// ~500 KB: more than a DynamoDB item holds.
fn oversized() -> String {
    "x".repeat(500 * 1024)
}

#[tokio::test]
async fn oversized_result_is_saved_without_data() {
    let Some(db) = dynamo_support::local("oversized") else {
        return;
    };
    let store = db.store().await;
    let runs = AtomicUsize::new(0);
    let call = || {
        Idempotent::new("reports::render")
            .store(&store)
            .key("report", "r-1")
            .run(|| async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>(oversized())
            })
    };
    let first = call().await.expect("the first caller gets the result");
    assert_eq!(first.len(), 500 * 1024);
    assert_eq!(db.requests.take(), ["PutItem", "UpdateItem"]);

    let key = idem_core::Key::builder("reports::render")
        .part("report", "r-1")
        .finish()
        .expect("key");
    let record = store
        .get(key.storage_key(), SystemClock.now_ms())
        .await
        .expect("get")
        .expect("record");
    assert_eq!(record.status, Status::Completed);
    assert_eq!(record.data, None);

    match call().await {
        Err(Error::ReplayUnavailable { .. }) => {}
        other => panic!(
            "expected ReplayUnavailable, got {:?}",
            other.map(|s| s.len())
        ),
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the body ran once");
}

#[tokio::test]
async fn item_size_refusal_is_too_large() {
    let Some(db) = dynamo_support::local("too-large") else {
        return;
    };
    let store = db.store().await;
    let limit = store.max_data_bytes().expect("DynamoDB has a limit");
    assert!(limit > 390 * 1024 && limit < 400 * 1024, "{limit}");
    let now = SystemClock.now_ms();
    let key = "idem-tests::too-large#00";
    let request = ClaimRequest {
        key,
        now_ms: now,
        token: LeaseToken::new(),
        lease_until_ms: now + 60_000,
        expires_at_s: now / 1000 + 3600,
        fingerprint: None,
    };
    let Ok(Claim::Acquired(lease)) = store.claim(request).await else {
        panic!("a fresh key is acquired");
    };
    // Bypassing the engine's size check: DynamoDB itself refuses the item.
    let data = format!("\"{}\"", oversized());
    let completion = Completion {
        key,
        lease: &lease,
        data: Some(&data),
        fingerprint: None,
        expires_at_s: now / 1000 + 3600,
    };
    match store.complete(completion.clone()).await {
        Err(StoreError::TooLarge { size, limit: l }) => {
            assert_eq!(size, data.len());
            assert_eq!(l, limit);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // What the engine does next: save without data, under the same lease.
    store
        .complete(Completion {
            data: None,
            ..completion
        })
        .await
        .expect("complete without data");
    let record = store.get(key, now).await.expect("get").expect("record");
    assert_eq!((record.status, record.data), (Status::Completed, None));
}

#[tokio::test]
async fn a_result_of_max_data_bytes_fits() {
    let Some(db) = dynamo_support::local("max-data") else {
        return;
    };
    let store = db.store().await;
    let limit = store.max_data_bytes().expect("limit");
    let value = "y".repeat(limit - 2); // JSON quotes make it exactly `limit`
    let runs = AtomicUsize::new(0);
    for _ in 0..2 {
        let got: String = Idempotent::new("reports::big-but-fits")
            .store(&store)
            .key("report", "r-2")
            .run(|| async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>(value.clone())
            })
            .await
            .expect("call");
        assert_eq!(got.len(), value.len());
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_cancelled_call_releases_its_claim_on_dynamodb() {
    let Some(db) = dynamo_support::local("cancelled") else {
        return;
    };
    let store = db.store().await;
    let slow = Idempotent::new("dynamo::cancelled")
        .store(&store)
        .key("id", "c-1")
        .run(|| async {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            Ok::<_, Error>(1u8)
        });
    let cut = tokio::time::timeout(std::time::Duration::from_millis(300), slow).await;
    assert!(cut.is_err(), "the caller gave up");
    // The release runs on the runtime, after the call is gone.
    let mut released = false;
    for _ in 0..100 {
        let again = Idempotent::new("dynamo::cancelled")
            .store(&store)
            .key("id", "c-1")
            .run(|| async { Ok::<_, Error>(2u8) })
            .await;
        match again {
            Ok(v) => {
                assert_eq!(v, 2);
                released = true;
                break;
            }
            Err(Error::InProgress { .. }) => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(released, "the key was freed well before its 5-minute lease");
    let ops = db.requests.take();
    assert!(ops.contains(&"DeleteItem".to_owned()), "{ops:?}");
}
