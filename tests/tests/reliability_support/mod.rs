//! Shared helpers of the reliability suite (`reliability_*.rs`): DynamoDB
//! Local access, typed outcomes, small store wrappers.
#![allow(dead_code)] // each test file uses a part of it

use std::time::Duration;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::Client;
use idem_dynamo::DynamoStore;

/// The table every reliability test uses on DynamoDB Local (keys are unique
/// per test run, so tests share it safely).
pub(crate) const TABLE: &str = "idem-reliability";

/// A DynamoDB client for DynamoDB Local at `endpoint`, with dummy
/// credentials. Each call builds an independent client (its own connection
/// pool), standing for a separate Lambda instance.
pub(crate) fn client(endpoint: &str) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "static"))
        .build();
    Client::from_conf(config)
}

/// The endpoint of DynamoDB Local, or `None` when the DynamoDB variant of a
/// test cannot run here.
///
/// The rule of the project: when `CI` is set, a DynamoDB test that cannot
/// reach DynamoDB Local **fails** — it never passes by skipping. Locally
/// (`CI` unset) it prints a loud notice and returns.
pub(crate) async fn dynamo(test: &str) -> Option<String> {
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
    let endpoint = match std::env::var("IDEM_DYNAMODB_ENDPOINT") {
        Ok(e) if !e.is_empty() => e,
        _ => {
            assert!(
                !ci,
                "{test}: IDEM_DYNAMODB_ENDPOINT is not set and CI is: start DynamoDB Local \
                 (eval \"$(scripts/dynamodb-local.sh start)\")"
            );
            notice(test, "IDEM_DYNAMODB_ENDPOINT is not set");
            return None;
        }
    };
    let store = DynamoStore::new(client(&endpoint), TABLE);
    let created =
        tokio::time::timeout(Duration::from_secs(30), store.create_table_if_missing()).await;
    match created {
        Ok(Ok(())) => Some(endpoint),
        Ok(Err(e)) if ci => panic!("{test}: DynamoDB Local at {endpoint} failed: {e}"),
        Err(_) if ci => panic!("{test}: DynamoDB Local at {endpoint} did not answer in 30 s"),
        Ok(Err(e)) => {
            notice(test, &format!("DynamoDB Local at {endpoint} failed: {e}"));
            None
        }
        Err(_) => {
            notice(
                test,
                &format!("DynamoDB Local at {endpoint} did not answer in 30 s"),
            );
            None
        }
    }
}

fn notice(test: &str, why: &str) {
    eprintln!(
        "\n\
         ************************************************************************\n\
         NOT RUN: {test} (DynamoDB variant)\n\
         {why}. This is allowed only outside CI; with CI set it fails.\n\
         Run: eval \"$(scripts/dynamodb-local.sh start)\" and test again.\n\
         ************************************************************************\n"
    );
}

/// A prefix unique to this test process, so repeated runs against one
/// DynamoDB Local never meet each other's records.
pub(crate) fn run_id() -> String {
    idem_core::Lease::new(0).token[..12].to_owned()
}
