//! Reliability: concurrency. 1,000 keys, each delivered 8 times at once
//! through 8 independent store clients (8 handles on one `MemoryStore`; 8
//! separate `DynamoStore` clients on DynamoDB Local, and 8 `RedisStore`
//! connections to a Redis node and to a Redis cluster, standing for 8 Lambda
//! instances). The body counts its runs per key.
//!
//! Asserted: every key ran exactly once; with `in_progress = fail` every
//! delivery got the result or `InProgress` and nothing else (and some did
//! get `InProgress`, so the deliveries really overlapped); with
//! `in_progress = wait` every delivery got the result.
#![allow(clippy::unwrap_used)]

mod reliability_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use idem_core::{Error, Idempotent, InProgress, MemoryStore, Store};
use idem_dynamo::DynamoStore;
use reliability_support::{self as support, Server};
use tokio::sync::{Barrier, Semaphore};

const KEYS: usize = 1_000;
const DELIVERIES: usize = 8;

#[derive(Debug, Default)]
struct Tally {
    results: usize,
    in_progress: usize,
}

/// Delivers every key `DELIVERIES` times at once, delivery `d` through
/// `clients[d]`; at most `keys_in_flight` keys at a time.
async fn load<S: Store + 'static>(
    clients: Vec<Arc<S>>,
    policy: InProgress,
    namespace: String,
    keys_in_flight: usize,
) -> Tally {
    assert_eq!(clients.len(), DELIVERIES);
    let started = Instant::now();
    let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..KEYS).map(|_| AtomicUsize::new(0)).collect());
    let gate = Arc::new(Semaphore::new(keys_in_flight));
    let mut keys = tokio::task::JoinSet::new();
    for k in 0..KEYS {
        let clients = clients.clone();
        let runs = Arc::clone(&runs);
        let gate = Arc::clone(&gate);
        let namespace = namespace.clone();
        keys.spawn(async move {
            let _permit = gate.acquire_owned().await.unwrap();
            // All deliveries of a key start their claim together.
            let barrier = Arc::new(Barrier::new(DELIVERIES));
            let mut deliveries = tokio::task::JoinSet::new();
            for client in clients {
                let runs = Arc::clone(&runs);
                let barrier = Arc::clone(&barrier);
                let namespace = namespace.clone();
                deliveries.spawn(async move {
                    barrier.wait().await;
                    Idempotent::new(namespace)
                        .store(&*client)
                        .in_progress(policy)
                        .key("order_id", &format!("order-{k}"))
                        .run(|| async {
                            runs[k].fetch_add(1, Ordering::SeqCst);
                            // The effect takes a moment, so duplicates overlap it.
                            tokio::time::sleep(Duration::from_millis(2 + (k % 5) as u64)).await;
                            Ok::<_, Error>(format!("receipt {k}"))
                        })
                        .await
                });
            }
            let mut tally = Tally::default();
            while let Some(joined) = deliveries.join_next().await {
                match joined.expect("no delivery panics") {
                    Ok(receipt) => {
                        assert_eq!(receipt, format!("receipt {k}"), "the key's own result");
                        tally.results += 1;
                    }
                    Err(Error::InProgress { ref namespace, .. })
                        if policy == InProgress::Fail && namespace.starts_with("reliability::") =>
                    {
                        tally.in_progress += 1;
                    }
                    Err(e) => {
                        panic!("key {k}: a delivery got neither the result nor InProgress: {e:?}")
                    }
                }
            }
            tally
        });
    }
    let mut tally = Tally::default();
    while let Some(joined) = keys.join_next().await {
        let t = joined.expect("no key task panics");
        tally.results += t.results;
        tally.in_progress += t.in_progress;
    }
    for (k, n) in runs.iter().enumerate() {
        assert_eq!(n.load(Ordering::SeqCst), 1, "key {k} ran {n:?} times");
    }
    assert_eq!(tally.results + tally.in_progress, KEYS * DELIVERIES);
    match policy {
        InProgress::Fail => assert!(
            tally.in_progress > 0,
            "the deliveries never overlapped: the test proves nothing"
        ),
        InProgress::Wait(_) => assert_eq!(tally.results, KEYS * DELIVERIES),
    }
    eprintln!(
        "FIGURES concurrency {namespace}: {KEYS} keys x {DELIVERIES} deliveries, {policy:?}: \
         {} results, {} InProgress, every key ran once, {:.1?}",
        tally.results,
        tally.in_progress,
        started.elapsed()
    );
    tally
}

fn memory_clients() -> Vec<Arc<MemoryStore>> {
    let store = Arc::new(MemoryStore::new());
    (0..DELIVERIES).map(|_| Arc::clone(&store)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_each_key_runs_once_and_duplicates_see_result_or_in_progress() {
    let ns = "reliability::concurrency::memory_fail".to_owned();
    load(memory_clients(), InProgress::Fail, ns, KEYS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_with_wait_every_delivery_gets_the_result() {
    let ns = "reliability::concurrency::memory_wait".to_owned();
    load(memory_clients(), InProgress::Wait(None), ns, KEYS).await;
}

fn dynamo_clients(endpoint: &str) -> Vec<Arc<DynamoStore>> {
    (0..DELIVERIES)
        .map(|_| Arc::new(DynamoStore::new(support::client(endpoint), support::TABLE)))
        .collect()
}

/// DynamoDB Local serves one request at a time per table well enough; 32
/// keys (256 deliveries) in flight keep it busy without timeouts on 2 cores.
const DYNAMO_KEYS_IN_FLIGHT: usize = 32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_8_clients_each_key_runs_once_and_duplicates_see_result_or_in_progress() {
    let Some(endpoint) = support::dynamo("reliability_concurrency::dynamodb_fail").await else {
        return;
    };
    let ns = format!(
        "reliability::concurrency::dynamo_fail::{}",
        support::run_id()
    );
    load(
        dynamo_clients(&endpoint),
        InProgress::Fail,
        ns,
        DYNAMO_KEYS_IN_FLIGHT,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_8_clients_with_wait_every_delivery_gets_the_result() {
    let Some(endpoint) = support::dynamo("reliability_concurrency::dynamodb_wait").await else {
        return;
    };
    let ns = format!(
        "reliability::concurrency::dynamo_wait::{}",
        support::run_id()
    );
    load(
        dynamo_clients(&endpoint),
        InProgress::Wait(None),
        ns,
        DYNAMO_KEYS_IN_FLIGHT,
    )
    .await;
}

/// Redis serves thousands of scripts a second: 256 keys (2,048 deliveries)
/// in flight.
const REDIS_KEYS_IN_FLIGHT: usize = 256;

async fn redis_load(test: &str, server: Server, policy: InProgress) {
    let Some(stores) = support::redis(test, server, DELIVERIES).await else {
        return;
    };
    let clients = stores.into_iter().map(Arc::new).collect();
    let ns = format!("reliability::concurrency::{test}::{}", support::run_id());
    load(clients, policy, ns, REDIS_KEYS_IN_FLIGHT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_8_connections_each_key_runs_once_and_duplicates_see_result_or_in_progress() {
    redis_load("redis_fail", Server::Single, InProgress::Fail).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_8_connections_with_wait_every_delivery_gets_the_result() {
    redis_load("redis_wait", Server::Single, InProgress::Wait(None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_8_connections_each_key_runs_once_and_duplicates_see_result_or_in_progress() {
    redis_load("redis_cluster_fail", Server::Cluster, InProgress::Fail).await;
}
