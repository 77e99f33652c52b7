//! The SDK client both Rust peers share, with an interceptor counting the
//! DynamoDB operations they send.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{BehaviorVersion, ConfigBag, Credentials, Intercept, Region};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::Client;

/// Counts operations, not HTTP attempts: a retried call is still one store
/// call, as botocore's `before-call` and the JS SDK's initialize step count.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallCounter(Arc<AtomicU64>);

impl CallCounter {
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// One store call (the Redis peers count their own).
    pub(crate) fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A client for DynamoDB Local with dummy credentials and a fixed region, so
/// no credential chain or IMDS probe runs during the bench.
pub(crate) async fn dynamodb(endpoint: &str, counter: Option<CallCounter>) -> Client {
    dynamodb_as(endpoint, "local", counter).await
}

/// The same, signing with another (dummy) access key, which the capacity
/// proxy reads to leave a client's requests uncounted.
pub(crate) async fn dynamodb_as(
    endpoint: &str,
    access_key: &str,
    counter: Option<CallCounter>,
) -> Client {
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            access_key,
            "local",
            None,
            None,
            "idem-peer-bench",
        ))
        .load()
        .await;
    let mut config = aws_sdk_dynamodb::config::Builder::from(&shared);
    if let Some(counter) = counter {
        config = config.interceptor(counter);
    }
    Client::from_conf(config.build())
}
