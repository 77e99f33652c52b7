//! Two EventBridge targets of `OrderPlaced` in one function, on DynamoDB.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use idem_examples::eventbridge::{OrderPlaced, Targets};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().without_time().init();
    let targets = Targets::new(idem_examples::dynamo_store_from_env().await);
    let targets = &targets;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<OrderPlaced>>| async move {
            let email = targets.send_confirmation(&event.payload).await?;
            let points = targets.award_points(&event.payload).await?;
            Ok::<_, Error>(serde_json::json!({ "email": email, "points": points }))
        },
    ))
    .await
}
