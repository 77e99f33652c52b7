//! SQS batch → one charge per order, on DynamoDB. Deploy with
//! `ReportBatchItemFailures` on the event source mapping; set `IDEM_TABLE`.

use idem_examples::payments::Provider;
use idem_examples::sqs::SqsHandler;
use lambda_runtime::{service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().without_time().init();
    // idem's counters as CloudWatch EMF on stdout, flushed after each invocation.
    let metrics = idem_examples::metrics::install("idem-examples")?;
    // Built once per instance, outside the handler; makes no network call.
    let handler = SqsHandler::new(
        idem_examples::dynamo_store_from_env().await,
        Provider::default(),
    );
    lambda_runtime::run(service_fn(|event| {
        idem_examples::metrics::flushed(metrics, handler.handle(event))
    }))
    .await
}
