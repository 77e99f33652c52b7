//! Reliability: real network faults between the AWS SDK and DynamoDB Local.
//!
//! A fault-injecting TCP proxy (`idem_tests::fault_proxy`) drops responses
//! after DynamoDB applied the request, resets connections before a request
//! reaches it, and holds responses back past the SDK's attempt timeout; the
//! SDK retries the same request, and so does the engine. Many keys, each
//! delivered several times at once, go through it; then the faults stop and
//! every key is delivered once more.
//!
//! Asserted: the effect ran exactly once per key; every failed delivery got
//! a typed, retryable `idem_core::Error`; after the faults stop every key
//! returns its one result, none stays blocked. The figures are printed.
#![allow(clippy::unwrap_used)]

mod dynamo_support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;
use idem_core::{Error, Idempotent, InProgress};
use idem_dynamo::DynamoStore;
use idem_tests::fault_proxy::{FaultProxy, NetFaults};
use tokio::sync::Semaphore;

const KEYS: usize = 500;
const DELIVERIES: usize = 4;
const LEASE: Duration = Duration::from_secs(3);

fn upstream(endpoint: &str) -> SocketAddr {
    let hostport = endpoint.trim_start_matches("http://");
    let hostport = hostport.split('/').next().unwrap();
    let hostport = hostport.replace("localhost", "127.0.0.1");
    hostport
        .parse()
        .expect("DynamoDB Local's endpoint is host:port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn network_faults_never_repeat_an_effect_nor_block_a_key() {
    let Some(db) = dynamo_support::local("network-faults") else {
        return;
    };
    // The table, made on a direct connection.
    let direct = db.store().await;
    drop(direct);
    let faults = NetFaults {
        drop_response: 0.03,
        reset_request: 0.03,
        delay_response: 0.02,
        delay: Duration::from_millis(700),
        seed: 0x1de4_2026,
    };
    let proxy = FaultProxy::start(upstream(&db.endpoint), faults)
        .await
        .unwrap();
    let config = idem_tests::config(&proxy.endpoint())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(400))
                .connect_timeout(Duration::from_millis(400))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .build();
    let store = Arc::new(DynamoStore::new(Client::from_conf(config), &db.table));

    let effects: Arc<Vec<AtomicUsize>> = Arc::new((0..KEYS).map(|_| AtomicUsize::new(0)).collect());
    let namespace = format!("network::{}", dynamo_support::unique_table("ns"));
    let deliver = {
        let (store, effects, namespace) =
            (Arc::clone(&store), Arc::clone(&effects), namespace.clone());
        move |k: usize, policy: InProgress| {
            let (store, effects, namespace) =
                (Arc::clone(&store), Arc::clone(&effects), namespace.clone());
            async move {
                Idempotent::new(namespace)
                    .store(&*store)
                    .lease(LEASE)
                    .in_progress(policy)
                    .key("order_id", &format!("order-{k}"))
                    .run(|| async {
                        effects[k].fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        Ok::<_, Error>(format!("receipt-{k}"))
                    })
                    .await
            }
        }
    };

    // Phase 1: every key delivered DELIVERIES times at once, under faults.
    let started = Instant::now();
    let limit = Arc::new(Semaphore::new(64));
    let mut calls = tokio::task::JoinSet::new();
    for k in 0..KEYS {
        for _ in 0..DELIVERIES {
            let (deliver, limit) = (deliver.clone(), Arc::clone(&limit));
            calls.spawn(async move {
                let _permit = limit.acquire_owned().await.unwrap();
                (k, deliver(k, InProgress::Fail).await)
            });
        }
    }
    let (mut ok, mut in_progress, mut store_errors) = (0, 0, 0);
    while let Some(joined) = calls.join_next().await {
        let (k, result) = joined.expect("no delivery panics");
        match result {
            Ok(receipt) => {
                assert_eq!(receipt, format!("receipt-{k}"), "a wrong result");
                ok += 1;
            }
            Err(e @ Error::InProgress { .. }) => {
                assert!(e.is_retryable());
                in_progress += 1;
            }
            Err(e @ Error::Store { .. }) => {
                assert!(e.is_retryable(), "a network fault is retryable: {e:?}");
                store_errors += 1;
            }
            Err(other) => panic!("an untyped or unexpected failure: {other:?}"),
        }
    }
    let phase1 = started.elapsed();
    let injected = proxy.injected();

    // Phase 2: faults off; each key once more, failing fast: a claim left
    // behind (a write the store did not recognise as its own) would show as
    // `InProgress` here.
    proxy.set_faults(false);
    let after = Instant::now();
    let mut blocked = 0;
    let mut calls = tokio::task::JoinSet::new();
    for k in 0..KEYS {
        let (deliver, limit) = (deliver.clone(), Arc::clone(&limit));
        calls.spawn(async move {
            let _permit = limit.acquire_owned().await.unwrap();
            (k, deliver(k, InProgress::Fail).await)
        });
    }
    while let Some(joined) = calls.join_next().await {
        match joined.unwrap() {
            (k, Ok(receipt)) => assert_eq!(receipt, format!("receipt-{k}")),
            (_, Err(Error::InProgress { .. })) => blocked += 1,
            (k, Err(e)) => panic!("key {k} after the faults: {e:?}"),
        }
    }
    let twice: Vec<usize> = (0..KEYS)
        .filter(|&k| effects[k].load(Ordering::SeqCst) != 1)
        .collect();
    println!(
        "network faults: {} calls in {:.1?} ({ok} ok, {in_progress} in progress, {store_errors} \
         store errors) under {} faults injected ({} responses dropped after the write, {} \
         connections reset, {} responses held {:?}); after the faults: {KEYS} calls in {:.1?}, \
         {blocked} keys blocked; effects: {} keys ran other than once",
        KEYS * DELIVERIES,
        phase1,
        injected.total(),
        injected.dropped,
        injected.reset,
        injected.delayed,
        faults.delay,
        after.elapsed(),
        twice.len()
    );
    assert!(
        injected.dropped > 10 && injected.reset > 10 && injected.delayed > 10,
        "{injected:?}"
    );
    assert!(
        twice.is_empty(),
        "effects repeated or missing for keys {twice:?}"
    );
}
