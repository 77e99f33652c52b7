//! What idem costs on DynamoDB: capacity units per kind of call, as DynamoDB
//! Local reports them; a waiting duplicate polls with reads, not conditional
//! writes; a storm of duplicates of one hot key runs the effect once with a
//! bounded number of requests per caller.
#![allow(clippy::unwrap_used)]

mod dynamo_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use dynamo_support::capacity::{Capacity, Units};
use idem_core::{Cached, Error, Idempotent, InProgress, Store};

fn units(wcu_reported: f64, wcu_counted: f64, rcu: f64) -> Units {
    Units {
        wcu_reported,
        wcu_counted,
        rcu,
    }
}

async fn charge(store: &impl Store, key: &str, fails: bool) -> anyhow::Result<u8> {
    Idempotent::new("cost::units")
        .store(store)
        .key("id", key)
        .run(|| async move {
            anyhow::ensure!(!fails, "declined");
            Ok(1)
        })
        .await
}

#[tokio::test]
async fn each_kind_of_call_costs_what_the_readme_says_in_capacity_units() {
    let Some(db) = dynamo_support::local("capacity") else {
        return;
    };
    // Creates the table; its own requests are not counted.
    let holder = db.store().await;
    let capacity = Capacity::default();
    let config = dynamo_support::client(&db.endpoint, &db.requests).interceptor(capacity.clone());
    let store = db
        .builder()
        .build(Client::from_conf(config.build()))
        .unwrap();

    charge(&store, "first", false).await.unwrap();
    assert_eq!(
        capacity.take(),
        units(2.0, 0.0, 0.0),
        "first call: PutItem + UpdateItem"
    );
    charge(&store, "first", false).await.unwrap();
    assert_eq!(
        capacity.take(),
        units(0.0, 1.0, 0.0),
        "duplicate: one failed PutItem"
    );
    charge(&store, "failed", true).await.unwrap_err();
    assert_eq!(
        capacity.take(),
        units(2.0, 0.0, 0.0),
        "failed body: PutItem + DeleteItem"
    );

    let cached = Cached::new(store.clone(), 100);
    charge(&cached, "cached", false).await.unwrap();
    assert_eq!(capacity.take().wcu(), 2.0);
    charge(&cached, "cached", false).await.unwrap();
    assert_eq!(
        capacity.take(),
        Units::default(),
        "cached duplicate: no request"
    );

    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let held = Idempotent::new("cost::units")
        .store(&holder)
        .key("id", "held")
        .run(|| async {
            started_tx.send(()).unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok::<_, Error>(1u8)
        });
    let waited = async {
        started_rx.await.unwrap();
        db.requests.take();
        capacity.take();
        Idempotent::new("cost::units")
            .store(&store)
            .key("id", "held")
            .in_progress(InProgress::Wait(Some(Duration::from_secs(10))))
            .run(|| async { Ok::<_, Error>(2u8) })
            .await
    };
    let (held, waited) = tokio::join!(held, waited);
    assert_eq!((held.unwrap(), waited.unwrap()), (1, 1));
    let gets = db
        .requests
        .take()
        .iter()
        .filter(|op| *op == "GetItem")
        .count();
    let wait = capacity.take();
    println!("FIGURES cost units: waiting 0.3 s: {wait:?} over {gets} GetItem");
    assert!(gets >= 2, "the waiter polled");
    assert_eq!(
        wait,
        units(0.0, 1.0, gets as f64),
        "waiting: the one claim that found the key held, then 1 RCU per poll"
    );
}

#[tokio::test]
async fn a_waiting_duplicate_polls_with_reads_until_the_result_is_saved() {
    let Some(db) = dynamo_support::local("wait-reads") else {
        return;
    };
    let store = db.store().await;
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let first = Idempotent::new("cost::wait")
        .store(&store)
        .key("id", "w-1")
        .run(|| async {
            started_tx.send(()).unwrap();
            tokio::time::sleep(Duration::from_millis(1500)).await;
            Ok::<_, Error>(1u8)
        });
    let waiter = async {
        started_rx.await.unwrap();
        db.requests.take();
        let got = Idempotent::new("cost::wait")
            .store(&store)
            .key("id", "w-1")
            .in_progress(InProgress::Wait(Some(Duration::from_secs(10))))
            .run(|| async { Ok::<_, Error>(2u8) })
            .await;
        (got, db.requests.take())
    };
    let (first, (waited, requests)) = tokio::join!(first, waiter);
    assert_eq!((first.unwrap(), waited.unwrap()), (1, 1));
    let puts = requests.iter().filter(|op| *op == "PutItem").count();
    let gets = requests.iter().filter(|op| *op == "GetItem").count();
    // The first call's own UpdateItem lands in the same window.
    println!("FIGURES cost wait: {puts} PutItem, {gets} GetItem for a 1.5 s wait: {requests:?}");
    assert_eq!(
        puts, 1,
        "one conditional write: the claim that found the key held; {requests:?}"
    );
    assert!(gets >= 3, "the waiter polled by reading: {requests:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_duplicates_of_one_hot_key_run_the_effect_once() {
    let Some(db) = dynamo_support::local("hot-key") else {
        return;
    };
    let store = Arc::new(db.store().await);
    let effects = Arc::new(AtomicUsize::new(0));
    const CALLERS: usize = 1_000;
    let started = Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..CALLERS {
        let (store, effects) = (Arc::clone(&store), Arc::clone(&effects));
        // Half fail fast, half wait for the result.
        let policy = if i % 2 == 0 {
            InProgress::Fail
        } else {
            InProgress::Wait(Some(Duration::from_secs(30)))
        };
        calls.spawn(async move {
            Idempotent::new("cost::hot")
                .store(&*store)
                .key("id", "the-hot-key")
                .in_progress(policy)
                .run(|| async {
                    effects.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    Ok::<_, Error>(String::from("the result"))
                })
                .await
        });
    }
    let (mut results, mut in_progress) = (0, 0);
    while let Some(joined) = calls.join_next().await {
        match joined.unwrap() {
            Ok(r) => {
                assert_eq!(r, "the result");
                results += 1;
            }
            Err(Error::InProgress { .. }) => in_progress += 1,
            Err(e) => panic!("a hot-key caller failed: {e:?}"),
        }
    }
    let requests = db.requests.take();
    let per_caller = requests.len() as f64 / CALLERS as f64;
    let puts = requests.iter().filter(|op| *op == "PutItem").count();
    let gets = requests.iter().filter(|op| *op == "GetItem").count();
    println!(
        "FIGURES cost hot key: {CALLERS} callers in {:.1?}: {results} results, {in_progress} \
         in progress, effect ran {} time(s); {} requests ({puts} PutItem, {gets} GetItem), \
         {per_caller:.2} per caller",
        started.elapsed(),
        effects.load(Ordering::SeqCst),
        requests.len()
    );
    assert_eq!(effects.load(Ordering::SeqCst), 1, "the effect ran once");
    assert_eq!(results + in_progress, CALLERS);
    assert!(
        results >= CALLERS / 2,
        "every waiting caller got the result"
    );
    // A claim each, plus a waiter's reads (25 ms doubling to 1 s over 0.5 s:
    // a handful): bounded, whatever the number of callers.
    assert!(puts <= CALLERS + 1, "{puts} conditional writes");
    assert!(per_caller < 8.0, "{per_caller} requests per caller");
}
