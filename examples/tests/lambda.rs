//! The Lambda example handlers, driven with real-shaped events (JSON fixtures
//! parsed into aws_lambda_events types), duplicates included.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use idem_core::{Clock, MemoryStore, SystemClock};
use idem_examples::eventbridge::{OrderPlaced, Targets};
use idem_examples::http::HttpHandler;
use idem_examples::payments::Provider;
use idem_examples::sqs::SqsHandler;
use idem_examples::stream::Ledger;
use lambda_runtime::{Context, LambdaEvent};

fn fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A context with 15 minutes left, like a fresh invocation.
fn context() -> Context {
    context_until(SystemClock.now_ms() + 900_000)
}

fn context_until(deadline: u64) -> Context {
    let mut context = Context::default();
    context.request_id = "8f5c8e0a-1d5e-4c63-9d3b-1b2a3c4d5e6f".into();
    context.deadline = deadline;
    context
}

fn failures(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

#[tokio::test]
async fn sqs_a_batch_with_a_duplicate_charges_once_and_a_redelivery_charges_nothing() {
    let handler = SqsHandler::new(MemoryStore::new(), Provider::default());
    let batch: SqsEvent = fixture("sqs_batch.json");
    let response = handler
        .handle(LambdaEvent::new(batch.clone(), context()))
        .await
        .unwrap();
    assert_eq!(
        handler.provider().charges(),
        2,
        "ord-1001 twice, ord-1002 once"
    );
    assert_eq!(
        failures(&response),
        [
            "9a7b6f1e-3c2d-4e5f-8a9b-0c1d2e3f4a5b", // ord-1001 again, in progress beside the first
            "d9b5f3e2-1a2b-4c3d-9e8f-7a6b5c4d3e2f", // malformed
        ],
        "records run concurrently: the duplicate is in progress, so retried later"
    );
    let again = handler
        .handle(LambdaEvent::new(batch, context()))
        .await
        .unwrap();
    assert_eq!(
        handler.provider().charges(),
        2,
        "a redelivered batch charges nothing"
    );
    assert_eq!(
        failures(&again),
        ["d9b5f3e2-1a2b-4c3d-9e8f-7a6b5c4d3e2f"],
        "the duplicate is replayed now; only the malformed message is retried"
    );
}

#[tokio::test]
async fn sqs_one_record_at_a_time_a_duplicate_in_the_batch_is_replayed_at_once() {
    let handler = SqsHandler::new(MemoryStore::new(), Provider::default()).with_concurrency(1);
    let batch: SqsEvent = fixture("sqs_batch.json");
    let response = handler
        .handle(LambdaEvent::new(batch, context()))
        .await
        .unwrap();
    assert_eq!(handler.provider().charges(), 2);
    assert_eq!(
        failures(&response),
        ["d9b5f3e2-1a2b-4c3d-9e8f-7a6b5c4d3e2f"]
    );
}

#[tokio::test]
async fn sqs_records_in_progress_elsewhere_are_batch_item_failures() {
    let store = Arc::new(MemoryStore::new());
    let slow = SqsHandler::new(
        Arc::clone(&store),
        Provider::with_latency(Duration::from_millis(300)),
    );
    let other_instance = SqsHandler::new(Arc::clone(&store), Provider::default());
    let mut batch: SqsEvent = fixture("sqs_batch.json");
    batch.records.truncate(1);
    let (first, second) = tokio::join!(
        slow.handle(LambdaEvent::new(batch.clone(), context())),
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            other_instance
                .handle(LambdaEvent::new(batch.clone(), context()))
                .await
        }
    );
    assert!(first.unwrap().batch_item_failures.is_empty());
    assert_eq!(
        failures(&second.unwrap()),
        ["059f36b4-87a3-44ab-83d2-661975830a7d"],
        "in progress: SQS redelivers it later"
    );
    assert_eq!(
        slow.provider().charges() + other_instance.provider().charges(),
        1
    );
    let redelivered = other_instance
        .handle(LambdaEvent::new(batch, context()))
        .await
        .unwrap();
    assert!(
        redelivered.batch_item_failures.is_empty(),
        "the redelivery replays"
    );
    assert_eq!(other_instance.provider().charges(), 0);
}

#[tokio::test]
async fn sqs_a_timed_out_invocation_blocks_the_retry_only_until_its_deadline() {
    let store = Arc::new(MemoryStore::new());
    let mut batch: SqsEvent = fixture("sqs_batch.json");
    batch.records.truncate(1);
    // The body outlives the invocation: Lambda kills it at the deadline.
    let stuck = SqsHandler::new(
        Arc::clone(&store),
        Provider::with_latency(Duration::from_secs(30)),
    );
    let deadline = SystemClock.now_ms() + 300;
    let cut = tokio::time::timeout(
        Duration::from_millis(300),
        stuck.handle(LambdaEvent::new(batch.clone(), context_until(deadline))),
    )
    .await;
    assert!(cut.is_err(), "the invocation timed out");
    // The lease is 2 minutes, but the claim lapsed with the deadline.
    tokio::time::sleep(Duration::from_millis(
        deadline.saturating_sub(SystemClock.now_ms()) + 20,
    ))
    .await;
    let retry = SqsHandler::new(Arc::clone(&store), Provider::default());
    let response = retry
        .handle(LambdaEvent::new(batch, context()))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(retry.provider().charges(), 1);
    assert_eq!(stuck.provider().charges(), 0);
}

async fn post(
    handler: &HttpHandler,
    request: ApiGatewayV2httpRequest,
) -> (u16, String, Option<String>) {
    use http_body_util::BodyExt;
    use lambda_http::request::LambdaRequest;

    let request = lambda_http::Request::from(LambdaRequest::ApiGatewayV2(request));
    let response = handler.handle(request).await.unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        String::from_utf8(body.to_vec()).unwrap(),
        retry_after,
    )
}

#[tokio::test]
async fn http_answers_as_the_idempotency_key_draft() {
    let store = Arc::new(MemoryStore::new());
    let handler = HttpHandler::new(Arc::clone(&store), Provider::default());
    let request: ApiGatewayV2httpRequest = fixture("apigw_v2_post_payment.json");

    let (status, body, _) = post(&handler, request.clone()).await;
    assert_eq!(status, 201);
    assert!(body.contains("\"order_id\":\"ord-2001\""), "{body}");
    let (status, replayed, _) = post(&handler, request.clone()).await;
    assert_eq!(
        (status, replayed.as_str()),
        (201, body.as_str()),
        "the saved response"
    );
    assert_eq!(handler.provider().charges(), 1);

    let mut other_payload = request.clone();
    other_payload.body =
        Some(r#"{"order_id":"ord-2001","customer":"cus-9","amount_cents":1}"#.into());
    assert_eq!(post(&handler, other_payload).await.0, 422);

    let mut no_key = request.clone();
    no_key.headers.remove("idempotency-key");
    no_key.request_context.request_id = None;
    assert_eq!(post(&handler, no_key).await.0, 400);

    // A body that is not a payment: with the first request's key it is
    // another request (422); with a key of its own, the handler's 400.
    let mut not_json = request.clone();
    not_json.body = Some("amount=5".into());
    assert_eq!(post(&handler, not_json.clone()).await.0, 422);
    not_json
        .headers
        .insert("idempotency-key", "\"bad-body-1\"".parse().unwrap());
    assert_eq!(post(&handler, not_json).await.0, 400);

    let mut fallback = request;
    fallback.headers.remove("idempotency-key");
    assert_eq!(
        post(&handler, fallback.clone()).await.0,
        201,
        "keyed on the request id"
    );
    assert_eq!(post(&handler, fallback).await.0, 201);
    assert_eq!(handler.provider().charges(), 2);
}

#[tokio::test]
async fn http_a_concurrent_duplicate_gets_409_with_retry_after() {
    let store = Arc::new(MemoryStore::new());
    let slow = HttpHandler::new(
        Arc::clone(&store),
        Provider::with_latency(Duration::from_millis(300)),
    );
    let fast = HttpHandler::new(Arc::clone(&store), Provider::default());
    let request: ApiGatewayV2httpRequest = fixture("apigw_v2_post_payment.json");
    let (first, second) = tokio::join!(post(&slow, request.clone()), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        post(&fast, request.clone()).await
    });
    assert_eq!(first.0, 201);
    assert_eq!(second.0, 409);
    let retry_after: u64 = second.2.expect("Retry-After").parse().unwrap();
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    assert_eq!(
        post(&fast, request).await.1,
        first.1,
        "then the saved response"
    );
}

#[tokio::test]
async fn eventbridge_two_targets_deduplicate_independently() {
    let store = MemoryStore::new();
    let targets = Targets::new(&store);
    let event: EventBridgeEvent<OrderPlaced> = fixture("eventbridge_order_placed.json");
    for _delivery in 0..3 {
        assert_eq!(
            targets.send_confirmation(&event).await.unwrap(),
            "confirmation for ord-3001 sent"
        );
        assert_eq!(targets.award_points(&event).await.unwrap(), 123);
    }
    assert_eq!(targets.emails_sent(), 1);
    assert_eq!(targets.points_awarded(), 123);
    assert_eq!(store.len(), 2, "one record per target: separate namespaces");

    let mut no_id = event;
    no_id.id = None;
    let err = targets.send_confirmation(&no_id).await.unwrap_err();
    assert!(err.to_string().contains("event.id"), "{err}");
}

#[tokio::test]
async fn stream_replaying_a_whole_batch_executes_nothing_twice() {
    let ledger = Ledger::new(MemoryStore::new());
    let batch: KinesisEvent = fixture("kinesis_batch.json");
    let response = ledger
        .handle(LambdaEvent::new(batch.clone(), context()))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!((ledger.postings(), ledger.credited_cents()), (3, 1350));
    for _replay in 0..2 {
        ledger
            .handle(LambdaEvent::new(batch.clone(), context()))
            .await
            .unwrap();
    }
    assert_eq!((ledger.postings(), ledger.credited_cents()), (3, 1350));
    // A bisected retry of the tail plus a new record: only the new one posts.
    let mut next = batch.clone();
    next.records.remove(0);
    let mut fresh = batch.records[0].clone();
    fresh.event_id = Some(
        "shardId-000000000000:49590338271490256608559692538361571095921575989136588804".into(),
    );
    fresh.kinesis.sequence_number =
        "49590338271490256608559692538361571095921575989136588804".into();
    next.records.push(fresh);
    ledger
        .handle(LambdaEvent::new(next, context()))
        .await
        .unwrap();
    assert_eq!((ledger.postings(), ledger.credited_cents()), (4, 1450));
}
