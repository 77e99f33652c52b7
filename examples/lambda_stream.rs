//! Kinesis stream → ledger postings, safe to replay, on DynamoDB.

use idem_examples::stream::Ledger;
use lambda_runtime::{service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().without_time().init();
    let ledger = Ledger::new(idem_examples::dynamo_store_from_env().await);
    lambda_runtime::run(service_fn(|event| ledger.handle(event))).await
}
