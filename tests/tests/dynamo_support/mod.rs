//! Shared by the `dynamo_*` tests: a client for DynamoDB Local with a request
//! counter, and a fresh table per test.
//!
//! The endpoint comes from `IDEM_DYNAMODB_ENDPOINT`
//! (`eval "$(scripts/dynamodb-local.sh start)"` sets it). Without it a test
//! fails under `CI`, and elsewhere prints a notice and returns early.

#![allow(dead_code, unreachable_pub)] // each test file uses a part of it

pub mod capacity;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use idem_dynamo::{DynamoStore, DynamoStoreBuilder};

/// Records the operation name of every request sent (each attempt), so tests
/// count real round trips.
#[derive(Debug, Default, Clone)]
pub struct Requests(Arc<Mutex<Vec<String>>>);

impl Requests {
    /// The requests since the last call, oldest first.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Intercept for Requests {
    fn name(&self) -> &'static str {
        "idem-tests request counter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg
            .load::<Metadata>()
            .map_or_else(|| "?".to_owned(), |m| m.name().to_owned());
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(op);
        Ok(())
    }
}

/// A client for `endpoint` with dummy credentials and a request counter.
pub fn client(endpoint: &str, requests: &Requests) -> aws_sdk_dynamodb::config::Builder {
    idem_tests::config(endpoint).interceptor(requests.clone())
}

/// A table name no other test (or run) uses.
pub fn unique_table(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "idem-{test}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// DynamoDB Local for one test.
pub struct Local {
    pub endpoint: String,
    pub client: Client,
    pub table: String,
    pub requests: Requests,
}

/// DynamoDB Local, or `None` (with a loud notice) when no endpoint is set
/// outside CI. Under `CI` a missing endpoint fails the test.
pub fn local(test: &str) -> Option<Local> {
    let endpoint = idem_tests::endpoint(test)?;
    let requests = Requests::default();
    Some(Local {
        client: Client::from_conf(client(&endpoint, &requests).build()),
        endpoint,
        table: unique_table(test),
        requests,
    })
}

impl Local {
    /// A builder on this test's table.
    pub fn builder(&self) -> DynamoStoreBuilder {
        DynamoStore::builder(&self.table)
    }

    /// A store with the default layout, its table created; requests so far
    /// are forgotten.
    pub async fn store(&self) -> DynamoStore {
        self.store_with(|b| b).await
    }

    /// A store configured by `f`, its table created; requests so far are
    /// forgotten.
    pub async fn store_with(
        &self,
        f: impl FnOnce(DynamoStoreBuilder) -> DynamoStoreBuilder,
    ) -> DynamoStore {
        let store = f(self.builder())
            .build(self.client.clone())
            .expect("valid configuration");
        store
            .create_table_if_missing()
            .await
            .unwrap_or_else(|e| panic!("creating table `{}` in DynamoDB Local: {e}", self.table));
        self.requests.take();
        store
    }
}
