//! Handlers of the example Lambda functions, as a library so their tests can
//! drive them with real-shaped events. Each `lambda_*.rs` binary is a thin
//! `main` around one of these modules, with a DynamoDB store.
//!
//! - [`sqs`]: an SQS batch, one idempotent charge per record, partial batch
//!   failures for records that failed or are still in progress.
//! - [`http`]: an API Gateway HTTP API (v2) endpoint keyed by the
//!   `Idempotency-Key` header, answering as the IETF Idempotency-Key draft.
//! - [`eventbridge`]: two targets of one EventBridge event, deduplicated
//!   independently.
//! - [`stream`]: a Kinesis stream batch, safe to replay whole.

pub mod eventbridge;
pub mod http;
pub mod payments;
pub mod sqs;
pub mod stream;

/// Builds the DynamoDB store of a Lambda binary: table from `IDEM_TABLE`
/// (default `idempotency`), client from the default credential chain, endpoint
/// from `IDEM_DYNAMODB_ENDPOINT` when set (DynamoDB Local). No network call.
pub async fn dynamo_store_from_env() -> idem_dynamo::DynamoStore {
    let table = std::env::var("IDEM_TABLE").unwrap_or_else(|_| "idempotency".to_owned());
    let mut config = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Ok(endpoint) = std::env::var("IDEM_DYNAMODB_ENDPOINT") {
        config = config.endpoint_url(endpoint);
    }
    let client = aws_sdk_dynamodb::Client::new(&config.load().await);
    idem_dynamo::DynamoStore::new(client, table)
}
