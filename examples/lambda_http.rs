//! API Gateway HTTP API (v2) `POST /payments` with `Idempotency-Key`, on DynamoDB.

use idem_examples::http::HttpHandler;
use idem_examples::payments::Provider;
use lambda_http::{service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().without_time().init();
    let handler = HttpHandler::new(
        idem_examples::dynamo_store_from_env().await,
        Provider::default(),
    );
    lambda_http::run(service_fn(|request| handler.handle(request))).await
}
