//! Shared helpers of the reliability suite (`reliability_*.rs`): DynamoDB
//! Local access, typed outcomes, small store wrappers.
#![allow(dead_code)] // each test file uses a part of it

use std::time::Duration;

use idem_dynamo::DynamoStore;
use idem_redis::RedisStore;
pub(crate) use idem_tests::redis::Server;

/// The table every reliability test uses on DynamoDB Local (keys are unique
/// per test run, so tests share it safely).
pub(crate) const TABLE: &str = "idem-reliability";

pub(crate) use idem_tests::client;

/// The endpoint of DynamoDB Local, or `None` when the DynamoDB variant of a
/// test cannot run here.
///
/// The rule of the project: when `CI` is set, a DynamoDB test that cannot
/// reach DynamoDB Local **fails** — it never passes by skipping. Locally
/// (`CI` unset) it prints a loud notice and returns.
pub(crate) async fn dynamo(test: &str) -> Option<String> {
    let endpoint = idem_tests::endpoint(test)?;
    let store = DynamoStore::new(client(&endpoint), TABLE);
    let created =
        tokio::time::timeout(Duration::from_secs(30), store.create_table_if_missing()).await;
    let why = match created {
        Ok(Ok(())) => return Some(endpoint),
        Ok(Err(e)) => format!("DynamoDB Local at {endpoint} failed: {e}"),
        Err(_) => format!("DynamoDB Local at {endpoint} did not answer in 30 s"),
    };
    assert!(!idem_tests::in_ci(), "{test}: {why}");
    idem_tests::not_run(test, &why);
    None
}

/// `n` independent stores (each its own connection, standing for a separate
/// instance) on the Redis `server`, or `None` when the Redis variant of a
/// test cannot run here (under `CI` it fails instead; see
/// `idem_tests::redis`). Keys carry the test's namespace, so no prefix.
pub(crate) async fn redis(test: &str, server: Server, n: usize) -> Option<Vec<RedisStore>> {
    let mut stores = Vec::with_capacity(n);
    for _ in 0..n {
        stores.push(idem_tests::redis::store(test, server, "").await?);
    }
    Some(stores)
}

/// A prefix unique to this test process, so repeated runs against one
/// DynamoDB Local never meet each other's records.
pub(crate) fn run_id() -> String {
    idem_core::store::LeaseToken::new().to_string()[..12].to_owned()
}

/// The guarded function's own error type in the reliability tests: idem's
/// error, or the body's own failure.
#[derive(Debug)]
pub(crate) enum Failure {
    Idem(idem_core::Error),
    Body,
}

impl From<idem_core::Error> for Failure {
    fn from(e: idem_core::Error) -> Self {
        Failure::Idem(e)
    }
}
