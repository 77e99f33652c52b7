//! DynamoStore under the engine: round trips per call (counted by an SDK
//! interceptor), oversized results, in-progress duplicates.

mod dynamo_support;

use std::sync::atomic::{AtomicUsize, Ordering};

use idem_core::{
    Cached, Claim, ClaimRequest, Clock, Completion, Error, Idempotent, Status, Store, StoreError,
    SystemClock,
};

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
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let (finish_tx, finish_rx) = tokio::sync::oneshot::channel::<()>();
    let first = {
        let store = store.clone();
        tokio::spawn(async move {
            Idempotent::new("slow::job")
                .store(&store)
                .key("id", "job-1")
                .run(|| async move {
                    let _ = started_tx.send(());
                    let _ = finish_rx.await;
                    Ok::<_, Error>(1u8)
                })
                .await
        })
    };
    started_rx.await.expect("first call started");
    db.requests.take();
    let second = Idempotent::new("slow::job")
        .store(&store)
        .key("id", "job-1")
        .run(|| async { Ok::<_, Error>(2u8) })
        .await;
    match second {
        Err(Error::InProgress { retry_after, .. }) => {
            assert!(
                retry_after.as_secs() > 200,
                "the lease is 5 min: {retry_after:?}"
            );
        }
        other => panic!("expected InProgress, got {other:?}"),
    }
    assert_eq!(db.requests.take(), ["PutItem"]);
    finish_tx.send(()).expect("first call waits");
    assert_eq!(first.await.expect("join").expect("first call"), 1);
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
        lease_until_ms: now + 60_000,
        expires_at: now / 1000 + 3600,
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
        expires_at: now / 1000 + 3600,
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
