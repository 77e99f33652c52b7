//! Errors say what failed, where, and why: an unreachable endpoint, a missing
//! table, a table with another key schema, throttling. The body never runs on
//! a store failure.

mod dynamo_support;

use std::error::Error as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
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

/// Throttles the next `n` PutItem attempts as a hot partition past 1,000
/// WCU/s would: the request reaches DynamoDB Local under an operation name
/// it does not know (so, as when throttled, nothing is written), and its
/// answer is replaced by DynamoDB's throttling error.
///
/// The calls through it run one at a time, so the attempt in flight is the
/// one marked `pending`.
#[derive(Debug, Clone, Default)]
struct ThrottlePuts {
    remaining: Arc<AtomicUsize>,
    pending: Arc<AtomicBool>,
}

const THROTTLED_TARGET: &str = "DynamoDB_20120810.IdemTestThrottled";

impl Intercept for ThrottlePuts {
    fn name(&self) -> &'static str {
        "throttle PutItem"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg.load::<Metadata>();
        let throttle = op.map(|m| m.name()) == Some("PutItem")
            && self
                .remaining
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        self.pending.store(throttle, Ordering::SeqCst);
        if throttle {
            context
                .request_mut()
                .headers_mut()
                .insert("x-amz-target", THROTTLED_TARGET);
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !self.pending.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let response = context.response_mut();
        *response.status_mut() = 400.try_into()?;
        response.headers_mut().remove("x-amz-crc32");
        *response.body_mut() = From::from(
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#,
        );
        Ok(())
    }
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk_then_a_retryable_typed_error() {
    let Some(db) = dynamo_support::local("throttled") else {
        return;
    };
    db.store().await;
    let throttle = ThrottlePuts::default();
    throttle.remaining.store(usize::MAX, Ordering::SeqCst);
    let config = client(&db.endpoint, &db.requests)
        .interceptor(throttle.clone())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .build();
    let store = db
        .builder()
        .build(Client::from_conf(config))
        .expect("valid configuration");
    let runs = AtomicUsize::new(0);

    let err = call(&store, &runs)
        .await
        .expect_err("every attempt throttled");
    assert_eq!(runs.load(Ordering::SeqCst), 0, "the body must not run");
    // 3 attempts by the SDK's standard retry in each of the engine's 3 claim
    // attempts (it cannot tell a throttled write from one whose reply was
    // lost), then the engine's best-effort release of a claim that may have
    // been applied.
    let mut attempts = db.requests.take();
    assert_eq!(attempts.pop().as_deref(), Some("DeleteItem"));
    assert_eq!(attempts, ["PutItem"; 9]);
    assert!(err.is_retryable(), "{err:?}");
    let failure = err
        .source()
        .and_then(|store| store.source())
        .and_then(|sdk| sdk.downcast_ref::<idem_dynamo::SdkFailure>())
        .unwrap_or_else(|| panic!("an SdkFailure under Error::Store: {err:?}"));
    assert!(failure.is_throttling());
    assert_eq!(
        failure.code(),
        Some("ProvisionedThroughputExceededException")
    );
    assert!(matches!(
        err,
        Error::Store {
            source: StoreError::Backend { .. },
            ..
        }
    ));

    // Throttled once: the SDK's retry absorbs it and the call goes through.
    throttle.remaining.store(1, Ordering::SeqCst);
    assert_eq!(call(&store, &runs).await.expect("throttled once"), 1);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(db.requests.take(), ["PutItem", "PutItem", "UpdateItem"]);
}
