//! Handlers of the example Lambda functions, as a library so their tests can
//! drive them with real-shaped events. Each `lambda_*.rs` binary is a thin
//! `main` around one of these modules, with a DynamoDB store.
//!
//! - [`sqs`]: an SQS batch, one idempotent charge per record, partial batch
//!   failures for records that failed or are still in progress.
//! - [`http`]: an API Gateway HTTP API (v2) endpoint behind
//!   `idem_http::IdempotencyLayer` (the `Idempotency-Key` header), run by
//!   `lambda_http`.
//! - [`eventbridge`]: two targets of one EventBridge event, deduplicated
//!   independently.
//! - [`stream`]: a Kinesis stream batch, safe to replay whole.
//! - [`metrics`]: idem's counters as CloudWatch Embedded Metric Format on
//!   stdout (the SQS binary installs it).

pub mod eventbridge;
pub mod http;
pub mod metrics;
pub mod payments;
pub mod sqs;
pub mod stream;

/// Builds the DynamoDB store of an example binary, making no network call:
/// table from `IDEM_TABLE` (default `idempotency`). With
/// `IDEM_DYNAMODB_ENDPOINT` set (`scripts/dynamodb-local.sh start` sets it)
/// the client talks to DynamoDB Local, which takes any credentials; otherwise
/// it is [`DynamoStore::from_env`](idem_dynamo::DynamoStore::from_env), the
/// default credential chain.
pub async fn dynamo_store_from_env() -> idem_dynamo::DynamoStore {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};

    let table = std::env::var("IDEM_TABLE").unwrap_or_else(|_| "idempotency".to_owned());
    match std::env::var("IDEM_DYNAMODB_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => {
            let config = aws_sdk_dynamodb::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .endpoint_url(endpoint)
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new("local", "local", None, None, "example"))
                .build();
            idem_dynamo::DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), table)
        }
        _ => idem_dynamo::DynamoStore::from_env(table).await,
    }
}
