//! Errors say what failed, where, and why: an unreachable endpoint, a missing
//! table, a table with another key schema. The body never runs on a store
//! failure.

mod dynamo_support;

use std::error::Error as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;
use dynamo_support::{client, unique_table, Requests};
use idem_core::{Error, Idempotent, Store, StoreError};
use idem_dynamo::DynamoStore;

async fn call(store: &impl Store, runs: &AtomicUsize) -> Result<u32, Error> {
    Idempotent::new("errors::call")
        .store(store)
        .key("id", "evt-1")
        .run(|| async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Error>(1)
        })
        .await
}

/// Runs without DynamoDB Local: nothing listens on port 1.
#[tokio::test]
async fn refused_connection_is_a_clear_error_and_the_body_does_not_run() {
    let requests = Requests::default();
    let config = client("http://127.0.0.1:1", &requests)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(5))
                .build(),
        )
        .build();
    let store = DynamoStore::new(Client::from_conf(config), "orders-idempotency");
    assert!(requests.take().is_empty(), "construction makes no request");

    let runs = AtomicUsize::new(0);
    let started = Instant::now();
    let err = call(&store, &runs)
        .await
        .expect_err("nothing listens there");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0, "the body must not run");
    assert!(err.is_retryable());
    let text = idem_tests::chain(&err);
    match err {
        Error::Store {
            source: ref source @ StoreError::Backend { ref operation, .. },
            ..
        } => {
            assert_eq!(operation, "PutItem on table `orders-idempotency`");
            let cause = source
                .source()
                .expect("the SDK failure is the source")
                .to_string();
            assert!(cause.contains("dispatch failure"), "{cause}");
            assert!(
                cause.to_lowercase().contains("connection refused"),
                "the SDK's context is kept: {cause}"
            );
        }
        other => panic!("expected a backend error, got {other:?}"),
    }
    // Each cause once, as `{:#}` renders the chain.
    assert!(
        text.contains("PutItem on table `orders-idempotency` failed: dispatch failure"),
        "{text}"
    );
    assert_eq!(text.matches("dispatch failure").count(), 1, "{text}");
}

#[tokio::test]
async fn missing_table_is_named() {
    let Some(db) = dynamo_support::local("missing") else {
        return;
    };
    let table = unique_table("never-created");
    let store = DynamoStore::new(db.client.clone(), &table);
    let runs = AtomicUsize::new(0);
    let err = call(&store, &runs).await.expect_err("no table");
    assert_eq!(runs.load(Ordering::SeqCst), 0, "the body must not run");
    let text = idem_tests::chain(&err);
    assert!(
        text.contains(&format!("PutItem on table `{table}` failed")),
        "{text}"
    );
    assert!(text.contains("ResourceNotFoundException"), "{text}");

    let err = store.get("k#0", 0).await.expect_err("no table");
    assert!(
        idem_tests::chain(&err).contains(&format!("GetItem on table `{table}` failed: ")),
        "{err}"
    );
}

#[tokio::test]
async fn create_table_if_missing_checks_an_existing_table() {
    let Some(db) = dynamo_support::local("schema") else {
        return;
    };
    let store = db.store().await;
    // A second call finds the table and leaves it alone.
    store.create_table_if_missing().await.expect("idempotent");
    let ttl = db
        .client
        .describe_time_to_live()
        .table_name(&db.table)
        .send()
        .await
        .expect("DescribeTimeToLive")
        .time_to_live_description
        .expect("description");
    assert_eq!(ttl.attribute_name(), Some("expiration"));

    let other = db
        .builder()
        .sort_key_attr("sk")
        .build(db.client.clone())
        .expect("valid");
    let err = other
        .create_table_if_missing()
        .await
        .expect_err("another key schema");
    assert_eq!(
        idem_tests::chain(&err),
        format!(
            "DescribeTable on table `{}` failed: the table exists with key schema `id` (HASH) \
             but the store is configured for `id` (HASH) + `sk` (RANGE)",
            db.table
        )
    );
}
