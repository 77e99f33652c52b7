//! Cross-crate tests live in `tests/`; this library holds what the DynamoDB
//! tests, the reliability suite and its `crash-child` share: the way to reach
//! DynamoDB Local, the project's rule for when it cannot be reached, and a
//! fault-injecting TCP proxy.

pub mod fault_proxy;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::Client;

pub mod redis;

/// Where the tests find DynamoDB Local; `eval "$(scripts/dynamodb-local.sh start)"`
/// (and `scripts/test.sh`) set it.
pub const ENDPOINT_VAR: &str = "IDEM_DYNAMODB_ENDPOINT";

/// A client configuration for DynamoDB Local at `endpoint`, with dummy
/// credentials and region (set on the config, not the environment, so
/// threaded tests do not race on it).
pub fn config(endpoint: &str) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "idem-tests"))
}

/// An independent client (its own connection pool, standing for a separate
/// Lambda instance) for DynamoDB Local at `endpoint`.
pub fn client(endpoint: &str) -> Client {
    Client::from_conf(config(endpoint).build())
}

/// The DynamoDB Local endpoint, or `None` when test `test` cannot reach one.
///
/// The project's rule: when `CI` is set, a DynamoDB test that cannot reach
/// DynamoDB Local **fails** — it never passes by skipping. Outside CI it
/// prints a loud notice and returns `None`, so `cargo test` works on a
/// machine without Java; `scripts/test.sh` always provides the endpoint.
pub fn endpoint(test: &str) -> Option<String> {
    match std::env::var(ENDPOINT_VAR) {
        Ok(endpoint) if !endpoint.is_empty() => Some(endpoint),
        _ => {
            assert!(
                !in_ci(),
                "{test}: {ENDPOINT_VAR} is not set but CI is: DynamoDB tests must run against \
                 DynamoDB Local. Start it with `eval \"$(scripts/dynamodb-local.sh start)\"` \
                 (or run scripts/test.sh)."
            );
            not_run(test, &format!("{ENDPOINT_VAR} is not set"));
            None
        }
    }
}

/// Whether `CI` is set (to anything but empty, `false` or `0`).
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The loud notice of a DynamoDB test that did not run (outside CI only).
pub fn not_run(test: &str, why: &str) {
    eprintln!(
        "\n\
         ************************************************************************\n\
         NOT RUN: {test} (DynamoDB)\n\
         {why}. This is allowed only outside CI; with CI set it fails.\n\
         Run: eval \"$(scripts/dynamodb-local.sh start)\" and test again.\n\
         ************************************************************************\n"
    );
}

/// An error and its causes, `: `-separated, as `anyhow`'s `{:#}` shows them.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// The README's Rust blocks, compiled (and those with a `main`, run) as
/// doctests of this crate, so the README cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
